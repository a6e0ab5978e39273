package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/storetest"
)

// BenchmarkSearch: a search by message text over 100,000 messages (10,000
// conversations of 10), through the GIN index (fts) and, for comparison,
// as an ILIKE over every message's contents (like). The messages are
// copied in unindexed and indexed as Open would, which is timed too.
//
//	go test ./core/store/postgres -run XXX -bench Search -benchtime 200x
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, testURL(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	corpus := storetest.NewSearchCorpus()
	var contacts, conversations, messages [][]any
	for c := 1; c <= 10_000; c++ {
		contacts = append(contacts, []any{int64(c), "ig", fmt.Sprint(1_000_000 + c), fmt.Sprintf("user.%d", c), fmt.Sprintf("Contact %d", c), int64(0)})
		conversations = append(conversations, []any{int64(c), "ig", int64(c), "ended", "direct", int64(c), int64(c)})
		for range 10 {
			contents, _ := json.Marshal([]model.Content{{Type: model.Text, Text: corpus.Message()}})
			messages = append(messages, []any{int64(len(messages) + 1), int64(c), "ig", "in", "contact", string(contents), "received", int64(0)})
		}
	}
	for _, t := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"contacts", []string{"id", "integration_id", "channel_user_id", "username", "name", "created_at"}, contacts},
		{"conversations", []string{"id", "integration_id", "contact_id", "state", "origin", "started_at", "last_activity_at"}, conversations},
		{"messages", []string{"id", "conversation_id", "integration_id", "direction", "author", "contents", "status", "created_at"}, messages},
	} {
		if _, err := db.pool.CopyFrom(ctx, pgx.Identifier{t.table}, t.cols, pgx.CopyFromRows(t.rows)); err != nil {
			b.Fatalf("copy %s: %v", t.table, err)
		}
	}
	start := time.Now()
	n, err := indexMessages(ctx, db.pool)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d messages indexed in %v", n, time.Since(start).Round(time.Millisecond))
	like := `SELECT c.id FROM conversations c JOIN contacts ct ON ct.id = c.contact_id
		WHERE ct.name ILIKE $1 OR ct.username ILIKE $1 OR ct.channel_user_id ILIKE $1
			OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.contents ILIKE $1)
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
				ids, err := collectIDs(db.pool.Query(ctx, like, "%"+q.Text+"%"))
				if err != nil {
					b.Fatal(err)
				}
				n = len(ids)
			}
			b.ReportMetric(float64(n), "results")
		})
	}
}
