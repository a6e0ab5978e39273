package store

import (
	"context"
	"time"
)

// HeadClaimer is an outbox that can claim one conversation's key by name,
// in the transaction that enqueued its reply: the worker that committed
// the reply sends it at once, without a trip through the dispatcher (a
// claim of its own, and a wake-up).
type HeadClaimer interface {
	// ClaimConversation leases the conversation's key to owner for lease
	// and returns its head row (the oldest not done, which may be an
	// earlier message than the one just enqueued: order within the
	// conversation holds), as Claim would. ok is false, and nothing
	// changes, when the key is not due now: leased by a worker (of this
	// process or another), put off (a send waiting for its echo, a retry),
	// or with no row.
	ClaimConversation(ctx context.Context, owner string, conversation int64, lease time.Duration) (it OutboxItem, ok bool, err error)
}

// PartitionClaimer is an inbox that can claim one contact's key by name,
// in the transaction that stored the contact's event: the node that
// acknowledged a webhook hands the event to one of its workers at once,
// without a claim of its own between the ack and the work.
type PartitionClaimer interface {
	// ClaimPartition leases the partition's key to owner for lease and
	// returns its head row (the oldest event not processed, which may be
	// an earlier one than the event just stored: order within the contact
	// holds), as Claim would. ok is false, and nothing changes, when the key
	// is not due now: leased by a worker (of this process or another), put
	// off (a retry, a wait for a plugin), or with no row.
	ClaimPartition(ctx context.Context, owner, partition string, lease time.Duration) (it InboxItem, ok bool, err error)
}
