package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/conversa/conversa/core/store"
)

// TestUnsyncedBatchesSkipTheSyncAndDurableOnesDoNot checks the writer
// connection's setting inside each kind of transaction: an unsynced one
// commits with synchronous=NORMAL (1), a durable one, before and after it,
// with FULL (2).
func TestUnsyncedBatchesSkipTheSyncAndDurableOnesDoNot(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "c.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	setting := func(run func(context.Context, func(store.Tx) error) error) int {
		t.Helper()
		var v int
		if err := run(ctx, func(tx store.Tx) error {
			return tx.(*txn).tx.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&v)
		}); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i, c := range []struct {
		name string
		run  func(context.Context, func(store.Tx) error) error
		want int
	}{
		{"durable", db.Tx, 2},
		{"unsynced", db.TxUnsynced, 1},
		{"unsynced again", db.TxUnsynced, 1},
		{"durable after unsynced", db.Tx, 2},
	} {
		if got := setting(c.run); got != c.want {
			t.Errorf("%d %s: synchronous = %d, want %d", i, c.name, got, c.want)
		}
	}
}
