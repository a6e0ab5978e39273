package sqlite

import (
	"context"
	"fmt"
	"testing"

	"github.com/conversa/conversa/core/store"
)

// BenchmarkIndexPass: how long one transaction of the forward pass
// (indexForwardSlice) holds the writer, by the exchanges it indexes (each a
// new contact and two messages, as the bench's): what indexHold trades.
// ns/op is the transaction, its commit included (nothing else is queued for
// the writer); us/row what it costs a row (a message or a contact). A
// transaction's own cost (FTS4 writes a segment for each of its indexes,
// and merges) is what the 1-exchange case shows.
//
//	go test ./core/store/sqlite -run XXX -bench IndexPass -benchtime 200x
func BenchmarkIndexPass(b *testing.B) {
	for _, exchanges := range []int{1, 25, 125, indexBatch / 2} {
		b.Run(fmt.Sprint("exchanges=", exchanges), func(b *testing.B) {
			ctx := context.Background()
			db := openExchangeStore(ctx, b, Options{noIndexer: true})
			user := 0
			for b.Loop() {
				b.StopTimer()
				for range exchanges {
					user++
					if err := db.TxUnsynced(ctx, func(tx store.Tx) error { return exchangeWrites(ctx, tx, fmt.Sprint("u", user)) }); err != nil {
						b.Fatal(err)
					}
				}
				// A slice of every message and contact just stored, whatever
				// the last one taught the pace.
				db.indexPace.Store(int64(2 * exchanges))
				b.StartTimer()
				if n, err := db.indexForwardSlice(ctx); err != nil || n < 3*exchanges {
					b.Fatalf("indexed %d ids, %v; want %d", n, err, 3*exchanges)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(3*exchanges), "us/row")
		})
	}
}
