package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

type contacts struct{ h h }

const contactCols = `id, integration_id, channel_user_id, username, name, avatar_url, last_inbound_at, profile_at`

func scanContact(r pgx.Row) (*model.Contact, error) {
	var c model.Contact
	var inbound, profile int64
	if err := r.Scan(&c.ID, &c.Integration, &c.ChannelUserID, &c.Username, &c.Name, &c.AvatarURL, &inbound, &profile); err != nil {
		return nil, notFound(err)
	}
	c.LastInboundAt, c.ProfileAt = fromMS(inbound), fromMS(profile)
	return &c, nil
}

// Upsert is one statement whatever runs concurrently: of the first messages
// of one user arriving together on several nodes, one inserts and the others
// wait for it on the unique key, then update the row it made (never a
// second contact, never a unique violation). The update takes the contact's
// row lock, so the rest of the caller's transaction (starting its
// conversation) runs after the others' have committed.
func (x contacts) Upsert(ctx context.Context, integration, userID string, h store.ContactHints, inbound time.Time) (*model.Contact, error) {
	var c *model.Contact
	err := x.h.write(ctx, func(t *txn) error {
		var err error
		c, err = scanContact(t.tx.QueryRow(ctx, `INSERT INTO contacts
			(integration_id, channel_user_id, username, name, avatar_url, last_inbound_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (integration_id, channel_user_id) DO UPDATE SET
				username = coalesce(nullif(excluded.username, ''), contacts.username),
				name = coalesce(nullif(excluded.name, ''), contacts.name),
				avatar_url = coalesce(nullif(excluded.avatar_url, ''), contacts.avatar_url),
				last_inbound_at = greatest(contacts.last_inbound_at, excluded.last_inbound_at)
			RETURNING `+contactCols,
			integration, userID, h.Username, h.Name, h.AvatarURL, ms(inbound), ms(t.now)))
		return err
	})
	return c, err
}

func (x contacts) SetProfile(ctx context.Context, id int64, h store.ContactHints, lookupErr string) error {
	return x.h.write(ctx, func(t *txn) error {
		// A failed lookup says nothing about the user: empty hints keep
		// what is known.
		return updateOne(ctx, t, `UPDATE contacts SET
			username = coalesce(nullif($1, ''), username),
			name = coalesce(nullif($2, ''), name),
			avatar_url = coalesce(nullif($3, ''), avatar_url),
			profile_at = $4, profile_error = $5 WHERE id = $6`,
			h.Username, h.Name, h.AvatarURL, ms(t.now), lookupErr, id)
	})
}

func (x contacts) Get(ctx context.Context, id int64) (*model.Contact, error) {
	return scanContact(x.h.q().QueryRow(ctx, `SELECT `+contactCols+` FROM contacts WHERE id = $1`, id))
}

func (x contacts) ByUser(ctx context.Context, integration, userID string) (*model.Contact, error) {
	return scanContact(x.h.q().QueryRow(ctx, `SELECT `+contactCols+` FROM contacts WHERE integration_id = $1 AND channel_user_id = $2`,
		integration, userID))
}

// updateOne runs one statement of t that must touch a row: ErrNotFound when
// it touched none (an UPDATE counts the rows it matched, changed or not).
func updateOne(ctx context.Context, t *txn, stmt string, args ...any) error {
	tag, err := t.tx.Exec(ctx, stmt, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}
