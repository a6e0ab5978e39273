package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/conversa/conversa/core/model"
)

// Outbox states.
const (
	OutboxPending = "pending"
	OutboxSent    = "sent"
	OutboxFailed  = "failed"
)

// OutboxItem is a message waiting to be sent.
type OutboxItem struct {
	ID             int64
	MessageID      int64
	Integration    string
	Conversation   int64
	IdempotencyKey string
	Attempts       int
	NextAttemptAt  time.Time
	UncertainSince *time.Time
}

// Enqueue stores an outbound message (status pending) and its outbox row, so
// nothing is sent that is not durably recorded first. m.ID is set.
func (t *Tx) Enqueue(ctx context.Context, m *model.Message, idempotencyKey string) error {
	m.Direction = model.DirectionOut
	m.Status = model.StatusPending
	if _, err := t.AddMessage(ctx, m); err != nil {
		return err
	}
	_, err := t.exec(ctx, `INSERT INTO outbox (message_id, integration_id, conversation_id, idempotency_key, state, created_at)
		VALUES (?, ?, ?, ?, 'pending', ?)`, m.ID, m.Integration, m.Conversation, idempotencyKey, ms(t.now))
	return err
}

// PendingOutbox lists every pending row, oldest first, due or not: the sender
// keeps a conversation's messages in order, so a row waiting for its retry
// holds back the rows after it.
func (s *Store) PendingOutbox(ctx context.Context, limit int) ([]OutboxItem, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, message_id, integration_id, conversation_id, idempotency_key, attempts,
		next_attempt_at, uncertain_since FROM outbox WHERE state = 'pending' ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OutboxItem
	for rows.Next() {
		var it OutboxItem
		var next int64
		var unc sql.NullInt64
		if err := rows.Scan(&it.ID, &it.MessageID, &it.Integration, &it.Conversation, &it.IdempotencyKey, &it.Attempts,
			&next, &unc); err != nil {
			return nil, err
		}
		it.NextAttemptAt, it.UncertainSince = fromMS(next), nullMS(unc)
		out = append(out, it)
	}
	return out, rows.Err()
}

// OutboxBacklog counts pending sends.
func (s *Store) OutboxBacklog(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE state = 'pending'`).Scan(&n)
	return n, err
}

// OutboxSent records a successful send and the provider's ids for it.
func (t *Tx) OutboxSent(ctx context.Context, it *OutboxItem, providerIDs []string) error {
	if _, err := t.exec(ctx, `UPDATE outbox SET state = 'sent', attempts = attempts + 1, done_at = ?, last_error = '',
		uncertain_since = NULL WHERE id = ?`, ms(t.now), it.ID); err != nil {
		return err
	}
	if err := t.AddProviderIDs(ctx, it.Integration, it.MessageID, providerIDs...); err != nil {
		return err
	}
	_, err := t.SetMessageStatus(ctx, it.MessageID, model.StatusSent, "")
	return err
}

// OutboxRetry records a failed attempt that may succeed later. uncertain
// says the provider may have delivered it anyway.
func (t *Tx) OutboxRetry(ctx context.Context, it *OutboxItem, next time.Time, errText string, uncertain bool) error {
	var unc any
	if uncertain {
		unc = ms(t.now)
	}
	_, err := t.exec(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?,
		uncertain_since = coalesce(?, uncertain_since) WHERE id = ?`, ms(next), errText, unc, it.ID)
	return err
}

// OutboxFailed gives up on a send and marks its message failed with the
// reason, which agents and the API see.
func (t *Tx) OutboxFailed(ctx context.Context, it *OutboxItem, errText string) error {
	if _, err := t.exec(ctx, `UPDATE outbox SET state = 'failed', attempts = attempts + 1, done_at = ?, last_error = ?
		WHERE id = ?`, ms(t.now), errText, it.ID); err != nil {
		return err
	}
	_, err := t.exec(ctx, `UPDATE messages SET status = 'failed', error = ?, status_at = ? WHERE id = ?`,
		errText, ms(t.now), it.MessageID)
	return err
}
