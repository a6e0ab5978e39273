package sqlite

import (
	"context"
	"fmt"
	"sync/atomic"

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
	db.stats.count(batch, want == syncFull)
	if db.synchronous == want {
		return nil
	}
	if _, err := db.wc.ExecContext(context.Background(), "PRAGMA synchronous = "+want); err != nil {
		if want == syncNormal {
			// Committing more durably than asked is harmless.
			return nil
		}
		return fmt.Errorf("setting synchronous=%s: %w", want, err)
	}
	db.synchronous = want
	return nil
}

// WriterStats counts the writer's work since Open: what one exchange costs
// in commits, and how many of them waited for the disk.
type WriterStats struct {
	// Writes are the transactions callers asked for (Tx, TxUnsynced, and
	// each aggregate method that writes on its own); Unsynced of them did
	// not ask to wait for the disk.
	Writes, Unsynced int64
	// Commits are the group commits that carried them; Synced of them
	// waited for the disk (synchronous=FULL).
	Commits, Synced int64
	// Indexing are the search indexer's own transactions (searchindex.go),
	// counted apart: none of the above, and never synced.
	Indexing int64
}

// WriterStats reports the writer's counts so far.
func (db *DB) WriterStats() WriterStats {
	return WriterStats{Writes: db.stats.writes.Load(), Unsynced: db.stats.unsynced.Load(),
		Commits: db.stats.commits.Load(), Synced: db.stats.synced.Load(), Indexing: db.stats.indexing.Load()}
}

type writerStats struct {
	writes, unsynced, commits, synced, indexing atomic.Int64
}

func (s *writerStats) count(batch []*job, synced bool) {
	if len(batch) == 1 && batch[0].alone {
		s.indexing.Add(1)
		return
	}
	s.commits.Add(1)
	if synced {
		s.synced.Add(1)
	}
	s.writes.Add(int64(len(batch)))
	for _, j := range batch {
		if j.unsynced {
			s.unsynced.Add(1)
		}
	}
}
