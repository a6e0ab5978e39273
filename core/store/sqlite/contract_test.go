package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/storetest"
)

// TestContract runs the store contract suite against SQLite in a temporary
// directory.
func TestContract(t *testing.T) {
	storetest.Test(t, func(t *testing.T, now func() time.Time) store.Store {
		db, err := Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), Options{Now: now, ReclaimLeases: true})
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}
