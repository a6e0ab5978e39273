package postgres

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

type integrations struct{ h h }

var _ store.Integrations = integrations{}

// integrationSelectCols are the columns scanIntegrationRow reads, in the
// order Put writes them.
const integrationSelectCols = `id, name, channel, assistant, squad, inactivity_minutes, unsupported_media_messages,
	homologation_users, settings, enabled, source, needs_reauth, created_at, updated_at`

func scanIntegrationRow(r pgx.Row) (*model.Integration, error) {
	var in model.Integration
	var unsup, homol, settings string
	var created, updated int64
	if err := r.Scan(&in.ID, &in.Name, &in.Channel, &in.Assistant, &in.Squad, &in.InactivityMinutes, &unsup,
		&homol, &settings, &in.Enabled, &in.Source, &in.NeedsReauth, &created, &updated); err != nil {
		return nil, notFound(err)
	}
	if err := errors.Join(json.Unmarshal([]byte(unsup), &in.UnsupportedMediaMessages),
		json.Unmarshal([]byte(homol), &in.HomologationUsers),
		json.Unmarshal([]byte(settings), &in.Settings)); err != nil {
		return nil, err
	}
	in.CreatedAt, in.UpdatedAt = fromMS(created), fromMS(updated)
	return &in, nil
}

var collectIntegrationRows = collect(scanIntegrationRow)

func (x integrations) List(ctx context.Context) ([]*model.Integration, error) {
	return collectIntegrationRows(x.h.q().Query(ctx, `SELECT `+integrationSelectCols+` FROM integrations ORDER BY id`))
}

func (x integrations) Get(ctx context.Context, id string) (*model.Integration, error) {
	return scanIntegrationRow(x.h.q().QueryRow(ctx, `SELECT `+integrationSelectCols+` FROM integrations WHERE id = $1`, id))
}

// Put is one upsert: two nodes putting the same integration at once (both
// loading the configuration) are serialised by the row, and the creation
// time is the stored row's whichever wins.
func (x integrations) Put(ctx context.Context, in *model.Integration) error {
	unsup, _ := json.Marshal(nonNil(in.UnsupportedMediaMessages))
	homol, _ := json.Marshal(nonNil(in.HomologationUsers))
	settings := in.Settings
	if settings == nil {
		settings = map[string]any{}
	}
	set, err := json.Marshal(settings)
	if err != nil {
		return err
	}
	return x.h.write(ctx, func(t *txn) error {
		now := ms(t.now)
		var created int64
		err := t.tx.QueryRow(ctx, `INSERT INTO integrations (`+integrationSelectCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
			ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, channel = EXCLUDED.channel,
				assistant = EXCLUDED.assistant, squad = EXCLUDED.squad,
				inactivity_minutes = EXCLUDED.inactivity_minutes,
				unsupported_media_messages = EXCLUDED.unsupported_media_messages,
				homologation_users = EXCLUDED.homologation_users, settings = EXCLUDED.settings,
				enabled = EXCLUDED.enabled, source = EXCLUDED.source, needs_reauth = EXCLUDED.needs_reauth,
				updated_at = EXCLUDED.updated_at
			RETURNING created_at`,
			in.ID, in.Name, in.Channel, in.Assistant, in.Squad, in.InactivityMinutes, string(unsup), string(homol),
			string(set), in.Enabled, in.Source, in.NeedsReauth, now, now).Scan(&created)
		if err != nil {
			return err
		}
		in.CreatedAt, in.UpdatedAt = fromMS(created), t.now
		return nil
	})
}

func (x integrations) Delete(ctx context.Context, id string) error {
	return x.h.write(ctx, func(t *txn) error {
		return affectOne(ctx, t.tx, `DELETE FROM integrations WHERE id = $1`, id)
	})
}

func (x integrations) SetNeedsReauth(ctx context.Context, id, reason string) error {
	return x.h.write(ctx, func(t *txn) error {
		return affectOne(ctx, t.tx, `UPDATE integrations SET needs_reauth = $1, updated_at = $2 WHERE id = $3`,
			reason, ms(t.now), id)
	})
}
