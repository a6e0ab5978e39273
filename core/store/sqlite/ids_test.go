package sqlite

import (
	"context"
	"fmt"
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

// A contact stored with an id reserved before the indexer moved past it
// (another contact, reserved later, was stored first) is found by search
// all the same.
func TestContactStoredBelowTheIndexersCursorIsFound(t *testing.T) {
	ctx := context.Background()
	db := openWithoutIndexer(t, filepath.Join(t.TempDir(), "c.db"))
	if err := db.Integrations().Put(ctx, &model.Integration{ID: "ig", Name: "IG", Channel: "fake",
		Squad: model.DefaultSquad, Enabled: true, Source: model.SourceAPI}); err != nil {
		t.Fatal(err)
	}
	save := func(user, name string, ids store.NewIDs) {
		t.Helper()
		err := db.Tx(ctx, func(tx store.Tx) error {
			ct, err := tx.Contacts().Upsert(ctx, "ig", user, store.ContactHints{Name: name, NewID: ids.Contact}, tx.Now())
			if err != nil {
				return err
			}
			_, err = tx.Conversations().Start(ctx, &model.Conversation{ID: ids.Conversation, Integration: "ig", ContactID: ct.ID,
				State: model.StateBot, Origin: model.OriginDirect})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	early, err := db.ReserveIDs(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	late, err := db.ReserveIDs(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	save("u2", "Bruno Lima", late)
	if err := db.IndexSearch(ctx); err != nil {
		t.Fatal(err)
	}
	save("u1", "Olga Prates", early)
	if err := db.IndexSearch(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := searchIDs(t, db, "prates"), fmt.Sprintf("[%d]", early.Conversation); got != want {
		t.Errorf("search for the contact stored below the cursor = %s, want %s", got, want)
	}
	// Renamed before the indexer got to it, it is found by its new name,
	// once.
	early2, _ := db.ReserveIDs(ctx, true)
	late2, _ := db.ReserveIDs(ctx, true)
	save("u4", "Carla Dias", late2)
	if err := db.IndexSearch(ctx); err != nil {
		t.Fatal(err)
	}
	save("u3", "Davi Souza", early2)
	if err := db.execWrite(`UPDATE contacts SET name = 'Davi Moreira' WHERE id = ?`, early2.Contact); err != nil {
		t.Fatal(err)
	}
	if err := db.IndexSearch(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := searchIDs(t, db, "moreira"), fmt.Sprintf("[%d]", early2.Conversation); got != want {
		t.Errorf("search for its new name = %s, want %s", got, want)
	}
	if got := searchIDs(t, db, "souza"); got != "[]" {
		t.Errorf("search for its old name = %s, want none", got)
	}
	var late3 int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM contact_search_late`).Scan(&late3); err != nil || late3 != 0 {
		t.Errorf("contact_search_late holds %d rows (%v) after the passes, want none", late3, err)
	}
}
