package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

func testConversations(t *testing.T, open Open) {
	t.Run("Start", func(t *testing.T) { testStart(t, open) })
	t.Run("Transitions", func(t *testing.T) { testConversationTransitions(t, open) })
	t.Run("Refusals", func(t *testing.T) { testConversationRefusals(t, open) })
	t.Run("Queue", func(t *testing.T) { testQueueing(t, open) })
	t.Run("Assign", func(t *testing.T) { testAssign(t, open) })
	t.Run("Inactivity", func(t *testing.T) { testInactivity(t, open) })
	t.Run("Reads", func(t *testing.T) { testConversationReads(t, open) })
}

func testStart(t *testing.T, open Open) {
	t.Run("InBot", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		ct := f.contact("ig1")
		c := &model.Conversation{Integration: "ig1", ContactID: ct.ID, State: model.StateBot, Origin: model.OriginStoryReply}
		started, err := f.s.Conversations().Start(f.ctx, c)
		if err != nil || !started || c.ID == 0 {
			t.Fatalf("Start(bot) = %v, %v, id %d, want a new conversation", started, err, c.ID)
		}
		got := f.getConversation(c.ID)
		if got.State != model.StateBot || got.Integration != "ig1" || got.ContactID != ct.ID ||
			got.Origin != model.OriginStoryReply || !sameTime(got.StartedAt, Epoch) || got.EndedAt != nil {
			t.Errorf("Get(%d) = %+v, want bot of contact %d, story_reply, started %v", c.ID, got, ct.ID, Epoch)
		}
		for name, get := range map[string]func() (*model.Conversation, error){
			"Open":   func() (*model.Conversation, error) { return f.s.Conversations().Open(f.ctx, ct.ID) },
			"Latest": func() (*model.Conversation, error) { return f.s.Conversations().Latest(f.ctx, ct.ID) },
		} {
			if got, err := get(); err != nil || got.ID != c.ID {
				t.Errorf("%s(contact %d) = %v, %v, want conversation %d", name, ct.ID, got, err, c.ID)
			}
		}
	})

	t.Run("OpenOneIsReturned", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		ct := f.contact("ig1")
		first := f.conversationOf(ct)
		f.queue(first.ID, store.Queueing{Squad: "vendas"})
		c := &model.Conversation{Integration: "ig1", ContactID: ct.ID, State: model.StateBot, Origin: model.OriginDirect}
		started, err := f.s.Conversations().Start(f.ctx, c)
		if err != nil || started {
			t.Fatalf("Start(contact with an open conversation) = %v, %v, want false, nil", started, err)
		}
		if c.ID != first.ID || c.State != model.StateQueued || c.Squad != "vendas" {
			t.Errorf("Start(contact with an open conversation) set c to %d %s %s, want %d queued vendas", c.ID, c.State, c.Squad, first.ID)
		}
		list, err := f.s.Conversations().List(f.ctx, store.ConversationFilter{})
		f.must(err, "List")
		if len(list) != 1 {
			t.Errorf("List() after a second Start = %d conversations, want 1", len(list))
		}
	})

	t.Run("NewAfterEnd", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		ct := f.contact("ig1")
		first := f.conversationOf(ct)
		_, err := f.s.Conversations().End(f.ctx, first.ID, model.EndAssistant)
		f.must(err, "End")
		f.clock.Advance(time.Minute)
		second := f.conversationOf(ct)
		if second.ID == first.ID {
			t.Fatalf("Start after End = conversation %d, want a new one", second.ID)
		}
		if got, err := f.s.Conversations().Open(f.ctx, ct.ID); err != nil || got.ID != second.ID {
			t.Errorf("Open(contact) = %v, %v, want %d", got, err, second.ID)
		}
		if got, err := f.s.Conversations().Latest(f.ctx, ct.ID); err != nil || got.ID != second.ID {
			t.Errorf("Latest(contact) = %v, %v, want %d", got, err, second.ID)
		}
		if got := f.getConversation(first.ID); got.State != model.StateEnded {
			t.Errorf("Get(first).State = %s, want ended", got.State)
		}
	})

	t.Run("Ended", func(t *testing.T) {
		// A business echo to someone who never wrote is recorded in a
		// conversation that starts ended.
		f := setup(t, open)
		f.integration("ig1")
		ct := f.contact("ig1")
		c := &model.Conversation{Integration: "ig1", ContactID: ct.ID, State: model.StateEnded, Origin: model.OriginDirect}
		started, err := f.s.Conversations().Start(f.ctx, c)
		if err != nil || !started {
			t.Fatalf("Start(ended) = %v, %v, want a new conversation", started, err)
		}
		if got := f.getConversation(c.ID); got.State != model.StateEnded {
			t.Errorf("Get(%d).State = %s, want ended", c.ID, got.State)
		}
		_, err = f.s.Conversations().Open(f.ctx, ct.ID)
		wantIs(t, "Open(contact with only an ended conversation)", err, store.ErrNotFound)
		if got, err := f.s.Conversations().Latest(f.ctx, ct.ID); err != nil || got.ID != c.ID {
			t.Errorf("Latest(contact) = %v, %v, want %d", got, err, c.ID)
		}
		bot := f.conversationOf(ct)
		if bot.ID == c.ID {
			t.Errorf("Start(bot) after an ended start = conversation %d, want a new one", bot.ID)
		}
	})

	t.Run("NotInAnInitialState", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		ct := f.contact("ig1")
		for _, state := range []string{model.StateQueued, model.StateAssigned} {
			c := &model.Conversation{Integration: "ig1", ContactID: ct.ID, State: state, Origin: model.OriginDirect}
			if started, err := f.s.Conversations().Start(f.ctx, c); err == nil {
				t.Errorf("Start(%s) = %v, nil, want an error: %s is not an initial state", state, started, state)
			}
		}
		_, err := f.s.Conversations().Open(f.ctx, ct.ID)
		wantIs(t, "Open(contact) after refused starts", err, store.ErrNotFound)
	})
}

func testConversationTransitions(t *testing.T, open Open) {
	t.Run("QueueFromBot", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		c := f.conversation("ig1")
		at := f.clock.Advance(time.Minute)
		got, err := f.s.Conversations().Queue(f.ctx, c.ID, store.Queueing{Squad: "vendas", Priority: 3, Agent: "ana"})
		f.must(err, "Queue(bot)")
		if got.State != model.StateQueued || got.Squad != "vendas" || got.Priority != 3 || !samePtrTime(got.QueuedAt, at) {
			t.Errorf("Queue(bot) = %s %s %d queued %s, want queued vendas 3 at %v", got.State, got.Squad, got.Priority, fmtPtrTime(got.QueuedAt), at)
		}
		got = f.getConversation(c.ID)
		if got.State != model.StateQueued || got.Squad != "vendas" || got.Priority != 3 || got.PreferredAgent != "ana" || !samePtrTime(got.QueuedAt, at) {
			t.Errorf("Get after Queue = %s %s %d preferred %q queued %s, want queued vendas 3 preferred ana at %v",
				got.State, got.Squad, got.Priority, got.PreferredAgent, fmtPtrTime(got.QueuedAt), at)
		}
	})

	t.Run("QueueFromQueued", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		c := f.queued("ig1", "vendas", 0)
		got, err := f.s.Conversations().Queue(f.ctx, c.ID, store.Queueing{Squad: "suporte", KeepQueuedAt: true})
		f.must(err, "Queue(queued)")
		if got.State != model.StateQueued || got.Squad != "suporte" {
			t.Errorf("Queue(queued) = %s %s, want queued suporte", got.State, got.Squad)
		}
	})

	t.Run("QueueFromAssigned", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		f.agent("ana", 2, model.AgentAvailable)
		c := f.assigned("ig1", "ana")
		got, err := f.s.Conversations().Queue(f.ctx, c.ID, store.Queueing{Squad: "suporte"})
		f.must(err, "Queue(assigned)")
		if got.State != model.StateQueued || got.Squad != "suporte" || got.Agent != "" {
			t.Errorf("Queue(assigned) = %s %s agent %q, want queued suporte, no agent", got.State, got.Squad, got.Agent)
		}
		if a := f.getAgent("ana"); a.OpenChats != 0 {
			t.Errorf("Agents().Get(ana).OpenChats after a transfer = %d, want 0", a.OpenChats)
		}
	})

	t.Run("AssignFromQueued", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		f.agent("ana", 2, model.AgentAvailable)
		c := f.queued("ig1", model.DefaultSquad, 0)
		got, err := f.s.Conversations().Assign(f.ctx, c.ID, "ana")
		f.must(err, "Assign(queued)")
		if got.State != model.StateAssigned || got.Agent != "ana" {
			t.Errorf("Assign(queued, ana) = %s %q, want assigned ana", got.State, got.Agent)
		}
		if got := f.getConversation(c.ID); got.State != model.StateAssigned || got.Agent != "ana" {
			t.Errorf("Get after Assign = %s %q, want assigned ana", got.State, got.Agent)
		}
		if a := f.getAgent("ana"); a.OpenChats != 1 {
			t.Errorf("Agents().Get(ana).OpenChats = %d, want 1", a.OpenChats)
		}
	})

	t.Run("RequeueAgent", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		f.agent("ana", 5, model.AgentAvailable)
		f.agent("bia", 5, model.AgentAvailable)
		c1 := f.assigned("ig1", "ana")
		f.clock.Advance(time.Second)
		c2 := f.assigned("ig1", "ana")
		f.clock.Advance(time.Second)
		other := f.assigned("ig1", "bia")
		f.clock.Advance(time.Second)
		newer := f.queued("ig1", model.DefaultSquad, 0)
		f.clock.Advance(time.Minute)
		got, err := f.s.Conversations().RequeueAgent(f.ctx, "ana")
		f.must(err, "RequeueAgent(ana)")
		if ids := conversationIDs(got); !sameIDs(ids, []int64{c1.ID, c2.ID}) {
			t.Errorf("RequeueAgent(ana) = %v, want [%d %d]", ids, c1.ID, c2.ID)
		}
		for _, id := range []int64{c1.ID, c2.ID} {
			if c := f.getConversation(id); c.State != model.StateQueued || c.Agent != "" {
				t.Errorf("Get(%d) after RequeueAgent = %s %q, want queued, no agent", id, c.State, c.Agent)
			}
		}
		if c := f.getConversation(other.ID); c.State != model.StateAssigned || c.Agent != "bia" {
			t.Errorf("Get(bia's %d) after RequeueAgent(ana) = %s %q, want assigned bia", other.ID, c.State, c.Agent)
		}
		if a := f.getAgent("ana"); a.OpenChats != 0 {
			t.Errorf("Agents().Get(ana).OpenChats after RequeueAgent = %d, want 0", a.OpenChats)
		}
		// Ahead of newer arrivals: they keep the time they first waited.
		queued, err := f.s.Conversations().Queued(f.ctx)
		f.must(err, "Queued")
		if ids := conversationIDs(queued); !slices.Equal(ids, []int64{c1.ID, c2.ID, newer.ID}) {
			t.Errorf("Queued() after RequeueAgent = %v, want [%d %d %d] (requeued ahead of newer)", ids, c1.ID, c2.ID, newer.ID)
		}
	})

	ends := []struct {
		name string
		make func(f *fixture) *model.Conversation
	}{
		{"Bot", func(f *fixture) *model.Conversation { return f.conversation("ig1") }},
		{"Queued", func(f *fixture) *model.Conversation { return f.queued("ig1", model.DefaultSquad, 0) }},
		{"Assigned", func(f *fixture) *model.Conversation { return f.assigned("ig1", "ana") }},
	}
	for _, e := range ends {
		t.Run("EndFrom"+e.name, func(t *testing.T) {
			f := setup(t, open)
			f.integration("ig1")
			f.agent("ana", 2, model.AgentAvailable)
			c := e.make(f)
			at := f.clock.Advance(time.Minute)
			got, err := f.s.Conversations().End(f.ctx, c.ID, model.EndAgent)
			f.must(err, "End(%s)", c.State)
			if got.State != model.StateEnded || got.EndReason != model.EndAgent || !samePtrTime(got.EndedAt, at) {
				t.Errorf("End(%s) = %s %q ended %s, want ended agent at %v", c.State, got.State, got.EndReason, fmtPtrTime(got.EndedAt), at)
			}
			if got := f.getConversation(c.ID); got.State != model.StateEnded || got.EndReason != model.EndAgent || !samePtrTime(got.EndedAt, at) {
				t.Errorf("Get after End = %s %q ended %s, want ended agent at %v", got.State, got.EndReason, fmtPtrTime(got.EndedAt), at)
			}
			_, err = f.s.Conversations().Open(f.ctx, c.ContactID)
			wantIs(t, "Open(contact) after End", err, store.ErrNotFound)
			if a := f.getAgent("ana"); a.OpenChats != 0 {
				t.Errorf("Agents().Get(ana).OpenChats after End = %d, want 0", a.OpenChats)
			}
		})
	}

	t.Run("EndInactive", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		c := f.conversation("ig1")
		f.must(f.s.Conversations().Touch(f.ctx, c.ID, Epoch, Epoch), "Touch")
		at := f.clock.Advance(time.Hour)
		got, err := f.s.Conversations().EndInactive(f.ctx, c.ID, Epoch.Add(30*time.Minute))
		f.must(err, "EndInactive(silent since before the cutoff)")
		if got.State != model.StateEnded || got.EndReason != model.EndInactivity || !samePtrTime(got.EndedAt, at) {
			t.Errorf("EndInactive = %s %q ended %s, want ended inactivity at %v", got.State, got.EndReason, fmtPtrTime(got.EndedAt), at)
		}
	})

	t.Run("SetSession", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		c := f.conversation("ig1")
		f.must(f.s.Conversations().SetSession(f.ctx, c.ID, []byte(`{"step":2}`)), "SetSession(bot)")
		if got := f.getConversation(c.ID); string(got.Session) != `{"step":2}` {
			t.Errorf("Get after SetSession = session %q, want {\"step\":2}", got.Session)
		}
		f.must(f.s.Conversations().SetSession(f.ctx, c.ID, []byte(`{"step":3}`)), "SetSession(bot) again")
		if got := f.getConversation(c.ID); string(got.Session) != `{"step":3}` {
			t.Errorf("Get after a second SetSession = session %q, want {\"step\":3}", got.Session)
		}
	})
}

func testConversationRefusals(t *testing.T, open Open) {
	// Every refusal is checked the same way: a TransitionError naming the
	// states, and the row as it was.
	type refusal struct {
		name     string
		state    string // the conversation's state before
		from, to string // the TransitionError's
		do       func(f *fixture, id int64) error
	}
	queue := func(f *fixture, id int64) error {
		_, err := f.s.Conversations().Queue(f.ctx, id, store.Queueing{Squad: "x"})
		return err
	}
	assign := func(f *fixture, id int64) error { _, err := f.s.Conversations().Assign(f.ctx, id, "ana"); return err }
	end := func(f *fixture, id int64) error {
		_, err := f.s.Conversations().End(f.ctx, id, model.EndAdmin)
		return err
	}
	endInactive := func(f *fixture, id int64) error {
		_, err := f.s.Conversations().EndInactive(f.ctx, id, f.clock.Now().Add(time.Hour))
		return err
	}
	setSession := func(f *fixture, id int64) error { return f.s.Conversations().SetSession(f.ctx, id, []byte("s")) }
	cases := []refusal{
		{"AssignBot", model.StateBot, model.StateBot, model.StateAssigned, assign},
		{"QueueEnded", model.StateEnded, model.StateEnded, model.StateQueued, queue},
		{"AssignEnded", model.StateEnded, model.StateEnded, model.StateAssigned, assign},
		{"EndEnded", model.StateEnded, model.StateEnded, model.StateEnded, end},
		{"EndInactiveEnded", model.StateEnded, model.StateEnded, model.StateEnded, endInactive},
		// SetSession is no change of state: only the state it was in is named.
		{"SetSessionEnded", model.StateEnded, model.StateEnded, "", setSession},
		{"SetSessionQueued", model.StateQueued, model.StateQueued, "", setSession},
		{"SetSessionAssigned", model.StateAssigned, model.StateAssigned, "", setSession},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := setup(t, open)
			f.integration("ig1")
			f.agent("ana", 5, model.AgentAvailable)
			conv := f.conversation("ig1")
			f.must(f.s.Conversations().SetSession(f.ctx, conv.ID, []byte("kept")), "SetSession")
			switch c.state {
			case model.StateQueued:
				f.queue(conv.ID, store.Queueing{Squad: "vendas"})
			case model.StateAssigned:
				f.queue(conv.ID, store.Queueing{Squad: "vendas"})
				f.assign(conv.ID, "ana")
			case model.StateEnded:
				_, err := f.s.Conversations().End(f.ctx, conv.ID, model.EndAgent)
				f.must(err, "End")
			}
			before := f.getConversation(conv.ID)
			f.clock.Advance(time.Minute)
			err := c.do(f, conv.ID)
			wantTransition(t, c.name, err, c.from, c.to)
			if d := conversationDiff(before, f.getConversation(conv.ID)); d != "" {
				t.Errorf("after a refused %s the conversation changed: %s", c.name, d)
			}
		})
	}

	t.Run("EndInactiveAfterTheUserWrote", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		c := f.conversation("ig1")
		f.must(f.s.Conversations().Touch(f.ctx, c.ID, Epoch, Epoch), "Touch")
		cutoff := f.clock.Advance(30 * time.Minute)
		wrote := f.clock.Advance(time.Minute)
		f.must(f.s.Conversations().Touch(f.ctx, c.ID, wrote, wrote), "Touch(the user wrote)")
		before := f.getConversation(c.ID)
		f.clock.Advance(time.Minute)
		_, err := f.s.Conversations().EndInactive(f.ctx, c.ID, cutoff)
		wantIs(t, "EndInactive(the user wrote after the cutoff)", err, store.ErrIllegalTransition)
		if d := conversationDiff(before, f.getConversation(c.ID)); d != "" {
			t.Errorf("after a refused EndInactive the conversation changed: %s", d)
		}
	})

	t.Run("MissingConversation", func(t *testing.T) {
		f := setup(t, open)
		f.agent("ana", 5, model.AgentAvailable)
		for name, do := range map[string]func() error{
			"Queue(404)":  func() error { return queue(f, 404) },
			"Assign(404)": func() error { return assign(f, 404) },
			"End(404)":    func() error { return end(f, 404) },
		} {
			if err := do(); err == nil {
				t.Errorf("%s = nil, want an error", name)
			}
		}
	})
}

func testQueueing(t *testing.T, open Open) {
	t.Run("KeepQueuedAt", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		f.agent("ana", 2, model.AgentAvailable)
		c := f.conversation("ig1")
		first := f.clock.Advance(time.Minute)
		f.queue(c.ID, store.Queueing{Squad: "vendas"})
		f.clock.Advance(time.Minute)
		got := f.queue(c.ID, store.Queueing{Squad: "suporte", KeepQueuedAt: true})
		if !samePtrTime(got.QueuedAt, first) {
			t.Errorf("Queue(KeepQueuedAt) queued at %s, want the first %v", fmtPtrTime(got.QueuedAt), first)
		}
		f.assign(c.ID, "ana")
		f.clock.Advance(time.Minute)
		got = f.queue(c.ID, store.Queueing{Squad: "vendas", KeepQueuedAt: true})
		if !samePtrTime(got.QueuedAt, first) {
			t.Errorf("Queue(assigned, KeepQueuedAt) queued at %s, want the first %v", fmtPtrTime(got.QueuedAt), first)
		}
		if got := f.getConversation(c.ID); !samePtrTime(got.QueuedAt, first) {
			t.Errorf("Get after Queue(KeepQueuedAt) queued at %s, want the first %v", fmtPtrTime(got.QueuedAt), first)
		}
		now := f.clock.Advance(time.Minute)
		got = f.queue(c.ID, store.Queueing{Squad: "vendas"})
		if !samePtrTime(got.QueuedAt, now) {
			t.Errorf("Queue(without KeepQueuedAt) queued at %s, want now %v", fmtPtrTime(got.QueuedAt), now)
		}
	})

	t.Run("QueuedOrder", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		f.agent("ana", 2, model.AgentAvailable)
		low1 := f.queued("ig1", "vendas", 0)
		f.clock.Advance(time.Second)
		high1 := f.queued("ig1", "suporte", 5)
		f.clock.Advance(time.Second)
		low2 := f.queued("ig1", "vendas", 0)
		f.clock.Advance(time.Second)
		high2 := f.queued("ig1", "vendas", 5)
		f.clock.Advance(time.Second)
		f.conversation("ig1")                            // bot: not queued
		f.assign(f.queued("ig1", "vendas", 9).ID, "ana") // assigned: not queued
		ended := f.queued("ig1", "vendas", 9)
		_, err := f.s.Conversations().End(f.ctx, ended.ID, model.EndAdmin)
		f.must(err, "End")
		list, err := f.s.Conversations().Queued(f.ctx)
		f.must(err, "Queued")
		want := []int64{high1.ID, high2.ID, low1.ID, low2.ID}
		if ids := conversationIDs(list); !slices.Equal(ids, want) {
			t.Errorf("Queued() = %v, want %v (priority first, then longest waiting)", ids, want)
		}
	})
}

func testAssign(t *testing.T, open Open) {
	for _, status := range []string{model.AgentOffline, model.AgentPaused} {
		t.Run("Refused"+status, func(t *testing.T) {
			f := setup(t, open)
			f.integration("ig1")
			f.agent("ana", 5, status)
			c := f.queued("ig1", model.DefaultSquad, 0)
			before := f.getConversation(c.ID)
			_, err := f.s.Conversations().Assign(f.ctx, c.ID, "ana")
			wantIs(t, "Assign(to a "+status+" agent)", err, store.ErrNoCapacity)
			if d := conversationDiff(before, f.getConversation(c.ID)); d != "" {
				t.Errorf("after a refused Assign the conversation changed: %s", d)
			}
		})
	}

	t.Run("RefusedFull", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		f.agent("ana", 2, model.AgentAvailable)
		first := f.assigned("ig1", "ana")
		f.assigned("ig1", "ana")
		c := f.queued("ig1", model.DefaultSquad, 0)
		before := f.getConversation(c.ID)
		_, err := f.s.Conversations().Assign(f.ctx, c.ID, "ana")
		wantIs(t, "Assign(to a full agent)", err, store.ErrNoCapacity)
		if d := conversationDiff(before, f.getConversation(c.ID)); d != "" {
			t.Errorf("after a refused Assign the conversation changed: %s", d)
		}
		if a := f.getAgent("ana"); a.OpenChats != 2 {
			t.Errorf("Agents().Get(ana).OpenChats = %d, want 2", a.OpenChats)
		}
		// A slot frees when a chat ends.
		_, err = f.s.Conversations().End(f.ctx, first.ID, model.EndAgent)
		f.must(err, "End")
		if _, err := f.s.Conversations().Assign(f.ctx, c.ID, "ana"); err != nil {
			t.Errorf("Assign after a chat ended = %v, want nil", err)
		}
		if a := f.getAgent("ana"); a.OpenChats != 2 {
			t.Errorf("Agents().Get(ana).OpenChats = %d, want 2", a.OpenChats)
		}
	})

	t.Run("LoweredMaximum", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		a := f.agent("ana", 3, model.AgentAvailable)
		f.assigned("ig1", "ana")
		f.assigned("ig1", "ana")
		a.MaxChats = 2
		f.must(f.s.Agents().Update(f.ctx, a, ""), "Update(max 2)")
		c := f.queued("ig1", model.DefaultSquad, 0)
		_, err := f.s.Conversations().Assign(f.ctx, c.ID, "ana")
		wantIs(t, "Assign(after the maximum was lowered to the open chats)", err, store.ErrNoCapacity)
	})
}

func testInactivity(t *testing.T, open Open) {
	t.Run("Touch", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		c := f.conversation("ig1")
		t1, t2 := Epoch.Add(time.Minute), Epoch.Add(2*time.Minute)
		f.must(f.s.Conversations().Touch(f.ctx, c.ID, t2, t1), "Touch")
		steps := []struct {
			activity, inbound    time.Time
			wantActivity, wantIn time.Time
		}{
			{time.Time{}, time.Time{}, t2, t1},                          // zero: left alone
			{Epoch, Epoch, t2, t1},                                      // older: left alone
			{time.Time{}, t2.Add(time.Minute), t2, t2.Add(time.Minute)}, // only the inbound time moves
			{t2.Add(time.Hour), time.Time{}, t2.Add(time.Hour), t2.Add(time.Minute)},
		}
		for _, s := range steps {
			f.must(f.s.Conversations().Touch(f.ctx, c.ID, s.activity, s.inbound), "Touch(%v, %v)", s.activity, s.inbound)
			got := f.getConversation(c.ID)
			if !sameTime(got.LastActivityAt, s.wantActivity) || !sameTime(got.LastInboundAt, s.wantIn) {
				t.Errorf("after Touch(%v, %v): activity %v, inbound %v, want %v, %v",
					s.activity, s.inbound, got.LastActivityAt, got.LastInboundAt, s.wantActivity, s.wantIn)
			}
		}
	})

	t.Run("Inactive", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		f.integration("ig2")
		f.agent("ana", 5, model.AgentAvailable)
		silent := f.conversation("ig1")
		silentAssigned := f.assigned("ig1", "ana")
		recent := f.conversation("ig1")
		ended := f.conversation("ig1")
		elsewhere := f.conversation("ig2")
		for _, c := range []*model.Conversation{silent, silentAssigned, recent, ended, elsewhere} {
			f.must(f.s.Conversations().Touch(f.ctx, c.ID, Epoch, Epoch), "Touch")
		}
		_, err := f.s.Conversations().End(f.ctx, ended.ID, model.EndAgent)
		f.must(err, "End")
		wrote := f.clock.Advance(time.Hour)
		f.must(f.s.Conversations().Touch(f.ctx, recent.ID, wrote, wrote), "Touch(recent)")
		ids, err := f.s.Conversations().Inactive(f.ctx, "ig1", Epoch.Add(30*time.Minute))
		f.must(err, "Inactive")
		if want := []int64{silent.ID, silentAssigned.ID}; !sameIDs(ids, want) {
			t.Errorf("Inactive(ig1, cutoff) = %v, want %v", ids, want)
		}
	})
}

func testConversationReads(t *testing.T, open Open) {
	t.Run("List", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		f.integration("ig2")
		f.agent("ana", 5, model.AgentAvailable)
		bot := f.conversationOf(f.contactAs("ig1", "u-alice", store.ContactHints{Name: "Alice Liddell", Username: "alice.l"}))
		queued := f.conversationOf(f.contactAs("ig1", "u-bob", store.ContactHints{Name: "Bob", Username: "bobby"}))
		f.queue(queued.ID, store.Queueing{Squad: "vendas"})
		assigned := f.conversationOf(f.contactAs("ig2", "u-carol", store.ContactHints{Name: "Carol", Username: "carol"}))
		f.queue(assigned.ID, store.Queueing{Squad: "vendas"})
		f.assign(assigned.ID, "ana")
		ended := f.conversationOf(f.contactAs("ig1", "u-dave", store.ContactHints{Name: "Dave", Username: "dave"}))
		_, err := f.s.Conversations().End(f.ctx, ended.ID, model.EndAgent)
		f.must(err, "End")
		f.searchable()
		cases := []struct {
			name   string
			filter store.ConversationFilter
			want   []int64
		}{
			{"everything", store.ConversationFilter{}, []int64{bot.ID, queued.ID, assigned.ID, ended.ID}},
			{"state queued", store.ConversationFilter{State: model.StateQueued}, []int64{queued.ID}},
			{"state ended", store.ConversationFilter{State: model.StateEnded}, []int64{ended.ID}},
			{"integration ig2", store.ConversationFilter{Integration: "ig2"}, []int64{assigned.ID}},
			{"integration ig1 bot", store.ConversationFilter{Integration: "ig1", State: model.StateBot}, []int64{bot.ID}},
			{"agent ana", store.ConversationFilter{Agent: "ana"}, []int64{assigned.ID}},
			{"search name", store.ConversationFilter{Search: "Alice Liddell"}, []int64{bot.ID}},
			{"search username", store.ConversationFilter{Search: "bobby"}, []int64{queued.ID}},
			{"search channel id", store.ConversationFilter{Search: "u-dave"}, []int64{ended.ID}},
			{"search no match", store.ConversationFilter{Search: "Zebedee"}, nil},
		}
		for _, c := range cases {
			list, err := f.s.Conversations().List(f.ctx, c.filter)
			f.must(err, "List(%s)", c.name)
			if ids := conversationIDs(list); !sameIDs(ids, c.want) {
				t.Errorf("List(%s) = %v, want %v", c.name, ids, c.want)
			}
		}
		list, err := f.s.Conversations().List(f.ctx, store.ConversationFilter{Limit: 2})
		f.must(err, "List(limit 2)")
		if len(list) != 2 {
			t.Errorf("List(limit 2) = %d conversations, want 2", len(list))
		}
	})

	t.Run("MarkReadUnread", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		f.agent("ana", 5, model.AgentAvailable)
		c := f.assigned("ig1", "ana")
		quiet := f.assigned("ig1", "ana")
		f.inbound(c, "one", "mid.1")
		m2 := f.inbound(c, "two", "mid.2")
		f.send(c, "an answer")
		f.inbound(c, "three", "mid.3")
		unread, err := f.s.Conversations().Unread(f.ctx, []int64{c.ID, quiet.ID})
		f.must(err, "Unread")
		if unread[c.ID] != 3 || unread[quiet.ID] != 0 {
			t.Errorf("Unread() = %v, want %d: 3, %d: 0 (the user's messages only)", unread, c.ID, quiet.ID)
		}
		// A list carries the same counts, read in its own query.
		list, err := f.s.Conversations().List(f.ctx, store.ConversationFilter{Agent: "ana"})
		f.must(err, "List(agent ana)")
		for _, cv := range list {
			if cv.Unread != unread[cv.ID] {
				t.Errorf("List(): conversation %d has Unread %d, want %d as Unread() says", cv.ID, cv.Unread, unread[cv.ID])
			}
		}
		if len(list) != 2 {
			t.Errorf("List(agent ana) = %d conversations, want 2", len(list))
		}
		f.must(f.s.Conversations().MarkRead(f.ctx, c.ID, m2.ID), "MarkRead")
		unread, err = f.s.Conversations().Unread(f.ctx, []int64{c.ID})
		f.must(err, "Unread")
		if unread[c.ID] != 1 {
			t.Errorf("Unread() after MarkRead(second) = %v, want %d: 1", unread, c.ID)
		}
		// 0: everything there is now, and only that.
		f.must(f.s.Conversations().MarkRead(f.ctx, c.ID, 0), "MarkRead(0)")
		f.inbound(c, "four", "mid.4")
		unread, err = f.s.Conversations().Unread(f.ctx, []int64{c.ID})
		f.must(err, "Unread")
		if unread[c.ID] != 1 {
			t.Errorf("Unread() after MarkRead(0) and a new message = %v, want %d: 1 (the new one)", unread, c.ID)
		}
	})
}
