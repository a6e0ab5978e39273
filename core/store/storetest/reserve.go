package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// testReserveIDs checks store.IDReserver: ids reserved ahead of the
// transaction that stores a new contact and its conversation are theirs,
// never another row's.
func testReserveIDs(t *testing.T, open Open) {
	reserver := func(f *fixture) store.IDReserver {
		f.t.Helper()
		r, ok := f.s.(store.IDReserver)
		if !ok {
			f.t.Fatalf("%T does not reserve ids (store.IDReserver)", f.s)
		}
		return r
	}

	t.Run("ReservedIDsAreTheNewRows", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		ids, err := reserver(f).ReserveIDs(f.ctx, true)
		f.must(err, "ReserveIDs")
		// Rows stored meanwhile without a reservation get other ids.
		other := f.conversation("ig1")
		if other.ContactID == ids.Contact || other.ID == ids.Conversation {
			t.Fatalf("contact %d, conversation %d stored after ReserveIDs = %+v took a reserved id", other.ContactID, other.ID, ids)
		}
		var ct *model.Contact
		c := &model.Conversation{ID: ids.Conversation, Integration: "ig1", State: model.StateBot, Origin: model.OriginDirect}
		var started bool
		f.must(f.s.Tx(f.ctx, func(tx store.Tx) error {
			var err error
			if ct, err = tx.Contacts().Upsert(f.ctx, "ig1", "new-user", store.ContactHints{Name: "Ana", NewID: ids.Contact}, tx.Now()); err != nil {
				return err
			}
			c.ContactID = ct.ID
			started, err = tx.Conversations().Start(f.ctx, c)
			return err
		}), "Tx(Upsert, Start) with reserved ids")
		if ct.ID != ids.Contact || !started || c.ID != ids.Conversation {
			t.Fatalf("Upsert, Start with reserved %+v = contact %d, conversation %d (started %v)", ids, ct.ID, c.ID, started)
		}
		if got := f.getConversation(ids.Conversation); got.ContactID != ids.Contact || got.Contact == nil || got.Contact.Name != "Ana" {
			t.Errorf("Get(%d) = %+v, want the conversation of contact %d (Ana)", ids.Conversation, got, ids.Contact)
		}
		// And what comes after is past them.
		next := f.conversation("ig1")
		if next.ContactID == ids.Contact || next.ID == ids.Conversation {
			t.Errorf("contact %d, conversation %d stored after the reserved ones reuse an id", next.ContactID, next.ID)
		}
	})

	t.Run("ExistingRowsKeepTheirIDs", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		ct := f.contactAs("ig1", "ana", store.ContactHints{})
		first := f.conversationOf(ct)
		ids, err := reserver(f).ReserveIDs(f.ctx, true)
		f.must(err, "ReserveIDs")
		again, err := f.s.Contacts().Upsert(f.ctx, "ig1", "ana", store.ContactHints{Name: "Ana", NewID: ids.Contact}, f.clock.Now())
		f.must(err, "Upsert(stored contact, reserved id)")
		if again.ID != ct.ID || again.Name != "Ana" {
			t.Errorf("Upsert(stored contact %d) with reserved id %d = %d %q, want %d, refreshed", ct.ID, ids.Contact, again.ID, again.Name, ct.ID)
		}
		c := &model.Conversation{ID: ids.Conversation, Integration: "ig1", ContactID: ct.ID, State: model.StateBot, Origin: model.OriginDirect}
		started, err := f.s.Conversations().Start(f.ctx, c)
		if err != nil || started || c.ID != first.ID {
			t.Errorf("Start(contact with an open conversation, reserved id %d) = %v, %v, id %d, want the open one %d",
				ids.Conversation, started, err, c.ID, first.ID)
		}
		if _, err := f.s.Contacts().Get(f.ctx, ids.Contact); err == nil {
			t.Errorf("the reserved contact id %d was stored, though the contact existed", ids.Contact)
		}
	})

	t.Run("AStoredUsersNewConversation", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		ct := f.contact("ig1")
		ids, err := reserver(f).ReserveIDs(f.ctx, false)
		f.must(err, "ReserveIDs(conversation only)")
		if ids.Contact != 0 || ids.Conversation == 0 {
			t.Fatalf("ReserveIDs(conversation only) = %+v, want a conversation id alone", ids)
		}
		c := &model.Conversation{ID: ids.Conversation, Integration: "ig1", ContactID: ct.ID, State: model.StateBot, Origin: model.OriginDirect}
		if started, err := f.s.Conversations().Start(f.ctx, c); err != nil || !started || c.ID != ids.Conversation {
			t.Errorf("Start(reserved %d) = %v, %v, id %d", ids.Conversation, started, err, c.ID)
		}
	})

	t.Run("ConcurrentReservationsAreUnique", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		const workers, each = 8, 25
		var mu sync.Mutex
		contacts, conversations := map[int64]bool{}, map[int64]bool{}
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					ids, err := reserver(f).ReserveIDs(f.ctx, true)
					if err != nil {
						errs <- err
						return
					}
					// Every other one is stored, so that reservations and
					// inserts interleave.
					if i%2 == 0 {
						err := f.s.Tx(f.ctx, func(tx store.Tx) error {
							ct, err := tx.Contacts().Upsert(f.ctx, "ig1", fmt.Sprintf("w%d-%d", w, i), store.ContactHints{NewID: ids.Contact}, tx.Now())
							if err != nil {
								return err
							}
							c := &model.Conversation{ID: ids.Conversation, Integration: "ig1", ContactID: ct.ID, State: model.StateBot,
								Origin: model.OriginDirect}
							if _, err := tx.Conversations().Start(f.ctx, c); err != nil {
								return err
							}
							if ct.ID != ids.Contact || c.ID != ids.Conversation {
								return fmt.Errorf("stored as contact %d, conversation %d, reserved %+v", ct.ID, c.ID, ids)
							}
							return nil
						})
						if err != nil {
							errs <- err
							return
						}
					} else if _, err := f.s.Contacts().Upsert(f.ctx, "ig1", fmt.Sprintf("plain-w%d-%d", w, i), store.ContactHints{},
						f.clock.Now()); err != nil {
						errs <- err
						return
					}
					mu.Lock()
					if contacts[ids.Contact] || conversations[ids.Conversation] {
						mu.Unlock()
						errs <- fmt.Errorf("ReserveIDs gave %+v twice", ids)
						return
					}
					contacts[ids.Contact], conversations[ids.Conversation] = true, true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}
