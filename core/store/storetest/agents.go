package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

func testAgents(t *testing.T, open Open) {
	t.Run("CreateGetRoundTrip", func(t *testing.T) {
		f := setup(t, open)
		a := &model.Agent{ID: "ana", Login: "ana", Name: "Ana", Role: model.RoleAdmin, Squads: []string{"vendas", "suporte"}, MaxChats: 3}
		f.must(f.s.Agents().Create(f.ctx, a, "hash-1"), "Create(ana)")
		got := f.getAgent("ana")
		if got.ID != "ana" || got.Login != "ana" || got.Name != "Ana" || got.Role != model.RoleAdmin || got.MaxChats != 3 {
			t.Errorf("Get(ana) = %+v, want %+v", got, a)
		}
		if !slices.Equal(got.Squads, a.Squads) {
			t.Errorf("Get(ana).Squads = %q, want %q", got.Squads, a.Squads)
		}
		if !sameTime(got.CreatedAt, Epoch) {
			t.Errorf("Get(ana).CreatedAt = %v, want %v", got.CreatedAt, Epoch)
		}
		if got.OpenChats != 0 {
			t.Errorf("Get(ana).OpenChats = %d, want 0", got.OpenChats)
		}
		h, err := f.s.Agents().PasswordHash(f.ctx, "ana")
		if err != nil || h != "hash-1" {
			t.Errorf("PasswordHash(ana) = %q, %v, want hash-1", h, err)
		}
	})

	t.Run("DuplicateLoginIsConflict", func(t *testing.T) {
		f := setup(t, open)
		f.agent("ana", 3, model.AgentOffline)
		err := f.s.Agents().Create(f.ctx, &model.Agent{ID: "ana", Login: "ana", Name: "Impostor", Role: model.RoleAdmin, MaxChats: 1}, "other")
		wantIs(t, "Create(ana) again", err, store.ErrConflict)
		got := f.getAgent("ana")
		if got.Name != "Agent ana" || got.Role != model.RoleAgent {
			t.Errorf("Get(ana) after a refused Create = %q %q, want the first agent", got.Name, got.Role)
		}
		if h, _ := f.s.Agents().PasswordHash(f.ctx, "ana"); h != "hash-ana" {
			t.Errorf("PasswordHash(ana) after a refused Create = %q, want hash-ana", h)
		}
	})

	t.Run("Update", func(t *testing.T) {
		f := setup(t, open)
		a := f.agent("ana", 3, model.AgentOffline, "vendas")
		a.Name, a.Squads, a.MaxChats, a.Role = "Ana S.", []string{"suporte"}, 5, model.RoleAdmin
		f.must(f.s.Agents().Update(f.ctx, a, ""), "Update(no password)")
		got := f.getAgent("ana")
		if got.Name != "Ana S." || got.MaxChats != 5 || got.Role != model.RoleAdmin || !slices.Equal(got.Squads, []string{"suporte"}) {
			t.Errorf("Get(ana) after Update = %+v, want name Ana S., max 5, admin, [suporte]", got)
		}
		if h, _ := f.s.Agents().PasswordHash(f.ctx, "ana"); h != "hash-ana" {
			t.Errorf("PasswordHash after Update with no hash = %q, want it kept (hash-ana)", h)
		}
		f.must(f.s.Agents().Update(f.ctx, a, "hash-2"), "Update(password)")
		if h, _ := f.s.Agents().PasswordHash(f.ctx, "ana"); h != "hash-2" {
			t.Errorf("PasswordHash after Update(hash-2) = %q, want hash-2", h)
		}
	})

	t.Run("SetStatus", func(t *testing.T) {
		f := setup(t, open)
		f.agent("ana", 3, model.AgentOffline)
		at := f.clock.Advance(time.Minute)
		f.must(f.s.Agents().SetStatus(f.ctx, "ana", model.AgentPaused), "SetStatus(paused)")
		got := f.getAgent("ana")
		if got.Status != model.AgentPaused || !sameTime(got.StatusAt, at) {
			t.Errorf("Get(ana) after SetStatus(paused) = %s at %v, want paused at %v", got.Status, got.StatusAt, at)
		}
	})

	t.Run("SetActive", func(t *testing.T) {
		f := setup(t, open)
		f.agent("ana", 3, model.AgentAvailable)
		f.agent("bia", 3, model.AgentAvailable)
		if a := f.getAgent("ana"); !a.Active {
			t.Errorf("Get(ana) after Create: active = false, want agents created active")
		}
		f.must(f.s.Agents().SetActive(f.ctx, "ana", false), "SetActive(ana, false)")
		if a := f.getAgent("ana"); a.Active {
			t.Errorf("Get(ana) after SetActive(false): active = true")
		}
		// Deactivated, never offered a conversation, whatever the status.
		list, err := f.s.Agents().Available(f.ctx)
		f.must(err, "Available")
		if ids := agentIDs(list); !sameStrings(ids, []string{"bia"}) {
			t.Errorf("Available() with ana deactivated = %v, want [bia]", ids)
		}
		all, err := f.s.Agents().List(f.ctx)
		f.must(err, "List")
		if ids := agentIDs(all); !sameStrings(ids, []string{"ana", "bia"}) {
			t.Errorf("List() = %v, want the deactivated agent still listed", ids)
		}
		f.must(f.s.Agents().SetActive(f.ctx, "ana", true), "SetActive(ana, true)")
		if a := f.getAgent("ana"); !a.Active {
			t.Errorf("Get(ana) after SetActive(true): active = false")
		}
		wantIs(t, "SetActive(nobody)", f.s.Agents().SetActive(f.ctx, "nobody", false), store.ErrNotFound)
	})

	t.Run("List", func(t *testing.T) {
		f := setup(t, open)
		f.agent("ana", 3, model.AgentOffline)
		f.agent("bia", 3, model.AgentAvailable)
		list, err := f.s.Agents().List(f.ctx)
		f.must(err, "List")
		if ids := agentIDs(list); !sameStrings(ids, []string{"ana", "bia"}) {
			t.Errorf("List() = %v, want [ana bia]", ids)
		}
	})

	t.Run("AvailableWithOpenChats", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		f.agent("ana", 3, model.AgentAvailable)
		f.agent("bia", 3, model.AgentAvailable)
		f.agent("caio", 3, model.AgentOffline)
		f.agent("duda", 3, model.AgentAvailable)
		f.assigned("ig1", "ana")
		f.assigned("ig1", "ana")
		ended := f.assigned("ig1", "duda")
		_, err := f.s.Conversations().End(f.ctx, ended.ID, model.EndAgent)
		f.must(err, "End")
		// A paused agent keeps their chats but receives no more.
		f.assigned("ig1", "bia")
		f.must(f.s.Agents().SetStatus(f.ctx, "bia", model.AgentPaused), "SetStatus(bia, paused)")
		list, err := f.s.Agents().Available(f.ctx)
		f.must(err, "Available")
		got := map[string]int{}
		for _, a := range list {
			got[a.ID] = a.OpenChats
		}
		want := map[string]int{"ana": 2, "duda": 0}
		if len(got) != len(want) || got["ana"] != 2 || got["duda"] != 0 {
			t.Errorf("Available() = %v (id: open chats), want %v", got, want)
		}
		if a := f.getAgent("ana"); a.OpenChats != 2 {
			t.Errorf("Get(ana).OpenChats = %d, want 2", a.OpenChats)
		}
		if a := f.getAgent("duda"); a.OpenChats != 0 {
			t.Errorf("Get(duda).OpenChats after their chat ended = %d, want 0", a.OpenChats)
		}
	})
}

// testFirstAgent: the first admin created in the browser (CONTRACT §9).
func testFirstAgent(t *testing.T, open Open) {
	t.Run("CreateFirstOnEmpty", func(t *testing.T) {
		f := setup(t, open)
		f.must(f.s.Agents().AddSetupToken(f.ctx, "digest-a"), "AddSetupToken(a)")
		f.must(f.s.Agents().AddSetupToken(f.ctx, "digest-b"), "AddSetupToken(b)")
		f.must(f.s.Agents().AddSetupToken(f.ctx, "digest-a"), "AddSetupToken(a) again")
		got, err := f.s.Agents().SetupTokens(f.ctx)
		f.must(err, "SetupTokens")
		if !sameStrings(got, []string{"digest-a", "digest-b"}) {
			t.Errorf("SetupTokens() = %q, want [digest-a digest-b]", got)
		}
		a := &model.Agent{ID: "ana", Login: "ana", Name: "Ana", Role: model.RoleAdmin, MaxChats: 8}
		f.must(f.s.Agents().CreateFirst(f.ctx, a, "hash-1"), "CreateFirst(ana)")
		if got := f.getAgent("ana"); got.Role != model.RoleAdmin || got.Name != "Ana" {
			t.Errorf("Get(ana) after CreateFirst = %+v, want admin Ana", got)
		}
		if h, _ := f.s.Agents().PasswordHash(f.ctx, "ana"); h != "hash-1" {
			t.Errorf("PasswordHash(ana) = %q, want hash-1", h)
		}
		if got, err := f.s.Agents().SetupTokens(f.ctx); err != nil || len(got) != 0 {
			t.Errorf("SetupTokens() after CreateFirst = %q, %v; want none: a token works once", got, err)
		}
	})

	t.Run("CreateFirstRefusedOnceAnyoneExists", func(t *testing.T) {
		f := setup(t, open)
		f.agent("ana", 3, model.AgentOffline)
		f.must(f.s.Agents().AddSetupToken(f.ctx, "digest-a"), "AddSetupToken")
		err := f.s.Agents().CreateFirst(f.ctx, &model.Agent{ID: "mallory", Login: "mallory", Name: "M", Role: model.RoleAdmin, MaxChats: 1}, "h")
		wantIs(t, "CreateFirst(mallory) with ana there", err, store.ErrConflict)
		wantIs(t, "Get(mallory)", func() error { _, err := f.s.Agents().Get(f.ctx, "mallory"); return err }(), store.ErrNotFound)
	})

	t.Run("CreateFirstInATx", func(t *testing.T) {
		f := setup(t, open)
		err := f.s.Tx(f.ctx, func(tx store.Tx) error {
			if err := tx.Agents().CreateFirst(f.ctx, &model.Agent{ID: "ana", Login: "ana", Name: "Ana", Role: model.RoleAdmin, MaxChats: 1}, "h"); err != nil {
				return err
			}
			return tx.Agents().CreateFirst(f.ctx, &model.Agent{ID: "bia", Login: "bia", Name: "Bia", Role: model.RoleAdmin, MaxChats: 1}, "h")
		})
		wantIs(t, "CreateFirst twice in one Tx", err, store.ErrConflict)
		list, err := f.s.Agents().List(f.ctx)
		f.must(err, "List")
		if len(list) != 0 {
			t.Errorf("List() after the Tx failed = %v, want no agent (rolled back)", agentIDs(list))
		}
	})

	// Setups on several nodes at once: exactly one admin, whatever the
	// logins. Run with -race.
	t.Run("CreateFirstConcurrently", func(t *testing.T) {
		f := setup(t, open)
		const n = 12
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("admin%d", i)
				errs[i] = f.s.Agents().CreateFirst(f.ctx, &model.Agent{ID: id, Login: id, Name: id, Role: model.RoleAdmin, MaxChats: 1}, "h")
			}()
		}
		wg.Wait()
		created := 0
		for i, err := range errs {
			switch {
			case err == nil:
				created++
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("CreateFirst(admin%d) = %v, want nil or %v", i, err, store.ErrConflict)
			}
		}
		list, err := f.s.Agents().List(f.ctx)
		f.must(err, "List")
		if created != 1 || len(list) != 1 {
			t.Errorf("%d concurrent CreateFirst: %d succeeded, agents %v; want exactly one", n, created, agentIDs(list))
		}
	})
}

func agentIDs(list []*model.Agent) []string {
	var ids []string
	for _, a := range list {
		ids = append(ids, a.ID)
	}
	return ids
}
