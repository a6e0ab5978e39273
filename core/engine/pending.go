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

// pendingInbound is a user's message in a conversation the assistant has,
// not recorded yet: conv and msg are what recording it will give (msg
// without its id), read before any write. The assistant's turn records it
// in its own transaction (commitTurn), so that the whole exchange is one
// commit; every other outcome records it first (ensure), as handleMessage
// does for any other message.
//
// Until then nothing of the message is in the database but its inbox row:
// a crash re-runs the event, and the assistant is asked again, which is
// allowed since nothing was sent (a reply's attempt is committed with the
// turn, and the send comes after).
type pendingInbound struct {
	e    *Engine
	rec  *messageRecord
	conv *model.Conversation
	msg  *model.Message
	done bool
}

// pendingInbound returns the message as pending when its recording can wait
// for the assistant's turn: a message with a provider id, not stored yet,
// from a known user (no profile to look up) in an open conversation the
// assistant has, which the inactivity rule keeps open, under homologation
// from a user it serves. nil: record it now.
func (e *Engine) pendingInbound(ctx context.Context, rec *messageRecord, known *model.Contact) *pendingInbound {
	ev, in, at := rec.ev, rec.in, rec.at
	if e.o.noPendingInbound || known == nil || ev.Passive || rec.profile != nil || ev.MessageID == "" {
		return nil
	}
	if _, err := e.st.Messages().ByProviderID(ctx, in.ID, ev.MessageID); !errors.Is(err, store.ErrNotFound) {
		return nil
	}
	conv, err := e.st.Conversations().Open(ctx, known.ID)
	if err != nil || conv.State != model.StateBot || e.inactive(in, conv, at) {
		return nil
	}
	// The contact as recording it will leave it: the event's hints over
	// what is stored, the last inbound time moved forward.
	ct := *known
	h := hints(ev)
	ct.Username = firstNonEmpty(h.Username, ct.Username)
	ct.Name = firstNonEmpty(h.Name, ct.Name)
	ct.AvatarURL = firstNonEmpty(h.AvatarURL, ct.AvatarURL)
	if at.After(ct.LastInboundAt) {
		ct.LastInboundAt = at
	}
	if !homologated(in, &ct) {
		return nil
	}
	conv.Contact = &ct
	if at.After(conv.LastInboundAt) {
		conv.LastInboundAt = at
	}
	msg := &model.Message{Conversation: conv.ID, Integration: in.ID, Direction: model.DirectionIn,
		Author: model.AuthorContact, Contents: ev.Contents, Status: model.StatusReceived, ReplyTo: ev.ReplyTo, CreatedAt: at}
	return &pendingInbound{e: e, rec: rec, conv: conv, msg: msg}
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
	case r.fresh || r.expired != nil || r.conv == nil || r.conv.ID != p.conv.ID || r.conv.State != model.StateBot:
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
