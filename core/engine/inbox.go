package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/conversa/conversa/core/events"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// maxEventAttempts bounds how often a failing event is retried before it is
// set aside (marked processed with the error) so it stops holding back its
// contact's later events. Waiting for a plugin that is down is not an
// attempt.
const maxEventAttempts = 10

// errRetry marks an event whose processing failed and must be tried again
// later.
var errRetry = errors.New("retry later")

// errWait marks an event that needs a plugin that is down: it waits, with
// the contact's later events, and is not counted as a failed attempt.
var errWait = errors.New("waiting for a plugin")

func (e *Engine) processInbox(ctx context.Context, it store.InboxItem) {
	log := e.log.With("integration", it.Event.Integration, "event", it.ID, "kind", it.Event.Kind)
	// Processing is idempotent (its effects and the event's completion are
	// one transaction, and messages are stored once): while the database is
	// briefly unavailable, it is simply run again.
	err := e.persist(ctx, func() error { return e.handleEvent(ctx, &it) })
	if err == nil {
		return
	}
	if ctx.Err() != nil {
		return // shutting down: the row stays pending
	}
	if errors.Is(err, store.ErrLeaseLost) {
		// Another worker took the contact over (this one stalled past its
		// lease): it processes the event, nothing of this attempt was kept.
		log.Warn("event lease lost; left to the worker that holds it")
		return
	}
	note := err.Error()
	var werr error
	switch {
	case errors.Is(err, errWait):
		at := e.now().Add(waitFor(e.now().Sub(it.ReceivedAt)))
		log.Info("event waits for a plugin", "reason", note, "retry_at", at)
		werr = e.persist(ctx, func() error { return e.st.Inbox().Defer(ctx, &it, at, note) })
	case it.Attempts+1 >= maxEventAttempts:
		log.Error("event set aside after repeated failures", "err", err, "attempts", it.Attempts+1)
		werr = e.persist(ctx, func() error {
			return e.st.Inbox().Done(ctx, &it, "gave up after "+fmt.Sprint(it.Attempts+1)+" attempts: "+note)
		})
	default:
		at := e.now().Add(e.backoff(it.Attempts + 1))
		log.Warn("event processing failed; will retry", "err", err, "attempt", it.Attempts+1, "retry_at", at)
		werr = e.persist(ctx, func() error { return e.st.Inbox().Retry(ctx, &it, at, note) })
	}
	if werr != nil && !errors.Is(werr, store.ErrLeaseLost) {
		log.Error("recording event failure", "err", werr)
	}
}

// persistFor bounds how long a worker keeps trying a write while the
// database is unavailable: well inside the lease on its row (renewals fail
// too meanwhile), after which the row is left to be claimed again.
const persistFor = leaseFor / 2

// persist runs write again, with growing pauses, while it fails because the
// database is unavailable (down briefly, restarting, failing over): what a
// worker learned, a provider having accepted a message above all, is
// recorded once the database is back instead of being lost with the
// attempt, and the row need not wait for its lease to lapse.
func (e *Engine) persist(ctx context.Context, write func() error) error {
	deadline := time.Now().Add(persistFor)
	pause := 100 * time.Millisecond
	for {
		err := write()
		if !errors.Is(err, store.ErrUnavailable) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
		pause = min(2*pause, 2*time.Second)
	}
}

// waitFor is how long a row that waits for a plugin sleeps before it looks
// again: briefly at first (a crashed plugin is back within a second), then
// longer, so that rows waiting for a plugin that stays broken cost little.
func waitFor(waited time.Duration) time.Duration {
	return min(max(time.Second, waited/10), time.Minute)
}

func (e *Engine) handleEvent(ctx context.Context, it *store.InboxItem) error {
	ev := &it.Event
	in := e.reg.integration(ev.Integration)
	if in == nil {
		return e.done(ctx, it, "integration no longer exists")
	}
	switch ev.Kind {
	case model.EventMessage:
		return e.handleMessage(ctx, it, in)
	case model.EventEcho:
		return e.handleEcho(ctx, it, in)
	case model.EventUnsend, model.EventEdit, model.EventReaction, model.EventUnreaction, model.EventStatus, model.EventRead:
		return e.handleUpdate(ctx, it, in)
	case model.EventReferral:
		return e.handleReferral(ctx, it, in)
	case model.EventIgnored:
		note := ev.Note
		if note == "" {
			note = "ignored"
		}
		return e.done(ctx, it, note)
	default:
		return e.done(ctx, it, "unknown event kind "+ev.Kind)
	}
}

func (e *Engine) done(ctx context.Context, it *store.InboxItem, note string) error {
	return e.txEvent(ctx, func(tx store.Tx) error { return tx.Inbox().Done(ctx, it, note) })
}

// eventTime is when the event happened, or now when the channel did not say.
func (e *Engine) eventTime(ev *model.Event) time.Time {
	if ev.Timestamp.IsZero() {
		return e.now().UTC()
	}
	return ev.Timestamp
}

// handleUpdate applies an event about an existing message: unsend, edit,
// reaction, delivery status, read. An event about a message we never stored
// is recorded with a note, never an error: Instagram sends them for messages
// older than the integration.
func (e *Engine) handleUpdate(ctx context.Context, it *store.InboxItem, in *model.Integration) error {
	ev := &it.Event
	at := e.eventTime(ev)
	var conv *model.Conversation
	var msg *model.Message
	var note, typ string
	err := e.txEvent(ctx, func(tx store.Tx) error {
		conv, msg, note, typ = nil, nil, "", ""
		m, err := tx.Messages().ByProviderID(ctx, in.ID, ev.MessageID)
		if errors.Is(err, store.ErrNotFound) {
			note = ev.Kind + " for a message not in the store"
			return tx.Inbox().Done(ctx, it, note)
		}
		if err != nil {
			return err
		}
		msgs := tx.Messages()
		switch ev.Kind {
		case model.EventUnsend:
			err, typ = msgs.MarkDeleted(ctx, m.ID, at), events.Message
		case model.EventEdit:
			err, typ = msgs.Edit(ctx, m.ID, ev.Contents, at), events.Message
		case model.EventReaction, model.EventUnreaction:
			emoji := ""
			if ev.Kind == model.EventReaction {
				emoji = "❤️"
				for _, c := range ev.Contents {
					if c.Emoji != "" {
						emoji = c.Emoji
					}
				}
			}
			err, typ = msgs.SetReaction(ctx, m.ID, model.AuthorContact, emoji, at), events.Message
		case model.EventStatus:
			errText := ""
			if ev.Status == model.StatusFailed {
				errText = describeError(ev.ErrorCode, ev.ErrorMessage)
			}
			typ = events.Status
			if !model.SendMachine.Known(ev.Status) {
				note = "unknown delivery status " + ev.Status + ": recorded, not applied"
				break
			}
			err = msgs.SetStatus(ctx, m.ID, ev.Status, errText)
			if errors.Is(err, store.ErrIllegalTransition) {
				// Statuses arrive out of order: a late "delivered" after
				// "read" is recorded, not applied.
				note, err = "status "+ev.Status+" did not advance "+m.Status, nil
			}
		case model.EventRead:
			_, err = msgs.MarkReadUpTo(ctx, m.Conversation, m.ID)
			typ = events.Status
		}
		if err != nil {
			return err
		}
		if msg, err = msgs.Get(ctx, m.ID); err != nil {
			return err
		}
		if conv, err = tx.Conversations().Get(ctx, m.Conversation); err != nil {
			return err
		}
		return tx.Inbox().Done(ctx, it, note)
	})
	if err != nil {
		return err
	}
	if conv != nil {
		e.publish(typ, conv, msg)
	}
	return nil
}

func describeError(code, msg string) string {
	switch {
	case code != "" && msg != "":
		return code + ": " + msg
	case code != "":
		return code
	default:
		return msg
	}
}

// handleReferral: the user re-opened the thread (an ig.me link, an ad). It
// reopens the messaging window; there is nothing to answer.
func (e *Engine) handleReferral(ctx context.Context, it *store.InboxItem, in *model.Integration) error {
	ev := &it.Event
	return e.txEvent(ctx, func(tx store.Tx) error {
		if ev.ContactID != "" {
			if _, err := tx.Contacts().Upsert(ctx, in.ID, ev.ContactID, hints(ev), e.eventTime(ev)); err != nil {
				return err
			}
		}
		return tx.Inbox().Done(ctx, it, "referral: messaging window reopened")
	})
}

func hints(ev *model.Event) store.ContactHints {
	return store.ContactHints{Username: ev.ContactUsername, Name: ev.ContactName, AvatarURL: ev.ContactAvatarURL}
}

// echoWindow is how far back an echo is matched against our own sends.
const echoWindow = 10 * time.Minute

// handleEcho: the provider echoes every message the business sends. Our own
// sends are recognized by id, or, for a send whose outcome was unknown (in
// flight), by content, which confirms it; anything else was typed in the
// provider's app and is recorded as an outgoing message, never answered.
func (e *Engine) handleEcho(ctx context.Context, it *store.InboxItem, in *model.Integration) error {
	ev := &it.Event
	var conv *model.Conversation
	var msg *model.Message
	confirmed := false
	err := e.txEvent(ctx, func(tx store.Tx) error {
		conv, msg, confirmed = nil, nil, false
		if ev.MessageID != "" {
			if _, err := tx.Messages().ByProviderID(ctx, in.ID, ev.MessageID); err == nil {
				return tx.Inbox().Done(ctx, it, "echo of our message")
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		ct, err := tx.Contacts().Upsert(ctx, in.ID, ev.ContactID, store.ContactHints{}, time.Time{})
		if err != nil {
			return err
		}
		c, err := tx.Conversations().Latest(ctx, ct.ID)
		if errors.Is(err, store.ErrNotFound) {
			// A business message to someone with no conversation yet: keep it
			// in a closed conversation, for the record only.
			c = &model.Conversation{Integration: in.ID, ContactID: ct.ID, State: model.StateEnded,
				Origin: model.OriginDirect, Squad: in.Squad}
			_, err = tx.Conversations().Start(ctx, c)
		}
		if err != nil {
			return err
		}
		conv = c
		ours, err := tx.Outbox().InFlight(ctx, c.ID, tx.Now().Add(-echoWindow))
		if err != nil {
			return err
		}
		if m := matchEcho(ours, ev.Contents); m != nil {
			// Our send whose outcome we did not know did go out (or a later
			// part of a long text we sent).
			if err := tx.Outbox().Confirm(ctx, m.ID, ev.MessageID); err != nil {
				return err
			}
			msg, confirmed = m, true
			return tx.Inbox().Done(ctx, it, fmt.Sprintf("echo confirmed message %d", m.ID))
		}
		msg = &model.Message{Conversation: c.ID, Integration: in.ID, Direction: model.DirectionOut,
			Author: model.AuthorBusiness, Contents: ev.Contents, Status: model.StatusSent,
			ReplyTo: ev.ReplyTo, CreatedAt: e.eventTime(ev)}
		if _, err := tx.Messages().Add(ctx, msg, ev.MessageID); err != nil {
			return err
		}
		return tx.Inbox().Done(ctx, it, "")
	})
	if err != nil {
		return err
	}
	if confirmed {
		e.outbox.wakeUp()
		if m, err := e.st.Messages().Get(ctx, msg.ID); err == nil {
			msg = m
		}
		e.publish(events.Status, conv, msg)
	} else if conv != nil && msg != nil {
		e.publish(events.Message, conv, msg)
	}
	return nil
}
