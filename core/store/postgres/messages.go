package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

type messages struct{ h h }

var _ store.Messages = messages{}

// msgSelectCols are the columns scanMsgRow reads, of messages aliased m.
const msgSelectCols = `m.id, m.conversation_id, m.integration_id, m.direction, m.author, m.contents, m.status, m.error,
	m.provider_message_id, m.reply_to, m.deleted_at, m.edited_at, m.handled_at, m.possible_duplicate, m.private, m.created_at`

func scanMsgRow(r pgx.Row) (*model.Message, error) {
	var m model.Message
	var contents string
	var deleted, edited, handled *int64
	var created int64
	if err := r.Scan(&m.ID, &m.Conversation, &m.Integration, &m.Direction, &m.Author, &contents, &m.Status, &m.Error,
		&m.ProviderMessageID, &m.ReplyTo, &deleted, &edited, &handled, &m.PossibleDuplicate, &m.Private, &created); err != nil {
		return nil, notFound(err)
	}
	if err := json.Unmarshal([]byte(contents), &m.Contents); err != nil {
		return nil, fmt.Errorf("message %d contents: %w", m.ID, err)
	}
	m.DeletedAt, m.EditedAt = nullMS(deleted), nullMS(edited)
	m.Deleted = m.DeletedAt != nil
	m.Handled = handled != nil
	m.CreatedAt = fromMS(created)
	return &m, nil
}

var collectMsgRows = collect(scanMsgRow)

// errProviderIDTaken: a provider id of the message being added belongs to
// another message.
var errProviderIDTaken = errors.New("provider id already known")

// Add inserts the message first and lets provider_ids' primary key decide
// who owns each id: the check and the write are one statement, so two nodes
// adding the same provider's message (a redelivery that reached both) cannot
// both store it. The second inserter of a key waits for the first to commit
// and then sees the conflict.
//
// The message row is inserted in a savepoint and rolled back with it when an
// id is taken. Inserting provider_ids first, under an id reserved from the
// identity sequence, is not possible here: provider_ids.message_id is a
// foreign key checked at the end of each statement, not deferred to commit.
// A message without provider ids (a send being enqueued) needs no savepoint.
func (x messages) Add(ctx context.Context, m *model.Message, providerIDs ...string) (bool, error) {
	contents, err := json.Marshal(m.Contents)
	if err != nil {
		return false, err
	}
	ids := distinctProviderIDs(providerIDs)
	var existing bool
	err = x.h.write(ctx, func(t *txn) error {
		existing = false
		row := *m
		if row.CreatedAt.IsZero() {
			row.CreatedAt = t.now
		}
		for _, pid := range providerIDs {
			if row.ProviderMessageID == "" && pid != "" {
				row.ProviderMessageID = pid
			}
		}
		if len(ids) == 0 {
			if err := insertMsgRow(ctx, t.tx, &row, contents); err != nil {
				return err
			}
			*m = row
			return nil
		}
		var known string
		err := t.savepoint(ctx, func(q querier) error {
			if err := insertMsgRow(ctx, q, &row, contents); err != nil {
				return err
			}
			// One statement for every id, in sorted order: two adds sharing
			// ids take their keys in the same order, so they wait for each
			// other instead of deadlocking.
			stored, err := collectStrings(q.Query(ctx, `INSERT INTO provider_ids (integration_id, provider_id, message_id)
				SELECT $1::text, u.pid, $2::bigint FROM unnest($3::text[]) WITH ORDINALITY AS u (pid, n) ORDER BY u.n
				ON CONFLICT (integration_id, provider_id) DO NOTHING
				RETURNING provider_id`, row.Integration, row.ID, ids))
			if err != nil {
				return err
			}
			if len(stored) == len(ids) {
				return nil
			}
			// The first taken id, in the caller's order, names the message.
			for _, pid := range providerIDs {
				if pid != "" && !slices.Contains(stored, pid) {
					known = pid
					break
				}
			}
			return errProviderIDTaken
		})
		switch {
		case errors.Is(err, errProviderIDTaken):
			// A new statement sees what the conflicting transaction
			// committed (READ COMMITTED).
			old, err := x.byProviderID(ctx, t.tx, row.Integration, known)
			if err != nil {
				return err
			}
			*m, existing = *old, true
			return nil
		case err != nil:
			return err
		}
		*m = row
		return nil
	})
	return existing, err
}

// insertMsgRow inserts m's row and sets m.ID.
func insertMsgRow(ctx context.Context, q querier, m *model.Message, contents []byte) error {
	return q.QueryRow(ctx, `INSERT INTO messages (conversation_id, integration_id, direction, author, contents,
		status, error, provider_message_id, reply_to, private, created_at, search)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, `+searchVector("$12")+`) RETURNING id`,
		m.Conversation, m.Integration, m.Direction, m.Author, string(contents), m.Status, m.Error,
		m.ProviderMessageID, m.ReplyTo, m.Private, ms(m.CreatedAt), searchWords(m.Author, false, m.Contents)).Scan(&m.ID)
}

// distinctProviderIDs returns ids sorted, without empty ones and repeats: a
// repeated id would otherwise conflict with the row the same statement
// inserts, and the message would find itself "already known".
func distinctProviderIDs(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// AddProviderIDs records the ids (one already owned by another message is
// left to it) and makes the first its provider id if it has none.
func (x messages) AddProviderIDs(ctx context.Context, integration string, messageID int64, ids ...string) error {
	return x.h.write(ctx, func(t *txn) error { return addProviderIDs(ctx, t.tx, integration, messageID, ids) })
}

// addProviderIDs is AddProviderIDs in q (the outbox records a send's ids
// with it too).
func addProviderIDs(ctx context.Context, q querier, integration string, messageID int64, ids []string) error {
	first := ""
	for _, pid := range ids {
		if pid != "" {
			first = pid
			break
		}
	}
	if first == "" {
		return nil
	}
	// Sorted, as in Add, so concurrent writers of overlapping ids take
	// their keys in one order.
	if _, err := q.Exec(ctx, `INSERT INTO provider_ids (integration_id, provider_id, message_id)
		SELECT $1::text, u.pid, $2::bigint FROM unnest($3::text[]) WITH ORDINALITY AS u (pid, n) ORDER BY u.n
		ON CONFLICT (integration_id, provider_id) DO NOTHING`, integration, messageID, distinctProviderIDs(ids)); err != nil {
		return err
	}
	// Guarded: of two concurrent writers, the one that waited for the
	// other's row lock re-checks provider_message_id and leaves it.
	_, err := q.Exec(ctx, `UPDATE messages SET provider_message_id = $1 WHERE id = $2 AND provider_message_id = ''`,
		first, messageID)
	return err
}

func (x messages) byProviderID(ctx context.Context, q querier, integration, pid string) (*model.Message, error) {
	return scanMsgRow(q.QueryRow(ctx, `SELECT `+msgSelectCols+` FROM provider_ids p JOIN messages m ON m.id = p.message_id
		WHERE p.integration_id = $1 AND p.provider_id = $2`, integration, pid))
}

func (x messages) ByProviderID(ctx context.Context, integration, pid string) (*model.Message, error) {
	return x.byProviderID(ctx, x.h.q(), integration, pid)
}

func (x messages) Get(ctx context.Context, id int64) (*model.Message, error) {
	q := x.h.q()
	m, err := scanMsgRow(q.QueryRow(ctx, `SELECT `+msgSelectCols+` FROM messages m WHERE m.id = $1`, id))
	if err != nil {
		return nil, err
	}
	byMessage, err := reactionsOf(ctx, q, `r.message_id = $1`, id)
	m.Reactions = byMessage[m.ID]
	return m, err
}

// reactionsOf reads the reactions of the messages where (on reactions r
// joined to messages m) holds, by message, oldest first.
func reactionsOf(ctx context.Context, q querier, where string, arg any) (map[int64][]model.Reaction, error) {
	rows, err := q.Query(ctx, `SELECT r.message_id, r.by, r.emoji, r.created_at FROM reactions r
		JOIN messages m ON m.id = r.message_id WHERE `+where+` ORDER BY r.created_at, r.by`, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64][]model.Reaction{}
	for rows.Next() {
		var id, at int64
		var r model.Reaction
		if err := rows.Scan(&id, &r.By, &r.Emoji, &at); err != nil {
			return nil, err
		}
		r.At = fromMS(at)
		out[id] = append(out[id], r)
	}
	return out, rows.Err()
}

// List reads the messages, then their reactions. Outside a transaction the
// two statements may see different moments: a reaction to a message the
// first did not see is left out.
func (x messages) List(ctx context.Context, conversation int64) ([]model.Message, error) {
	q := x.h.q()
	ms, err := collectMsgRows(q.Query(ctx, `SELECT `+msgSelectCols+` FROM messages m WHERE m.conversation_id = $1 ORDER BY m.id`,
		conversation))
	if err != nil {
		return nil, err
	}
	byMessage, err := reactionsOf(ctx, q, `m.conversation_id = $1`, conversation)
	if err != nil {
		return nil, err
	}
	out := make([]model.Message, len(ms))
	for i, m := range ms {
		out[i] = *m
		out[i].Reactions = byMessage[m.ID]
	}
	return out, nil
}

// SetStatus is one guarded UPDATE (transition): a concurrent update that
// moved the message first is re-checked against, so a late report never
// moves it backwards.
func (x messages) SetStatus(ctx context.Context, id int64, status, errText string) error {
	if !model.SendMachine.Known(status) {
		return fmt.Errorf("message %d: %q is not a delivery status", id, status)
	}
	return x.h.write(ctx, func(t *txn) error {
		return transition(ctx, t.tx, model.SendMachine, "messages", "status", id, status, nil, func(a *args) string {
			return "status_at = " + a.add(ms(t.now)) + ", error = " + a.add(errText)
		}, nil)
	})
}

// MarkReadUpTo is one guarded UPDATE too: a message another writer moved
// meanwhile (failed) is re-checked and left alone.
func (x messages) MarkReadUpTo(ctx context.Context, conversation, id int64) (int64, error) {
	var n int64
	err := x.h.write(ctx, func(t *txn) error {
		var a args
		from := model.SendMachine.From(model.StatusRead)
		in := make([]any, len(from))
		for i, s := range from {
			in[i] = s
		}
		tag, err := t.tx.Exec(ctx, `UPDATE messages SET status = `+a.add(model.StatusRead)+`, status_at = `+a.add(ms(t.now))+`
			WHERE conversation_id = `+a.add(conversation)+` AND id <= `+a.add(id)+`
				AND direction = `+a.add(model.DirectionOut)+` AND status IN (`+a.list(in...)+`)`, a...)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		return nil
	})
	return n, err
}

// affectOne runs one statement that must touch a row (store.ErrNotFound
// otherwise).
func affectOne(ctx context.Context, q querier, stmt string, args ...any) error {
	tag, err := q.Exec(ctx, stmt, args...)
	if err != nil {
		return conflict(err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

func (x messages) MarkHandled(ctx context.Context, id int64) error {
	return x.h.write(ctx, func(t *txn) error {
		return affectOne(ctx, t.tx, `UPDATE messages SET handled_at = coalesce(handled_at, $1) WHERE id = $2`, ms(t.now), id)
	})
}

func (x messages) MarkDeleted(ctx context.Context, id int64, at time.Time) error {
	return x.h.write(ctx, func(t *txn) error {
		// A deleted message is no longer found by its text.
		return affectOne(ctx, t.tx, `UPDATE messages SET deleted_at = coalesce(deleted_at, $1), search = ''::tsvector
			WHERE id = $2`, ms(at), id)
	})
}

func (x messages) Edit(ctx context.Context, id int64, contents []model.Content, at time.Time) error {
	b, err := json.Marshal(contents)
	if err != nil {
		return err
	}
	return x.h.write(ctx, func(t *txn) error {
		// The message is found by its new text, if it is searchable at
		// all (the row lock keeps a concurrent delete from slipping in).
		var author string
		var deleted bool
		if err := t.tx.QueryRow(ctx, `SELECT author, deleted_at IS NOT NULL FROM messages WHERE id = $1 FOR UPDATE`,
			id).Scan(&author, &deleted); err != nil {
			return notFound(err)
		}
		return affectOne(ctx, t.tx, `UPDATE messages SET contents = $1, edited_at = $2, search = `+searchVector("$3")+`
			WHERE id = $4`, string(b), ms(at), searchWords(author, deleted, contents), id)
	})
}

// SetReaction upserts by's reaction. A missing message is found by the
// statement itself (nothing inserted: store.ErrNotFound) rather than by the
// foreign key, whose error would abort the caller's transaction; messages
// are never deleted, so the check cannot go stale.
func (x messages) SetReaction(ctx context.Context, messageID int64, by, emoji string, at time.Time) error {
	return x.h.write(ctx, func(t *txn) error {
		if emoji == "" {
			_, err := t.tx.Exec(ctx, `DELETE FROM reactions WHERE message_id = $1 AND by = $2`, messageID, by)
			return err
		}
		return affectOne(ctx, t.tx, `INSERT INTO reactions (message_id, by, emoji, created_at)
			SELECT $1::bigint, $2::text, $3::text, $4::bigint WHERE EXISTS (SELECT 1 FROM messages WHERE id = $1)
			ON CONFLICT (message_id, by) DO UPDATE SET emoji = EXCLUDED.emoji, created_at = EXCLUDED.created_at`,
			messageID, by, emoji, ms(at))
	})
}
