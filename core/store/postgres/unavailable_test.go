package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/postgres/pgtest"
)

// The database unreachable for a while: writes and reads fail with
// store.ErrUnavailable (so the HTTP layer answers 503 and sources deliver
// again), nothing half-done stays, and the store works again by itself
// once the database is back.
func TestUnreachableDatabaseIsUnavailableThenRecovers(t *testing.T) {
	ctx := context.Background()
	proxied, p := pgtest.Through(t, testURL(t))
	db, err := Open(ctx, proxied, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	put := func(id string) error {
		return db.Integrations().Put(ctx, &model.Integration{ID: id, Name: id, Channel: "fake", Squad: "geral", Source: model.SourceAPI})
	}
	if err := put("before"); err != nil {
		t.Fatal(err)
	}

	p.Cut()
	if err := put("during"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a write with the database unreachable = %v, want store.ErrUnavailable", err)
	}
	if _, err := db.Integrations().Get(ctx, "before"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a read with the database unreachable = %v, want store.ErrUnavailable", err)
	}
	if _, err := db.Integrations().List(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a list with the database unreachable = %v, want store.ErrUnavailable", err)
	}

	p.Restore()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := put("after")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store did not recover once the database was back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := db.Integrations().Get(ctx, "during"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the write made while unreachable: Get = %v, want not found (nothing half-done)", err)
	}
	if _, err := db.Integrations().Get(ctx, "before"); err != nil {
		t.Errorf("Get after recovery: %v", err)
	}
}
