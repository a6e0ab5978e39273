package sqlite

import (
	"context"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

type cannedResponses struct{ h }

const cannedCols = `id, shortcut, text, squad, created_at, updated_at`

func scanCanned(r scanner) (*model.CannedResponse, error) {
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
	var args []any
	if !all {
		q += ` WHERE squad = ''`
		if len(squads) > 0 {
			q += ` OR squad IN (` + placeholders(len(squads)) + `)`
			args = anys(squads)
		}
	}
	q += ` ORDER BY shortcut, squad`
	return collect(scanCanned)(x.q().QueryContext(ctx, q, args...))
}

func (x cannedResponses) Get(ctx context.Context, id int64) (*model.CannedResponse, error) {
	return scanCanned(x.q().QueryRowContext(ctx, `SELECT `+cannedCols+` FROM canned_responses WHERE id = ?`, id))
}

func (x cannedResponses) Create(ctx context.Context, r *model.CannedResponse) error {
	return x.write(ctx, func(t *txn) error {
		err := t.tx.QueryRowContext(ctx, `INSERT INTO canned_responses (shortcut, text, squad, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?) RETURNING id`, r.Shortcut, r.Text, r.Squad, ms(t.now), ms(t.now)).Scan(&r.ID)
		if err != nil {
			return conflict(err)
		}
		r.CreatedAt, r.UpdatedAt = t.now, t.now
		return nil
	})
}

func (x cannedResponses) Update(ctx context.Context, r *model.CannedResponse) error {
	return x.write(ctx, func(t *txn) error {
		err := execOne(ctx, t, `UPDATE canned_responses SET shortcut = ?, text = ?, squad = ?, updated_at = ? WHERE id = ?`,
			r.Shortcut, r.Text, r.Squad, ms(t.now), r.ID)
		if err != nil {
			return err
		}
		cur, err := scanCanned(t.tx.QueryRowContext(ctx, `SELECT `+cannedCols+` FROM canned_responses WHERE id = ?`, r.ID))
		if err != nil {
			return err
		}
		*r = *cur
		return nil
	})
}

func (x cannedResponses) Delete(ctx context.Context, id int64) error {
	return x.exec(ctx, `DELETE FROM canned_responses WHERE id = ?`, id)
}

var _ store.CannedResponses = cannedResponses{}
