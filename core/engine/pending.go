package engine

import (
	"context"
	"errors"

	"github.com/conversa/conversa/core/events"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// errRecordChanged: a message whose recording waited for the assistant's
// turn found its conversation changed at the commit (ended, queued, or
// another message stored it): nothing of the turn was kept, and the message
// is handled again as if it had just arrived.
var errRecordChanged = errors.New("the conversation changed before the message was recorded")

// errHandled: recording the message found it was already handled (another
// delivery of it): the event is done.
var errHandled = errors.New("the message was already handled")

// pendingInbound is a user's message in a conversation the assistant has
// or is about to have, not recorded yet: conv and msg are what recording it
// will give (msg without its id), read before any write. The assistant's
// turn records it in its own transaction (commitTurn), so that the whole
// exchange is one commit; every other outcome records it first (ensure),
// as handleMessage does for any other message.
//
// A new user's first message, or a stored user's first since their last
// conversation ended, starts a conversation (fresh): its id, and a new
// user's contact id, are reserved beforehand (store.IDReserver), so that
// the routing script and the assistant are given the ids the commit will
// store.
//
// Until then nothing of the message is in the database but its inbox row:
// a crash re-runs the event, and the assistant is asked again, which is
// allowed since nothing was sent (a reply's attempt is committed with the
// turn, and the send comes after).
type pendingInbound struct {
	e     *Engine
	rec   *messageRecord
	conv  *model.Conversation
	msg   *model.Message
	fresh bool
	done  bool
}

// pendingInbound returns the message as pending when its recording can wait
// for the assistant's turn: a message with a provider id, not stored yet,
// under homologation from a user it serves, who is new, or has no open
// conversation, or has one the assistant has that the inactivity rule
// keeps open. nil: record it now.
func (e *Engine) pendingInbound(ctx context.Context, rec *messageRecord, known *model.Contact) *pendingInbound {
	ev, in, at := rec.ev, rec.in, rec.at
	if e.o.noPendingInbound || ev.Passive || ev.MessageID == "" {
		return nil
	}
	var conv *model.Conversation
	var reserve bool
	if known != nil {
		if _, err := e.st.Messages().ByProviderID(ctx, in.ID, ev.MessageID); !errors.Is(err, store.ErrNotFound) {
			return nil
		}
		c, err := e.st.Conversations().Open(ctx, known.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			reserve = true
		case err != nil || c.State != model.StateBot || e.inactive(in, c, at):
			return nil
		default:
			conv = c
		}
	} else {
		// Nothing of a user not stored is: no message to look for.
		reserve = true
	}
	ct := pendingContact(known, rec)
	if !homologated(in, &ct) {
		return nil
	}
	if reserve {
		r, ok := e.st.(store.IDReserver)
		if !ok {
			return nil
		}
		ids, err := r.ReserveIDs(ctx, known == nil)
		if err != nil {
			return nil // recorded first, which reports what is wrong
		}
		if known == nil {
			ct.ID = ids.Contact
		}
		rec.newIDs = ids
		conv = &model.Conversation{ID: ids.Conversation, Integration: in.ID, ContactID: ct.ID, State: model.StateBot,
			Origin: originOf(ev.Contents), Squad: in.Squad, StartedAt: e.now(), LastActivityAt: e.now()}
	}
	conv.Contact = &ct
	if at.After(conv.LastInboundAt) {
		conv.LastInboundAt = at
	}
	msg := &model.Message{Conversation: conv.ID, Integration: in.ID, Direction: model.DirectionIn,
		Author: model.AuthorContact, Contents: ev.Contents, Status: model.StatusReceived, ReplyTo: ev.ReplyTo, CreatedAt: at}
	return &pendingInbound{e: e, rec: rec, conv: conv, msg: msg, fresh: reserve}
}

// pendingContact is the contact as recording the message will leave it: the
// event's hints over what is stored (known, nil for a new user), the
// profile looked up over both, the last inbound time moved forward.
func pendingContact(known *model.Contact, rec *messageRecord) model.Contact {
	var ct model.Contact
	if known != nil {
		ct = *known
	} else {
		ct = model.Contact{Integration: rec.in.ID, ChannelUserID: rec.ev.ContactID}
	}
	for _, h := range []store.ContactHints{hints(rec.ev), rec.profileHints()} {
		ct.Username = firstNonEmpty(h.Username, ct.Username)
		ct.Name = firstNonEmpty(h.Name, ct.Name)
		ct.AvatarURL = firstNonEmpty(h.AvatarURL, ct.AvatarURL)
	}
	if rec.profile != nil {
		ct.ProfileAt = rec.e.now()
	}
	if rec.at.After(ct.LastInboundAt) {
		ct.LastInboundAt = rec.at
	}
	return ct
}

// recordIn records the message in tx (the turn's transaction) and makes
// conv and msg the recorded ones; errRecordChanged (tx must roll back) when
// the conversation is no longer the one the turn was for.
func (p *pendingInbound) recordIn(tx store.Tx) error {
	if err := p.rec.record(tx); err != nil {
		return err
	}
	if err := p.adopt(); err != nil {
		// Rolled back with the turn, a duplicate's completion too: handled
		// again, the duplicate is found and completed then.
		return errRecordChanged
	}
	return nil
}

func (p *pendingInbound) adopt() error {
	r := p.rec
	switch {
	case r.duplicate:
		return errHandled
	case r.fresh != p.fresh || r.expired != nil || r.conv == nil || r.conv.ID != p.conv.ID ||
		r.conv.ContactID != p.conv.ContactID || r.conv.State != model.StateBot:
		// A fresh one was to start with the reserved ids, a stored one to
		// take the message as it was read.
		return errRecordChanged
	}
	*p.msg = *r.msg
	*p.conv = *r.conv
	return nil
}

// recorded announces the recorded message, once its transaction committed.
func (p *pendingInbound) recorded() {
	p.done = true
	p.e.publish(events.Message, p.conv, p.msg)
	p.e.replies.received(p.conv.ID, p.msg.ID, p.rec.it.ReceivedAt)
}

// ensure records the message now, when it still waits (a nil p has nothing
// waiting): for every outcome but the assistant's turn.
func (p *pendingInbound) ensure(ctx context.Context) error {
	if p == nil || p.done {
		return nil
	}
	if err := p.e.txEvent(ctx, p.rec.record); err != nil {
		return err
	}
	if err := p.adopt(); err != nil {
		if errors.Is(err, errRecordChanged) {
			// Recorded, in a conversation that changed meanwhile: handled
			// again, it is found stored and goes on from there.
			return errRecordChanged
		}
		return err
	}
	p.recorded()
	return nil
}
