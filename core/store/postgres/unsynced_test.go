package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/conversa/conversa/core/store"
)

// A transaction of TxUnsynced commits with synchronous_commit off, one of
// Tx durably, and the setting stays with its transaction: the connection
// goes back to the pool as it came.
func TestUnsyncedTransactionsAloneSkipTheFlush(t *testing.T) {
	ctx := context.Background()
	// The test cluster may run with synchronous_commit off for all: the
	// sessions here have it on, as a production server's do.
	u := testURL(t)
	if strings.Contains(u, "?") {
		u += "&synchronous_commit=on"
	} else {
		u += "?synchronous_commit=on"
	}
	db, err := Open(ctx, u, Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	setting := func(tx store.Tx) (string, string) {
		var sync, iso string
		t := tx.(*txn)
		if err := t.tx.QueryRow(ctx, `SELECT current_setting('synchronous_commit'), current_setting('transaction_isolation')`).Scan(&sync, &iso); err != nil {
			panic(err)
		}
		return sync, iso
	}
	for _, c := range []struct {
		name     string
		run      func(context.Context, func(store.Tx) error) error
		wantSync string
	}{
		{"Tx", db.Tx, "on"},
		{"TxUnsynced", db.TxUnsynced, "off"},
		{"Tx after TxUnsynced", db.Tx, "on"},
	} {
		var sync, iso string
		if err := c.run(ctx, func(tx store.Tx) error { sync, iso = setting(tx); return nil }); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if sync != c.wantSync || iso != "read committed" {
			t.Errorf("%s: synchronous_commit %s, isolation %s; want %s, read committed", c.name, sync, iso, c.wantSync)
		}
	}
}

// RoundTrips counts a statement, a transaction's begin and commit, and a
// batch once.
func TestRoundTripsCountsWhatWaitsForAnAnswer(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, testURL(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before := db.RoundTrips()
	if _, err := db.Integrations().List(ctx); err != nil {
		t.Fatal(err)
	}
	if got := db.RoundTrips() - before; got != 1 {
		t.Errorf("a list: %d round trips, want 1", got)
	}
	before = db.RoundTrips()
	err = db.TxUnsynced(ctx, func(tx store.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT 1`)
		b.Queue(`SELECT 2`)
		return tx.(*txn).tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	// Begin (with its SET LOCAL), the batch, commit.
	if got := db.RoundTrips() - before; got != 3 {
		t.Errorf("an unsynced transaction of one batch: %d round trips, want 3", got)
	}
}
