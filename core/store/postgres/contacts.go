package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/internal/dbutil"
	"github.com/conversa/conversa/core/store/internal/fulltext"
)

type contacts struct{ h h }

const contactCols = `id, integration_id, channel_user_id, username, name, avatar_url, last_inbound_at, profile_at`

// scanContact reads a contact, and then the row's extra columns into
// extra.
func scanContact(r pgx.Row, extra ...any) (*model.Contact, error) {
	var c model.Contact
	var inbound, profile int64
	dest := append([]any{&c.ID, &c.Integration, &c.ChannelUserID, &c.Username, &c.Name, &c.AvatarURL, &inbound, &profile}, extra...)
	if err := r.Scan(dest...); err != nil {
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
// conversation) runs after the others' have committed. The search words
// are written with the row (searchSet); only hints that change one field
// and leave another as stored cost a second statement (reindexContact).
func (x contacts) Upsert(ctx context.Context, integration, userID string, h store.ContactHints, inbound time.Time) (*model.Contact, error) {
	var c *model.Contact
	err := x.h.write(ctx, func(t *txn) error {
		var unindexed bool
		var err error
		// A reserved id, else the identity's next.
		c, err = scanContact(t.tx.QueryRow(ctx, `INSERT INTO contacts
			(id, integration_id, channel_user_id, username, name, avatar_url, last_inbound_at, created_at, search, profile_at, profile_error)
			VALUES (coalesce($9, nextval(pg_get_serial_sequence('contacts', 'id'))), $1, $2, $3, $4, $5, $6, $7, `+searchVector("$8")+`, $10, $11)
			ON CONFLICT (integration_id, channel_user_id) DO UPDATE SET
				username = coalesce(nullif(excluded.username, ''), contacts.username),
				name = coalesce(nullif(excluded.name, ''), contacts.name),
				avatar_url = coalesce(nullif(excluded.avatar_url, ''), contacts.avatar_url),
				last_inbound_at = greatest(contacts.last_inbound_at, excluded.last_inbound_at),
				profile_at = CASE WHEN excluded.profile_at > 0 THEN excluded.profile_at ELSE contacts.profile_at END,
				profile_error = CASE WHEN excluded.profile_at > 0 THEN excluded.profile_error ELSE contacts.profile_error END,
				search = `+searchSet("contacts", "excluded.username", "excluded.name", "excluded.search")+`
			RETURNING `+contactCols+`, search IS NULL`,
			integration, userID, h.Username, h.Name, h.AvatarURL, ms(inbound), ms(t.now),
			contactWords(userID, h.Username, h.Name), nullID(h.NewID), dbutil.ProfileAt(h.Profiled, t.now), h.ProfileError), &unindexed)
		if err != nil || !unindexed {
			return err
		}
		return reindexContact(ctx, t, c.ID, c.ChannelUserID, c.Username, c.Name)
	})
	return c, err
}

// contactWords are the words a contact is found by: those of its name,
// username and channel id, folded, separated by spaces (as searchWords
// gives a message's). A username's dots and underscores separate words, as
// they do in SQLite's contact_search.
func contactWords(channelUserID, username, name string) string {
	return strings.Join(fulltext.Lexemes(name+" "+username+" "+channelUserID), " ")
}

// searchSet is the SQL for contacts.search in a write that keeps what is
// stored wherever a hint is empty (old names the stored row; username and
// name are the hints' SQL): the stored vector when no field changes and
// the contact is indexed (the very value, so that the update of an
// unchanged contact leaves its indexed columns as they were, and
// PostgreSQL may update it in place without touching an index);
// else fresh, the vector of the hints' own words, when those are the
// contact's words after the write (each hint given, or the stored field
// empty); NULL otherwise (a field changed, another kept; or not indexed
// yet), which the writer then indexes with reindexContact. fresh "" has
// no vector of the hints: NULL in its case too.
func searchSet(old, username, name, fresh string) string {
	if fresh == "" {
		fresh = "NULL"
	}
	return `CASE WHEN ` + username + ` IN ('', ` + old + `.username) AND ` + name + ` IN ('', ` + old + `.name)
			AND ` + old + `.search IS NOT NULL THEN ` + old + `.search
		WHEN (` + username + ` <> '' OR ` + old + `.username = '') AND (` + name + ` <> '' OR ` + old + `.name = '') THEN ` + fresh + ` END`
}

// reindexContact writes the search words of contact id from its fields
// as t has them.
func reindexContact(ctx context.Context, t *txn, id int64, channelUserID, username, name string) error {
	_, err := t.tx.Exec(ctx, `UPDATE contacts SET search = `+searchVector("$1")+` WHERE id = $2`,
		contactWords(channelUserID, username, name), id)
	return err
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
