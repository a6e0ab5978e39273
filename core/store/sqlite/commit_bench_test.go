package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// BenchmarkExchangeCommit measures the group commit with the writes of one
// exchange's turn (a new user: contact, conversation, their message, the
// assistant's session and reply in the outbox) from 16 writers at once,
// each transaction durable (Tx: it returns once synced) and unsynced
// (TxUnsynced: once committed), in the same run. It reports the writer's
// batches per transaction (how many share a commit) alongside time and
// allocations per transaction, under a context that never ends and under
// one that can be cancelled, as the engine's are.
//
//	go test ./core/store/sqlite -run XXX -bench ExchangeCommit -benchmem
func BenchmarkExchangeCommit(b *testing.B) {
	for _, bc := range []struct {
		name string
		tx   func(db *DB) func(context.Context, func(store.Tx) error) error
	}{
		{"durable", func(db *DB) func(context.Context, func(store.Tx) error) error { return db.Tx }},
		{"unsynced", func(db *DB) func(context.Context, func(store.Tx) error) error { return db.TxUnsynced }},
	} {
		for _, cancellable := range []bool{false, true} {
			name := bc.name
			if cancellable {
				// As the engine's writes run: under a context that ends.
				name += "/ctx=cancellable"
			}
			b.Run(name, func(b *testing.B) {
				ctx := context.Background()
				if cancellable {
					var cancel context.CancelFunc
					ctx, cancel = context.WithCancel(ctx)
					defer cancel()
				}
				db := openExchangeStore(ctx, b, Options{})
				run := bc.tx(db)
				var seq atomic.Int64
				before := db.WriterStats()
				b.ReportAllocs()
				b.SetParallelism(8) // 16 writers on 2 cores
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						user := fmt.Sprint("u", seq.Add(1))
						err := run(ctx, func(tx store.Tx) error { return exchangeWrites(ctx, tx, user) })
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				after := db.WriterStats()
				b.ReportMetric(float64(after.Commits-before.Commits)/float64(b.N), "commits/tx")
				b.ReportMetric(float64(after.Synced-before.Synced)/float64(b.N), "syncs/tx")
			})
		}
	}
}

// exchangeWrites are the writes of one exchange's turn for a new user.
// openExchangeStore is a store in b's temporary directory with the
// integration exchangeWrites writes for, closed when b ends.
func openExchangeStore(ctx context.Context, b *testing.B, o Options) *DB {
	b.Helper()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "c.db"), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Integrations().Put(ctx, &model.Integration{ID: "ig", Name: "IG", Channel: "fake",
		Squad: model.DefaultSquad, Enabled: true, Source: model.SourceAPI}); err != nil {
		b.Fatal(err)
	}
	return db
}

func exchangeWrites(ctx context.Context, tx store.Tx, user string) error {
	ct, err := tx.Contacts().Upsert(ctx, "ig", user, store.ContactHints{Name: "Ana"}, tx.Now())
	if err != nil {
		return err
	}
	c := &model.Conversation{Integration: "ig", ContactID: ct.ID, State: model.StateBot, Origin: model.OriginDirect,
		Squad: model.DefaultSquad, LastInboundAt: tx.Now()}
	if _, err := tx.Conversations().Start(ctx, c); err != nil {
		return err
	}
	in := &model.Message{Conversation: c.ID, Integration: "ig", Direction: model.DirectionIn, Author: model.AuthorContact,
		Contents: []model.Content{{Type: model.Text, Text: "oi"}}, Status: model.StatusReceived, CreatedAt: tx.Now()}
	if _, err := tx.Messages().Add(ctx, in, "mid-"+user); err != nil {
		return err
	}
	if err := tx.Conversations().SetSession(ctx, c.ID, []byte(`{"step":1}`)); err != nil {
		return err
	}
	out := &model.Message{Conversation: c.ID, Integration: "ig", Author: model.AuthorAssistant,
		Contents: []model.Content{{Type: model.Text, Text: "Olá! Como posso ajudar?"}}}
	if err := tx.Outbox().Enqueue(ctx, out, fmt.Sprint("reply:", in.ID, ":0")); err != nil {
		return err
	}
	return tx.Messages().MarkHandled(ctx, in.ID)
}
