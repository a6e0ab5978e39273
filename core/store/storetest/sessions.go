package storetest

import (
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

func testSessions(t *testing.T, open Open) {
	newSession := func(f *fixture, hash, agent string, expires time.Time) *store.Session {
		f.t.Helper()
		s := &store.Session{TokenHash: hash, AgentID: agent, CSRFToken: "csrf-" + hash,
			CreatedAt: f.clock.Now(), LastSeenAt: f.clock.Now(), ExpiresAt: expires}
		f.must(f.s.Sessions().Create(f.ctx, s), "Sessions().Create(%s)", hash)
		return s
	}
	get := func(f *fixture, hash string) *store.Session {
		f.t.Helper()
		s, err := f.s.Sessions().Get(f.ctx, hash)
		f.must(err, "Sessions().Get(%s)", hash)
		return s
	}

	t.Run("CreateGetRoundTrip", func(t *testing.T) {
		f := setup(t, open)
		f.agent("ana", 3, model.AgentOffline)
		exp := Epoch.Add(24 * time.Hour)
		newSession(f, "h1", "ana", exp)
		got := get(f, "h1")
		if got.TokenHash != "h1" || got.AgentID != "ana" || got.CSRFToken != "csrf-h1" || !sameTime(got.ExpiresAt, exp) {
			t.Errorf("Get(h1) = %+v, want h1 of ana, csrf-h1, expiring %v", got, exp)
		}
		if !sameTime(got.CreatedAt, Epoch) {
			t.Errorf("Get(h1).CreatedAt = %v, want %v", got.CreatedAt, Epoch)
		}
	})

	t.Run("TouchExtendsNeverShortens", func(t *testing.T) {
		f := setup(t, open)
		f.agent("ana", 3, model.AgentOffline)
		newSession(f, "h1", "ana", Epoch.Add(time.Hour))
		t1 := f.clock.Advance(10 * time.Minute)
		f.must(f.s.Sessions().Touch(f.ctx, "h1", Epoch.Add(2*time.Hour)), "Touch(+2h)")
		got := get(f, "h1")
		if !sameTime(got.ExpiresAt, Epoch.Add(2*time.Hour)) || !sameTime(got.LastSeenAt, t1) {
			t.Errorf("Get(h1) after Touch(+2h) = expires %v, seen %v, want %v, %v", got.ExpiresAt, got.LastSeenAt, Epoch.Add(2*time.Hour), t1)
		}
		t2 := f.clock.Advance(10 * time.Minute)
		f.must(f.s.Sessions().Touch(f.ctx, "h1", Epoch.Add(30*time.Minute)), "Touch(+30m)")
		got = get(f, "h1")
		if !sameTime(got.ExpiresAt, Epoch.Add(2*time.Hour)) {
			t.Errorf("Get(h1).ExpiresAt after Touch with an earlier expiry = %v, want it kept at %v", got.ExpiresAt, Epoch.Add(2*time.Hour))
		}
		if !sameTime(got.LastSeenAt, t2) {
			t.Errorf("Get(h1).LastSeenAt after the second Touch = %v, want %v", got.LastSeenAt, t2)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		f := setup(t, open)
		f.agent("ana", 3, model.AgentOffline)
		newSession(f, "h1", "ana", Epoch.Add(time.Hour))
		newSession(f, "h2", "ana", Epoch.Add(time.Hour))
		f.must(f.s.Sessions().Delete(f.ctx, "h1"), "Delete(h1)")
		_, err := f.s.Sessions().Get(f.ctx, "h1")
		wantIs(t, "Get(h1) after Delete", err, store.ErrNotFound)
		get(f, "h2")
	})

	t.Run("DeleteAgent", func(t *testing.T) {
		f := setup(t, open)
		f.agent("ana", 3, model.AgentOffline)
		f.agent("bia", 3, model.AgentOffline)
		for _, h := range []string{"a1", "a2", "a3"} {
			newSession(f, h, "ana", Epoch.Add(time.Hour))
		}
		newSession(f, "b1", "bia", Epoch.Add(time.Hour))
		n, err := f.s.Sessions().DeleteAgent(f.ctx, "ana", "a2")
		if err != nil || n != 2 {
			t.Errorf("DeleteAgent(ana, keep a2) = %d, %v, want 2", n, err)
		}
		for _, h := range []string{"a1", "a3"} {
			_, err := f.s.Sessions().Get(f.ctx, h)
			wantIs(t, "Get("+h+") after DeleteAgent", err, store.ErrNotFound)
		}
		get(f, "a2")
		get(f, "b1")
		n, err = f.s.Sessions().DeleteAgent(f.ctx, "ana", "")
		if err != nil || n != 1 {
			t.Errorf("DeleteAgent(ana, keep none) = %d, %v, want 1", n, err)
		}
		_, err = f.s.Sessions().Get(f.ctx, "a2")
		wantIs(t, "Get(a2) after DeleteAgent keeping none", err, store.ErrNotFound)
		get(f, "b1")
	})

	t.Run("DeleteExpired", func(t *testing.T) {
		f := setup(t, open)
		f.agent("ana", 3, model.AgentOffline)
		newSession(f, "old", "ana", Epoch.Add(time.Hour))
		newSession(f, "live", "ana", Epoch.Add(3*time.Hour))
		f.clock.Advance(2 * time.Hour)
		n, err := f.s.Sessions().DeleteExpired(f.ctx)
		if err != nil || n != 1 {
			t.Errorf("DeleteExpired() = %d, %v, want 1", n, err)
		}
		_, err = f.s.Sessions().Get(f.ctx, "old")
		wantIs(t, "Get(old) after DeleteExpired", err, store.ErrNotFound)
		get(f, "live")
	})

	t.Run("LastSeen", func(t *testing.T) {
		f := setup(t, open)
		f.agent("ana", 3, model.AgentOffline)
		f.agent("bia", 3, model.AgentOffline)
		seen, err := f.s.Sessions().LastSeen(f.ctx, "ana")
		if err != nil || !seen.IsZero() {
			t.Errorf("LastSeen(ana) without sessions = %v, %v, want zero", seen, err)
		}
		newSession(f, "h1", "ana", Epoch.Add(time.Hour))
		newSession(f, "h2", "ana", Epoch.Add(time.Hour))
		newSession(f, "hb", "bia", Epoch.Add(time.Hour))
		f.clock.Advance(time.Minute)
		f.must(f.s.Sessions().Touch(f.ctx, "h1", Epoch.Add(time.Hour)), "Touch(h1)")
		t2 := f.clock.Advance(time.Minute)
		f.must(f.s.Sessions().Touch(f.ctx, "h2", Epoch.Add(time.Hour)), "Touch(h2)")
		f.clock.Advance(time.Minute)
		seen, err = f.s.Sessions().LastSeen(f.ctx, "ana")
		if err != nil || !sameTime(seen, t2) {
			t.Errorf("LastSeen(ana) = %v, %v, want the latest use %v", seen, err, t2)
		}
		seen, err = f.s.Sessions().LastSeen(f.ctx, "bia")
		if err != nil || !sameTime(seen, Epoch) {
			t.Errorf("LastSeen(bia) = %v, %v, want %v (created, never touched)", seen, err, Epoch)
		}
	})
}
