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
// contact's later events.
const maxEventAttempts = 10

func (e *Engine) listInbox(ctx context.Context) ([]job[store.InboxItem], error) {
	// Future retries are included: a contact's row waiting for its retry
	// must hold back that contact's later rows.
	items, err := e.st.PendingInbox(ctx, 0, time.Unix(1<<40, 0), 1000)
	if err != nil {
		return nil, err
	}
	jobs := make([]job[store.InboxItem], len(items))
	for i, it := range items {
		jobs[i] = job[store.InboxItem]{id: it.ID, key: it.Partition, due: it.NextAttemptAt, row: it}
	}
	return jobs, nil
}

// errRetry marks an event whose processing must be tried again later (a
// plugin is down...).
var errRetry = errors.New("retry later")

func (e *Engine) processInbox(ctx context.Context, it store.InboxItem) {
	log := e.log.With("integration", it.Event.Integration, "event", it.ID, "kind", it.Event.Kind)
	err := e.handleEvent(ctx, &it)
	if err == nil {
		return
	}
	if ctx.Err() != nil {
		return // shutting down: the row stays pending
	}
	attempt := it.Attempts + 1
	note := err.Error()
	var werr error
	if attempt >= maxEventAttempts {
		log.Error("event set aside after repeated failures", "err", err, "attempts", attempt)
		werr = e.st.Write(ctx, func(tx *store.Tx) error {
			return tx.DoneInbox(ctx, it.ID, "gave up after "+fmt.Sprint(attempt)+" attempts: "+note)
		})
	} else {
		next := e.now().Add(e.backoff(attempt))
		log.Warn("event processing failed; will retry", "err", err, "attempt", attempt, "retry_at", next)
		werr = e.st.Write(ctx, func(tx *store.Tx) error { return tx.RetryInbox(ctx, it.ID, next, note) })
	}
	if werr != nil {
		log.Error("recording event failure", "err", werr)
	}
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
	return e.st.Write(ctx, func(tx *store.Tx) error { return tx.DoneInbox(ctx, it.ID, note) })
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
	err := e.st.Write(ctx, func(tx *store.Tx) error {
		conv, msg, note, typ = nil, nil, "", ""
		m, err := tx.MessageByProviderID(ctx, in.ID, ev.MessageID)
		if errors.Is(err, store.ErrNotFound) {
			note = ev.Kind + " for a message not in the store"
			return tx.DoneInbox(ctx, it.ID, note)
		}
		if err != nil {
			return err
		}
		switch ev.Kind {
		case model.EventUnsend:
			err, typ = tx.MarkDeleted(ctx, m.ID, at), events.Message
		case model.EventEdit:
			err, typ = tx.EditMessage(ctx, m.ID, ev.Contents, at), events.Message
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
			by := model.AuthorContact
			err, typ = tx.SetReaction(ctx, m.ID, by, emoji, at), events.Message
		case model.EventStatus:
			status := ev.Status
			errText := ""
			if status == model.StatusFailed {
				errText = describeError(ev.ErrorCode, ev.ErrorMessage)
			}
			var changed bool
			changed, err = tx.SetMessageStatus(ctx, m.ID, status, errText)
			if !changed {
				note = "status " + status + " did not advance " + m.Status
			}
			typ = events.Status
		case model.EventRead:
			_, err = tx.MarkReadUpTo(ctx, m.Conversation, m.ID)
			typ = events.Status
		}
		if err != nil {
			return err
		}
		if msg, err = tx.Message(ctx, m.ID); err != nil {
			return err
		}
		if conv, err = tx.Conversation(ctx, m.Conversation); err != nil {
			return err
		}
		return tx.DoneInbox(ctx, it.ID, note)
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
	return e.st.Write(ctx, func(tx *store.Tx) error {
		if ev.ContactID != "" {
			if _, err := tx.UpsertContact(ctx, in.ID, ev.ContactID, hints(ev), e.eventTime(ev)); err != nil {
				return err
			}
		}
		return tx.DoneInbox(ctx, it.ID, "referral: messaging window reopened")
	})
}

func hints(ev *model.Event) store.ContactHints {
	return store.ContactHints{Username: ev.ContactUsername, Name: ev.ContactName, AvatarURL: ev.ContactAvatarURL}
}

// echoWindow is how far back an echo with an unknown id is matched against
// our own sends whose outcome was uncertain.
const echoWindow = 10 * time.Minute

// handleEcho: the provider echoes every message the business sends. Our own
// sends are recognized by id (or, for a send whose outcome was uncertain, by
// content) and not stored twice; anything else was typed in the provider's
// app and is recorded as an outgoing message, never answered.
func (e *Engine) handleEcho(ctx context.Context, it *store.InboxItem, in *model.Integration) error {
	ev := &it.Event
	var conv *model.Conversation
	var msg *model.Message
	err := e.st.Write(ctx, func(tx *store.Tx) error {
		conv, msg = nil, nil
		if ev.MessageID != "" {
			if _, err := tx.MessageByProviderID(ctx, in.ID, ev.MessageID); err == nil {
				return tx.DoneInbox(ctx, it.ID, "echo of our message")
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		ct, err := tx.UpsertContact(ctx, in.ID, ev.ContactID, store.ContactHints{}, time.Time{})
		if err != nil {
			return err
		}
		c, err := tx.LatestConversation(ctx, ct.ID)
		if errors.Is(err, store.ErrNotFound) {
			// A business message to someone with no conversation yet: keep it
			// in a closed conversation, for the record only.
			now := tx.Now()
			c = &model.Conversation{Integration: in.ID, ContactID: ct.ID, State: model.StateEnded,
				Origin: model.OriginDirect, Squad: in.Squad, EndedAt: &now}
			err = tx.StartConversation(ctx, c)
		}
		if err != nil {
			return err
		}
		if m, err := tx.UnconfirmedSend(ctx, c.ID, ev.Contents, tx.Now().Add(-echoWindow)); err == nil {
			// The echo of a send whose outcome we did not know: it did go out.
			if err := tx.ConfirmSend(ctx, m.ID, ev.MessageID); err != nil {
				return err
			}
			msg = m
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		} else {
			msg = &model.Message{Conversation: c.ID, Integration: in.ID, Direction: model.DirectionOut,
				Author: model.AuthorBusiness, Contents: ev.Contents, Status: model.StatusSent,
				ReplyTo: ev.ReplyTo, CreatedAt: e.eventTime(ev)}
			if _, err := tx.AddMessage(ctx, msg, ev.MessageID); err != nil {
				return err
			}
		}
		conv = c
		return tx.DoneInbox(ctx, it.ID, "")
	})
	if err != nil {
		return err
	}
	if conv != nil && msg != nil {
		e.publish(events.Message, conv, msg)
	}
	return nil
}
