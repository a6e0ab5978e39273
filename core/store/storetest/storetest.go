package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// Open returns a new, empty store whose clock is now (the suite moves time
// through it: lease expiry, inactivity). It is closed by the suite.
type Open func(t *testing.T, now func() time.Time) store.Store

// Test runs every contract against stores from open.
func Test(t *testing.T, open Open) {
	t.Run("Store", func(t *testing.T) { testStore(t, open) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, open) })
	t.Run("Integrations", func(t *testing.T) { testIntegrations(t, open) })
	t.Run("Contacts", func(t *testing.T) { testContacts(t, open) })
	t.Run("Agents", func(t *testing.T) { testAgents(t, open) })
	t.Run("FirstAgent", func(t *testing.T) { testFirstAgent(t, open) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, open) })
	t.Run("Conversations", func(t *testing.T) { testConversations(t, open) })
	t.Run("Reports", func(t *testing.T) { testReports(t, open) })
	t.Run("Messages", func(t *testing.T) { testMessages(t, open) })
	t.Run("Search", func(t *testing.T) { testSearch(t, open) })
	t.Run("ContactSearch", func(t *testing.T) { testContactSearch(t, open) })
	t.Run("Inbox", func(t *testing.T) { testInbox(t, open) })
	t.Run("Outbox", func(t *testing.T) { testOutbox(t, open) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, open) })
	t.Run("Labels", func(t *testing.T) { testLabels(t, open) })
	t.Run("CannedResponses", func(t *testing.T) { testCannedResponses(t, open) })
	t.Run("Workspace", func(t *testing.T) { testWorkspaceMessages(t, open) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open) })
	t.Run("Deliveries", func(t *testing.T) { testDeliveries(t, open) })
	t.Run("PluginTrust", func(t *testing.T) { testPluginTrust(t, open) })
	t.Run("Unsynced", func(t *testing.T) { testUnsynced(t, open) })
	t.Run("ClaimConversation", func(t *testing.T) { testClaimConversation(t, open) })
	t.Run("ClaimPartition", func(t *testing.T) { testClaimPartition(t, open) })
	t.Run("ReserveIDs", func(t *testing.T) { testReserveIDs(t, open) })
}

var errAbort = errors.New("storetest: abort the transaction")

func testStore(t *testing.T, open Open) {
	t.Run("NowIsTheClock", func(t *testing.T) {
		f := setup(t, open)
		if got := f.s.Now(); !sameTime(got, Epoch) {
			t.Errorf("Now() = %v, want %v", got, Epoch)
		}
		at := f.clock.Advance(time.Hour)
		if got := f.s.Now(); !sameTime(got, at) {
			t.Errorf("Now() after the clock moved = %v, want %v", got, at)
		}
		var txNow time.Time
		f.tx(func(tx store.Tx) error {
			txNow = tx.Now()
			return tx.Integrations().Put(f.ctx, &model.Integration{ID: "ig1", Name: "x", Channel: "fake",
				Squad: model.DefaultSquad, Source: model.SourceAPI})
		})
		if !sameTime(txNow, at) {
			t.Errorf("Tx.Now() = %v, want %v", txNow, at)
		}
		in, err := f.s.Integrations().Get(f.ctx, "ig1")
		f.must(err, "Integrations().Get")
		if !sameTime(in.CreatedAt, at) {
			t.Errorf("CreatedAt of a row written in a Tx = %v, want the Tx's time %v", in.CreatedAt, at)
		}
	})

	t.Run("TxCommitsAcrossAggregates", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		var seen bool
		f.tx(func(tx store.Tx) error {
			seen = false
			if err := tx.Agents().Create(f.ctx, &model.Agent{ID: "ana", Login: "ana", Name: "Ana", Role: model.RoleAgent, MaxChats: 2}, "h"); err != nil {
				return err
			}
			if _, err := tx.Contacts().Upsert(f.ctx, "ig1", "u1", store.ContactHints{Name: "Zé"}, tx.Now()); err != nil {
				return err
			}
			// A transaction reads its own writes.
			if _, err := tx.Agents().Get(f.ctx, "ana"); err != nil {
				return err
			}
			_, err := tx.Contacts().ByUser(f.ctx, "ig1", "u1")
			seen = err == nil
			return err
		})
		if !seen {
			t.Errorf("Contacts().ByUser inside the Tx that created it: not found")
		}
		if _, err := f.s.Agents().Get(f.ctx, "ana"); err != nil {
			t.Errorf("Agents().Get(ana) after commit = %v, want the agent", err)
		}
		if _, err := f.s.Contacts().ByUser(f.ctx, "ig1", "u1"); err != nil {
			t.Errorf("Contacts().ByUser(ig1, u1) after commit = %v, want the contact", err)
		}
	})

	t.Run("TxErrorCommitsNothing", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		c := f.conversation("ig1")
		err := f.s.Tx(f.ctx, func(tx store.Tx) error {
			if err := tx.Agents().Create(f.ctx, &model.Agent{ID: "ana", Login: "ana", Name: "Ana", Role: model.RoleAgent, MaxChats: 2}, "h"); err != nil {
				return err
			}
			if _, err := tx.Contacts().Upsert(f.ctx, "ig1", "u-rolled-back", store.ContactHints{}, tx.Now()); err != nil {
				return err
			}
			if _, err := tx.Conversations().Queue(f.ctx, c.ID, store.Queueing{Squad: "s"}); err != nil {
				return err
			}
			if err := tx.Outbox().Enqueue(f.ctx, outbound(c, "never"), "idem-rolled-back"); err != nil {
				return err
			}
			if _, err := tx.Inbox().Add(f.ctx, &model.Event{Kind: model.EventMessage, DedupeKey: "d1", Integration: "ig1"}, "u1"); err != nil {
				return err
			}
			return errAbort
		})
		wantIs(t, "Tx(fn returning an error)", err, errAbort)
		wantIs(t, "Agents().Get(ana) after a rolled back Tx", func() error { _, err := f.s.Agents().Get(f.ctx, "ana"); return err }(), store.ErrNotFound)
		wantIs(t, "Contacts().ByUser after a rolled back Tx", func() error {
			_, err := f.s.Contacts().ByUser(f.ctx, "ig1", "u-rolled-back")
			return err
		}(), store.ErrNotFound)
		if got := f.getConversation(c.ID); got.State != model.StateBot {
			t.Errorf("conversation state after a rolled back Queue = %s, want %s", got.State, model.StateBot)
		}
		if n, err := f.s.Outbox().Backlog(f.ctx); err != nil || n != 0 {
			t.Errorf("Outbox().Backlog() after a rolled back Enqueue = %d, %v, want 0", n, err)
		}
		if ms, err := f.s.Messages().List(f.ctx, c.ID); err != nil || len(ms) != 0 {
			t.Errorf("Messages().List() after a rolled back Enqueue = %v, %v, want none", messageIDs(ms), err)
		}
		if n, err := f.s.Inbox().Backlog(f.ctx); err != nil || n != 0 {
			t.Errorf("Inbox().Backlog() after a rolled back Add = %d, %v, want 0", n, err)
		}
		// The rolled back event's dedupe key is free.
		if added, err := f.s.Inbox().Add(f.ctx, &model.Event{Kind: model.EventMessage, DedupeKey: "d1", Integration: "ig1"}, "u1"); err != nil || !added {
			t.Errorf("Inbox().Add(d1) after a rolled back Add = %v, %v, want true", added, err)
		}
	})

	t.Run("TxFailedCallRollsBackEarlierWrites", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		f.agent("ana", 2, model.AgentAvailable)
		err := f.s.Tx(f.ctx, func(tx store.Tx) error {
			if _, err := tx.Contacts().Upsert(f.ctx, "ig1", "u-early", store.ContactHints{}, tx.Now()); err != nil {
				return err
			}
			return tx.Agents().Create(f.ctx, &model.Agent{ID: "ana", Login: "ana", Name: "Other", Role: model.RoleAgent}, "h")
		})
		wantIs(t, "Tx(Upsert, Create of a taken login)", err, store.ErrConflict)
		wantIs(t, "Contacts().ByUser of the Tx's earlier write", func() error {
			_, err := f.s.Contacts().ByUser(f.ctx, "ig1", "u-early")
			return err
		}(), store.ErrNotFound)
	})

	t.Run("ClosedStore", func(t *testing.T) {
		c := NewClock(Epoch)
		s := open(t, c.Now)
		if err := s.Close(); err != nil {
			t.Fatalf("Close() = %v", err)
		}
		calls := []struct {
			name string
			do   func() error
		}{
			{"Agents().List() after Close", func() error { _, err := s.Agents().List(context.Background()); return err }},
			{"Tx() after Close", func() error { return s.Tx(context.Background(), func(store.Tx) error { return nil }) }},
			{"Agents().SetStatus() after Close", func() error {
				return s.Agents().SetStatus(context.Background(), "ana", model.AgentAvailable)
			}},
		}
		for _, c := range calls {
			// Several times: a store that races its own shutdown answers
			// only sometimes.
			for range 20 {
				err, ok := within(5*time.Second, c.do)
				if !ok {
					t.Errorf("%s did not return within 5s, want %v", c.name, store.ErrClosed)
					break
				}
				if !errors.Is(err, store.ErrClosed) {
					t.Errorf("%s = %v, want %v", c.name, err, store.ErrClosed)
					break
				}
			}
		}
	})
}

// testNotFound: every lookup of a missing row is ErrNotFound.
func testNotFound(t *testing.T, open Open) {
	f := setup(t, open)
	f.integration("ig1")
	lonely := f.contact("ig1") // a contact with no conversation
	cases := []struct {
		call string
		do   func() error
	}{
		{"Conversations().Get(404)", func() error { _, err := f.s.Conversations().Get(f.ctx, 404); return err }},
		{"Conversations().Open(contact without one)", func() error { _, err := f.s.Conversations().Open(f.ctx, lonely.ID); return err }},
		{"Conversations().Open(404)", func() error { _, err := f.s.Conversations().Open(f.ctx, 404); return err }},
		{"Conversations().Latest(contact without one)", func() error { _, err := f.s.Conversations().Latest(f.ctx, lonely.ID); return err }},
		{"Messages().Get(404)", func() error { _, err := f.s.Messages().Get(f.ctx, 404); return err }},
		{"Messages().ByProviderID(ig1, nope)", func() error { _, err := f.s.Messages().ByProviderID(f.ctx, "ig1", "nope"); return err }},
		{"Contacts().Get(404)", func() error { _, err := f.s.Contacts().Get(f.ctx, 404); return err }},
		{"Contacts().ByUser(ig1, nobody)", func() error { _, err := f.s.Contacts().ByUser(f.ctx, "ig1", "nobody"); return err }},
		{"Contacts().ByUser(other integration)", func() error {
			_, err := f.s.Contacts().ByUser(f.ctx, "ig2", lonely.ChannelUserID)
			return err
		}},
		{"Agents().Get(nobody)", func() error { _, err := f.s.Agents().Get(f.ctx, "nobody"); return err }},
		{"Agents().PasswordHash(nobody)", func() error { _, err := f.s.Agents().PasswordHash(f.ctx, "nobody"); return err }},
		{"Sessions().Get(nohash)", func() error { _, err := f.s.Sessions().Get(f.ctx, "nohash"); return err }},
		{"Integrations().Get(nope)", func() error { _, err := f.s.Integrations().Get(f.ctx, "nope"); return err }},
	}
	for _, c := range cases {
		wantIs(t, c.call, c.do(), store.ErrNotFound)
	}
	// The same lookups inside a transaction.
	err := f.s.Tx(f.ctx, func(tx store.Tx) error {
		if _, err := tx.Conversations().Get(f.ctx, 404); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Tx Conversations().Get(404) = %v, want %v", err, store.ErrNotFound)
		}
		if _, err := tx.Messages().ByProviderID(f.ctx, "ig1", "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Tx Messages().ByProviderID(nope) = %v, want %v", err, store.ErrNotFound)
		}
		if _, err := tx.Agents().Get(f.ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Tx Agents().Get(nobody) = %v, want %v", err, store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		t.Errorf("Tx(lookups of missing rows) = %v, want nil", err)
	}
}

// within runs do and waits at most d for it: a call that never returns is a
// failure to report, not a reason to hang the suite (the goroutine leaks).
func within(d time.Duration, do func() error) (error, bool) {
	done := make(chan error, 1)
	go func() { done <- do() }()
	select {
	case err := <-done:
		return err, true
	case <-time.After(d):
		return nil, false
	}
}
