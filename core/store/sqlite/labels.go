package sqlite

import (
	"context"

	"github.com/conversa/conversa/core/store"
)

type labels struct{ h }

func (x labels) Set(ctx context.Context, conversation int64, names []string) error {
	return x.write(ctx, func(t *txn) error {
		var one int
		if err := t.tx.QueryRowContext(ctx, `SELECT 1 FROM conversations WHERE id = ?`, conversation).Scan(&one); err != nil {
			return notFound(err)
		}
		if _, err := t.tx.ExecContext(ctx, `DELETE FROM conversation_labels WHERE conversation_id = ?`, conversation); err != nil {
			return err
		}
		for _, n := range names {
			if _, err := t.tx.ExecContext(ctx, `INSERT INTO conversation_labels (conversation_id, label) VALUES (?, ?)
				ON CONFLICT DO NOTHING`, conversation, n); err != nil {
				return err
			}
		}
		return nil
	})
}

func (x labels) Counts(ctx context.Context, agent string) ([]store.LabelCount, error) {
	q, args := labelCountsQuery(agent)
	return collect(func(r scanner) (store.LabelCount, error) {
		var lc store.LabelCount
		return lc, r.Scan(&lc.Name, &lc.Count)
	})(x.q().QueryContext(ctx, q, args...))
}

// labelCountsQuery is Counts' statement: every label, or those of
// agent's conversations.
func labelCountsQuery(agent string) (string, []any) {
	if agent == "" {
		// Kept by triggers (0011_growth.sql): no count over every
		// labelled conversation.
		return `SELECT label, n FROM label_counts ORDER BY label`, nil
	}
	return `SELECT l.label, count(*) FROM conversation_labels l JOIN conversations c ON c.id = l.conversation_id
		WHERE c.agent = ? GROUP BY l.label ORDER BY l.label`, []any{agent}
}
