// Package sqlite is the embedded implementation of core/store on SQLite
// (mattn/go-sqlite3) in WAL mode: one writer connection whose transactions
// are batched into group commits, a pool of read-only connections, and
// forward-only migrations embedded in the binary.
//
// Every write goes through DB.Tx (or an aggregate's method, which is one),
// run in a transaction shared with other writers that arrived at the same
// time, each in its own savepoint, so one failing writer does not undo the
// others; it returns once the commit is durable (synchronous=FULL). The
// single writer is a speed choice, not what keeps the data right: state
// changes are guarded statements and races are decided by unique keys, so
// the same code is correct on a database with concurrent writers.
package sqlite
