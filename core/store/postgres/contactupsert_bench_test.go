package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// BenchmarkContactUpsert is the contact's write of each inbound message:
// the same user again with the same hints (known), and a new user each
// time (new), the search words written with the row.
//
//	go test ./core/store/postgres -run XXX -bench ContactUpsert -benchmem
func BenchmarkContactUpsert(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, testURL(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Integrations().Put(ctx, &model.Integration{ID: "ig", Name: "IG", Channel: "fake", Squad: "geral",
		Source: model.SourceAPI, Enabled: true}); err != nil {
		b.Fatal(err)
	}
	hints := store.ContactHints{Name: "Maria da Conceição", Username: "maria.conceicao"}
	b.Run("known", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.Contacts().Upsert(ctx, "ig", "17841400000001", hints, db.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			if _, err := db.Contacts().Upsert(ctx, "ig", fmt.Sprint(17841500000000+i), hints, db.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
