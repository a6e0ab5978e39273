package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

type outbox struct {
	h
	queued
}

func newOutbox(x h) outbox { return outbox{x, queued{x, outboxQueue}} }

// A conversation's sends are one queue key.
func outboxKey(conversation int64) string { return strconv.FormatInt(conversation, 10) }

// The outbox's queries (plans.go lists them for TestQueryPlans).
const (
	outboxBacklogQuery = `SELECT count(*) FROM outbox WHERE done_at IS NULL`
	// outboxHeadQuery: a conversation's oldest send not done, from
	// outbox_open. The key is text: CAST keeps the comparison an integer
	// one the index serves.
	outboxHeadQuery  = `SELECT id FROM outbox WHERE conversation_id = CAST(? AS INTEGER) AND done_at IS NULL ORDER BY id LIMIT 1`
	outboxClaimQuery = `SELECT ` + outboxCols + ` FROM outbox o JOIN messages m ON m.id = o.message_id WHERE o.id = ?`
	// outboxByMessageQuery: a message's latest send (one sent again has
	// several), from outbox_message.
	outboxByMessageQuery = `SELECT o.id, o.conversation_id, o.integration_id FROM outbox o WHERE o.message_id = ?
		ORDER BY o.id DESC LIMIT 1`
	inFlightQuery = `SELECT ` + messageCols + ` FROM messages m
		WHERE m.conversation_id = ? AND m.direction = 'out' AND m.author <> ?
			AND (m.status = 'in_flight' OR (m.status IN ('sent', 'delivered', 'read') AND m.status_at >= ?))
		ORDER BY m.id`
)

var outboxQueue = queue{name: "outbox", backlog: outboxBacklogQuery, head: func(ctx context.Context, q querier, key string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, outboxHeadQuery, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, err
}}

const outboxCols = `o.id, o.message_id, o.integration_id, o.conversation_id, o.idempotency_key, m.status, o.attempts,
	o.attempt_at, o.created_at`

func scanOutbox(r scanner) (store.OutboxItem, error) {
	var it store.OutboxItem
	var attempt sql.NullInt64
	var created int64
	err := r.Scan(&it.ID, &it.MessageID, &it.Integration, &it.Conversation, &it.IdempotencyKey, &it.State, &it.Attempts,
		&attempt, &created)
	it.AttemptAt, it.CreatedAt = fromMS(attempt.Int64), fromMS(created)
	return it, notFound(err)
}

func (x outbox) Enqueue(ctx context.Context, m *model.Message, idempotencyKey string) error {
	return x.write(ctx, func(t *txn) error {
		return t.savepoint(ctx, func() error {
			m.Direction = model.DirectionOut
			m.Status = model.StatusPending
			if _, err := (messages{h{t.db, t}}).Add(ctx, m); err != nil {
				return err
			}
			if _, err := t.tx.ExecContext(ctx, `INSERT INTO outbox (message_id, integration_id, conversation_id, idempotency_key, created_at)
				VALUES (?, ?, ?, ?, ?)`, m.ID, m.Integration, m.Conversation, idempotencyKey, ms(t.now)); err != nil {
				return conflict(err)
			}
			return outboxQueue.enlist(ctx, t, outboxKey(m.Conversation))
		})
	})
}

func (x outbox) Claim(ctx context.Context, owner string, n int, lease time.Duration) ([]store.OutboxItem, error) {
	var out []store.OutboxItem
	err := x.write(ctx, func(t *txn) error {
		out = nil
		keys, err := outboxQueue.claim(ctx, t, owner, n, lease)
		if err != nil {
			return err
		}
		for _, k := range keys {
			it, err := scanOutbox(t.tx.QueryRowContext(ctx, outboxClaimQuery, k.head))
			if err != nil {
				return err
			}
			it.Lease = k.lease
			out = append(out, it)
		}
		return nil
	})
	return out, err
}

// sendTo moves a send as model.SendMachine allows, from only the states in
// from (nil: whatever the machine allows).
func sendTo(ctx context.Context, t *txn, messageID int64, to string, from []string, set string, args ...any) error {
	return transition(ctx, t.tx, model.SendMachine, "messages", "status", messageID, to, from,
		"status_at = ?"+prefixComma(set), append([]any{ms(t.now)}, args...), "")
}

func prefixComma(set string) string {
	if set == "" {
		return ""
	}
	return ", " + set
}

func (x outbox) Begin(ctx context.Context, it *store.OutboxItem, possibleDuplicate bool) error {
	return x.write(ctx, func(t *txn) error {
		if err := outboxQueue.held(ctx, t, outboxKey(it.Conversation), it.Lease); err != nil {
			return err
		}
		set := "error = ''"
		if possibleDuplicate {
			set += ", possible_duplicate = 1"
		}
		if err := sendTo(ctx, t, it.MessageID, model.StatusInFlight, nil, set); err != nil {
			return err
		}
		_, err := t.tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, attempt_at = ? WHERE id = ?`, ms(t.now), it.ID)
		if err == nil {
			it.State, it.Attempts, it.AttemptAt = model.StatusInFlight, it.Attempts+1, t.now
		}
		return err
	})
}

// settled: a send an echo or a report already moved past in flight.
func settled(err error) bool {
	var te *model.TransitionError
	return errors.As(err, &te) && te.From != model.StatusPending && te.From != model.StatusInFlight
}

func (x outbox) Sent(ctx context.Context, it *store.OutboxItem, providerIDs []string) error {
	return x.write(ctx, func(t *txn) error {
		if err := sendTo(ctx, t, it.MessageID, model.StatusSent, []string{model.StatusInFlight}, "error = ''"); err != nil && !settled(err) {
			return err
		}
		if err := (messages{h{t.db, t}}).AddProviderIDs(ctx, it.Integration, it.MessageID, providerIDs...); err != nil {
			return err
		}
		if err := x.done(ctx, t, it.ID, ""); err != nil {
			return err
		}
		// The provider has it: what happened to the lease meanwhile does not
		// change that; only its holder hands the key on.
		if err := outboxQueue.advance(ctx, t, outboxKey(it.Conversation), it.Lease); err != nil && !errors.Is(err, store.ErrLeaseLost) {
			return err
		}
		return nil
	})
}

func (x outbox) done(ctx context.Context, t *txn, id int64, errText string) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE outbox SET done_at = coalesce(done_at, ?), last_error = ? WHERE id = ?`,
		ms(t.now), errText, id)
	return err
}

// held checks the lease of a claimed row and whether the row still waits to
// be sent: an echo may have confirmed it while its key was leased, and then
// the key goes on to its next row and open is false.
func (x outbox) held(ctx context.Context, t *txn, it *store.OutboxItem) (open bool, err error) {
	key := outboxKey(it.Conversation)
	if err := outboxQueue.held(ctx, t, key, it.Lease); err != nil {
		return false, err
	}
	var done sql.NullInt64
	if err := t.tx.QueryRowContext(ctx, `SELECT done_at FROM outbox WHERE id = ?`, it.ID).Scan(&done); err != nil {
		return false, notFound(err)
	}
	if done.Valid {
		return false, outboxQueue.advance(ctx, t, key, it.Lease)
	}
	return true, nil
}

func (x outbox) Retry(ctx context.Context, it *store.OutboxItem, at time.Time, errText string) error {
	return x.write(ctx, func(t *txn) error {
		if open, err := x.held(ctx, t, it); err != nil || !open {
			return err
		}
		if it.State == model.StatusInFlight {
			if err := sendTo(ctx, t, it.MessageID, model.StatusPending, nil, "error = ?", errText); err != nil {
				return err
			}
		}
		if _, err := t.tx.ExecContext(ctx, `UPDATE outbox SET last_error = ? WHERE id = ?`, errText, it.ID); err != nil {
			return err
		}
		return outboxQueue.release(ctx, t, outboxKey(it.Conversation), it.Lease, at)
	})
}

func (x outbox) Defer(ctx context.Context, it *store.OutboxItem, at time.Time, errText string) error {
	return x.write(ctx, func(t *txn) error {
		if open, err := x.held(ctx, t, it); err != nil || !open {
			return err
		}
		if errText != "" {
			if _, err := t.tx.ExecContext(ctx, `UPDATE outbox SET last_error = ? WHERE id = ?`, errText, it.ID); err != nil {
				return err
			}
		}
		return outboxQueue.release(ctx, t, outboxKey(it.Conversation), it.Lease, at)
	})
}

func (x outbox) Fail(ctx context.Context, it *store.OutboxItem, errText string) error {
	return x.write(ctx, func(t *txn) error {
		if open, err := x.held(ctx, t, it); err != nil || !open {
			return err
		}
		err := sendTo(ctx, t, it.MessageID, model.StatusFailed, []string{model.StatusPending, model.StatusInFlight},
			"error = ?", errText)
		if err != nil && !settled(err) {
			return err
		}
		if err := x.done(ctx, t, it.ID, errText); err != nil {
			return err
		}
		return outboxQueue.advance(ctx, t, outboxKey(it.Conversation), it.Lease)
	})
}

func (x outbox) Resend(ctx context.Context, messageID int64, idempotencyKey string) error {
	return x.write(ctx, func(t *txn) error {
		return t.savepoint(ctx, func() error {
			var conv int64
			var integration string
			err := t.tx.QueryRowContext(ctx, `SELECT conversation_id, integration_id FROM messages WHERE id = ?`,
				messageID).Scan(&conv, &integration)
			if err != nil {
				return notFound(err)
			}
			// Only an outbound message whose every attempt is settled: one a
			// worker still holds is not the person's to send again.
			err = transition(ctx, t.tx, model.SendMachine, "messages", "status", messageID, model.StatusPending,
				[]string{model.StatusFailed}, "status_at = ?, error = ''", []any{ms(t.now)},
				"direction = 'out' AND NOT EXISTS (SELECT 1 FROM outbox WHERE message_id = ? AND done_at IS NULL)", messageID)
			if err != nil {
				return err
			}
			if _, err := t.tx.ExecContext(ctx, `INSERT INTO outbox (message_id, integration_id, conversation_id, idempotency_key, created_at)
				VALUES (?, ?, ?, ?, ?)`, messageID, integration, conv, idempotencyKey, ms(t.now)); err != nil {
				return conflict(err)
			}
			// A new row: behind the conversation's sends already queued.
			return outboxQueue.enlist(ctx, t, outboxKey(conv))
		})
	})
}

func (x outbox) InFlight(ctx context.Context, conversation int64, since time.Time) ([]*model.Message, error) {
	return collectMessages(x.q().QueryContext(ctx, inFlightQuery, conversation, model.AuthorBusiness, ms(since)))
}

func (x outbox) Confirm(ctx context.Context, messageID int64, providerID string) error {
	return x.write(ctx, func(t *txn) error {
		var id, conv int64
		var integration string
		// The message's latest row (a message sent again has several).
		err := t.tx.QueryRowContext(ctx, outboxByMessageQuery, messageID).Scan(&id, &conv, &integration)
		if err != nil {
			return notFound(err)
		}
		if err := sendTo(ctx, t, messageID, model.StatusSent, []string{model.StatusInFlight}, "error = ''"); err != nil && !settled(err) {
			return err
		}
		if err := (messages{h{t.db, t}}).AddProviderIDs(ctx, integration, messageID, providerID); err != nil {
			return err
		}
		if err := x.done(ctx, t, id, ""); err != nil {
			return err
		}
		return outboxQueue.nudge(ctx, t, outboxKey(conv))
	})
}
