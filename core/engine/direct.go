package engine

import (
	"context"
	"sync"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/store"
)

// claimDirect claims, in the transaction that enqueued a conversation's
// replies, the conversation's outbox key for this process, so that the
// worker that committed the turn sends the first reply itself once the
// turn is committed (sendDirect): no wake-up of the outbox's dispatcher and
// no claim of its own between the assistant's answer and the send. ok is
// false when the key is not due (an earlier send of the conversation is in
// progress or put off; the dispatcher sends in order, as always) or the
// store cannot claim by key.
//
// The send itself is what the dispatcher runs (send): it commits its
// attempt durably before calling the channel, which makes this unsynced
// turn durable too, so the reply is stored before it is sent.
func (e *Engine) claimDirect(ctx context.Context, tx store.Tx, conversation int64) (store.OutboxItem, bool, error) {
	hc, ok := tx.Outbox().(store.HeadClaimer)
	if !ok || e.o.noDirectSend {
		return store.OutboxItem{}, false, nil
	}
	return hc.ClaimConversation(ctx, e.o.Node, conversation, leaseFor)
}

// sendDirect sends a row claimed by claimDirect on the calling worker, then
// wakes the outbox's dispatcher for what follows in the conversation (its
// key is due again once this send is recorded). While the engine stops it
// sends nothing: the outbox's dispatcher gives the key back as it stops.
func (e *Engine) sendDirect(ctx context.Context, it store.OutboxItem) {
	if !e.startDirect() {
		return
	}
	defer e.direct.done()
	e.send(ctx, it)
	e.outbox.wakeUp()
}

// directPlan is what the first reply's send needs, checked before the
// turn's transaction so that its attempt can be committed in it.
type directPlan struct {
	in *model.Integration
	ch pluginhost.Channel
}

// planDirect checks, before the turn is committed, what send would check
// before committing an attempt of a new assistant reply: the integration
// enabled, the channel up and described, the user inside the window. nil:
// the reply is committed pending and send looks at it as it always does.
func (e *Engine) planDirect(ctx context.Context, in *model.Integration, conv *model.Conversation, replies int) *directPlan {
	if replies == 0 || e.o.noDirectSend || !in.Enabled || conv.Contact == nil {
		return nil
	}
	if last := conv.Contact.LastInboundAt; last.IsZero() || e.now().Sub(last) > assistantWindow {
		return nil
	}
	if ok, _ := e.plug.Availability(in.Channel); !ok {
		return nil
	}
	if _, err := e.channelInfo(ctx, in.Channel); err != nil {
		return nil
	}
	ch, err := e.plug.Channel(in.Channel)
	if err != nil {
		return nil
	}
	return &directPlan{in: in, ch: ch}
}

// beginDirect commits, in the turn's transaction, the attempt of the reply
// it enqueued (reply), when the key claimed for it (claimed) has that reply
// at its head, new: one durable commit stores the turn and the attempt
// before the send, where there were an unsynced one and a durable one.
// A crash after the commit and before the call leaves the reply in flight,
// as a crash between an attempt and its call always has: on a channel that
// echoes sends it waits for the echo, then goes out; on one that does not,
// it goes out again marked as a possible duplicate.
func beginDirect(ctx context.Context, tx store.Tx, plan *directPlan, claimed bool, it *store.OutboxItem,
	reply *model.Message) (bool, error) {
	if plan == nil || !claimed || it.MessageID != reply.ID || it.State != model.StatusPending || it.Attempts != 0 {
		return false, nil
	}
	if err := tx.Outbox().Begin(ctx, it, false); err != nil {
		return false, err
	}
	return true, nil
}

// attemptDirect calls the channel for the reply whose attempt the turn
// committed (beginDirect), on the calling worker, then wakes the outbox's
// dispatcher for the conversation's next sends.
func (e *Engine) attemptDirect(ctx context.Context, plan *directPlan, it store.OutboxItem, conv *model.Conversation,
	reply *model.Message) {
	// Even while the engine stops: the attempt is committed, and a send in
	// progress is let finish, as the dispatcher's are.
	e.direct.add()
	defer e.direct.done()
	log := e.log.With("integration", it.Integration, "conversation", it.Conversation, "outbox", it.ID)
	e.attempt(ctx, log, &it, plan.in, conv, reply, plan.ch, authorKind(reply.Author), false)
	e.outbox.wakeUp()
}

// startDirect counts a direct send in, unless the engine is stopping.
func (e *Engine) startDirect() bool {
	select {
	case <-e.stop:
		return false
	default:
	}
	e.direct.add()
	return true
}

// inProgress counts work in progress; wait returns once there is none. Unlike
// a WaitGroup, it may count up again while a wait is under way.
type inProgress struct {
	mu   sync.Mutex
	n    int
	idle *sync.Cond
}

func (p *inProgress) add() {
	p.mu.Lock()
	p.n++
	p.mu.Unlock()
}

func (p *inProgress) done() {
	p.mu.Lock()
	p.n--
	if p.n == 0 && p.idle != nil {
		p.idle.Broadcast()
	}
	p.mu.Unlock()
}

func (p *inProgress) wait() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle == nil {
		p.idle = sync.NewCond(&p.mu)
	}
	for p.n > 0 {
		p.idle.Wait()
	}
}
