// Package store keeps Conversa's state in SQLite (mattn/go-sqlite3) in WAL
// mode: one writer connection whose transactions are batched into group
// commits, a pool of read-only connections, and forward-only migrations
// embedded in the binary.
//
// Every write goes through Store.Write, which runs the caller's function in a
// transaction shared with other writers that arrived at the same time (each
// in its own savepoint, so one failing writer does not undo the others) and
// returns once the commit is durable (synchronous=FULL). Everything the
// engine needs to resume after a crash lives here: the inbox of received
// events and the outbox of pending sends.
package store
