// Package store is the contract of Conversa's database: narrow interfaces
// per aggregate (inbox, outbox, conversations, messages, contacts, agents
// and sessions, integrations) that the engine, agents and server depend on,
// and the typed errors every implementation returns.
//
// Correctness never rests on there being a single writer. Every state
// change is a guarded statement checked against one transition table per
// state machine in core/model; a unique key decides races (one open
// conversation per contact, one message per provider id), recognised by the
// driver's error code; queues are claimed with leases that expire, fairly
// across keys.
//
// Implementations: store/sqlite (the embedded default). Every
// implementation passes the same contract suite, store/storetest,
// concurrency contracts included.
package store
