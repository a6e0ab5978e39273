package postgres

import (
	"context"

	"github.com/conversa/conversa/core/store"
)

var _ store.Unsynced = (*DB)(nil)

// TxUnsynced runs fn as Tx does, in a transaction with synchronous_commit
// off: PostgreSQL answers the commit before its WAL record is flushed
// (store.Unsynced). The WAL is flushed in order, so the next durable commit
// (from any session) makes it durable too; a crash of the server may lose
// it, and the database stays consistent.
func (db *DB) TxUnsynced(ctx context.Context, fn func(store.Tx) error) error {
	return db.writeFrom(ctx, beginUnsynced, func(t *txn) error { return fn(t) })
}
