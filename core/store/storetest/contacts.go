package storetest

import (
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

func testContacts(t *testing.T, open Open) {
	t.Run("UpsertCreatesThenFinds", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		f.integration("ig2")
		h := store.ContactHints{Username: "ana.s", Name: "Ana Souza", AvatarURL: "https://cdn/ana.jpg"}
		inbound := Epoch.Add(-time.Minute)
		c, err := f.s.Contacts().Upsert(f.ctx, "ig1", "u1", h, inbound)
		f.must(err, "Upsert(ig1, u1)")
		if c.ID == 0 || c.Integration != "ig1" || c.ChannelUserID != "u1" || c.Username != h.Username ||
			c.Name != h.Name || c.AvatarURL != h.AvatarURL || !sameTime(c.LastInboundAt, inbound) {
			t.Errorf("Upsert(ig1, u1) = %+v, want id, ig1, u1, %+v, inbound %v", c, h, inbound)
		}
		again, err := f.s.Contacts().Upsert(f.ctx, "ig1", "u1", store.ContactHints{}, time.Time{})
		f.must(err, "Upsert(ig1, u1) again")
		if again.ID != c.ID {
			t.Errorf("Upsert(ig1, u1) again = contact %d, want the same %d", again.ID, c.ID)
		}
		for name, get := range map[string]func() (*model.Contact, error){
			"Get":    func() (*model.Contact, error) { return f.s.Contacts().Get(f.ctx, c.ID) },
			"ByUser": func() (*model.Contact, error) { return f.s.Contacts().ByUser(f.ctx, "ig1", "u1") },
		} {
			got, err := get()
			f.must(err, "%s", name)
			if got.ID != c.ID || got.Name != h.Name || got.Username != h.Username || got.AvatarURL != h.AvatarURL {
				t.Errorf("%s = %+v, want %+v", name, got, c)
			}
		}
		other, err := f.s.Contacts().Upsert(f.ctx, "ig2", "u1", store.ContactHints{}, time.Time{})
		f.must(err, "Upsert(ig2, u1)")
		if other.ID == c.ID {
			t.Errorf("Upsert(ig2, u1) = contact %d, the contact of ig1: a user id is per integration", other.ID)
		}
	})

	t.Run("UpsertKeepsKnownValuesForEmptyHints", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		f.contactAs("ig1", "u1", store.ContactHints{Username: "ana.s", Name: "Ana", AvatarURL: "https://a"})
		c, err := f.s.Contacts().Upsert(f.ctx, "ig1", "u1", store.ContactHints{Name: "Ana Souza"}, time.Time{})
		f.must(err, "Upsert")
		if c.Name != "Ana Souza" || c.Username != "ana.s" || c.AvatarURL != "https://a" {
			t.Errorf("Upsert(name only) = %q %q %q, want Ana Souza, ana.s, https://a", c.Name, c.Username, c.AvatarURL)
		}
		got, err := f.s.Contacts().ByUser(f.ctx, "ig1", "u1")
		f.must(err, "ByUser")
		if got.Name != "Ana Souza" || got.Username != "ana.s" || got.AvatarURL != "https://a" {
			t.Errorf("ByUser after Upsert(name only) = %q %q %q, want Ana Souza, ana.s, https://a", got.Name, got.Username, got.AvatarURL)
		}
	})

	t.Run("UpsertMovesLastInboundForwardOnly", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		t1 := Epoch.Add(time.Hour)
		steps := []struct {
			inbound, want time.Time
		}{
			{t1, t1},
			{Epoch, t1},       // older: kept
			{time.Time{}, t1}, // zero: kept
			{t1.Add(time.Minute), t1.Add(time.Minute)}, // newer: moves
		}
		for _, s := range steps {
			c, err := f.s.Contacts().Upsert(f.ctx, "ig1", "u1", store.ContactHints{}, s.inbound)
			f.must(err, "Upsert(inbound %v)", s.inbound)
			if !sameTime(c.LastInboundAt, s.want) {
				t.Errorf("Upsert(inbound %v).LastInboundAt = %v, want %v", s.inbound, c.LastInboundAt, s.want)
			}
			got, err := f.s.Contacts().Get(f.ctx, c.ID)
			f.must(err, "Get")
			if !sameTime(got.LastInboundAt, s.want) {
				t.Errorf("Get after Upsert(inbound %v).LastInboundAt = %v, want %v", s.inbound, got.LastInboundAt, s.want)
			}
		}
	})

	t.Run("SetProfile", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		c := f.contactAs("ig1", "u1", store.ContactHints{Username: "ana.s", Name: "Ana"})
		at := f.clock.Advance(time.Minute)
		f.must(f.s.Contacts().SetProfile(f.ctx, c.ID, store.ContactHints{Name: "Ana Souza", AvatarURL: "https://new"}, ""), "SetProfile")
		got, err := f.s.Contacts().Get(f.ctx, c.ID)
		f.must(err, "Get")
		if got.Name != "Ana Souza" || got.AvatarURL != "https://new" || got.Username != "ana.s" {
			t.Errorf("Get after SetProfile = %q %q %q, want Ana Souza, https://new, ana.s (kept)", got.Name, got.AvatarURL, got.Username)
		}
		if !sameTime(got.ProfileAt, at) {
			t.Errorf("Get after SetProfile.ProfileAt = %v, want %v", got.ProfileAt, at)
		}
		// A failed lookup says nothing about the user: what is known stays.
		f.must(f.s.Contacts().SetProfile(f.ctx, c.ID, store.ContactHints{}, "profile API: 500"), "SetProfile(error)")
		got, err = f.s.Contacts().Get(f.ctx, c.ID)
		f.must(err, "Get")
		if got.Name != "Ana Souza" || got.AvatarURL != "https://new" || got.Username != "ana.s" {
			t.Errorf("Get after a failed lookup = %q %q %q, want them kept", got.Name, got.AvatarURL, got.Username)
		}
	})
}
