//go:build conversa_testclock

package main

// movableClock: a test build (go build -tags conversa_testclock, as the
// end-to-end harness does) serves POST /debug/clock.
const movableClock = true
