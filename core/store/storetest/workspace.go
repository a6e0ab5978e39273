package storetest

import (
	"slices"
	"testing"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// The agent's workspace: labels, canned responses, private notes and a
// contact's conversations.

func testLabels(t *testing.T, open Open) {
	t.Run("SetReplacesAndGetReturnsThemSorted", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		c := f.conversation("ig1")
		if got := f.getConversation(c.ID).Labels; got == nil || len(got) != 0 {
			t.Errorf("Labels of a new conversation = %#v, want an empty list", got)
		}
		f.must(f.s.Labels().Set(f.ctx, c.ID, []string{"vip", "billing", "vip"}), "Labels().Set")
		if got := f.getConversation(c.ID).Labels; !slices.Equal(got, []string{"billing", "vip"}) {
			t.Errorf("Labels = %v, want [billing vip] (sorted, once each)", got)
		}
		f.must(f.s.Labels().Set(f.ctx, c.ID, []string{"refund"}), "Labels().Set again")
		if got := f.getConversation(c.ID).Labels; !slices.Equal(got, []string{"refund"}) {
			t.Errorf("Labels after a second Set = %v, want [refund]: Set replaces", got)
		}
		f.must(f.s.Labels().Set(f.ctx, c.ID, nil), "Labels().Set(nil)")
		if got := f.getConversation(c.ID).Labels; len(got) != 0 {
			t.Errorf("Labels after Set(nil) = %v, want none", got)
		}
	})

	t.Run("UnknownConversation", func(t *testing.T) {
		f := setup(t, open)
		wantIs(t, "Labels().Set(unknown)", f.s.Labels().Set(f.ctx, 999, []string{"x"}), store.ErrNotFound)
	})

	t.Run("FilterAndCounts", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		f.agent("ana", 5, model.AgentAvailable)
		a := f.assigned("ig1", "ana")
		b := f.conversation("ig1")
		c := f.conversation("ig1")
		f.must(f.s.Labels().Set(f.ctx, a.ID, []string{"vip", "billing"}), "Set a")
		f.must(f.s.Labels().Set(f.ctx, b.ID, []string{"vip"}), "Set b")
		_ = c
		got, err := f.s.Conversations().List(f.ctx, store.ConversationFilter{Label: "vip"})
		f.must(err, "List(label vip)")
		if !sameIDs(conversationIDs(got), []int64{a.ID, b.ID}) {
			t.Errorf("List(label vip) = %v, want %v", conversationIDs(got), []int64{a.ID, b.ID})
		}
		for _, cv := range got {
			if !slices.Contains(cv.Labels, "vip") {
				t.Errorf("conversation %d listed without its labels: %v", cv.ID, cv.Labels)
			}
		}
		counts, err := f.s.Labels().Counts(f.ctx, "")
		f.must(err, "Counts")
		if want := []store.LabelCount{{Name: "billing", Count: 1}, {Name: "vip", Count: 2}}; !slices.Equal(counts, want) {
			t.Errorf("Counts() = %v, want %v", counts, want)
		}
		counts, err = f.s.Labels().Counts(f.ctx, "ana")
		f.must(err, "Counts(ana)")
		if want := []store.LabelCount{{Name: "billing", Count: 1}, {Name: "vip", Count: 1}}; !slices.Equal(counts, want) {
			t.Errorf("Counts(ana) = %v, want %v: only ana's conversations", counts, want)
		}
		// Labels taken off count no more; a label no one carries is gone.
		f.must(f.s.Labels().Set(f.ctx, a.ID, []string{"vip"}), "Set a again")
		f.must(f.s.Labels().Set(f.ctx, b.ID, nil), "Set b empty")
		counts, err = f.s.Labels().Counts(f.ctx, "")
		f.must(err, "Counts")
		if want := []store.LabelCount{{Name: "vip", Count: 1}}; !slices.Equal(counts, want) {
			t.Errorf("Counts() after relabelling = %v, want %v", counts, want)
		}
	})

	t.Run("RolledBackWithItsTransaction", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		c := f.conversation("ig1")
		err := f.s.Tx(f.ctx, func(tx store.Tx) error {
			if err := tx.Labels().Set(f.ctx, c.ID, []string{"vip"}); err != nil {
				return err
			}
			return errAbort
		})
		wantIs(t, "Tx", err, errAbort)
		if got := f.getConversation(c.ID).Labels; len(got) != 0 {
			t.Errorf("Labels after a rolled back Set = %v, want none", got)
		}
	})
}

func testCannedResponses(t *testing.T, open Open) {
	t.Run("CreateGetUpdateDelete", func(t *testing.T) {
		f := setup(t, open)
		r := &model.CannedResponse{Shortcut: "hours", Text: "We open 9 to 18.", Squad: ""}
		f.must(f.s.CannedResponses().Create(f.ctx, r), "Create")
		if r.ID == 0 || !sameTime(r.CreatedAt, Epoch) {
			t.Fatalf("Create set id %d, created %v; want an id and the store's time", r.ID, r.CreatedAt)
		}
		got, err := f.s.CannedResponses().Get(f.ctx, r.ID)
		f.must(err, "Get")
		if got.Shortcut != "hours" || got.Text != "We open 9 to 18." || got.Squad != "" {
			t.Errorf("Get = %+v", got)
		}
		at := f.clock.Advance(60e9)
		up := &model.CannedResponse{ID: r.ID, Shortcut: "open", Text: "9 to 18", Squad: "vendas"}
		f.must(f.s.CannedResponses().Update(f.ctx, up), "Update")
		if up.Shortcut != "open" || up.Squad != "vendas" || !sameTime(up.UpdatedAt, at) || !sameTime(up.CreatedAt, Epoch) {
			t.Errorf("Update left %+v, want the new fields, updated_at %v and created_at kept", up, at)
		}
		f.must(f.s.CannedResponses().Delete(f.ctx, r.ID), "Delete")
		_, err = f.s.CannedResponses().Get(f.ctx, r.ID)
		wantIs(t, "Get after Delete", err, store.ErrNotFound)
		wantIs(t, "Delete again", f.s.CannedResponses().Delete(f.ctx, r.ID), store.ErrNotFound)
		wantIs(t, "Update unknown", f.s.CannedResponses().Update(f.ctx, &model.CannedResponse{ID: 999, Shortcut: "x", Text: "y"}),
			store.ErrNotFound)
	})

	t.Run("ShortcutUniquePerSquad", func(t *testing.T) {
		f := setup(t, open)
		a := &model.CannedResponse{Shortcut: "hi", Text: "Hello!"}
		f.must(f.s.CannedResponses().Create(f.ctx, a), "Create hi")
		wantIs(t, "Create hi again", f.s.CannedResponses().Create(f.ctx, &model.CannedResponse{Shortcut: "hi", Text: "x"}),
			store.ErrConflict)
		b := &model.CannedResponse{Shortcut: "hi", Text: "Olá!", Squad: "vendas"}
		f.must(f.s.CannedResponses().Create(f.ctx, b), "Create hi for another squad")
		c := &model.CannedResponse{Shortcut: "bye", Text: "Bye"}
		f.must(f.s.CannedResponses().Create(f.ctx, c), "Create bye")
		wantIs(t, "Update bye to hi", f.s.CannedResponses().Update(f.ctx, &model.CannedResponse{ID: c.ID, Shortcut: "hi", Text: "x"}),
			store.ErrConflict)
		// A refused write leaves a transaction usable.
		f.tx(func(tx store.Tx) error {
			if err := tx.CannedResponses().Create(f.ctx, &model.CannedResponse{Shortcut: "hi", Text: "x"}); err == nil {
				t.Errorf("Create hi in a Tx succeeded, want ErrConflict")
			}
			return tx.CannedResponses().Create(f.ctx, &model.CannedResponse{Shortcut: "thanks", Text: "Thanks"})
		})
		all, err := f.s.CannedResponses().List(f.ctx, nil, true)
		f.must(err, "List all")
		if len(all) != 4 {
			t.Errorf("List(all) has %d, want 4", len(all))
		}
	})

	t.Run("ListBySquads", func(t *testing.T) {
		f := setup(t, open)
		for _, r := range []*model.CannedResponse{
			{Shortcut: "b", Text: "everyone"}, {Shortcut: "a", Text: "sales", Squad: "vendas"}, {Shortcut: "c", Text: "support", Squad: "suporte"},
		} {
			f.must(f.s.CannedResponses().Create(f.ctx, r), "Create %s", r.Shortcut)
		}
		shortcuts := func(squads []string, all bool) []string {
			rs, err := f.s.CannedResponses().List(f.ctx, squads, all)
			f.must(err, "List(%v, %v)", squads, all)
			var out []string
			for _, r := range rs {
				out = append(out, r.Shortcut)
			}
			return out
		}
		if got := shortcuts([]string{"vendas"}, false); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("List(vendas) = %v, want [a b]", got)
		}
		if got := shortcuts(nil, false); !slices.Equal(got, []string{"b"}) {
			t.Errorf("List(no squad) = %v, want [b]: only those for everyone", got)
		}
		if got := shortcuts(nil, true); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Errorf("List(all) = %v, want [a b c]", got)
		}
	})
}

func testWorkspaceMessages(t *testing.T, open Open) {
	t.Run("PrivateNoteKept", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		c := f.conversation("ig1")
		n := &model.Message{Conversation: c.ID, Integration: c.Integration, Direction: model.DirectionOut,
			Author: model.AgentAuthor("ana"), Status: model.StatusInternal, Private: true, Contents: text("call her back")}
		if _, err := f.s.Messages().Add(f.ctx, n); err != nil {
			t.Fatal(err)
		}
		if got := f.getMessage(n.ID); !got.Private || got.Status != model.StatusInternal {
			t.Errorf("Get(note) = private %v status %s, want private internal", got.Private, got.Status)
		}
		m := f.inbound(c, "hello")
		if got := f.getMessage(m.ID); got.Private {
			t.Errorf("an inbound message came back private")
		}
		list, err := f.s.Messages().List(f.ctx, c.ID)
		f.must(err, "List")
		if len(list) != 2 || !list[0].Private || list[1].Private {
			t.Errorf("List = %+v, want the note (private) then the message", list)
		}
	})

	t.Run("ContactConversations", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		ct := f.contact("ig1")
		first := f.conversationOf(ct)
		_, err := f.s.Conversations().End(f.ctx, first.ID, model.EndAgent)
		f.must(err, "End")
		f.clock.Advance(3600e9)
		second := f.conversationOf(ct)
		other := f.conversation("ig1")
		got, err := f.s.Conversations().List(f.ctx, store.ConversationFilter{Contact: ct.ID})
		f.must(err, "List(contact)")
		if !slices.Equal(conversationIDs(got), []int64{second.ID, first.ID}) {
			t.Errorf("List(contact) = %v, want %v (newest first, ended too, not %d)", conversationIDs(got),
				[]int64{second.ID, first.ID}, other.ID)
		}
	})
}
