package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// testClaimConversation: claiming one conversation's outbox key by name
// (store.HeadClaimer) takes the lease Claim would, only when the key is due,
// and returns the conversation's head row, so order within it holds.
func testClaimConversation(t *testing.T, open Open) {
	claimer := func(f *fixture, tx store.Tx) store.HeadClaimer {
		f.t.Helper()
		var o store.Outbox
		if tx != nil {
			o = tx.Outbox()
		} else {
			o = f.s.Outbox()
		}
		hc, ok := o.(store.HeadClaimer)
		if !ok {
			f.t.Fatalf("%T does not implement store.HeadClaimer", o)
		}
		return hc
	}
	claim := func(f *fixture, owner string, conv int64) (store.OutboxItem, bool) {
		f.t.Helper()
		it, ok, err := claimer(f, nil).ClaimConversation(f.ctx, owner, conv, time.Minute)
		f.must(err, "ClaimConversation(%s, %d)", owner, conv)
		return it, ok
	}

	t.Run("InTheTransactionThatEnqueues", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		other := f.conversation("ig1")
		f.enqueue(other, "for someone else")
		m := outbound(c, "olá")
		var it store.OutboxItem
		var ok bool
		f.tx(func(tx store.Tx) error {
			if err := tx.Outbox().Enqueue(f.ctx, m, fmt.Sprint("idem-", f.next())); err != nil {
				return err
			}
			var err error
			it, ok, err = claimer(f, tx).ClaimConversation(f.ctx, "w1", c.ID, time.Minute)
			return err
		})
		if !ok || it.MessageID != m.ID || it.Conversation != c.ID || it.Lease.Owner != "w1" || it.Lease.Token == 0 {
			t.Fatalf("ClaimConversation = %+v, %v, want message %d leased to w1", it, ok, m.ID)
		}
		// The key is leased: the dispatchers' claim passes it over and takes
		// the other conversation only.
		items, err := f.s.Outbox().Claim(f.ctx, "w2", 10, time.Minute)
		f.must(err, "Claim")
		if len(items) != 1 || items[0].Conversation != other.ID {
			t.Errorf("Claim by another worker = %v, want only the other conversation's message", outboxIDs(items))
		}
		// The lease is a real one: the send goes through on it.
		f.must(f.s.Outbox().Begin(f.ctx, &it, false), "Begin")
		f.must(f.s.Outbox().Sent(f.ctx, &it, []string{"p-1"}), "Sent")
		f.wantStatus(m.ID, "sent")
	})

	t.Run("HeadFirst", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		first := f.enqueue(c, "first")
		f.enqueue(c, "second")
		it, ok := claim(f, "w1", c.ID)
		if !ok || it.MessageID != first.ID {
			t.Errorf("ClaimConversation = message %d, %v, want the older message %d", it.MessageID, ok, first.ID)
		}
	})

	t.Run("NotWhileLeased", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		m := f.enqueue(c, "olá")
		held := f.claimOnly("w1")
		if _, ok := claim(f, "w2", c.ID); ok {
			t.Errorf("ClaimConversation of a key w1 holds = ok, want not due")
		}
		if _, ok := claim(f, "w1", c.ID); ok {
			t.Errorf("ClaimConversation of a key its owner holds = ok, want not due (one worker per key)")
		}
		// The lease lapses: the key is due again, to whoever asks.
		f.clock.Advance(2 * time.Minute)
		it, ok := claim(f, "w2", c.ID)
		if !ok || it.MessageID != m.ID {
			t.Fatalf("ClaimConversation after the lease lapsed = %d, %v, want message %d", it.MessageID, ok, m.ID)
		}
		if err := f.s.Outbox().Begin(f.ctx, &held, false); err == nil {
			t.Errorf("Begin on the lapsed lease = nil, want ErrLeaseLost")
		}
	})

	t.Run("NotWhilePutOff", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		f.enqueue(c, "olá")
		it := f.claimOnly("w1")
		f.must(f.s.Outbox().Begin(f.ctx, &it, false), "Begin")
		f.must(f.s.Outbox().Defer(f.ctx, &it, f.clock.Now().Add(time.Minute), "waiting for the echo"), "Defer")
		if _, ok := claim(f, "w2", c.ID); ok {
			t.Errorf("ClaimConversation of a send put off for a minute = ok, want not due")
		}
		f.clock.Advance(2 * time.Minute)
		if again, ok := claim(f, "w2", c.ID); !ok || again.State != "in_flight" || again.Attempts != 1 {
			t.Errorf("ClaimConversation once due = %+v, %v, want the in-flight send with 1 attempt", again, ok)
		}
	})

	t.Run("NothingToSend", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		if _, ok := claim(f, "w1", c.ID); ok {
			t.Errorf("ClaimConversation of a conversation with no sends = ok")
		}
		f.send(c, "sent already")
		if _, ok := claim(f, "w1", c.ID); ok {
			t.Errorf("ClaimConversation once every send is done = ok")
		}
		f.wantNoClaim("w2", "with nothing left to send")
	})
}

// testClaimPartition: claiming one contact's inbox key by name
// (store.PartitionClaimer) in the transaction that stores the event takes
// the lease Claim would, only when the key is due, and returns the
// contact's oldest event not processed, so order within it holds.
func testClaimPartition(t *testing.T, open Open) {
	claimer := func(f *fixture, tx store.Tx) store.PartitionClaimer {
		f.t.Helper()
		var in store.Inbox
		if tx != nil {
			in = tx.Inbox()
		} else {
			in = f.s.Inbox()
		}
		pc, ok := in.(store.PartitionClaimer)
		if !ok {
			f.t.Fatalf("%T does not implement store.PartitionClaimer", in)
		}
		return pc
	}
	event := func(f *fixture, user string) *model.Event {
		return &model.Event{Kind: model.EventMessage, Integration: "ig1", DedupeKey: fmt.Sprint("evt-", f.next()),
			ContactID: user, MessageID: fmt.Sprint("m-", f.next())}
	}
	add := func(f *fixture, ev *model.Event) {
		f.t.Helper()
		added, err := f.s.Inbox().Add(f.ctx, ev, ev.ContactID)
		if err != nil || !added {
			f.t.Fatalf("Add(%s) = %v, %v, want a new event", ev.DedupeKey, added, err)
		}
	}
	claim := func(f *fixture, owner, partition string) (store.InboxItem, bool) {
		f.t.Helper()
		it, ok, err := claimer(f, nil).ClaimPartition(f.ctx, owner, partition, time.Minute)
		f.must(err, "ClaimPartition(%s, %s)", owner, partition)
		return it, ok
	}
	newFixture := func(t *testing.T) *fixture {
		f := setup(t, open)
		f.integration("ig1")
		return f
	}

	t.Run("InTheTransactionThatStores", func(t *testing.T) {
		f := newFixture(t)
		add(f, event(f, "other"))
		ev := event(f, "u1")
		var it store.InboxItem
		var ok bool
		f.tx(func(tx store.Tx) error {
			if _, err := tx.Inbox().Add(f.ctx, ev, "u1"); err != nil {
				return err
			}
			var err error
			it, ok, err = claimer(f, tx).ClaimPartition(f.ctx, "w1", "u1", time.Minute)
			return err
		})
		if !ok || it.Event.DedupeKey != ev.DedupeKey || it.Event.MessageID != ev.MessageID || it.Partition != "u1" ||
			it.Attempts != 0 || it.ReceivedAt.IsZero() || it.Lease.Owner != "w1" || it.Lease.Token == 0 {
			t.Fatalf("ClaimPartition = %+v, %v, want event %s leased to w1", it, ok, ev.DedupeKey)
		}
		// The key is leased: the dispatchers' claim passes it over and takes
		// the other contact only.
		items, err := f.s.Inbox().Claim(f.ctx, "w2", 10, time.Minute)
		f.must(err, "Claim")
		if len(items) != 1 || items[0].Partition != "other" {
			t.Errorf("Claim by another worker = %d items, want only the other contact's event", len(items))
		}
		// The lease is a real one: the event is completed on it.
		f.must(f.s.Inbox().Done(f.ctx, &it, "ok"), "Done")
		if n, _ := f.s.Inbox().Backlog(f.ctx); n != 1 {
			t.Errorf("Backlog after Done = %d, want 1 (the other contact's, still claimed)", n)
		}
	})

	t.Run("HeadFirst", func(t *testing.T) {
		f := newFixture(t)
		first := event(f, "u1")
		add(f, first)
		add(f, event(f, "u1"))
		it, ok := claim(f, "w1", "u1")
		if !ok || it.Event.DedupeKey != first.DedupeKey {
			t.Errorf("ClaimPartition = %s, %v, want the older event %s", it.Event.DedupeKey, ok, first.DedupeKey)
		}
	})

	t.Run("NotWhileLeased", func(t *testing.T) {
		f := newFixture(t)
		ev := event(f, "u1")
		add(f, ev)
		held, ok := claim(f, "w1", "u1")
		if !ok {
			t.Fatal("ClaimPartition of a new contact's event = not due")
		}
		add(f, event(f, "u1"))
		if _, ok := claim(f, "w2", "u1"); ok {
			t.Errorf("ClaimPartition of a key w1 holds = ok, want not due")
		}
		if _, ok := claim(f, "w1", "u1"); ok {
			t.Errorf("ClaimPartition of a key its owner holds = ok, want not due (one worker per key)")
		}
		// The lease lapses: the key is due again, to whoever asks, with the
		// same event at its head.
		f.clock.Advance(2 * time.Minute)
		it, ok := claim(f, "w2", "u1")
		if !ok || it.Event.DedupeKey != ev.DedupeKey {
			t.Fatalf("ClaimPartition after the lease lapsed = %s, %v, want %s", it.Event.DedupeKey, ok, ev.DedupeKey)
		}
		if err := f.s.Inbox().Done(f.ctx, &held, "late"); err == nil {
			t.Errorf("Done on the lapsed lease = nil, want ErrLeaseLost")
		}
	})

	t.Run("NotWhilePutOff", func(t *testing.T) {
		f := newFixture(t)
		add(f, event(f, "u1"))
		it, ok := claim(f, "w1", "u1")
		if !ok {
			t.Fatal("ClaimPartition of a new contact's event = not due")
		}
		f.must(f.s.Inbox().Retry(f.ctx, &it, f.clock.Now().Add(time.Minute), "failed"), "Retry")
		if _, ok := claim(f, "w2", "u1"); ok {
			t.Errorf("ClaimPartition of an event put off for a minute = ok, want not due")
		}
		f.clock.Advance(2 * time.Minute)
		if again, ok := claim(f, "w2", "u1"); !ok || again.Attempts != 1 {
			t.Errorf("ClaimPartition once due = %+v, %v, want the event with 1 attempt", again, ok)
		}
	})

	t.Run("NothingToProcess", func(t *testing.T) {
		f := newFixture(t)
		if _, ok := claim(f, "w1", "u1"); ok {
			t.Errorf("ClaimPartition of a contact with no events = ok")
		}
		add(f, event(f, "u1"))
		it, _ := claim(f, "w1", "u1")
		f.must(f.s.Inbox().Done(f.ctx, &it, "ok"), "Done")
		if _, ok := claim(f, "w1", "u1"); ok {
			t.Errorf("ClaimPartition once every event is processed = ok")
		}
	})
}
