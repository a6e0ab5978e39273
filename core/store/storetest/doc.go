// Package storetest is the contract suite every store implementation passes.
//
// An implementation runs all of it with one test:
//
//	func TestContract(t *testing.T) { storetest.Test(t, open) }
//
// where open returns a new, empty store whose clock is the one it is given.
// The suite talks to the store only through the interfaces of core/store,
// builds its own fixtures through them, and moves time through the clock
// (lease expiry, inactivity). Run it with -race: the concurrency contracts
// are checked from many goroutines against one store.
//
// Each contract is a subtest named for what it promises, so a backend that
// breaks one reports it by name (go test -run 'Contract/Outbox/Confirm').
package storetest
