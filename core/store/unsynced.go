package store

import "context"

// Unsynced is a store that can commit a transaction without waiting for it
// to reach the disk.
//
// A transaction committed so is visible to every reader at once, exactly
// like one committed by Tx, and as atomic; only its durability is put off:
// it becomes durable with the next durable commit (any Tx), which makes
// everything committed before it durable too (SQLite's write-ahead log and
// PostgreSQL's alike are written in order). A crash of the machine, or of
// PostgreSQL, may lose the unsynced transactions committed since the last
// durable commit, and only those: never a durable one, nor anything a
// durable commit came after.
//
// It is for the writes that are no durability point of their own: the
// processing of an inbox row, which is stored durably before the source is
// acknowledged and marked processed in the transaction that records its
// effects (lost, the row is processed again), and queue claims (lost, the
// lease is void, and every transaction that completes a row checks its
// lease). Anything an outside party must be able to rely on (an ack, an
// attempt committed before a send) is committed with Tx, which then also
// makes the unsynced writes before it durable.
type Unsynced interface {
	// TxUnsynced runs fn as Tx does (fn may run more than once, and must
	// have no effect outside tx), and returns once the transaction is
	// committed and visible, without waiting for it to be durable.
	TxUnsynced(ctx context.Context, fn func(Tx) error) error
}

// TxUnsynced runs fn in a transaction of st that does not wait for the disk
// when st offers that (Unsynced), and in a durable one (Tx) otherwise: a
// store wrapped for a test, or one that cannot, only commits more durably
// than asked.
func TxUnsynced(ctx context.Context, st Store, fn func(Tx) error) error {
	if u, ok := st.(Unsynced); ok {
		return u.TxUnsynced(ctx, fn)
	}
	return st.Tx(ctx, fn)
}
