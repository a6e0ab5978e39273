package engine

import (
	"context"

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
	e.stopMu.Lock()
	select {
	case <-e.stop:
		e.stopMu.Unlock()
		return
	default:
	}
	e.direct.Add(1)
	e.stopMu.Unlock()
	defer e.direct.Done()
	e.send(ctx, it)
	e.outbox.wakeUp()
}
