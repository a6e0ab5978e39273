package agents

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/conversa/conversa/core/events"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/sqlite"
)

func openStore(t testing.TB) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func addAgent(t testing.TB, st store.Store, id string, maxChats int, squads ...string) {
	t.Helper()
	a := &model.Agent{ID: id, Name: id, Role: model.RoleAgent, MaxChats: maxChats, Squads: squads}
	if err := Normalize(a); err != nil {
		t.Fatal(err)
	}
	if err := st.Agents().Create(context.Background(), a, "x"); err != nil {
		t.Fatal(err)
	}
}

// queue creates a contact with a conversation queued for squad.
func queue(t testing.TB, st store.Store, user, squad string, priority int, at time.Time) int64 {
	t.Helper()
	ctx := context.Background()
	var id int64
	err := st.Tx(ctx, func(tx store.Tx) error {
		ct, err := tx.Contacts().Upsert(ctx, "ig", user, store.ContactHints{}, at)
		if err != nil {
			return err
		}
		c := &model.Conversation{Integration: "ig", ContactID: ct.ID, State: model.StateBot, Origin: model.OriginDirect, StartedAt: at}
		if _, err := tx.Conversations().Start(ctx, c); err != nil {
			return err
		}
		id = c.ID
		_, err = tx.Conversations().Queue(ctx, id, store.Queueing{Squad: squad, Priority: priority})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func conversation(t testing.TB, st store.Store, id int64) *model.Conversation {
	t.Helper()
	c, err := st.Conversations().Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAssignsToFewestOpenChatsThenLongestWaiting(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	s := New(Options{Store: st})
	addAgent(t, st, "ana", 2, "geral")
	addAgent(t, st, "bia", 2, "geral")
	addAgent(t, st, "caio", 2, "vendas")
	for _, id := range []string{"ana", "bia", "caio"} {
		if _, err := s.SetStatus(ctx, id, model.AgentAvailable); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now()
	c1 := queue(t, st, "u1", "geral", 0, t0)
	s.Assign(ctx)
	first := conversation(t, st, c1).Agent
	if first != "ana" && first != "bia" {
		t.Fatalf("c1 went to %q, want a geral agent", first)
	}
	c2 := queue(t, st, "u2", "geral", 0, t0.Add(time.Second))
	s.Assign(ctx)
	if got := conversation(t, st, c2).Agent; got == first || got == "" {
		t.Errorf("c2 went to %q, want the other geral agent (fewest open chats)", got)
	}
	// Both have one chat: the tie goes to whoever waited longest (first).
	c3 := queue(t, st, "u3", "geral", 0, t0.Add(2*time.Second))
	s.Assign(ctx)
	if got := conversation(t, st, c3).Agent; got != first {
		t.Errorf("c3 went to %q, want %q who has waited longest", got, first)
	}
	// One slot is left: the highest priority goes first, the rest wait.
	c4 := queue(t, st, "u4", "geral", 0, t0.Add(3*time.Second))
	c5 := queue(t, st, "u5", "geral", 0, t0.Add(4*time.Second))
	c6 := queue(t, st, "u6", "geral", 5, t0.Add(5*time.Second))
	s.Assign(ctx)
	if c := conversation(t, st, c6); c.State != model.StateAssigned {
		t.Errorf("c6 (priority 5) = %s, want assigned to the free slot first", c.State)
	}
	for _, id := range []int64{c4, c5} {
		if c := conversation(t, st, id); c.State != model.StateQueued {
			t.Errorf("conversation %d = %s/%s, want still queued (agents full)", id, c.State, c.Agent)
		}
	}
	// A slot frees: the conversation that has waited longest goes next.
	if _, err := st.Conversations().End(ctx, c1, model.EndAgent); err != nil {
		t.Fatal(err)
	}
	s.Assign(ctx)
	if c := conversation(t, st, c4); c.State != model.StateAssigned || c.Agent != first {
		t.Errorf("c4 = %s/%s, want assigned to %s whose slot freed", c.State, c.Agent, first)
	}
	if c := conversation(t, st, c5); c.State != model.StateQueued {
		t.Errorf("c5 = %s, want still queued", c.State)
	}
	// The squad's other team never gets geral's conversations.
	if a, _ := st.Agents().Get(ctx, "caio"); a.OpenChats != 0 {
		t.Errorf("caio (vendas) has %d chats, want 0", a.OpenChats)
	}
}

func TestOfflineRequeuesAndPausedKeepsChats(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	s := New(Options{Store: st})
	addAgent(t, st, "ana", 8, "geral")
	addAgent(t, st, "bia", 8, "geral")
	s.SetStatus(ctx, "ana", model.AgentAvailable)
	c1 := queue(t, st, "u1", "geral", 0, time.Now())
	s.Assign(ctx)
	if got := conversation(t, st, c1).Agent; got != "ana" {
		t.Fatalf("c1 agent = %q, want ana", got)
	}
	s.SetStatus(ctx, "ana", model.AgentPaused)
	c2 := queue(t, st, "u2", "geral", 0, time.Now())
	s.Assign(ctx)
	if c := conversation(t, st, c2); c.State != model.StateQueued {
		t.Errorf("c2 = %s/%s, want queued: a paused agent gets nothing new", c.State, c.Agent)
	}
	if got := conversation(t, st, c1).Agent; got != "ana" {
		t.Errorf("c1 agent = %q, want ana: pausing keeps open chats", got)
	}
	s.SetStatus(ctx, "bia", model.AgentAvailable)
	s.SetStatus(ctx, "ana", model.AgentOffline)
	for _, id := range []int64{c1, c2} {
		if got := conversation(t, st, id).Agent; got != "bia" {
			t.Errorf("conversation %d agent = %q, want bia after ana went offline", id, got)
		}
	}
}

func TestPreferredAgent(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	s := New(Options{Store: st})
	addAgent(t, st, "ana", 2, "geral")
	addAgent(t, st, "vip", 1, "geral")
	s.SetStatus(ctx, "ana", model.AgentAvailable)
	s.SetStatus(ctx, "vip", model.AgentAvailable)
	busy := queue(t, st, "u0", "geral", 0, time.Now())
	if _, err := st.Conversations().Assign(ctx, busy, "vip"); err != nil {
		t.Fatal(err)
	}
	c := queue(t, st, "u1", "geral", 0, time.Now())
	if _, err := st.Conversations().Queue(ctx, c, store.Queueing{Squad: "geral", Agent: "vip"}); err != nil {
		t.Fatal(err)
	}
	s.Assign(ctx)
	if got := conversation(t, st, c); got.State != model.StateQueued {
		t.Errorf("conversation for vip = %s/%s, want waiting for vip (full, but signed in)", got.State, got.Agent)
	}
	s.SetStatus(ctx, "vip", model.AgentOffline)
	if got := conversation(t, st, c).Agent; got != "ana" {
		t.Errorf("agent = %q, want ana: the named agent left, the squad serves", got)
	}
}

func TestPresenceLapseSetsOffline(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := New(Options{Store: st, Now: clock, PresenceTimeout: time.Minute})
	addAgent(t, st, "ana", 8, "geral")
	addAgent(t, st, "bia", 8, "geral")
	s.SetStatus(ctx, "ana", model.AgentAvailable)
	s.SetStatus(ctx, "bia", model.AgentAvailable)
	release := s.Connected("bia")
	defer release()
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	s.expirePresence(ctx)
	if a, _ := st.Agents().Get(ctx, "ana"); a.Status != model.AgentOffline {
		t.Errorf("ana = %s, want offline after her session lapsed", a.Status)
	}
	if a, _ := st.Agents().Get(ctx, "bia"); a.Status != model.AgentAvailable {
		t.Errorf("bia = %s, want available: her console is open", a.Status)
	}
}

// TestConcurrentAssignment throws many conversations and agents at the
// assigner from many goroutines at once, with agents changing status and
// chats ending, and checks the two invariants after every step: no agent
// over capacity, and no conversation given to two agents.
func TestConcurrentAssignment(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	bus := events.New(1 << 14)
	s := New(Options{Store: st, Bus: bus})
	const agentsN, convsN = 12, 300
	for i := range agentsN {
		squad := []string{"geral", "vendas"}[i%2]
		addAgent(t, st, fmt.Sprint("agent", i), 1+i%4, squad)
	}
	sub, _, _ := bus.Subscribe(func(e events.Event) bool { return e.Type == events.Assigned }, "")
	var seen sync.Map
	assignedTwice := make(chan int64, convsN)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range sub.C {
			if _, loaded := seen.LoadOrStore(e.Conversation, e.Agent); loaded {
				assignedTwice <- e.Conversation
			}
		}
	}()

	var wg sync.WaitGroup
	for i := range agentsN {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.SetStatus(ctx, fmt.Sprint("agent", i), model.AgentAvailable)
		}()
	}
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < convsN; i += 6 {
				queue(t, st, fmt.Sprint("u", i), []string{"geral", "vendas"}[i%2], i%3, time.Now())
				s.Assign(ctx)
			}
		}()
	}
	// Agents end chats as they go, freeing slots.
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 60 {
				endOne(t, st, fmt.Sprint("agent", w))
				s.Assign(ctx)
			}
		}()
	}
	check := make(chan struct{})
	go func() {
		defer close(check)
		for range 50 {
			checkCapacity(t, st)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	wg.Wait()
	<-check
	s.Assign(ctx)
	checkCapacity(t, st)
	sub.Close()
	<-done
	close(assignedTwice)
	for id := range assignedTwice {
		t.Errorf("conversation %d was assigned twice", id)
	}
	// Whatever is still queued is queued because its squad is full.
	queued, _ := st.Conversations().Queued(ctx)
	agents, _ := st.Agents().List(ctx)
	for _, c := range queued {
		for _, a := range agents {
			for _, sq := range a.Squads {
				if sq == c.Squad && a.OpenChats < a.MaxChats && a.Status == model.AgentAvailable {
					t.Errorf("conversation %d waits in %s while %s has a free slot (%d/%d)", c.ID, c.Squad, a.ID, a.OpenChats, a.MaxChats)
				}
			}
		}
	}
}

func endOne(t *testing.T, st store.Store, agent string) {
	ctx := context.Background()
	cs, err := st.Conversations().List(ctx, store.ConversationFilter{Agent: agent, State: model.StateAssigned, Limit: 1})
	if err != nil || len(cs) == 0 {
		return
	}
	// Someone else may end it first (a requeue): that refusal is expected.
	if _, err := st.Conversations().End(ctx, cs[0].ID, model.EndAgent); err != nil && !errors.Is(err, store.ErrIllegalTransition) {
		t.Error(err)
	}
}

func checkCapacity(t *testing.T, st store.Store) {
	agents, err := st.Agents().List(context.Background())
	if err != nil {
		t.Error(err)
		return
	}
	for _, a := range agents {
		if a.OpenChats > a.MaxChats {
			t.Errorf("agent %s has %d open chats, over their maximum %d", a.ID, a.OpenChats, a.MaxChats)
		}
	}
}

// On several nodes the presence timer runs on one of them: an agent whose
// console is open on another node stays present, because that node keeps
// the session alive; one whose console closed lapses.
func TestPresenceOfAConsoleOnAnotherNode(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	// The store stamps sessions and statuses: it keeps the same time.
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "c.db"), sqlite.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	leader := New(Options{Store: st, Now: clock, PresenceTimeout: time.Minute})
	other := New(Options{Store: st, Now: clock, PresenceTimeout: time.Minute})
	addAgent(t, st, "ana", 8, "geral")
	addAgent(t, st, "bia", 8, "geral")
	for _, id := range []string{"ana", "bia"} {
		if err := st.Sessions().Create(ctx, &store.Session{TokenHash: hashToken("token-" + id), AgentID: id, CSRFToken: "c",
			ExpiresAt: clock().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := leader.SetStatus(ctx, id, model.AgentAvailable); err != nil {
			t.Fatal(err)
		}
	}
	// Both consoles are open on the other node; only ana's stays open.
	for range 4 {
		advance(30 * time.Second)
		if err := other.KeepAlive(ctx, "token-ana"); err != nil {
			t.Fatal(err)
		}
		leader.expirePresence(ctx)
	}
	if a, _ := st.Agents().Get(ctx, "ana"); a.Status != model.AgentAvailable {
		t.Errorf("ana = %s, want available: her console is open on the other node", a.Status)
	}
	if a, _ := st.Agents().Get(ctx, "bia"); a.Status != model.AgentOffline {
		t.Errorf("bia = %s, want offline: her console closed two minutes ago", a.Status)
	}
}
