package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/storetest"
)

// BenchmarkSearch: a search by message text over 100,000 messages (10,000
// conversations of 10), through the full-text index (fts) and, for
// comparison, as a LIKE over every message's contents (like), what
// searching message text would cost without the index.
//
//	go test ./core/store/sqlite -run XXX -bench Search -benchtime 200x
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	db := openTest(b)
	corpus := storetest.NewSearchCorpus()
	start := time.Now()
	seedSearch(b, db, corpus, 10_000, 10)
	if err := db.IndexSearch(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("100000 messages stored and indexed in %v", time.Since(start).Round(time.Millisecond))
	like := `SELECT c.id FROM conversations c JOIN contacts ct ON ct.id = c.contact_id
		WHERE ct.name LIKE ?1 OR ct.username LIKE ?1 OR ct.channel_user_id LIKE ?1
			OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.contents LIKE ?1)
		ORDER BY c.last_activity_at DESC, c.id DESC LIMIT 100`
	for _, q := range corpus.Queries() {
		b.Run("fts/"+q.Name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				list, err := db.Conversations().List(ctx, store.ConversationFilter{Search: q.Text, Limit: 100})
				if err != nil {
					b.Fatal(err)
				}
				n = len(list)
			}
			b.ReportMetric(float64(n), "results")
		})
		b.Run("like/"+q.Name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				ids, err := collectIDs(db.r.QueryContext(ctx, like, "%"+q.Text+"%"))
				if err != nil {
					b.Fatal(err)
				}
				n = len(ids)
			}
			b.ReportMetric(float64(n), "results")
		})
	}
}

// seedSearch stores conversations × perConversation messages of about 12
// words, in one transaction (the caller has the store's indexer index
// them, as for any write).
func seedSearch(b *testing.B, db *DB, corpus *storetest.SearchCorpus, conversations, perConversation int) {
	b.Helper()
	// The writer is idle while the benchmark seeds: its connection is free.
	tx, err := db.wc.BeginTx(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	exec := func(q string, args ...any) {
		if _, err := tx.Exec(q, args...); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	id := 0
	for c := 1; c <= conversations; c++ {
		exec(`INSERT INTO contacts (id, integration_id, channel_user_id, username, name, created_at) VALUES (?, 'ig', ?, ?, ?, 0)`,
			c, fmt.Sprint(1_000_000+c), fmt.Sprintf("user.%d", c), fmt.Sprintf("Contact %d", c))
		exec(`INSERT INTO conversations (id, integration_id, contact_id, state, origin, started_at, last_activity_at)
			VALUES (?, 'ig', ?, 'ended', 'direct', ?, ?)`, c, c, c, c)
		for range perConversation {
			contents, _ := json.Marshal([]model.Content{{Type: model.Text, Text: corpus.Message()}})
			id++
			exec(`INSERT INTO messages (id, conversation_id, integration_id, direction, author, contents, status, created_at)
				VALUES (?, ?, 'ig', 'in', 'contact', ?, 'received', 0)`, id, c, string(contents))
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}
