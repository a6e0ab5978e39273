//go:build !conversa_testclock

package main

// movableClock: a release build's clock is the wall clock.
const movableClock = false
