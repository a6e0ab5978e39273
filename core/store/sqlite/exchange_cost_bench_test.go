package sqlite

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conversa/conversa/core/store"
)

// BenchmarkExchangeWrites: one exchange's writes (a new contact, its
// conversation, the inbound message, the reply enqueued) by one writer at
// a time, unsynced, so that what is timed is the writer's work rather
// than the disk: what storing a message costs the transaction that
// stores it. It runs on any version of the store (compare a build from
// before the search indexer with one after, interleaved):
//
//	go test ./core/store/sqlite -run XXX -bench ExchangeWrites -benchmem -count 6
//
// Where the store indexes search in the background, the indexer shares the
// writer: its time shows in wall-ns/op, the indexing left when the loop
// ends included (ns/op leaves that out). pages-written/op is what the
// process wrote (the log and the checkpoints into the database file), in
// pages: the write amplification of an exchange's indexes and tables, a
// figure that moves with the schema rather than with the machine's load.
func BenchmarkExchangeWrites(b *testing.B) {
	ctx := context.Background()
	db := openExchangeStore(ctx, b, Options{})
	b.ReportAllocs()
	written := bytesWritten()
	start := time.Now()
	i := 0
	for b.Loop() {
		i++
		user := fmt.Sprint("u", i)
		if err := db.TxUnsynced(ctx, func(tx store.Tx) error { return exchangeWrites(ctx, tx, user) }); err != nil {
			b.Fatal(err)
		}
	}
	// What the indexer has yet to do is part of the cost.
	if err := db.IndexSearch(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N), "wall-ns/op")
	if w := bytesWritten(); w >= 0 && written >= 0 {
		b.ReportMetric(float64(w-written)/float64(b.N)/4096, "pages-written/op")
	}
}

// bytesWritten is what the process has written so far (Linux's
// /proc/self/io wchar), -1 where that is not known.
func bytesWritten() int64 {
	bs, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(bs), "\n") {
		if v, ok := strings.CutPrefix(l, "wchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}
