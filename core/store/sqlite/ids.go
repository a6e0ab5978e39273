package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/mattn/go-sqlite3"

	"github.com/conversa/conversa/core/store"
)

// ids hands out the ids of new contacts and conversations. Every insert of
// either takes its id from here, none from SQLite's rowid choice (the
// largest plus one), so that an id reserved ahead of its transaction
// (store.IDReserver) cannot be taken by another row meanwhile: this
// process is the database's only writer, and the counters start past the
// largest id stored when it opens. An id reserved and not used is a gap;
// one the writer took for an upsert that found the contact stored is given
// back when nothing was handed out after it.
type ids struct {
	mu                    sync.Mutex
	contact, conversation int64 // the next to hand out
}

// load starts the counters past what is stored.
func (a *ids) load(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) error {
	var contact, conversation int64
	err := q.QueryRowContext(ctx, `SELECT (SELECT coalesce(max(id), 0) FROM contacts),
		(SELECT coalesce(max(id), 0) FROM conversations)`).Scan(&contact, &conversation)
	if err != nil {
		return fmt.Errorf("reading the largest ids: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.contact, a.conversation = max(a.contact, contact+1), max(a.conversation, conversation+1)
	return nil
}

func (a *ids) take(counter *int64) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := *counter
	*counter++
	return id
}

// giveBack returns id when it is the last one handed out.
func (a *ids) giveBack(counter *int64, id int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if *counter == id+1 {
		*counter = id
	}
}

// insert runs an insert of a new row with the id it is to take: reserved
// when not zero, else the counter's next; and once more with the counter's
// next, past what is stored, when a row stored by other means holds that
// one. It returns the id the last attempt gave and its error.
func (a *ids) insert(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, counter *int64, reserved int64, fn func(id int64) error) (int64, error) {
	id := reserved
	if id == 0 {
		id = a.take(counter)
	}
	err := fn(id)
	if !takenID(err) {
		return id, err
	}
	if err := a.load(ctx, q); err != nil {
		return id, err
	}
	id = a.take(counter)
	return id, fn(id)
}

// takenID: an insert gave an id a row already holds.
func takenID(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
}

func (a *ids) newContact() int64      { return a.take(&a.contact) }
func (a *ids) newConversation() int64 { return a.take(&a.conversation) }

// ReserveIDs reserves a conversation's id, and a new contact's when contact
// is true (store.IDReserver). It costs no write: the counters are in
// memory.
func (db *DB) ReserveIDs(_ context.Context, contact bool) (store.NewIDs, error) {
	if db.closed.Load() {
		return store.NewIDs{}, store.ErrClosed
	}
	var ids store.NewIDs
	if contact {
		ids.Contact = db.ids.newContact()
	}
	ids.Conversation = db.ids.newConversation()
	return ids, nil
}

var _ store.IDReserver = (*DB)(nil)
