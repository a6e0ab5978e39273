package sqlite

import (
	"context"
	"fmt"

	"github.com/conversa/conversa/core/store"
)

var _ store.Unsynced = (*DB)(nil)

// The writer connection's synchronous settings (WAL mode): FULL syncs the
// log at every commit, NORMAL leaves the sync to the next FULL commit or
// checkpoint. The log is written in order, so a FULL commit makes every
// NORMAL one before it durable too, and a crash can only lose NORMAL
// commits made after the last FULL one.
const (
	syncFull   = "FULL"
	syncNormal = "NORMAL"
)

// TxUnsynced runs fn as Tx does, in the group commit, and returns once the
// batch is committed, without waiting for the disk when every writer of the
// batch is unsynced (store.Unsynced). A batch with any durable writer is
// synced, the unsynced ones in it included.
func (db *DB) TxUnsynced(ctx context.Context, fn func(store.Tx) error) error {
	return db.submit(ctx, func(t *txn) error { return fn(t) }, true)
}

// syncFor sets the writer connection's synchronous setting for a batch:
// FULL unless every writer in it is unsynced. It runs on the writer
// goroutine, between transactions.
func (db *DB) syncFor(batch []*job) error {
	want := syncNormal
	for _, j := range batch {
		if !j.unsynced {
			want = syncFull
			break
		}
	}
	if db.synchronous == want {
		return nil
	}
	if _, err := db.w.Exec("PRAGMA synchronous = " + want); err != nil {
		if want == syncNormal {
			// Committing more durably than asked is harmless.
			return nil
		}
		return fmt.Errorf("setting synchronous=%s: %w", want, err)
	}
	db.synchronous = want
	return nil
}
