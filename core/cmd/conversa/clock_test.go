package main

import "testing"

// A binary built without the conversa_testclock tag never has a movable
// clock (so no POST /debug/clock), whatever its environment says: the
// variable that once turned it on must not.
func TestClockIsTheWallClockOutsideTestBuilds(t *testing.T) {
	t.Setenv("CONVERSA_TEST_CLOCK", "1")
	if c := newClock(); c.Movable() {
		t.Errorf("newClock().Movable() = true in a build without the conversa_testclock tag, want false")
	}
}
