package postgres

import (
	"context"
	"testing"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// A NUL is valid JSON (and so can come in a webhook) but PostgreSQL text
// cannot hold it: it is stored as U+FFFD rather than failing the write
// every time, inside a transaction too, and the key it is part of still
// finds its row.
func TestNULInTextIsStored(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, testURL(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Integrations().Put(ctx, &model.Integration{ID: "ig", Name: "IG", Channel: "fake", Squad: "geral",
		Source: model.SourceAPI, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	var c *model.Contact
	err = db.Tx(ctx, func(tx store.Tx) error {
		var err error
		c, err = tx.Contacts().Upsert(ctx, "ig", "u\x001", store.ContactHints{Name: "Zé\x00"}, tx.Now())
		return err
	})
	if err != nil {
		t.Fatalf("Upsert with NUL in the user id and name: %v", err)
	}
	got, err := db.Contacts().ByUser(ctx, "ig", "u\x001")
	if err != nil {
		t.Fatalf("ByUser with the same NUL id: %v", err)
	}
	if got.ID != c.ID || got.Name != "Zé\uFFFD" {
		t.Errorf("stored contact = %d %q, want %d %q", got.ID, got.Name, c.ID, "Zé\uFFFD")
	}
	added, err := db.Inbox().Add(ctx, &model.Event{Integration: "ig", Kind: "message", DedupeKey: "d\x00k", ContactID: "u\x001"}, "ig\x00u\x001")
	if err != nil || !added {
		t.Fatalf("Inbox().Add with NUL in its keys = %v, %v", added, err)
	}
	items, err := db.Inbox().Claim(ctx, "w", 1, 60e9)
	if err != nil || len(items) != 1 {
		t.Fatalf("Claim = %d items, %v; want the event", len(items), err)
	}
}
