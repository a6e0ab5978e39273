package postgres

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/conversa/conversa/core/store"
)

var _ store.HeadClaimer = outbox{}

// ClaimConversation leases one conversation's key when it is due (see
// store.HeadClaimer). The key's row lock orders it against the other
// nodes' claims and completions, as Claim's SKIP LOCKED does (a key another
// transaction is claiming is waited for, then seen leased).
func (x outbox) ClaimConversation(ctx context.Context, owner string, conversation int64, lease time.Duration) (store.OutboxItem, bool, error) {
	var it store.OutboxItem
	var ok bool
	err := x.write(ctx, func(t *txn) error {
		it, ok = store.OutboxItem{}, false
		key := obKey(conversation)
		var ready int64
		err := t.tx.QueryRow(ctx, `SELECT ready_at FROM queue_keys WHERE queue = $1 AND key = $2 FOR UPDATE`,
			obQueue.name, key).Scan(&ready)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && ready > ms(t.now)) {
			return nil
		}
		if err != nil {
			return err
		}
		head, err := obQueue.head(ctx, t.tx, key)
		if err != nil || head == 0 {
			return err
		}
		token := rand.Int64N(1<<62) + 1
		if _, err := t.tx.Exec(ctx, `UPDATE queue_keys SET ready_at = $1, lease_owner = $2, lease_token = $3
			WHERE queue = $4 AND key = $5`, ms(t.now.Add(lease)), owner, token, obQueue.name, key); err != nil {
			return err
		}
		if it, err = obScanItem(t.tx.QueryRow(ctx, `SELECT `+obItemCols+` FROM outbox o JOIN messages m ON m.id = o.message_id
			WHERE o.id = $1`, head)); err != nil {
			return err
		}
		it.Lease = store.Lease{Owner: owner, Token: token}
		ok = true
		return nil
	})
	return it, ok, err
}
