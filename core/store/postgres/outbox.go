package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

type outbox struct {
	h
	queueMethods
}

var _ store.Outbox = outbox{}

func newOutbox(x h) outbox { return outbox{x, queueMethods{x, obQueue}} }

// The outbox's queries that TestQueryPlans checks: a conversation's oldest
// send not done (outbox_open), a message's latest send (outbox_message).
const (
	outboxHeadQuery      = `SELECT id FROM outbox WHERE conversation_id = $1 AND done_at IS NULL ORDER BY id LIMIT 1`
	outboxByMessageQuery = `SELECT id, conversation_id, integration_id FROM outbox WHERE message_id = $1 ORDER BY id DESC LIMIT 1`
)

// A conversation's sends are one queue key.
func obKey(conversation int64) string { return strconv.FormatInt(conversation, 10) }

var obQueue = newQueue("outbox", `SELECT count(*) FROM outbox WHERE done_at IS NULL`, outboxHeadQuery,
	func(key string) (any, error) {
		conv, err := strconv.ParseInt(key, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("outbox key %q: %w", key, err)
		}
		return conv, nil
	})

const obItemCols = `o.id, o.message_id, o.integration_id, o.conversation_id, o.idempotency_key, m.status, o.attempts,
	o.attempt_at, o.created_at`

func obScanItem(r pgx.Row) (store.OutboxItem, error) {
	var it store.OutboxItem
	var attempt *int64
	var created int64
	err := r.Scan(&it.ID, &it.MessageID, &it.Integration, &it.Conversation, &it.IdempotencyKey, &it.State, &it.Attempts,
		&attempt, &created)
	if attempt != nil {
		it.AttemptAt = fromMS(*attempt)
	}
	it.CreatedAt = fromMS(created)
	return it, notFound(err)
}

var obCollectItems = collect(obScanItem)

func (x outbox) Enqueue(ctx context.Context, m *model.Message, idempotencyKey string) error {
	contents, err := json.Marshal(m.Contents)
	if err != nil {
		return err
	}
	return x.write(ctx, func(t *txn) error {
		row := *m
		row.Direction, row.Status = model.DirectionOut, model.StatusPending
		if row.CreatedAt.IsZero() {
			row.CreatedAt = t.now
		}
		// In a savepoint: a refused Enqueue takes its message back and leaves
		// the caller's transaction usable.
		err := t.savepoint(ctx, func(q querier) error {
			// The key first (see queue): the conversation's sends get their
			// ids in commit order.
			if err := obQueue.enlist(ctx, q, obKey(row.Conversation), t.now); err != nil {
				return err
			}
			if err := insertMsgRow(ctx, q, &row, contents); err != nil {
				return missingRow(err)
			}
			// The unique key decides between concurrent enqueues; DO NOTHING
			// reports a taken key without an error.
			tag, err := q.Exec(ctx, `INSERT INTO outbox (message_id, integration_id, conversation_id, idempotency_key, created_at)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING`,
				row.ID, row.Integration, row.Conversation, idempotencyKey, ms(t.now))
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("%w: idempotency key %q was used", store.ErrConflict, idempotencyKey)
			}
			return nil
		})
		if err != nil {
			return err
		}
		*m = row
		return nil
	})
}

func (x outbox) Claim(ctx context.Context, owner string, n int, lease time.Duration) ([]store.OutboxItem, error) {
	var out []store.OutboxItem
	err := x.write(ctx, func(t *txn) error {
		out = nil
		keys, err := obQueue.claim(ctx, t, owner, n, lease)
		if err != nil || len(keys) == 0 {
			return err
		}
		ids := make([]int64, len(keys))
		for i, k := range keys {
			ids[i] = k.head
		}
		items, err := obCollectItems(t.tx.Query(ctx, `SELECT `+obItemCols+` FROM outbox o JOIN messages m ON m.id = o.message_id
			WHERE o.id = ANY($1)`, ids))
		if err != nil {
			return err
		}
		byID := make(map[int64]store.OutboxItem, len(items))
		for _, it := range items {
			byID[it.ID] = it
		}
		for _, k := range keys {
			it, ok := byID[k.head]
			if !ok {
				return fmt.Errorf("outbox row %d, head of conversation %s: gone", k.head, k.key)
			}
			it.Lease = k.lease
			out = append(out, it)
		}
		return nil
	})
	return out, err
}

// obSendTo moves a send as model.SendMachine allows, from only the states
// in from (nil: whatever the machine allows), stamping status_at with now
// and setting what set adds. The UPDATE is guarded by the state, so a
// concurrent change (an echo, a delivery report) is re-checked, never
// overwritten.
func obSendTo(ctx context.Context, q querier, now time.Time, messageID int64, to string, from []string,
	set func(a *args) string) error {
	return transition(ctx, q, model.SendMachine, "messages", "status", messageID, to, from, func(a *args) string {
		s := "status_at = " + a.add(ms(now))
		if set != nil {
			s += ", " + set(a)
		}
		return s
	}, nil)
}

// obSetError sets the message's error text.
func obSetError(text string) func(a *args) string {
	return func(a *args) string { return "error = " + a.add(text) }
}

// obSettled: a send an echo or a report already moved past in flight.
func obSettled(err error) bool {
	var te *model.TransitionError
	return errors.As(err, &te) && te.From != model.StatusPending && te.From != model.StatusInFlight
}

func (x outbox) Begin(ctx context.Context, it *store.OutboxItem, possibleDuplicate bool) error {
	return x.write(ctx, func(t *txn) error {
		if err := obQueue.held(ctx, t, obKey(it.Conversation), it.Lease); err != nil {
			return err
		}
		set := func(a *args) string {
			if possibleDuplicate {
				return "error = '', possible_duplicate = TRUE"
			}
			return "error = ''"
		}
		if err := obSendTo(ctx, t.tx, t.now, it.MessageID, model.StatusInFlight, nil, set); err != nil {
			return err
		}
		_, err := t.tx.Exec(ctx, `UPDATE outbox SET attempts = attempts + 1, attempt_at = $1 WHERE id = $2`, ms(t.now), it.ID)
		if err == nil {
			it.State, it.Attempts, it.AttemptAt = model.StatusInFlight, it.Attempts+1, t.now
		}
		return err
	})
}

func (x outbox) Sent(ctx context.Context, it *store.OutboxItem, providerIDs []string) error {
	return x.write(ctx, func(t *txn) error {
		key := obKey(it.Conversation)
		// The key's lock first, as everywhere (see queue), though recording
		// the send does not need the lease.
		cur, queued, err := obQueue.lock(ctx, t, key)
		if err != nil {
			return err
		}
		err = obSendTo(ctx, t.tx, t.now, it.MessageID, model.StatusSent, []string{model.StatusInFlight}, obSetError(""))
		if err != nil && !obSettled(err) {
			return err
		}
		if err := addProviderIDs(ctx, t.tx, it.Integration, it.MessageID, providerIDs); err != nil {
			return err
		}
		completed, err := x.done(ctx, t, it.ID, "")
		if err != nil {
			return err
		}
		// The provider has it: what happened to the lease meanwhile does not
		// change that. Only the lease's holder hands the key on; the worker
		// holding it now finds the row done. A key nobody holds (the new
		// holder put it off) is handed on when this completed its row, as
		// an echo's Confirm does.
		switch {
		case queued && cur == it.Lease, queued && cur.Owner == "" && completed:
			return obQueue.next(ctx, t, key)
		}
		return nil
	})
}

// done completes the outbox row, reporting whether it was still open (an
// echo may have completed it first; its error text is then kept).
func (x outbox) done(ctx context.Context, t *txn, id int64, errText string) (bool, error) {
	tag, err := t.tx.Exec(ctx, `UPDATE outbox SET done_at = $1, last_error = $2 WHERE id = $3 AND done_at IS NULL`,
		ms(t.now), errText, id)
	return tag.RowsAffected() == 1, err
}

// held locks the key of a claimed row, checks the lease and whether the
// row still waits to be sent: an echo may have confirmed it while its key
// was leased, and then the key goes on to its next row and open is false.
func (x outbox) held(ctx context.Context, t *txn, it *store.OutboxItem) (open bool, err error) {
	key := obKey(it.Conversation)
	if err := obQueue.held(ctx, t, key, it.Lease); err != nil {
		return false, err
	}
	var done *int64
	if err := t.tx.QueryRow(ctx, `SELECT done_at FROM outbox WHERE id = $1`, it.ID).Scan(&done); err != nil {
		return false, notFound(err)
	}
	if done != nil {
		return false, obQueue.next(ctx, t, key)
	}
	return true, nil
}

func (x outbox) Retry(ctx context.Context, it *store.OutboxItem, at time.Time, errText string) error {
	return x.write(ctx, func(t *txn) error {
		if open, err := x.held(ctx, t, it); err != nil || !open {
			return err
		}
		if it.State == model.StatusInFlight {
			if err := obSendTo(ctx, t.tx, t.now, it.MessageID, model.StatusPending, nil, obSetError(errText)); err != nil {
				return err
			}
		}
		if _, err := t.tx.Exec(ctx, `UPDATE outbox SET last_error = $1 WHERE id = $2`, errText, it.ID); err != nil {
			return err
		}
		return obQueue.release(ctx, t, obKey(it.Conversation), it.Lease, at)
	})
}

func (x outbox) Defer(ctx context.Context, it *store.OutboxItem, at time.Time, errText string) error {
	return x.write(ctx, func(t *txn) error {
		if open, err := x.held(ctx, t, it); err != nil || !open {
			return err
		}
		if errText != "" {
			if _, err := t.tx.Exec(ctx, `UPDATE outbox SET last_error = $1 WHERE id = $2`, errText, it.ID); err != nil {
				return err
			}
		}
		return obQueue.release(ctx, t, obKey(it.Conversation), it.Lease, at)
	})
}

func (x outbox) Fail(ctx context.Context, it *store.OutboxItem, errText string) error {
	return x.write(ctx, func(t *txn) error {
		if open, err := x.held(ctx, t, it); err != nil || !open {
			return err
		}
		err := obSendTo(ctx, t.tx, t.now, it.MessageID, model.StatusFailed, []string{model.StatusPending, model.StatusInFlight},
			obSetError(errText))
		if err != nil && !obSettled(err) {
			return err
		}
		if _, err := x.done(ctx, t, it.ID, errText); err != nil {
			return err
		}
		// held locked the key under this lease: hand it on.
		return obQueue.next(ctx, t, obKey(it.Conversation))
	})
}

func (x outbox) Resend(ctx context.Context, messageID int64, idempotencyKey string) error {
	return x.write(ctx, func(t *txn) error {
		var conv int64
		var integration string
		err := t.tx.QueryRow(ctx, `SELECT conversation_id, integration_id FROM messages WHERE id = $1`,
			messageID).Scan(&conv, &integration)
		if err != nil {
			return notFound(err)
		}
		// In a savepoint: a refused Resend takes its key back and leaves the
		// caller's transaction usable.
		return t.savepoint(ctx, func(q querier) error {
			// The key first (see queue): the new row gets its id in commit
			// order, behind the conversation's sends already queued, and no
			// worker completes a row of the key meanwhile, so the check for
			// an open attempt below sees every outbox row as it is.
			if err := obQueue.enlist(ctx, q, obKey(conv), t.now); err != nil {
				return err
			}
			// Only an outbound message whose every attempt is settled: one a
			// worker still holds is not the person's to send again.
			err := transition(ctx, q, model.SendMachine, "messages", "status", messageID, model.StatusPending,
				[]string{model.StatusFailed}, func(a *args) string {
					return "status_at = " + a.add(ms(t.now)) + ", error = ''"
				}, func(a *args) string {
					return "direction = 'out' AND NOT EXISTS (SELECT 1 FROM outbox WHERE message_id = " + a.add(messageID) +
						" AND done_at IS NULL)"
				})
			if err != nil {
				return err
			}
			tag, err := q.Exec(ctx, `INSERT INTO outbox (message_id, integration_id, conversation_id, idempotency_key, created_at)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING`,
				messageID, integration, conv, idempotencyKey, ms(t.now))
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("%w: idempotency key %q was used", store.ErrConflict, idempotencyKey)
			}
			return nil
		})
	})
}

func (x outbox) InFlight(ctx context.Context, conversation int64, since time.Time) ([]*model.Message, error) {
	return collectMsgRows(x.q().Query(ctx, `SELECT `+msgSelectCols+` FROM messages m
		WHERE m.conversation_id = $1 AND m.direction = 'out' AND m.author <> $2
			AND (m.status = 'in_flight' OR (m.status IN ('sent', 'delivered', 'read') AND m.status_at >= $3))
		ORDER BY m.id`, conversation, model.AuthorBusiness, ms(since)))
}

func (x outbox) Confirm(ctx context.Context, messageID int64, providerID string) error {
	return x.write(ctx, func(t *txn) error {
		var id, conv int64
		var integration string
		// The message's latest row (a message sent again has several).
		err := t.tx.QueryRow(ctx, outboxByMessageQuery, messageID).Scan(&id, &conv, &integration)
		if err != nil {
			return notFound(err)
		}
		// The key's lock first (see queue); a key a worker holds is left to
		// it: the worker finds the row done.
		key := obKey(conv)
		cur, queued, err := obQueue.lock(ctx, t, key)
		if err != nil {
			return err
		}
		err = obSendTo(ctx, t.tx, t.now, messageID, model.StatusSent, []string{model.StatusInFlight}, obSetError(""))
		if err != nil && !obSettled(err) {
			return err
		}
		if err := addProviderIDs(ctx, t.tx, integration, messageID, []string{providerID}); err != nil {
			return err
		}
		completed, err := x.done(ctx, t, id, "")
		if err != nil {
			return err
		}
		// An idle key waited for this row (deferred for its echo): it goes on
		// now. One whose row was done already is left as it is: it may be put
		// off for a later row.
		if queued && cur.Owner == "" && completed {
			return obQueue.next(ctx, t, key)
		}
		return nil
	})
}
