package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
)

// BenchmarkWriter measures the single writer on ingest's statement: each
// operation is one Inbox().Add of a new event, durably committed, with 16
// writers at once (they share group commits, each in its own savepoint),
// and with one at a time (a commit of one writer alone). The file uses
// only the store's interface, so it runs on older code too. Besides ns/op
// it reports the process's CPU per write (cpu-ns/op: the writer's, the
// callers' and the runtime's together), the floor a durable ingest pays
// for its store on this machine:
//
//	go test ./core/store/sqlite -run XXX -bench Writer -benchmem -count 6
func BenchmarkWriter(b *testing.B) {
	for _, par := range []int{16, 1} {
		b.Run(fmt.Sprintf("writers=%d", par), func(b *testing.B) {
			db, err := Open(context.Background(), filepath.Join(b.TempDir(), "c.db"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			var seq atomic.Int64
			raw := []byte(`{"object":"instagram","entry":[{"id":"1784","time":1733000000,"messaging":[{"sender":{"id":"u"},"message":{"mid":"m","text":"oi"}}]}]}`)
			add := func() error {
				n := seq.Add(1)
				ev := &model.Event{Kind: model.EventMessage, Integration: "ig", DedupeKey: fmt.Sprint("mid.", n),
					ContactID: fmt.Sprint("u", n%1000), MessageID: fmt.Sprint("mid.", n),
					Contents: []model.Content{{Type: model.Text, Text: "oi, tudo bem?"}}, Raw: raw}
				_, err := db.Inbox().Add(ctx, ev, fmt.Sprint("ig:u", n%1000))
				return err
			}
			b.ReportAllocs()
			cpu0 := processCPU()
			defer func() { b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op") }()
			b.ResetTimer()
			if par == 1 {
				for b.Loop() {
					if err := add(); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(par)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := add(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// processCPU is this process's user and system time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
