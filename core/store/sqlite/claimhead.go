package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
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
		key := outboxKey(conversation)
		var ready int64
		err := t.tx.QueryRowContext(ctx, `SELECT ready_at FROM queue_keys WHERE queue = ? AND key = ?`,
			outboxQueue.name, key).Scan(&ready)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && ready > ms(t.now)) {
			return nil
		}
		if err != nil {
			return err
		}
		head, err := outboxQueue.head(ctx, t.tx, key)
		if err != nil || head == 0 {
			return err
		}
		token := rand.Int64N(1<<62) + 1
		if _, err := t.tx.ExecContext(ctx, `UPDATE queue_keys SET ready_at = ?, lease_owner = ?, lease_token = ?
			WHERE queue = ? AND key = ?`, ms(t.now.Add(lease)), owner, token, outboxQueue.name, key); err != nil {
			return err
		}
		if it, err = scanOutbox(t.tx.QueryRowContext(ctx, `SELECT `+outboxCols+` FROM outbox o JOIN messages m ON m.id = o.message_id
			WHERE o.id = ?`, head)); err != nil {
			return err
		}
		it.Lease = store.Lease{Owner: owner, Token: token}
		ok = true
		return nil
	})
	return it, ok, err
}
