package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/conversa/conversa/core/model"
)

const messageCols = `m.id, m.conversation_id, m.integration_id, m.direction, m.author, m.contents, m.status, m.error,
	m.provider_message_id, m.reply_to, m.deleted_at, m.edited_at, m.handled_at, m.created_at`

func scanMessage(r scanner) (*model.Message, error) {
	var m model.Message
	var contents string
	var deleted, edited, handled sql.NullInt64
	var created int64
	if err := r.Scan(&m.ID, &m.Conversation, &m.Integration, &m.Direction, &m.Author, &contents, &m.Status, &m.Error,
		&m.ProviderMessageID, &m.ReplyTo, &deleted, &edited, &handled, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	if err := json.Unmarshal([]byte(contents), &m.Contents); err != nil {
		return nil, fmt.Errorf("message %d contents: %w", m.ID, err)
	}
	m.DeletedAt, m.EditedAt = nullMS(deleted), nullMS(edited)
	m.Deleted = m.DeletedAt != nil
	m.Handled = handled.Valid
	m.CreatedAt = fromMS(created)
	return &m, nil
}

// AddMessage stores a message under every provider id given. When one of
// them is already known, nothing is stored and the existing message is
// returned with existing = true: a provider's redelivery, or the echo of a
// message we sent.
func (t *Tx) AddMessage(ctx context.Context, m *model.Message, providerIDs ...string) (existing bool, err error) {
	for _, pid := range providerIDs {
		if pid == "" {
			continue
		}
		old, err := t.MessageByProviderID(ctx, m.Integration, pid)
		if err == nil {
			*m = *old
			return true, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return false, err
		}
	}
	contents, err := json.Marshal(m.Contents)
	if err != nil {
		return false, err
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = t.now
	}
	if m.ProviderMessageID == "" && len(providerIDs) > 0 {
		m.ProviderMessageID = providerIDs[0]
	}
	if err := t.queryRow(ctx, `INSERT INTO messages (conversation_id, integration_id, direction, author, contents, status,
		error, provider_message_id, reply_to, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		m.Conversation, m.Integration, m.Direction, m.Author, string(contents), m.Status, m.Error, m.ProviderMessageID,
		m.ReplyTo, ms(m.CreatedAt)).Scan(&m.ID); err != nil {
		return false, err
	}
	return false, t.AddProviderIDs(ctx, m.Integration, m.ID, providerIDs...)
}

// AddProviderIDs records more provider ids for a message (the ids a send
// returned). The first one also becomes the message's provider id.
func (t *Tx) AddProviderIDs(ctx context.Context, integration string, messageID int64, ids ...string) error {
	first := true
	for _, pid := range ids {
		if pid == "" {
			continue
		}
		if _, err := t.exec(ctx, `INSERT INTO provider_ids (integration_id, provider_id, message_id) VALUES (?, ?, ?)
			ON CONFLICT DO NOTHING`, integration, pid, messageID); err != nil {
			return err
		}
		if first {
			if _, err := t.exec(ctx, `UPDATE messages SET provider_message_id = ? WHERE id = ? AND provider_message_id = ''`,
				pid, messageID); err != nil {
				return err
			}
			first = false
		}
	}
	return nil
}

// MessageByProviderID finds a message by any of its provider ids.
func (t *Tx) MessageByProviderID(ctx context.Context, integration, pid string) (*model.Message, error) {
	return scanMessage(t.queryRow(ctx, `SELECT `+messageCols+` FROM provider_ids p JOIN messages m ON m.id = p.message_id
		WHERE p.integration_id = ? AND p.provider_id = ?`, integration, pid))
}

// Message reads a message inside a write transaction.
func (t *Tx) Message(ctx context.Context, id int64) (*model.Message, error) {
	return scanMessage(t.queryRow(ctx, `SELECT `+messageCols+` FROM messages m WHERE m.id = ?`, id))
}

// Messages lists a conversation's messages, oldest first, with reactions.
func (s *Store) Messages(ctx context.Context, conversation int64) ([]model.Message, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+messageCols+` FROM messages m WHERE m.conversation_id = ? ORDER BY m.id`, conversation)
	if err != nil {
		return nil, err
	}
	var out []model.Message
	index := map[int64]int{}
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		index[m.ID] = len(out)
		out = append(out, *m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rrows, err := s.r.QueryContext(ctx, `SELECT r.message_id, r.by, r.emoji, r.created_at FROM reactions r
		JOIN messages m ON m.id = r.message_id WHERE m.conversation_id = ? ORDER BY r.created_at`, conversation)
	if err != nil {
		return nil, err
	}
	defer rrows.Close()
	for rrows.Next() {
		var id, at int64
		var r model.Reaction
		if err := rrows.Scan(&id, &r.By, &r.Emoji, &at); err != nil {
			return nil, err
		}
		r.At = fromMS(at)
		if i, ok := index[id]; ok {
			out[i].Reactions = append(out[i].Reactions, r)
		}
	}
	return out, rrows.Err()
}

// Message returns one message.
func (s *Store) Message(ctx context.Context, id int64) (*model.Message, error) {
	return scanMessage(s.r.QueryRowContext(ctx, `SELECT `+messageCols+` FROM messages m WHERE m.id = ?`, id))
}

// statusRank orders delivery statuses. Failed is final: Zenvia reports each
// content of a message separately, and a later "delivered" for one content
// must not hide that another failed.
var statusRank = map[string]int{
	model.StatusPending: 0, model.StatusSent: 1, model.StatusDelivered: 2, model.StatusRead: 3, model.StatusFailed: 4,
}

// SetMessageStatus moves an outbound message's delivery status forward:
// statuses arrive out of order, and a late "delivered" must not undo "read".
// It reports whether the status changed.
func (t *Tx) SetMessageStatus(ctx context.Context, id int64, status, errText string) (bool, error) {
	var cur string
	if err := t.queryRow(ctx, `SELECT status FROM messages WHERE id = ?`, id).Scan(&cur); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return false, ErrNotFound
		}
		return false, err
	}
	if statusRank[status] <= statusRank[cur] {
		return false, nil
	}
	_, err := t.exec(ctx, `UPDATE messages SET status = ?, error = ?, status_at = ? WHERE id = ?`, status, errText, ms(t.now), id)
	return err == nil, err
}

// MarkReadUpTo marks the conversation's outbound messages up to and including
// id as read (Instagram reports the last message the user saw).
func (t *Tx) MarkReadUpTo(ctx context.Context, conversation, id int64) (int64, error) {
	res, err := t.exec(ctx, `UPDATE messages SET status = 'read', status_at = ?
		WHERE conversation_id = ? AND id <= ? AND direction = 'out' AND status IN ('sent', 'delivered')`,
		ms(t.now), conversation, id)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// MarkHandled records that an inbound message has been fully dealt with.
func (t *Tx) MarkHandled(ctx context.Context, id int64) error {
	_, err := t.exec(ctx, `UPDATE messages SET handled_at = ? WHERE id = ?`, ms(t.now), id)
	return err
}

// MarkDeleted records that the user unsent a message. The row stays: agents
// see "Message deleted" where it was.
func (t *Tx) MarkDeleted(ctx context.Context, id int64, at time.Time) error {
	_, err := t.exec(ctx, `UPDATE messages SET deleted_at = coalesce(deleted_at, ?) WHERE id = ?`, ms(at), id)
	return err
}

// EditMessage replaces a message's contents after the user edited it.
func (t *Tx) EditMessage(ctx context.Context, id int64, contents []model.Content, at time.Time) error {
	b, err := json.Marshal(contents)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `UPDATE messages SET contents = ?, edited_at = ? WHERE id = ?`, string(b), ms(at), id)
	return err
}

// SetReaction puts (or replaces) by's reaction on a message; an empty emoji
// removes it.
func (t *Tx) SetReaction(ctx context.Context, messageID int64, by, emoji string, at time.Time) error {
	if emoji == "" {
		_, err := t.exec(ctx, `DELETE FROM reactions WHERE message_id = ? AND by = ?`, messageID, by)
		return err
	}
	_, err := t.exec(ctx, `INSERT INTO reactions (message_id, by, emoji, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (message_id, by) DO UPDATE SET emoji = excluded.emoji, created_at = excluded.created_at`,
		messageID, by, emoji, ms(at))
	return err
}
