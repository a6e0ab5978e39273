package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

type messages struct{ h }

const messageCols = `m.id, m.conversation_id, m.integration_id, m.direction, m.author, m.contents, m.status, m.error,
	m.provider_message_id, m.reply_to, m.deleted_at, m.edited_at, m.handled_at, m.possible_duplicate, m.private, m.created_at`

func scanMessage(r scanner) (*model.Message, error) {
	var m model.Message
	var contents string
	var deleted, edited, handled sql.NullInt64
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
	m.Handled = handled.Valid
	m.CreatedAt = fromMS(created)
	return &m, nil
}

var collectMessages = collect(scanMessage)

// errKnownID: a provider id of the message being added belongs to another.
var errKnownID = errors.New("provider id already known")

// Add inserts the message first and lets provider_ids' primary key decide
// who owns each id: the check and the write are one statement, so two
// writers adding the same provider's message cannot both store it.
func (x messages) Add(ctx context.Context, m *model.Message, providerIDs ...string) (bool, error) {
	contents, err := json.Marshal(m.Contents)
	if err != nil {
		return false, err
	}
	var existing bool
	err = x.write(ctx, func(t *txn) error {
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
		var known string
		err := t.savepoint(ctx, func() error {
			if err := t.tx.QueryRowContext(ctx, `INSERT INTO messages (conversation_id, integration_id, direction, author, contents,
				status, error, provider_message_id, reply_to, private, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
				row.Conversation, row.Integration, row.Direction, row.Author, string(contents), row.Status, row.Error,
				row.ProviderMessageID, row.ReplyTo, row.Private, ms(row.CreatedAt)).Scan(&row.ID); err != nil {
				return err
			}
			for _, pid := range providerIDs {
				if pid == "" {
					continue
				}
				res, err := t.tx.ExecContext(ctx, `INSERT INTO provider_ids (integration_id, provider_id, message_id) VALUES (?, ?, ?)
					ON CONFLICT (integration_id, provider_id) DO NOTHING`, row.Integration, pid, row.ID)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 0 {
					known = pid
					return errKnownID
				}
			}
			return nil
		})
		switch {
		case errors.Is(err, errKnownID):
			old, err := x.byProviderID(ctx, txReader{t.tx}, row.Integration, known)
			if err != nil {
				return err
			}
			*m, existing = *old, true
			return nil
		case err != nil:
			return err
		}
		*m = row
		t.db.wakeIndexer()
		return nil
	})
	return existing, err
}

func (x messages) AddProviderIDs(ctx context.Context, integration string, messageID int64, ids ...string) error {
	return x.write(ctx, func(t *txn) error {
		first := true
		for _, pid := range ids {
			if pid == "" {
				continue
			}
			if _, err := t.tx.ExecContext(ctx, `INSERT INTO provider_ids (integration_id, provider_id, message_id) VALUES (?, ?, ?)
				ON CONFLICT DO NOTHING`, integration, pid, messageID); err != nil {
				return err
			}
			if first {
				if _, err := t.tx.ExecContext(ctx, `UPDATE messages SET provider_message_id = ? WHERE id = ? AND provider_message_id = ''`,
					pid, messageID); err != nil {
					return err
				}
				first = false
			}
		}
		return nil
	})
}

// byProviderIDQuery finds a message by a provider id, from provider_ids'
// primary key.
const byProviderIDQuery = `SELECT ` + messageCols + ` FROM provider_ids p JOIN messages m ON m.id = p.message_id
		WHERE p.integration_id = ? AND p.provider_id = ?`

func (x messages) byProviderID(ctx context.Context, q reader, integration, pid string) (*model.Message, error) {
	return scanMessage(q.QueryRowContext(ctx, byProviderIDQuery, integration, pid))
}

func (x messages) ByProviderID(ctx context.Context, integration, pid string) (*model.Message, error) {
	return x.byProviderID(ctx, x.q(), integration, pid)
}

func (x messages) Get(ctx context.Context, id int64) (*model.Message, error) {
	q := x.q()
	m, err := scanMessage(q.QueryRowContext(ctx, `SELECT `+messageCols+` FROM messages m WHERE m.id = ?`, id))
	if err != nil {
		return nil, err
	}
	byMessage, err := reactionsOf(ctx, q, `r.message_id = ?`, id)
	m.Reactions = byMessage[m.ID]
	return m, err
}

// reactionsQuery reads the reactions of the messages where selects.
func reactionsQuery(where string) string {
	return `SELECT r.message_id, r.by, r.emoji, r.created_at FROM reactions r
		JOIN messages m ON m.id = r.message_id WHERE ` + where + ` ORDER BY r.created_at, r.by`
}

const reactionsOfConversation = `m.conversation_id = ?`

// messagesOfQuery: a conversation's messages, from messages_conversation.
const messagesOfQuery = `SELECT ` + messageCols + ` FROM messages m WHERE m.conversation_id = ? ORDER BY m.id`

// reactionsOf reads the reactions of the messages where (on reactions r
// joined to messages m) holds, by message, oldest first.
func reactionsOf(ctx context.Context, q reader, where string, arg any) (map[int64][]model.Reaction, error) {
	rows, err := q.QueryContext(ctx, reactionsQuery(where), arg)
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

func (x messages) List(ctx context.Context, conversation int64) ([]model.Message, error) {
	q := x.q()
	ms, err := collectMessages(q.QueryContext(ctx, messagesOfQuery, conversation))
	if err != nil {
		return nil, err
	}
	byMessage, err := reactionsOf(ctx, q, reactionsOfConversation, conversation)
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

func (x messages) SetStatus(ctx context.Context, id int64, status, errText string) error {
	if !model.SendMachine.Known(status) {
		return fmt.Errorf("message %d: %q is not a delivery status", id, status)
	}
	return x.write(ctx, func(t *txn) error {
		return sendTo(ctx, t, id, status, nil, "error = ?", errText)
	})
}

func (x messages) MarkReadUpTo(ctx context.Context, conversation, id int64) (int64, error) {
	var n int64
	err := x.write(ctx, func(t *txn) error {
		res, err := t.tx.ExecContext(ctx, `UPDATE messages SET status = 'read', status_at = ?
			WHERE conversation_id = ? AND id <= ? AND direction = 'out' AND status IN (`+placeholders(len(model.SendMachine.From(model.StatusRead)))+`)`,
			append([]any{ms(t.now), conversation, id}, anys(model.SendMachine.From(model.StatusRead))...)...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// exec runs one statement that must touch a row (ErrNotFound otherwise).
func (x h) exec(ctx context.Context, stmt string, args ...any) error {
	return x.write(ctx, func(t *txn) error { return execOne(ctx, t, stmt, args...) })
}

func execOne(ctx context.Context, t *txn, stmt string, args ...any) error {
	res, err := t.tx.ExecContext(ctx, stmt, args...)
	if err != nil {
		return conflict(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

func (x messages) MarkHandled(ctx context.Context, id int64) error {
	return x.write(ctx, func(t *txn) error {
		return execOne(ctx, t, `UPDATE messages SET handled_at = coalesce(handled_at, ?) WHERE id = ?`, ms(t.now), id)
	})
}

func (x messages) MarkDeleted(ctx context.Context, id int64, at time.Time) error {
	return x.exec(ctx, `UPDATE messages SET deleted_at = coalesce(deleted_at, ?) WHERE id = ?`, ms(at), id)
}

func (x messages) Edit(ctx context.Context, id int64, contents []model.Content, at time.Time) error {
	b, err := json.Marshal(contents)
	if err != nil {
		return err
	}
	return x.exec(ctx, `UPDATE messages SET contents = ?, edited_at = ? WHERE id = ?`, string(b), ms(at), id)
}

func (x messages) SetReaction(ctx context.Context, messageID int64, by, emoji string, at time.Time) error {
	return x.write(ctx, func(t *txn) error {
		if emoji == "" {
			_, err := t.tx.ExecContext(ctx, `DELETE FROM reactions WHERE message_id = ? AND by = ?`, messageID, by)
			return err
		}
		_, err := t.tx.ExecContext(ctx, `INSERT INTO reactions (message_id, by, emoji, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (message_id, by) DO UPDATE SET emoji = excluded.emoji, created_at = excluded.created_at`,
			messageID, by, emoji, ms(at))
		return missingRow(err)
	})
}
