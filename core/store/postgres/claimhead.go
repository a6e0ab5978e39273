package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/conversa/conversa/core/store"
)

var _ store.HeadClaimer = outbox{}

// ClaimConversation leases one conversation's key when it is due (see
// store.HeadClaimer and queue.claimKey).
func (x outbox) ClaimConversation(ctx context.Context, owner string, conversation int64, lease time.Duration) (store.OutboxItem, bool, error) {
	var it store.OutboxItem
	var ok bool
	err := x.write(ctx, func(t *txn) error {
		it, ok = store.OutboxItem{}, false
		k, claimed, err := obQueue.claimKey(ctx, t, owner, obKey(conversation), lease)
		if err != nil || !claimed {
			return err
		}
		if it, err = obScanItem(t.tx.QueryRow(ctx, `SELECT `+obItemCols+` FROM outbox o JOIN messages m ON m.id = o.message_id
			WHERE o.id = $1`, k.head)); err != nil {
			return err
		}
		it.Lease, ok = k.lease, true
		return nil
	})
	return it, ok, err
}

var _ store.PartitionClaimer = inbox{}

// ClaimPartition leases one contact's inbox key when it is due (see
// store.PartitionClaimer and queue.claimKey).
func (x inbox) ClaimPartition(ctx context.Context, owner, partition string, lease time.Duration) (store.InboxItem, bool, error) {
	var it store.InboxItem
	var ok bool
	err := x.write(ctx, func(t *txn) error {
		it, ok = store.InboxItem{}, false
		k, claimed, err := ibQueue.claimKey(ctx, t, owner, partition, lease)
		if err != nil || !claimed {
			return err
		}
		rows, err := t.tx.Query(ctx, ibClaimedQuery, []int64{k.head})
		if err != nil {
			return err
		}
		byID, err := ibScanItems(rows)
		if err != nil {
			return err
		}
		if it, ok = byID[k.head]; !ok {
			return fmt.Errorf("inbox row %d, head of %s: gone", k.head, k.key)
		}
		it.Lease = k.lease
		return nil
	})
	return it, ok, err
}
