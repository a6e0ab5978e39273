package sqlite

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/conversa/conversa/core/model"
)

type integrations struct{ h }

const integrationCols = `id, name, channel, assistant, squad, inactivity_minutes, unsupported_media_messages,
	homologation_users, settings, enabled, source, needs_reauth, created_at, updated_at`

func scanIntegration(r scanner) (*model.Integration, error) {
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

var collectIntegrations = collect(scanIntegration)

func (x integrations) List(ctx context.Context) ([]*model.Integration, error) {
	return collectIntegrations(x.q().QueryContext(ctx, `SELECT `+integrationCols+` FROM integrations ORDER BY id`))
}

func (x integrations) Get(ctx context.Context, id string) (*model.Integration, error) {
	return scanIntegration(x.q().QueryRowContext(ctx, `SELECT `+integrationCols+` FROM integrations WHERE id = ?`, id))
}

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
	return x.write(ctx, func(t *txn) error {
		now := ms(t.now)
		var created int64
		err := t.tx.QueryRowContext(ctx, `INSERT INTO integrations (`+integrationCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, channel = excluded.channel,
				assistant = excluded.assistant, squad = excluded.squad,
				inactivity_minutes = excluded.inactivity_minutes,
				unsupported_media_messages = excluded.unsupported_media_messages,
				homologation_users = excluded.homologation_users, settings = excluded.settings,
				enabled = excluded.enabled, source = excluded.source, needs_reauth = excluded.needs_reauth,
				updated_at = excluded.updated_at
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
	return x.exec(ctx, `DELETE FROM integrations WHERE id = ?`, id)
}

func (x integrations) SetNeedsReauth(ctx context.Context, id, reason string) error {
	return x.write(ctx, func(t *txn) error {
		return execOne(ctx, t, `UPDATE integrations SET needs_reauth = ?, updated_at = ? WHERE id = ?`, reason, ms(t.now), id)
	})
}
