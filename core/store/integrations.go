package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/conversa/conversa/core/model"
)

const integrationCols = `id, name, channel, assistant, squad, inactivity_minutes, unsupported_media_messages,
	homologation_users, settings, enabled, source, needs_reauth, created_at, updated_at`

type scanner interface{ Scan(...any) error }

func scanIntegration(r scanner) (*model.Integration, error) {
	var in model.Integration
	var unsup, homol, settings string
	var created, updated int64
	if err := r.Scan(&in.ID, &in.Name, &in.Channel, &in.Assistant, &in.Squad, &in.InactivityMinutes, &unsup,
		&homol, &settings, &in.Enabled, &in.Source, &in.NeedsReauth, &created, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	if err := errors.Join(json.Unmarshal([]byte(unsup), &in.UnsupportedMediaMessages),
		json.Unmarshal([]byte(homol), &in.HomologationUsers),
		json.Unmarshal([]byte(settings), &in.Settings)); err != nil {
		return nil, err
	}
	in.CreatedAt, in.UpdatedAt = fromMS(created), fromMS(updated)
	return &in, nil
}

// Integrations lists every integration, enabled or not, by id.
func (s *Store) Integrations(ctx context.Context) ([]*model.Integration, error) {
	return collectIntegrations(s.r.QueryContext(ctx, `SELECT `+integrationCols+` FROM integrations ORDER BY id`))
}

// Integration returns one integration or ErrNotFound.
func (s *Store) Integration(ctx context.Context, id string) (*model.Integration, error) {
	return scanIntegration(s.r.QueryRowContext(ctx, `SELECT `+integrationCols+` FROM integrations WHERE id = ?`, id))
}

// Integration reads an integration inside a write transaction.
func (t *Tx) Integration(ctx context.Context, id string) (*model.Integration, error) {
	return scanIntegration(t.queryRow(ctx, `SELECT `+integrationCols+` FROM integrations WHERE id = ?`, id))
}

// PutIntegration creates or replaces an integration. The creation time of an
// existing one is kept; in.CreatedAt and in.UpdatedAt are set.
func (t *Tx) PutIntegration(ctx context.Context, in *model.Integration) error {
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
	now := ms(t.now)
	var created int64
	err = t.queryRow(ctx, `INSERT INTO integrations (`+integrationCols+`)
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
}

// DeleteIntegration removes an integration; its conversations stay for the
// record.
func (t *Tx) DeleteIntegration(ctx context.Context, id string) error {
	res, err := t.exec(ctx, `DELETE FROM integrations WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// SetNeedsReauth records why an integration's credentials stopped working,
// or clears it with "".
func (t *Tx) SetNeedsReauth(ctx context.Context, id, reason string) error {
	_, err := t.exec(ctx, `UPDATE integrations SET needs_reauth = ?, updated_at = ? WHERE id = ?`, reason, ms(t.now), id)
	return err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
