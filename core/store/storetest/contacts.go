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

	// An upsert whose hints are a profile lookup's stores the lookup's time
	// too, in its one write, for a new contact and a stored one alike; one
	// whose hints are not leaves the stored time as it was.
	t.Run("UpsertWithProfile", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		at := f.clock.Advance(time.Minute)
		c, err := f.s.Contacts().Upsert(f.ctx, "ig1", "u1", store.ContactHints{Name: "Ana", Profiled: true}, at)
		f.must(err, "Upsert(profiled, new)")
		if c.Name != "Ana" || !sameTime(c.ProfileAt, at) {
			t.Errorf("Upsert(profiled, new) = %q, profile at %v; want Ana at %v", c.Name, c.ProfileAt, at)
		}
		f.clock.Advance(time.Minute)
		c, err = f.s.Contacts().Upsert(f.ctx, "ig1", "u1", store.ContactHints{Username: "ana.s"}, f.clock.Now())
		f.must(err, "Upsert(not profiled)")
		if c.Name != "Ana" || c.Username != "ana.s" || !sameTime(c.ProfileAt, at) {
			t.Errorf("Upsert(not profiled) = %q %q, profile at %v; want Ana, ana.s, still %v", c.Name, c.Username, c.ProfileAt, at)
		}
		later := f.clock.Advance(time.Minute)
		// A failed lookup: no hints, its time stored all the same.
		c, err = f.s.Contacts().Upsert(f.ctx, "ig1", "u1", store.ContactHints{Profiled: true, ProfileError: "profile API: 500"}, later)
		f.must(err, "Upsert(profiled, stored)")
		got, err := f.s.Contacts().Get(f.ctx, c.ID)
		f.must(err, "Get")
		for what, x := range map[string]*model.Contact{"Upsert": c, "Get": got} {
			if x.Name != "Ana" || x.Username != "ana.s" || !sameTime(x.ProfileAt, later) {
				t.Errorf("%s after a profiled upsert of a stored contact = %q %q, profile at %v; want Ana, ana.s at %v",
					what, x.Name, x.Username, x.ProfileAt, later)
			}
		}
	})
}
