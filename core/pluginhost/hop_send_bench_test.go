package pluginhost

import (
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conversa/conversa/core/bench"
	"github.com/conversa/conversa/core/model"
)

// BenchmarkSendHop: one reply through the real Meta plugin process (this
// test binary re-executed) to a fake Graph API on loopback, on the
// channel's Calls stream and, for comparison, as unary calls. The fake
// API is core/bench's provider, in this process: its CPU counts in
// host-cpu-ns/op, the same in both.
//
//	go test -run XXX -bench SendHop -benchtime 3s -count 6 ./core/pluginhost
func BenchmarkSendHop(b *testing.B) {
	for _, bc := range []struct {
		name  string
		unary bool
	}{{"stream", false}, {"unary", true}} {
		b.Run(bc.name, func(b *testing.B) {
			provider, err := bench.StartProvider("meta", bench.NewRecorder(bench.NewClock()))
			if err != nil {
				b.Fatal(err)
			}
			defer provider.Close()
			h, err := New(Options{Self: os.Args[0], Builtins: []string{"meta"}})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			h.tr.unary = bc.unary
			ch := startedChannel(b, h, "meta")
			in := &Integration{ID: "ig", SettingsJSON: hopSettings(b, provider.URL)}
			now := time.Now()
			var n atomic.Int64
			measureHop(b, h, "meta", func() {
				i := n.Add(1)
				resp, err := ch.Send(context.Background(), &SendRequest{Integration: in,
					Contact: &model.Contact{ChannelUserID: "74258190364" + strconv.FormatInt(i%100000, 10),
						LastInboundAt: now.Add(-time.Minute)}, // inside the messaging window
					Now:        now,
					Contents:   []model.Content{{Type: model.Text, Text: "Olá! Como posso ajudar?"}},
					AuthorKind: "assistant", IdempotencyKey: "reply:" + strconv.FormatInt(i, 10) + ":0"})
				if err != nil || resp.Error != nil || len(resp.MessageIDs) != 1 {
					if resp != nil && resp.Error != nil {
						b.Fatalf("Send refused: %+v", *resp.Error)
					}
					b.Fatalf("Send = %+v, %v", resp, err)
				}
			})
		})
	}
}
