// Package postgres is the PostgreSQL implementation of the store contract
// (core/store), through jackc/pgx v5: the database for installs that outgrow
// one machine, where several Conversa nodes share one database and behave as
// one.
//
// Writes are ordinary READ COMMITTED transactions, retried whole on a
// serialization failure or a deadlock (store.Store.Tx says fn may run more
// than once). What SQLite's single writer gave for free is stated explicitly:
// every state change is a guarded UPDATE, which PostgreSQL re-checks against
// the row's newest version after waiting for its lock; an agent's capacity
// is checked under a lock on the agent's row; queue keys are claimed with
// FOR UPDATE SKIP LOCKED, so nodes never wait for each other's keys.
//
// Times are stored as Unix milliseconds (BIGINT), as in SQLite, so both
// implementations read and write the same values and `conversa migrate` copies
// rows as they are.
package postgres
