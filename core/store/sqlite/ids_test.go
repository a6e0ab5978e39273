package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// The id counters start past what is stored when the database opens, and
// step past a row stored by other means (a test's SQL here; a copy put in
// place) rather than fail the insert.
func TestNewIDsStepPastStoredRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Integrations().Put(ctx, &model.Integration{ID: "ig", Name: "IG", Channel: "fake",
		Squad: model.DefaultSquad, Enabled: true, Source: model.SourceAPI}); err != nil {
		t.Fatal(err)
	}
	start := func(user string) (*model.Contact, *model.Conversation) {
		t.Helper()
		ct, err := db.Contacts().Upsert(ctx, "ig", user, store.ContactHints{}, db.Now())
		if err != nil {
			t.Fatalf("Upsert(%s): %v", user, err)
		}
		c := &model.Conversation{Integration: "ig", ContactID: ct.ID, State: model.StateBot, Origin: model.OriginDirect}
		if started, err := db.Conversations().Start(ctx, c); err != nil || !started {
			t.Fatalf("Start(%s) = %v, %v", user, started, err)
		}
		return ct, c
	}
	ct, c := start("a")
	// The next ids, taken behind the store's back.
	if err := db.execWrite(`INSERT INTO contacts (id, integration_id, channel_user_id, created_at) VALUES (?, 'ig', 'sql', 0)`, ct.ID+1); err != nil {
		t.Fatal(err)
	}
	if err := db.execWrite(`INSERT INTO conversations (id, integration_id, contact_id, state, origin, started_at, last_activity_at)
		VALUES (?, 'ig', ?, 'ended', 'direct', 0, 0)`, c.ID+1, ct.ID+1); err != nil {
		t.Fatal(err)
	}
	ct2, c2 := start("b")
	if ct2.ID <= ct.ID+1 || c2.ID <= c.ID+1 {
		t.Errorf("after rows stored by SQL at %d and %d, the store gave contact %d, conversation %d", ct.ID+1, c.ID+1, ct2.ID, c2.ID)
	}
	// A returning user's upsert gives back the id it took: none is lost.
	if again, err := db.Contacts().Upsert(ctx, "ig", "b", store.ContactHints{}, db.Now()); err != nil || again.ID != ct2.ID {
		t.Fatalf("Upsert(b) again = %v, %v, want %d", again, err, ct2.ID)
	}
	ct3, _ := start("c")
	if ct3.ID != ct2.ID+1 {
		t.Errorf("contact after a returning user's upsert = %d, want %d (no gap)", ct3.ID, ct2.ID+1)
	}
	reserved, err := db.ReserveIDs(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	// Reopened, the counters start past every stored row (an id reserved
	// and never stored may be handed out again: nothing holds it).
	db, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ct4, c4 := start("d")
	if ct4.ID != reserved.Contact || c4.ID <= c2.ID {
		t.Errorf("after reopening: contact %d, conversation %d, want %d (reserved, never stored) and past %d",
			ct4.ID, c4.ID, reserved.Contact, c2.ID)
	}
}
