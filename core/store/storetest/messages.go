package storetest

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

func testMessages(t *testing.T, open Open) {
	t.Run("AddGetRoundTrip", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		c := f.conversation("ig1")
		contents := []model.Content{{Type: model.Text, Text: "olá"}, {Type: model.Image, URL: "https://cdn/x.jpg", MimeType: "image/jpeg"}}
		m := &model.Message{Conversation: c.ID, Integration: "ig1", Direction: model.DirectionIn, Author: model.AuthorContact,
			Contents: contents, Status: model.StatusReceived, ReplyTo: "mid.0", CreatedAt: Epoch}
		existing, err := f.s.Messages().Add(f.ctx, m, "mid.1", "mid.1b")
		if err != nil || existing || m.ID == 0 {
			t.Fatalf("Add(new) = %v, %v, id %d, want a new message", existing, err, m.ID)
		}
		for name, get := range map[string]func() (*model.Message, error){
			"Get":                  func() (*model.Message, error) { return f.s.Messages().Get(f.ctx, m.ID) },
			"ByProviderID(mid.1)":  func() (*model.Message, error) { return f.s.Messages().ByProviderID(f.ctx, "ig1", "mid.1") },
			"ByProviderID(mid.1b)": func() (*model.Message, error) { return f.s.Messages().ByProviderID(f.ctx, "ig1", "mid.1b") },
		} {
			got, err := get()
			f.must(err, "%s", name)
			if got.ID != m.ID || got.Conversation != c.ID || got.Integration != "ig1" || got.Direction != model.DirectionIn ||
				got.Author != model.AuthorContact || got.Status != model.StatusReceived || got.ReplyTo != "mid.0" ||
				got.ProviderMessageID != "mid.1" || got.Deleted || got.Handled || got.PossibleDuplicate {
				t.Errorf("%s = %+v, want %+v with provider id mid.1", name, got, m)
			}
			if !reflect.DeepEqual(got.Contents, contents) {
				t.Errorf("%s.Contents = %+v, want %+v", name, got.Contents, contents)
			}
		}
	})

	t.Run("AddKnownProviderIDStoresNothing", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		c := f.conversation("ig1")
		first := f.inbound(c, "first", "mid.1")
		f.clock.Advance(time.Minute)
		again := &model.Message{Conversation: c.ID, Integration: "ig1", Direction: model.DirectionIn, Author: model.AuthorContact,
			Contents: text("redelivered"), Status: model.StatusReceived}
		existing, err := f.s.Messages().Add(f.ctx, again, "mid.new", "mid.1")
		if err != nil || !existing {
			t.Fatalf("Add(known provider id) = %v, %v, want existing", existing, err)
		}
		if again.ID != first.ID || !reflect.DeepEqual(again.Contents, first.Contents) {
			t.Errorf("Add(known provider id) set m to %d %v, want the stored %d %v", again.ID, again.Contents, first.ID, first.Contents)
		}
		list, err := f.s.Messages().List(f.ctx, c.ID)
		f.must(err, "List")
		if len(list) != 1 {
			t.Errorf("List() after a redelivery = %v, want one message", messageIDs(list))
		}
		_, err = f.s.Messages().ByProviderID(f.ctx, "ig1", "mid.new")
		wantIs(t, "ByProviderID(the redelivery's other id)", err, store.ErrNotFound)
	})

	t.Run("ProviderIDsArePerIntegration", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		f.integration("ig2")
		a := f.inbound(f.conversation("ig1"), "a", "mid.1")
		b := f.inbound(f.conversation("ig2"), "b", "mid.1")
		if a.ID == b.ID {
			t.Errorf("Add(mid.1) in two integrations = one message %d, want two", a.ID)
		}
		if got, err := f.s.Messages().ByProviderID(f.ctx, "ig2", "mid.1"); err != nil || got.ID != b.ID {
			t.Errorf("ByProviderID(ig2, mid.1) = %v, %v, want %d", got, err, b.ID)
		}
	})

	t.Run("AddProviderIDs", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		c := f.conversation("ig1")
		m := f.inbound(c, "no id yet")
		f.must(f.s.Messages().AddProviderIDs(f.ctx, "ig1", m.ID, "p1", "p2"), "AddProviderIDs(p1, p2)")
		if got := f.getMessage(m.ID); got.ProviderMessageID != "p1" {
			t.Errorf("ProviderMessageID after AddProviderIDs(p1, p2) = %q, want p1", got.ProviderMessageID)
		}
		f.must(f.s.Messages().AddProviderIDs(f.ctx, "ig1", m.ID, "p3"), "AddProviderIDs(p3)")
		if got := f.getMessage(m.ID); got.ProviderMessageID != "p1" {
			t.Errorf("ProviderMessageID after AddProviderIDs(p3) = %q, want p1 kept", got.ProviderMessageID)
		}
		for _, id := range []string{"p1", "p2", "p3"} {
			if got, err := f.s.Messages().ByProviderID(f.ctx, "ig1", id); err != nil || got.ID != m.ID {
				t.Errorf("ByProviderID(%s) = %v, %v, want %d", id, got, err, m.ID)
			}
		}
	})

	t.Run("ListOldestFirstWithReactions", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		c := f.conversation("ig1")
		other := f.conversation("ig1")
		m1 := f.inbound(c, "one", "mid.1")
		f.clock.Advance(time.Second)
		f.inbound(other, "elsewhere", "mid.x")
		m2 := f.inbound(c, "two", "mid.2")
		f.clock.Advance(time.Second)
		m3 := f.send(c, "three")
		f.must(f.s.Messages().SetReaction(f.ctx, m2.ID, model.AuthorContact, "❤️", Epoch), "SetReaction")
		list, err := f.s.Messages().List(f.ctx, c.ID)
		f.must(err, "List")
		if ids := messageIDs(list); !slices.Equal(ids, []int64{m1.ID, m2.ID, m3.ID}) {
			t.Fatalf("List() = %v, want [%d %d %d]", ids, m1.ID, m2.ID, m3.ID)
		}
		if len(list[0].Reactions) != 0 || len(list[2].Reactions) != 0 {
			t.Errorf("List() reactions on unreacted messages: %v, %v", list[0].Reactions, list[2].Reactions)
		}
		if r := list[1].Reactions; len(r) != 1 || r[0].Emoji != "❤️" || r[0].By != model.AuthorContact {
			t.Errorf("List()[1].Reactions = %+v, want ❤️ by contact", r)
		}
		// One message read alone carries its reactions too (the live event
		// about a reaction is made of it).
		got, err := f.s.Messages().Get(f.ctx, m2.ID)
		f.must(err, "Get")
		if r := got.Reactions; len(r) != 1 || r[0].Emoji != "❤️" || r[0].By != model.AuthorContact {
			t.Errorf("Get(%d).Reactions = %+v, want ❤️ by contact", m2.ID, r)
		}
		if got, err := f.s.Messages().Get(f.ctx, m1.ID); err != nil || len(got.Reactions) != 0 {
			t.Errorf("Get(%d) of an unreacted message = %+v, %v; want no reactions", m1.ID, got, err)
		}
	})

	t.Run("SetReactionReplacesAndRemoves", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		c := f.conversation("ig1")
		m := f.inbound(c, "hi", "mid.1")
		reactions := func() map[string]string {
			list, err := f.s.Messages().List(f.ctx, c.ID)
			f.must(err, "List")
			got := map[string]string{}
			for _, r := range list[0].Reactions {
				if _, dup := got[r.By]; dup {
					t.Errorf("two reactions by %s: %v", r.By, list[0].Reactions)
				}
				got[r.By] = r.Emoji
			}
			return got
		}
		steps := []struct {
			by, emoji string
			want      map[string]string
		}{
			{model.AuthorContact, "❤️", map[string]string{model.AuthorContact: "❤️"}},
			{model.AuthorContact, "👍", map[string]string{model.AuthorContact: "👍"}},
			{model.AgentAuthor("ana"), "😂", map[string]string{model.AuthorContact: "👍", model.AgentAuthor("ana"): "😂"}},
			{model.AuthorContact, "", map[string]string{model.AgentAuthor("ana"): "😂"}},
		}
		for _, s := range steps {
			f.must(f.s.Messages().SetReaction(f.ctx, m.ID, s.by, s.emoji, f.clock.Advance(time.Second)), "SetReaction(%s, %q)", s.by, s.emoji)
			if got := reactions(); !reflect.DeepEqual(got, s.want) {
				t.Errorf("reactions after SetReaction(%s, %q) = %v, want %v", s.by, s.emoji, got, s.want)
			}
		}
	})

	t.Run("MarkDeletedKeepsTheFirstTime", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		m := f.inbound(f.conversation("ig1"), "oops", "mid.1")
		t1, t2 := Epoch.Add(time.Minute), Epoch.Add(2*time.Minute)
		f.must(f.s.Messages().MarkDeleted(f.ctx, m.ID, t1), "MarkDeleted(t1)")
		f.must(f.s.Messages().MarkDeleted(f.ctx, m.ID, t2), "MarkDeleted(t2)")
		got := f.getMessage(m.ID)
		if !got.Deleted || !samePtrTime(got.DeletedAt, t1) {
			t.Errorf("after MarkDeleted(t1), MarkDeleted(t2): deleted %v at %s, want true at %v", got.Deleted, fmtPtrTime(got.DeletedAt), t1)
		}
	})

	t.Run("Edit", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		m := f.inbound(f.conversation("ig1"), "helo", "mid.1")
		at := Epoch.Add(time.Minute)
		f.must(f.s.Messages().Edit(f.ctx, m.ID, text("hello"), at), "Edit")
		got := f.getMessage(m.ID)
		if !reflect.DeepEqual(got.Contents, text("hello")) || !samePtrTime(got.EditedAt, at) {
			t.Errorf("after Edit: %v edited at %s, want hello at %v", got.Contents, fmtPtrTime(got.EditedAt), at)
		}
	})

	t.Run("MarkHandled", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		m := f.inbound(f.conversation("ig1"), "hi", "mid.1")
		f.must(f.s.Messages().MarkHandled(f.ctx, m.ID), "MarkHandled")
		if got := f.getMessage(m.ID); !got.Handled {
			t.Errorf("Get after MarkHandled: Handled false, want true")
		}
	})

	t.Run("SetStatus", func(t *testing.T) { testSetStatus(t, open) })
	t.Run("MarkReadUpTo", func(t *testing.T) { testMarkReadUpTo(t, open) })
}

// testSetStatus walks SendMachine from sent: delivery reports only move
// forward, and failed is final.
func testSetStatus(t *testing.T, open Open) {
	f := setup(t, open)
	f.integration("ig1")
	c := f.conversation("ig1")
	const (
		sent, delivered, read, failed = model.StatusSent, model.StatusDelivered, model.StatusRead, model.StatusFailed
		pending, inFlight             = model.StatusPending, model.StatusInFlight
	)
	cases := []struct {
		before []string // from sent
		to     string
		ok     bool
	}{
		{nil, delivered, true},
		{[]string{delivered}, read, true},
		{nil, read, true},
		{nil, failed, true},
		{[]string{delivered}, failed, true},
		{[]string{read}, failed, true},
		{[]string{read}, delivered, false},
		{[]string{read}, sent, false},
		{[]string{delivered}, sent, false},
		{[]string{delivered}, delivered, false},
		{nil, sent, false},
		{nil, pending, false},
		{nil, inFlight, false},
		{[]string{failed}, sent, false},
		{[]string{failed}, delivered, false},
		{[]string{failed}, read, false},
		{[]string{failed}, failed, false},
		{[]string{failed}, pending, false},
	}
	for _, tc := range cases {
		from := sent
		if len(tc.before) > 0 {
			from = tc.before[len(tc.before)-1]
		}
		t.Run(from+"_to_"+tc.to, func(t *testing.T) {
			f := f.as(t)
			m := f.send(c, from+" to "+tc.to)
			f.setStatus(m.ID, tc.before...)
			err := f.s.Messages().SetStatus(f.ctx, m.ID, tc.to, "provider says so")
			want := tc.to
			if tc.ok {
				if err != nil {
					t.Errorf("SetStatus(%s -> %s) = %v, want nil", from, tc.to, err)
				}
			} else {
				wantTransition(t, "SetStatus("+from+" -> "+tc.to+")", err, from, tc.to)
				var te *model.TransitionError
				if errors.As(err, &te) && te.ID != m.ID {
					t.Errorf("SetStatus(%s -> %s) TransitionError.ID = %d, want %d", from, tc.to, te.ID, m.ID)
				}
				want = from
			}
			got := f.getMessage(m.ID)
			if got.Status != want {
				t.Errorf("status after SetStatus(%s -> %s) = %s, want %s", from, tc.to, got.Status, want)
			}
			if tc.ok && tc.to == failed && got.Error != "provider says so" {
				t.Errorf("Error after SetStatus(failed) = %q, want the error text", got.Error)
			}
		})
	}
}

func testMarkReadUpTo(t *testing.T, open Open) {
	f := setup(t, open)
	f.integration("ig1")
	c := f.conversation("ig1")
	other := f.conversation("ig1")
	in := f.inbound(c, "hi", "mid.1")
	sent := f.send(c, "sent")
	delivered := f.send(c, "delivered")
	f.setStatus(delivered.ID, model.StatusDelivered)
	alreadyRead := f.send(c, "read")
	f.setStatus(alreadyRead.ID, model.StatusRead)
	elsewhere := f.send(other, "another conversation")
	failed := f.failSend(c, "failed")
	upTo := failed.ID
	later := f.send(c, "after the read mark")
	// Last, as nothing after them can be sent: an attempt whose outcome
	// is unknown, and a message waiting behind it.
	inFlight := f.enqueue(c, "in flight")
	it := f.claimOnly("w")
	f.must(f.s.Outbox().Begin(f.ctx, &it, false), "Begin")
	f.must(f.s.Outbox().Defer(f.ctx, &it, f.clock.Now().Add(time.Hour), "timeout"), "Defer")
	pending := f.enqueue(c, "pending")

	status := func(id int64) string { return f.getMessage(id).Status }
	n, err := f.s.Messages().MarkReadUpTo(f.ctx, c.ID, upTo)
	if err != nil || n != 2 {
		t.Errorf("MarkReadUpTo(%d) = %d, %v, want 2 (one sent, one delivered)", upTo, n, err)
	}
	want := map[int64]string{
		in.ID: model.StatusReceived, sent.ID: model.StatusRead, delivered.ID: model.StatusRead,
		alreadyRead.ID: model.StatusRead, elsewhere.ID: model.StatusSent, failed.ID: model.StatusFailed,
		later.ID: model.StatusSent, inFlight.ID: model.StatusInFlight, pending.ID: model.StatusPending,
	}
	for id, w := range want {
		if got := status(id); got != w {
			t.Errorf("message %d after MarkReadUpTo(%d) = %s, want %s", id, upTo, got, w)
		}
	}
	n, err = f.s.Messages().MarkReadUpTo(f.ctx, c.ID, pending.ID)
	if err != nil || n != 1 {
		t.Errorf("MarkReadUpTo(%d) = %d, %v, want 1 (the later sent one)", pending.ID, n, err)
	}
	want[later.ID] = model.StatusRead
	for id, w := range want {
		if got := status(id); got != w {
			t.Errorf("message %d after MarkReadUpTo(%d) = %s, want %s", id, pending.ID, got, w)
		}
	}
}
