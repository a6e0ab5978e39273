package engine

import (
	"context"
	"testing"
	"time"

	"github.com/conversa/conversa/core/agents"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// TestQueuedConversationsWaitForAFreeSlotAndTakeItAtOnce: with the only
// agent full, new users' conversations stay queued; the agent's chat ends
// and the longest waiting conversation is theirs at once.
func TestQueuedConversationsWaitForAFreeSlotAndTakeItAtOnce(t *testing.T) {
	ch := &fakeChannel{}
	r := startedRig(t, ch, &fakeAssistant{})
	ctx := context.Background()
	svc := agents.New(agents.Options{Store: r.st, Bus: r.e.Bus()})
	r.e.SetAssigner(svc)
	ana := &model.Agent{ID: "ana", Name: "Ana", Role: model.RoleAgent, MaxChats: 1, Squads: []string{model.DefaultSquad}}
	if err := agents.Normalize(ana); err != nil {
		t.Fatal(err)
	}
	if err := r.st.Agents().Create(ctx, ana, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetStatus(ctx, "ana", model.AgentAvailable); err != nil {
		t.Fatal(err)
	}
	// An integration without an assistant: every conversation goes to the
	// squad.
	if err := r.e.Put(ctx, &model.Integration{ID: "sq", Name: "SQ", Channel: "fake", Enabled: true,
		Squad: model.DefaultSquad, Source: model.SourceAPI}, false); err != nil {
		t.Fatal(err)
	}
	conversationOf := func(user string) *model.Conversation {
		t.Helper()
		ct, err := r.st.Contacts().ByUser(ctx, "sq", user)
		if err != nil {
			return nil
		}
		c, err := r.st.Conversations().Latest(ctx, ct.ID)
		if err != nil {
			return nil
		}
		return c
	}
	write := func(user string) {
		t.Helper()
		ch.mu.Lock()
		ch.parse = textEvents(user, "oi "+user)
		ch.mu.Unlock()
		if _, err := r.e.Webhook(ctx, "sq", WebhookRequest{Method: "POST"}); err != nil {
			t.Fatal(err)
		}
	}
	write("u1")
	eventually(t, "u1 assigned to ana", func() bool { c := conversationOf("u1"); return c != nil && c.Agent == "ana" })
	for _, u := range []string{"u2", "u3"} {
		write(u)
		eventually(t, u+" queued", func() bool { c := conversationOf(u); return c != nil && c.State == model.StateQueued })
		time.Sleep(5 * time.Millisecond) // u3 waits from a later millisecond
	}
	if _, err := r.e.End(ctx, conversationOf("u1").ID, model.EndAgent, "ana"); err != nil {
		t.Fatal(err)
	}
	if c := conversationOf("u2"); c.State != model.StateAssigned || c.Agent != "ana" {
		t.Errorf("u2's conversation once ana's slot freed = %s/%s, want assigned to ana at once", c.State, c.Agent)
	}
	if c := conversationOf("u3"); c.State != model.StateQueued {
		t.Errorf("u3's conversation = %s/%s, want still queued (ana has one slot)", c.State, c.Agent)
	}
	if n, err := r.st.Conversations().List(ctx, store.ConversationFilter{State: model.StateQueued}); err != nil || len(n) != 1 {
		t.Errorf("queued conversations = %d, %v, want 1", len(n), err)
	}
}
