package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/conversa/conversa/core/store"
)

// BenchmarkIndexPass: how long one search-indexing transaction holds the
// writer, by the exchanges it indexes (each a new contact and two
// messages, as the bench's): what indexHold trades. held-ms/op is the
// writer's time for the transaction, its commit included; held-us/row what
// it costs a row (a message or a contact). A transaction's own cost (FTS4
// writes a segment for each of its indexes, and merges) is what the
// 1-exchange case shows.
//
//	go test ./core/store/sqlite -run XXX -bench IndexPass -benchtime 200x
func BenchmarkIndexPass(b *testing.B) {
	for _, exchanges := range []int{1, 25, 125, indexBatch / 2} {
		b.Run(fmt.Sprint("exchanges=", exchanges), func(b *testing.B) {
			ctx := context.Background()
			db := openExchangeStore(ctx, b, Options{noIndexer: true})
			user := 0
			var held time.Duration
			for b.Loop() {
				b.StopTimer()
				for range exchanges {
					user++
					if err := db.TxUnsynced(ctx, func(tx store.Tx) error { return exchangeWrites(ctx, tx, fmt.Sprint("u", user)) }); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				h, err := db.indexWrite(ctx, func(t *txn) error {
					cur, err := readCursors(ctx, t)
					if err != nil {
						return err
					}
					if _, err := indexNew(ctx, t, "messages", cur.messagesTo, 2*exchanges, indexRange, "indexed_to"); err != nil {
						return err
					}
					_, err = indexNew(ctx, t, "contacts", cur.contactsTo, exchanges, indexContacts, "contacts_indexed_to")
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				held += h
			}
			b.ReportMetric(float64(held.Microseconds())/1000/float64(b.N), "held-ms/op")
			b.ReportMetric(float64(held.Microseconds())/float64(b.N)/float64(3*exchanges), "held-us/row")
		})
	}
}
