package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/conversa/conversa/core/model"
)

const contactCols = `id, integration_id, channel_user_id, username, name, avatar_url, last_inbound_at, profile_at`

func scanContact(r scanner) (*model.Contact, error) {
	var c model.Contact
	var inbound, profile int64
	if err := r.Scan(&c.ID, &c.Integration, &c.ChannelUserID, &c.Username, &c.Name, &c.AvatarURL, &inbound, &profile); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	c.LastInboundAt, c.ProfileAt = fromMS(inbound), fromMS(profile)
	return &c, nil
}

// ContactHints are what an event says about its user; empty fields keep what
// is stored.
type ContactHints struct {
	Username, Name, AvatarURL string
}

// UpsertContact finds or creates the contact of an integration's user,
// refreshing its profile with any hints, and moving its last inbound time
// forward to inbound (when not zero).
func (t *Tx) UpsertContact(ctx context.Context, integration, userID string, h ContactHints, inbound time.Time) (*model.Contact, error) {
	return scanContact(t.queryRow(ctx, `INSERT INTO contacts
		(integration_id, channel_user_id, username, name, avatar_url, last_inbound_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (integration_id, channel_user_id) DO UPDATE SET
			username = CASE WHEN excluded.username <> '' THEN excluded.username ELSE username END,
			name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE name END,
			avatar_url = CASE WHEN excluded.avatar_url <> '' THEN excluded.avatar_url ELSE avatar_url END,
			last_inbound_at = max(last_inbound_at, excluded.last_inbound_at)
		RETURNING `+contactCols,
		integration, userID, h.Username, h.Name, h.AvatarURL, ms(inbound), ms(t.now)))
}

// SetProfile stores a profile lookup's result. Empty fields keep what is
// stored (a lookup that returns no name must not erase one from a webhook).
func (t *Tx) SetProfile(ctx context.Context, contactID int64, h ContactHints, lookupErr string) error {
	_, err := t.exec(ctx, `UPDATE contacts SET
		username = CASE WHEN ? <> '' THEN ? ELSE username END,
		name = CASE WHEN ? <> '' THEN ? ELSE name END,
		avatar_url = CASE WHEN ? <> '' THEN ? ELSE avatar_url END,
		profile_at = ?, profile_error = ? WHERE id = ?`,
		h.Username, h.Username, h.Name, h.Name, h.AvatarURL, h.AvatarURL, ms(t.now), lookupErr, contactID)
	return err
}

// Contact returns one contact.
func (s *Store) Contact(ctx context.Context, id int64) (*model.Contact, error) {
	return scanContact(s.r.QueryRowContext(ctx, `SELECT `+contactCols+` FROM contacts WHERE id = ?`, id))
}

// Contact reads a contact inside a write transaction.
func (t *Tx) Contact(ctx context.Context, id int64) (*model.Contact, error) {
	return scanContact(t.queryRow(ctx, `SELECT `+contactCols+` FROM contacts WHERE id = ?`, id))
}

// ContactByUser finds an integration's contact by channel user id.
func (t *Tx) ContactByUser(ctx context.Context, integration, userID string) (*model.Contact, error) {
	return scanContact(t.queryRow(ctx, `SELECT `+contactCols+` FROM contacts WHERE integration_id = ? AND channel_user_id = ?`,
		integration, userID))
}
