package postgres

import (
	"context"

	"github.com/conversa/conversa/core/store"
)

// ReserveIDs reserves a conversation's id, and a new contact's when contact
// is true, from their identity sequences (store.IDReserver): one round
// trip, outside any transaction, and safe across nodes (a sequence never
// hands a value out twice).
func (db *DB) ReserveIDs(ctx context.Context, contact bool) (store.NewIDs, error) {
	var ids store.NewIDs
	err := db.pool.QueryRow(ctx, `SELECT CASE WHEN $1 THEN nextval(pg_get_serial_sequence('contacts', 'id')) ELSE 0 END,
		nextval(pg_get_serial_sequence('conversations', 'id'))`, contact).Scan(&ids.Contact, &ids.Conversation)
	return ids, unavailable(err)
}

var _ store.IDReserver = (*DB)(nil)
