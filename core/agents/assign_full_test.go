package agents

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// listCounting is a store that counts how often the queue is listed.
type listCounting struct {
	store.Store
	lists *atomic.Int64
}

func (s listCounting) Conversations() store.Conversations {
	return countingConversations{s.Store.Conversations(), s.lists}
}

type countingConversations struct {
	store.Conversations
	lists *atomic.Int64
}

func (c countingConversations) Queued(ctx context.Context) ([]*model.Conversation, error) {
	c.lists.Add(1)
	return c.Conversations.Queued(ctx)
}

func TestAssignSkipsTheQueueWhileEveryAgentIsFullAndAssignsOnceASlotFrees(t *testing.T) {
	base := openStore(t)
	ctx := context.Background()
	var lists atomic.Int64
	st := listCounting{base, &lists}
	s := New(Options{Store: st})
	addAgent(t, st, "ana", 1, "geral")
	if _, err := s.SetStatus(ctx, "ana", model.AgentAvailable); err != nil {
		t.Fatal(err)
	}
	first := queue(t, st, "u0", "geral", 0, time.Now())
	s.Assign(ctx)
	if got := conversation(t, st, first).Agent; got != "ana" {
		t.Fatalf("first conversation went to %q, want ana", got)
	}

	lists.Store(0)
	var waiting []int64
	for i := range 5 {
		waiting = append(waiting, queue(t, st, fmt.Sprint("u", i+1), "geral", 0, time.Now()))
		s.Assign(ctx)
	}
	if n := lists.Load(); n != 0 {
		t.Errorf("the queue was listed %d times while the only agent was full, want 0", n)
	}
	for _, id := range waiting {
		if c := conversation(t, st, id); c.State != model.StateQueued {
			t.Fatalf("conversation %d is %s/%s while ana is full, want queued", id, c.State, c.Agent)
		}
	}

	// Ana's chat ends: her slot frees, and the longest waiting goes to her.
	if _, err := st.Conversations().End(ctx, first, model.EndAgent); err != nil {
		t.Fatal(err)
	}
	s.Assign(ctx)
	if n := lists.Load(); n != 1 {
		t.Errorf("the queue was listed %d times once a slot freed, want 1", n)
	}
	if got := conversation(t, st, waiting[0]).Agent; got != "ana" {
		t.Errorf("the longest waiting conversation went to %q, want ana", got)
	}
	for _, id := range waiting[1:] {
		if c := conversation(t, st, id); c.State != model.StateQueued {
			t.Errorf("conversation %d is %s/%s, want still queued (ana has one slot)", id, c.State, c.Agent)
		}
	}
}

// BenchmarkAssignWhileFull measures one Assign call while every agent is
// full, with a queue of 2,000 conversations waiting: what each queued event
// cost under load before Assign looked at the agents first.
//
//	go test ./core/agents -run XXX -bench AssignWhileFull -benchmem
func BenchmarkAssignWhileFull(b *testing.B) {
	st := openStore(b)
	ctx := context.Background()
	s := New(Options{Store: st})
	addAgent(b, st, "ana", 1, "geral")
	if _, err := s.SetStatus(ctx, "ana", model.AgentAvailable); err != nil {
		b.Fatal(err)
	}
	queue(b, st, "busy", "geral", 0, time.Now())
	s.Assign(ctx)
	for i := range 2000 {
		queue(b, st, fmt.Sprint("u", i), "geral", 0, time.Now())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s.Assign(ctx)
	}
}
