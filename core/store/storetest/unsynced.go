package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// testUnsynced: a transaction committed without waiting for the disk
// (store.Unsynced) is, to every reader, one committed by Tx: visible on
// return, atomic, rolled back when fn fails, guarded by queue leases, and
// interleaved with durable ones in any order. (That a crash loses only
// unsynced commits made after the last durable one is the databases'
// ordered logs, which no test here can crash.)
func testUnsynced(t *testing.T, open Open) {
	t.Run("Implemented", func(t *testing.T) {
		f := setup(t, open)
		if _, ok := f.s.(store.Unsynced); !ok {
			t.Errorf("%T does not implement store.Unsynced: every write would wait for the disk", f.s)
		}
	})

	t.Run("VisibleOnReturn", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		var ct *model.Contact
		err := store.TxUnsynced(f.ctx, f.s, func(tx store.Tx) error {
			var err error
			ct, err = tx.Contacts().Upsert(f.ctx, "ig1", "u1", store.ContactHints{Name: "Ana"}, tx.Now())
			if err != nil {
				return err
			}
			c := &model.Conversation{Integration: "ig1", ContactID: ct.ID, State: model.StateBot, Origin: model.OriginDirect}
			_, err = tx.Conversations().Start(f.ctx, c)
			return err
		})
		f.must(err, "TxUnsynced")
		got, err := f.s.Contacts().ByUser(f.ctx, "ig1", "u1")
		if err != nil || got.Name != "Ana" {
			t.Fatalf("ByUser after TxUnsynced = %+v, %v, want Ana", got, err)
		}
		if _, err := f.s.Conversations().Open(f.ctx, ct.ID); err != nil {
			t.Errorf("Open after TxUnsynced = %v, want the conversation it started", err)
		}
	})

	t.Run("RollsBackWhenFnFails", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		err := store.TxUnsynced(f.ctx, f.s, func(tx store.Tx) error {
			if _, err := tx.Contacts().Upsert(f.ctx, "ig1", "u1", store.ContactHints{}, tx.Now()); err != nil {
				return err
			}
			return errAbort
		})
		if !errors.Is(err, errAbort) {
			t.Fatalf("TxUnsynced = %v, want fn's error", err)
		}
		if _, err := f.s.Contacts().ByUser(f.ctx, "ig1", "u1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ByUser after a failed TxUnsynced = %v, want ErrNotFound (rolled back)", err)
		}
	})

	t.Run("LostLeaseRollsBack", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		_, err := f.s.Inbox().Add(f.ctx, &model.Event{Kind: model.EventMessage, DedupeKey: "e1", Integration: "ig1"}, "k1")
		f.must(err, "Add")
		var first []store.InboxItem
		f.must(store.TxUnsynced(f.ctx, f.s, func(tx store.Tx) error {
			var err error
			first, err = tx.Inbox().Claim(f.ctx, "w1", 1, time.Minute)
			return err
		}), "Claim in TxUnsynced")
		if len(first) != 1 {
			t.Fatalf("Claim in TxUnsynced = %d rows, want 1", len(first))
		}
		// The lease lapses and another worker takes the key.
		f.clock.Advance(2 * time.Minute)
		again, err := f.s.Inbox().Claim(f.ctx, "w2", 1, time.Minute)
		if err != nil || len(again) != 1 {
			t.Fatalf("Claim after the lease lapsed = %d rows, %v, want 1", len(again), err)
		}
		err = store.TxUnsynced(f.ctx, f.s, func(tx store.Tx) error {
			if _, err := tx.Contacts().Upsert(f.ctx, "ig1", "u1", store.ContactHints{}, tx.Now()); err != nil {
				return err
			}
			return tx.Inbox().Done(f.ctx, &first[0], "")
		})
		if !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("Done with a lost lease in TxUnsynced = %v, want ErrLeaseLost", err)
		}
		if _, err := f.s.Contacts().ByUser(f.ctx, "ig1", "u1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("what the worker that lost its lease wrote was kept (%v), want it rolled back", err)
		}
		f.must(f.s.Inbox().Done(f.ctx, &again[0], ""), "Done by the lease holder")
	})

	t.Run("InterleavedWithDurable", func(t *testing.T) {
		// Unsynced and durable writers at once (sharing commits where the
		// store groups them): each sees its own writes, and every write is
		// there afterwards.
		f := setup(t, open)
		f.integration("ig1")
		const writers, each = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					user := fmt.Sprintf("u%d-%d", w, i)
					tx := f.s.Tx
					if (w+i)%2 == 0 {
						tx = func(ctx context.Context, fn func(store.Tx) error) error { return store.TxUnsynced(ctx, f.s, fn) }
					}
					err := tx(f.ctx, func(tx store.Tx) error {
						if _, err := tx.Contacts().Upsert(f.ctx, "ig1", user, store.ContactHints{}, tx.Now()); err != nil {
							return err
						}
						_, err := tx.Contacts().ByUser(f.ctx, "ig1", user)
						return err
					})
					if err != nil {
						errs <- fmt.Errorf("writer %d, write %d: %w", w, i, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for w := range writers {
			for i := range each {
				if _, err := f.s.Contacts().ByUser(f.ctx, "ig1", fmt.Sprintf("u%d-%d", w, i)); err != nil {
					t.Errorf("contact u%d-%d: %v", w, i, err)
				}
			}
		}
	})
}
