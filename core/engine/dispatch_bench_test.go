package engine

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/postgres"
	"github.com/conversa/conversa/core/store/postgres/pgtest"
	"github.com/conversa/conversa/core/store/sqlite"
)

// fill adds rows events to the inbox, spread over keys contacts, in
// transactions of a thousand.
func fill(b *testing.B, st store.Store, prefix string, keys, rows int) {
	b.Helper()
	ctx := context.Background()
	for start := 0; start < rows; start += 1000 {
		err := st.Tx(ctx, func(tx store.Tx) error {
			for i := start; i < min(start+1000, rows); i++ {
				ev := &model.Event{Kind: model.EventMessage, Integration: "ig", DedupeKey: fmt.Sprint(prefix, i)}
				if _, err := tx.Inbox().Add(ctx, ev, fmt.Sprint(prefix, i%keys)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// benchDispatcher runs a dispatcher over st's inbox whose work is to
// complete each row (the queue's own cost: a claim and a completion per
// row), calling seen for each.
func benchDispatcher(b *testing.B, st store.Store, seen func(store.InboxItem)) (stop func()) {
	b.Helper()
	d := newDispatcher("inbox", slog.New(slog.DiscardHandler), "bench", 8, time.Now, st.Inbox(),
		func(ctx context.Context, it store.InboxItem) {
			if err := st.Inbox().Done(ctx, &it, ""); err != nil {
				b.Error(err)
			}
			seen(it)
		})
	var wg sync.WaitGroup
	quit := make(chan struct{})
	d.start(&wg, quit)
	return func() { close(quit); wg.Wait() }
}

func openBench(b *testing.B) store.Store {
	b.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "c.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// BenchmarkDispatch measures the leased, fair dispatch of the inbox on
// SQLite (synchronous=FULL) and on PostgreSQL (when CONVERSA_TEST_POSTGRES
// is set; give it durable commits for meaningful figures) with 8 workers:
// how many rows a second it drains (across 1,000 contacts, and of one
// contact, whose rows run one at a time), and how long a quiet contact's
// event waits behind a contact with a 100,000-row backlog, against the time
// one row takes in the same run.
func BenchmarkDispatch(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchDispatch(b, openBench) })
	b.Run("postgres", func(b *testing.B) {
		benchDispatch(b, func(b *testing.B) store.Store {
			st, err := postgres.Open(context.Background(), pgtest.URL(b), postgres.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st
		})
	})
}

func benchDispatch(b *testing.B, openBench func(b *testing.B) store.Store) {
	for _, keys := range []int{1000, 1} {
		b.Run(fmt.Sprintf("drain/keys=%d", keys), func(b *testing.B) {
			st := openBench(b)
			fill(b, st, "k", keys, b.N)
			var done atomic.Int64
			finished := make(chan struct{})
			b.ResetTimer()
			start := time.Now()
			stop := benchDispatcher(b, st, func(store.InboxItem) {
				if done.Add(1) == int64(b.N) {
					close(finished)
				}
			})
			<-finished
			elapsed := time.Since(start)
			b.StopTimer()
			stop()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "rows/s")
		})
	}

	b.Run("quiet-behind-100k-backlog", func(b *testing.B) {
		const backlog = 100_000
		st := openBench(b)
		fill(b, st, "busy", 1, backlog)
		var (
			mu      sync.Mutex
			waiting = map[string]chan struct{}{}
			busy    atomic.Int64
		)
		stop := benchDispatcher(b, st, func(it store.InboxItem) {
			if it.Partition == "busy0" {
				busy.Add(1)
				return
			}
			mu.Lock()
			ch := waiting[it.Partition]
			mu.Unlock()
			close(ch)
		})
		defer stop()
		for busy.Load() < 100 {
			time.Sleep(time.Millisecond) // the backlog is draining
		}
		ctx := context.Background()
		var delays []time.Duration
		b.ResetTimer()
		t0, busy0 := time.Now(), busy.Load()
		for i := range b.N {
			key := fmt.Sprint("quiet", i)
			ch := make(chan struct{})
			mu.Lock()
			waiting[key] = ch
			mu.Unlock()
			at := time.Now()
			ev := &model.Event{Kind: model.EventMessage, Integration: "ig", DedupeKey: key}
			if _, err := st.Inbox().Add(ctx, ev, key); err != nil {
				b.Fatal(err)
			}
			<-ch
			delays = append(delays, time.Since(at))
		}
		b.StopTimer()
		perRow := time.Since(t0) / time.Duration(max(busy.Load()-busy0, 1))
		if left := backlog - busy.Load(); left < backlog/2 {
			b.Logf("only %d backlog rows were left at the end: the measure ran behind a smaller backlog", left)
		}
		slices.Sort(delays)
		p50, p99 := delays[len(delays)/2], delays[len(delays)*99/100]
		b.ReportMetric(float64(p50.Microseconds())/1000, "ms-p50-delay")
		b.ReportMetric(float64(p99.Microseconds())/1000, "ms-p99-delay")
		b.ReportMetric(float64(perRow.Microseconds())/1000, "ms/backlog-row")
		b.ReportMetric(float64(p50)/float64(perRow), "p50-delay/row")
	})
}
