package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/postgres/pgtest"
	"github.com/conversa/conversa/core/store/storetest"
)

// testURL is a fresh schema of the test database (skips without one).
func testURL(t testing.TB) string { t.Helper(); return pgtest.URL(t) }

// TestContract runs the store contract suite against PostgreSQL.
func TestContract(t *testing.T) {
	storetest.Test(t, func(t *testing.T, now func() time.Time) store.Store {
		db, err := Open(context.Background(), testURL(t), Options{Now: now, MaxConns: 40})
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}
