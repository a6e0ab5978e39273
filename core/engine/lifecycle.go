package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/conversa/conversa/core/events"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/store"
)

// Errors of the conversation API.
var (
	ErrEnded = errors.New("the conversation has ended")
	// ErrWindow: the channel would refuse the send (the messaging window is
	// closed); the error text says which rule.
	ErrWindow = errors.New("outside the messaging window")
	// ErrNotFailed: only a message that was not delivered can be sent again.
	ErrNotFailed = errors.New("the message was not marked not delivered")
	// ErrNoMessage: the conversation has no such message (404).
	ErrNoMessage = errors.New("no such message in this conversation")
)

// End ends a conversation (an agent pressed End, an admin closed it). by
// names who did, for the transcript. The agent's slot frees and the next
// queued conversation is assigned; the user's next message starts a new
// conversation with a fresh assistant session.
func (e *Engine) End(ctx context.Context, id int64, reason, by string) (*model.Conversation, error) {
	var c *model.Conversation
	var note *model.Message
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		var err error
		if c, err = tx.Conversations().End(ctx, id, reason); err != nil {
			return err
		}
		note, err = addNote(ctx, tx, c, "Ended by "+by)
		return err
	})
	if errors.Is(err, store.ErrIllegalTransition) {
		return nil, ErrEnded
	}
	if err != nil {
		return nil, err
	}
	e.publish(events.Message, c, note)
	e.publish(events.Ended, c, c)
	e.assign(ctx)
	return c, nil
}

// Note stores a private note an agent wrote for the other agents: it
// appears in the transcript and is never sent to the contact.
func (e *Engine) Note(ctx context.Context, id int64, author string, contents []model.Content) (*model.Message, error) {
	var m *model.Message
	var c *model.Conversation
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		var err error
		if c, err = tx.Conversations().Get(ctx, id); err != nil {
			return err
		}
		m = &model.Message{Conversation: c.ID, Integration: c.Integration, Direction: model.DirectionOut, Author: author,
			Status: model.StatusInternal, Private: true, Contents: contents}
		_, err = tx.Messages().Add(ctx, m)
		return err
	})
	if err != nil {
		return nil, err
	}
	e.publish(events.Message, c, m)
	return m, nil
}

// SetLabels replaces a conversation's labels and tells every console.
func (e *Engine) SetLabels(ctx context.Context, id int64, labels []string) (*model.Conversation, error) {
	var c *model.Conversation
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		if err := tx.Labels().Set(ctx, id, labels); err != nil {
			return err
		}
		var err error
		c, err = tx.Conversations().Get(ctx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	e.publish(events.Labels, c, c)
	return c, nil
}

// AssignTo gives a conversation to one agent (an admin choosing, or its
// agent handing it over), if that agent is available with a free slot
// (store.ErrNoCapacity otherwise: nothing changes). by names who did it,
// for the transcript.
func (e *Engine) AssignTo(ctx context.Context, id int64, agent, by string) (*model.Conversation, error) {
	var c *model.Conversation
	var from string
	var note *model.Message
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		cur, err := tx.Conversations().Get(ctx, id)
		if err != nil {
			return err
		}
		if cur.State == model.StateEnded {
			return ErrEnded
		}
		from = cur.Agent
		if cur.State != model.StateQueued {
			if _, err := tx.Conversations().Queue(ctx, id, store.Queueing{Squad: cur.Squad, Priority: cur.Priority,
				KeepQueuedAt: true}); err != nil {
				return err
			}
		}
		if c, err = tx.Conversations().Assign(ctx, id, agent); err != nil {
			return err
		}
		name := agent
		if a, err := tx.Agents().Get(ctx, agent); err == nil {
			name = model.AgentName(a)
		}
		note, err = addNote(ctx, tx, c, fmt.Sprintf("Assigned to %s by %s", name, by))
		return err
	})
	if errors.Is(err, store.ErrIllegalTransition) {
		return nil, ErrEnded
	}
	if err != nil {
		return nil, err
	}
	if from != "" && from != agent {
		// The agent who had it drops it from their console.
		e.bus.Publish(events.Event{Type: events.Queued, Conversation: c.ID, Agent: from, Squad: c.Squad, Data: c})
	}
	e.publish(events.Message, c, note)
	e.publish(events.Assigned, c, c)
	if from != "" {
		e.assign(ctx) // a slot freed
	}
	return c, nil
}

// Send commits a message written by an agent (author "agent:<login>") or the
// system to a conversation's outbox, after asking the channel whether it
// would accept it now (the messaging window).
func (e *Engine) Send(ctx context.Context, id int64, author string, contents []model.Content) (*model.Message, error) {
	c, err := e.st.Conversations().Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.State == model.StateEnded {
		return nil, ErrEnded
	}
	in := e.reg.integration(c.Integration)
	if in == nil {
		return nil, fmt.Errorf("%w: integration %s", ErrUnknownIntegration, c.Integration)
	}
	contents = e.adapt(ctx, in, contents)
	if len(contents) == 0 {
		return nil, errors.New("nothing to send")
	}
	if err := e.checkWindow(ctx, in, c.Contact, authorKind(author), contents); err != nil {
		return nil, err
	}
	var m *model.Message
	key := fmt.Sprintf("send:%d:%d", id, e.now().UnixNano())
	err = e.st.Tx(ctx, func(tx store.Tx) error {
		m = &model.Message{Conversation: c.ID, Integration: c.Integration, Author: author, Contents: contents}
		cur, err := tx.Conversations().Get(ctx, id)
		if err != nil {
			return err
		}
		if cur.State == model.StateEnded {
			return ErrEnded
		}
		if err := tx.Outbox().Enqueue(ctx, m, key); err != nil {
			return err
		}
		return tx.Conversations().Touch(ctx, id, tx.Now(), time.Time{})
	})
	if err != nil {
		return nil, err
	}
	e.afterReplies(c, []*model.Message{m})
	return m, nil
}

// Resent is a message sent again: Resent tells a console that its status
// left "not delivered" because someone asked, where a status that moves
// backwards would otherwise be an event arriving late.
type Resent struct {
	*model.Message
	Resent bool `json:"resent"`
}

// Retry sends a failed outbound message of conversation id again (an agent
// or an admin pressed Retry), after asking the channel whether it would
// accept it now, as Send does. The message goes behind the conversation's
// sends already queued, with a fresh count of attempts; every console is
// told it is pending again.
func (e *Engine) Retry(ctx context.Context, id, messageID int64) (*Resent, error) {
	c, err := e.st.Conversations().Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.State == model.StateEnded {
		return nil, ErrEnded
	}
	m, err := e.st.Messages().Get(ctx, messageID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && m.Conversation != c.ID) {
		return nil, ErrNoMessage
	}
	if err != nil {
		return nil, err
	}
	if m.Direction != model.DirectionOut || m.Status != model.StatusFailed {
		return nil, ErrNotFailed
	}
	in := e.reg.integration(c.Integration)
	if in == nil {
		return nil, fmt.Errorf("%w: integration %s", ErrUnknownIntegration, c.Integration)
	}
	if err := e.checkWindow(ctx, in, c.Contact, authorKind(m.Author), m.Contents); err != nil {
		return nil, err
	}
	key := fmt.Sprintf("resend:%d:%d", messageID, e.now().UnixNano())
	err = e.st.Tx(ctx, func(tx store.Tx) error {
		cur, err := tx.Conversations().Get(ctx, id)
		if err != nil {
			return err
		}
		if cur.State == model.StateEnded {
			return ErrEnded
		}
		return tx.Outbox().Resend(ctx, messageID, key)
	})
	switch {
	case errors.Is(err, store.ErrIllegalTransition):
		// Sent again by someone else meanwhile, or still being settled.
		return nil, ErrNotFailed
	case err != nil:
		return nil, err
	}
	if m, err = e.st.Messages().Get(ctx, messageID); err != nil {
		return nil, err
	}
	r := &Resent{Message: m, Resent: true}
	e.publish(events.Status, c, r)
	e.outbox.wakeUp()
	return r, nil
}

// checkWindow asks the channel (CheckSend, nothing is sent) whether it would accept a
// message from this author now.
func (e *Engine) checkWindow(ctx context.Context, in *model.Integration, ct *model.Contact, kind string, contents []model.Content) error {
	if ct.LastInboundAt.IsZero() {
		return fmt.Errorf("%w: the user has not written yet", ErrWindow)
	}
	ch, err := e.plug.Channel(in.Channel)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrChannelDown, err)
	}
	resp, err := ch.CheckSend(ctx, &pluginhost.SendRequest{
		Integration: e.reg.forPlugin(in),
		Contact:     ct, Contents: contents, AuthorKind: kind,
		Now: e.now(),
	})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrChannelDown, err)
	}
	if se := resp.Error; se != nil && se.Refused {
		return fmt.Errorf("%w: %s", ErrWindow, describeError(se.Code, se.Message))
	}
	return nil
}

func authorKind(author string) string {
	switch {
	case author == model.AuthorAssistant:
		return "assistant"
	case author == model.AuthorSystem:
		return "system"
	default:
		return "agent"
	}
}

func mustJSON(v any) []byte {
	if v == nil {
		return []byte("{}")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return []byte("{}")
	}
	return b
}

// Transfer puts a conversation in another squad's queue (an agent passing
// it on; by names them, for the transcript); it is assigned as soon as
// someone there can take it.
func (e *Engine) Transfer(ctx context.Context, id int64, squad, by string) (*model.Conversation, error) {
	var c *model.Conversation
	var from string
	var note *model.Message
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		cur, err := tx.Conversations().Get(ctx, id)
		if err != nil {
			return err
		}
		from = cur.Agent
		c, err = tx.Conversations().Queue(ctx, id, store.Queueing{Squad: squad, Priority: cur.Priority})
		if errors.Is(err, store.ErrIllegalTransition) {
			return ErrEnded
		}
		if err != nil {
			return err
		}
		note, err = addNote(ctx, tx, c, fmt.Sprintf("Transferred to squad %s by %s", squad, by))
		return err
	})
	if err != nil {
		return nil, err
	}
	if from != "" {
		// The agent who passed it on drops it from their console.
		e.bus.Publish(events.Event{Type: events.Queued, Conversation: c.ID, Agent: from, Squad: c.Squad, Data: c})
	}
	e.publish(events.Message, c, note)
	e.publish(events.Queued, c, c)
	e.assign(ctx)
	// As it is now: the squad may have given it to someone at once (the
	// same agent, when no one else in it is free).
	if now, err := e.st.Conversations().Get(ctx, c.ID); err == nil {
		c = now
	}
	return c, nil
}
