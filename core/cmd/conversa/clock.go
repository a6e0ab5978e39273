package main

import (
	"sync"
	"time"
)

// clock is the server's time. In a binary built with the conversa_testclock
// build tag (the end-to-end tests build theirs so) it can be moved forward
// through POST /debug/clock: a test seam, so that those tests check that
// inactivity ends a conversation without waiting an hour. In every other
// build it is the wall clock and the endpoint does not exist; nothing at run
// time (no flag, no environment variable) can turn it on.
type clock struct {
	movable bool
	mu      sync.Mutex
	offset  time.Duration
}

func newClock() *clock { return &clock{movable: movableClock} }

func (c *clock) Now() time.Time {
	if !c.movable {
		return time.Now()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Movable reports whether the clock may be moved.
func (c *clock) Movable() bool { return c.movable }

// Advance moves the clock forward.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}
