package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/conversa/conversa/core/store"
)

type labels struct{ h h }

// Set locks the conversation's row first, so two agents labelling the same
// conversation at once apply one after the other (the last one wins whole).
func (x labels) Set(ctx context.Context, conversation int64, names []string) error {
	return x.h.write(ctx, func(t *txn) error {
		var one int
		if err := t.tx.QueryRow(ctx, `SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE`, conversation).Scan(&one); err != nil {
			return notFound(err)
		}
		if _, err := t.tx.Exec(ctx, `DELETE FROM conversation_labels WHERE conversation_id = $1`, conversation); err != nil {
			return err
		}
		if len(names) == 0 {
			return nil
		}
		_, err := t.tx.Exec(ctx, `INSERT INTO conversation_labels (conversation_id, label)
			SELECT $1, l FROM unnest($2::text[]) l ON CONFLICT DO NOTHING`, conversation, names)
		return err
	})
}

func (x labels) Counts(ctx context.Context, agent string) ([]store.LabelCount, error) {
	// Every label's count is kept by a trigger (0009_growth.sql); an
	// agent's is counted over their conversations.
	q := `SELECT label, n FROM label_counts ORDER BY label`
	var a args
	if agent != "" {
		q = `SELECT l.label, count(*) FROM conversation_labels l JOIN conversations c ON c.id = l.conversation_id
			WHERE c.agent = ` + a.add(agent) + ` GROUP BY l.label ORDER BY l.label`
	}
	return collect(func(r pgx.Row) (store.LabelCount, error) {
		var lc store.LabelCount
		return lc, r.Scan(&lc.Name, &lc.Count)
	})(x.h.q().Query(ctx, q, a...))
}
