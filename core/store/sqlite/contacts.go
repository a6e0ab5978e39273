package sqlite

import (
	"context"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/internal/dbutil"
)

type contacts struct{ h }

const (
	contactCols        = `id, integration_id, channel_user_id, username, name, avatar_url, last_inbound_at, profile_at`
	contactByUserQuery = `SELECT ` + contactCols + ` FROM contacts WHERE integration_id = ? AND channel_user_id = ?`
)

func scanContact(r scanner) (*model.Contact, error) {
	var c model.Contact
	var inbound, profile int64
	if err := r.Scan(&c.ID, &c.Integration, &c.ChannelUserID, &c.Username, &c.Name, &c.AvatarURL, &inbound, &profile); err != nil {
		return nil, notFound(err)
	}
	c.LastInboundAt, c.ProfileAt = fromMS(inbound), fromMS(profile)
	return &c, nil
}

func (x contacts) Upsert(ctx context.Context, integration, userID string, h store.ContactHints, inbound time.Time) (*model.Contact, error) {
	var c *model.Contact
	err := x.write(ctx, func(t *txn) error {
		id, err := t.db.ids.insert(ctx, t.tx, &t.db.ids.contact, h.NewID, func(id int64) error {
			var err error
			c, err = scanContact(t.tx.QueryRowContext(ctx, `INSERT INTO contacts
				(id, integration_id, channel_user_id, username, name, avatar_url, last_inbound_at, created_at, profile_at, profile_error)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (integration_id, channel_user_id) DO UPDATE SET
					username = CASE WHEN excluded.username <> '' THEN excluded.username ELSE username END,
					name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE name END,
					avatar_url = CASE WHEN excluded.avatar_url <> '' THEN excluded.avatar_url ELSE avatar_url END,
					last_inbound_at = max(last_inbound_at, excluded.last_inbound_at),
					profile_error = CASE WHEN excluded.profile_at > 0 THEN excluded.profile_error ELSE profile_error END,
					profile_at = CASE WHEN excluded.profile_at > 0 THEN excluded.profile_at ELSE profile_at END
				RETURNING `+contactCols,
				id, integration, userID, h.Username, h.Name, h.AvatarURL, ms(inbound), ms(t.now), dbutil.ProfileAt(h.Profiled, t.now), h.ProfileError))
			return err
		})
		switch {
		case err != nil:
			return err
		case c.ID != id:
			// Stored already: the id taken for it is not needed.
			if h.NewID == 0 {
				t.db.ids.giveBack(&t.db.ids.contact, id)
			}
		default:
			t.db.wakeIndexer() // a new contact is indexed for search by the indexer
		}
		return nil
	})
	return c, err
}

func (x contacts) Get(ctx context.Context, id int64) (*model.Contact, error) {
	return scanContact(x.q().QueryRowContext(ctx, `SELECT `+contactCols+` FROM contacts WHERE id = ?`, id))
}

func (x contacts) ByUser(ctx context.Context, integration, userID string) (*model.Contact, error) {
	return scanContact(x.q().QueryRowContext(ctx, contactByUserQuery, integration, userID))
}
