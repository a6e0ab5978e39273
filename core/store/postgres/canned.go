package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

type cannedResponses struct{ h h }

const cannedCols = `id, shortcut, text, squad, created_at, updated_at`

func scanCanned(r pgx.Row) (*model.CannedResponse, error) {
	var c model.CannedResponse
	var created, updated int64
	if err := r.Scan(&c.ID, &c.Shortcut, &c.Text, &c.Squad, &created, &updated); err != nil {
		return nil, notFound(err)
	}
	c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
	return &c, nil
}

func (x cannedResponses) List(ctx context.Context, squads []string, all bool) ([]*model.CannedResponse, error) {
	q := `SELECT ` + cannedCols + ` FROM canned_responses`
	var a args
	if !all {
		q += ` WHERE squad = '' OR squad = ANY(` + a.add(nonNil(squads)) + `::text[])`
	}
	q += ` ORDER BY shortcut, squad`
	return collect(scanCanned)(x.h.q().Query(ctx, q, a...))
}

func (x cannedResponses) Get(ctx context.Context, id int64) (*model.CannedResponse, error) {
	return scanCanned(x.h.q().QueryRow(ctx, `SELECT `+cannedCols+` FROM canned_responses WHERE id = $1`, id))
}

// Create and Update let the unique key refuse a taken shortcut without a
// failed statement, which would abort the caller's transaction.
func (x cannedResponses) Create(ctx context.Context, r *model.CannedResponse) error {
	return x.h.write(ctx, func(t *txn) error {
		err := t.tx.QueryRow(ctx, `INSERT INTO canned_responses (shortcut, text, squad, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $4) ON CONFLICT (squad, shortcut) DO NOTHING RETURNING id`,
			r.Shortcut, r.Text, r.Squad, ms(t.now)).Scan(&r.ID)
		if err == pgx.ErrNoRows {
			return fmt.Errorf("%w: shortcut %q is taken", store.ErrConflict, r.Shortcut)
		}
		if err != nil {
			return conflict(err)
		}
		r.CreatedAt, r.UpdatedAt = t.now, t.now
		return nil
	})
}

func (x cannedResponses) Update(ctx context.Context, r *model.CannedResponse) error {
	return x.h.write(ctx, func(t *txn) error {
		var taken bool
		if err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM canned_responses WHERE squad = $1 AND shortcut = $2 AND id <> $3)`,
			r.Squad, r.Shortcut, r.ID).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return fmt.Errorf("%w: shortcut %q is taken", store.ErrConflict, r.Shortcut)
		}
		cur, err := scanCanned(t.tx.QueryRow(ctx, `UPDATE canned_responses SET shortcut = $1, text = $2, squad = $3, updated_at = $4
			WHERE id = $5 RETURNING `+cannedCols, r.Shortcut, r.Text, r.Squad, ms(t.now), r.ID))
		if err != nil {
			return conflict(err)
		}
		*r = *cur
		return nil
	})
}

func (x cannedResponses) Delete(ctx context.Context, id int64) error {
	return x.h.write(ctx, func(t *txn) error {
		return updateOne(ctx, t, `DELETE FROM canned_responses WHERE id = $1`, id)
	})
}
