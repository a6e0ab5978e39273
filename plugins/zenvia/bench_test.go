package zenvia

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// BenchmarkParseWebhook is the channel's whole webhook step in process
// (credentials, settings, parse) for realistic deliveries.
//
//	go test -run XXX -bench ParseWebhook -benchmem ./plugins/zenvia
func BenchmarkParseWebhook(b *testing.B) {
	for _, bc := range []struct{ name, fixture string }{
		{"text", "message_in_text.json"},
		{"image", "message_in_image.json"},
		{"status", "status_delivered.json"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var buf bytes.Buffer
			if err := json.Compact(&buf, readFixture(b, bc.fixture)); err != nil {
				b.Fatal(err)
			}
			req := webhookRequest(buf.Bytes())
			ch := New()
			b.ReportAllocs()
			b.SetBytes(int64(buf.Len()))
			for b.Loop() {
				resp, err := ch.HandleWebhook(context.Background(), req)
				if err != nil || !resp.GetAuthenticated() || len(resp.GetEvents()) != 1 {
					b.Fatalf("HandleWebhook = %v, %v", resp, err)
				}
			}
		})
	}
}

// BenchmarkParseEvent is the body's reading alone, one pass against the
// encoding/json reading it replaced (which stays as the fallback):
//
//	go test -run XXX -bench ParseEvent -benchmem ./plugins/zenvia
func BenchmarkParseEvent(b *testing.B) {
	s, _ := decodeSettings(testSettingsJSON(""))
	for _, bc := range []struct{ name, fixture string }{
		{"text", "message_in_text.json"},
		{"image", "message_in_image.json"},
		{"status", "status_delivered.json"},
	} {
		var buf bytes.Buffer
		if err := json.Compact(&buf, readFixture(b, bc.fixture)); err != nil {
			b.Fatal(err)
		}
		body := buf.Bytes()
		for _, v := range []struct {
			name  string
			parse func() (*proto.Event, error)
		}{
			{"one-pass", func() (*proto.Event, error) { return parseEvent(body, s) }},
			{"encoding-json", func() (*proto.Event, error) { return readEvent(value{b: body}, s) }},
		} {
			b.Run(bc.name+"/"+v.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					if ev, err := v.parse(); err != nil || ev.GetKind() == "" {
						b.Fatalf("parse = %v, %v", ev, err)
					}
				}
			})
		}
	}
}

// BenchmarkSend is one text reply through Send against a fake Zenvia on
// loopback (its HTTP round trip included), as a bot exchange makes it:
//
//	go test -run XXX -bench Send -benchmem ./plugins/zenvia
func BenchmarkSend(b *testing.B) {
	answer := []byte(`{"id":"a1b2c3d4-0000-4000-8000-000000000001","from":"brisk-harbor","to":"6741203958817234",` +
		`"direction":"OUT","channel":"instagram","contents":[{"type":"text","text":"Oi! Como posso ajudar?"}]}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	}))
	defer srv.Close()
	ch := newTestChannel()
	req := sendRequest(srv.URL, &proto.Content{Type: sdk.ContentText, Text: "Oi! Como posso ajudar?"})
	b.ReportAllocs()
	for b.Loop() {
		resp, err := ch.Send(context.Background(), req)
		if err != nil || resp.GetError() != nil || len(resp.GetMessageIds()) != 1 {
			b.Fatalf("Send = %v, %v", resp, err)
		}
	}
}
