package sqlite

import (
	"context"
	"time"

	"github.com/conversa/conversa/core/store"
)

var _ store.HeadClaimer = outbox{}

// ClaimConversation leases one conversation's key when it is due (see
// store.HeadClaimer): the same lease a Claim takes, by key rather than by
// the line of due keys.
func (x outbox) ClaimConversation(ctx context.Context, owner string, conversation int64, lease time.Duration) (store.OutboxItem, bool, error) {
	var it store.OutboxItem
	var ok bool
	err := x.write(ctx, func(t *txn) error {
		it, ok = store.OutboxItem{}, false
		k, claimed, err := outboxQueue.claimKey(ctx, t, owner, outboxKey(conversation), lease)
		if err != nil || !claimed {
			return err
		}
		if it, err = scanOutbox(t.tx.QueryRowContext(ctx, `SELECT `+outboxCols+` FROM outbox o JOIN messages m ON m.id = o.message_id
			WHERE o.id = ?`, k.head)); err != nil {
			return err
		}
		it.Lease, ok = k.lease, true
		return nil
	})
	return it, ok, err
}

var _ store.PartitionClaimer = inbox{}

// ClaimPartition leases one contact's inbox key when it is due (see
// store.PartitionClaimer), as ClaimConversation does an outbox key.
func (x inbox) ClaimPartition(ctx context.Context, owner, partition string, lease time.Duration) (store.InboxItem, bool, error) {
	var it store.InboxItem
	var ok bool
	err := x.write(ctx, func(t *txn) error {
		it, ok = store.InboxItem{}, false
		k, claimed, err := inboxQueue.claimKey(ctx, t, owner, partition, lease)
		if err != nil || !claimed {
			return err
		}
		it, err = claimedInbox(ctx, t, k)
		ok = err == nil
		return err
	})
	return it, ok, err
}
