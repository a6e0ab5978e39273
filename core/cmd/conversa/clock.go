package main

import (
	"os"
	"sync"
	"time"
)

// clock is the server's time. With CONVERSA_TEST_CLOCK=1 in the environment
// it can be moved forward through POST /debug/clock (a test seam: end-to-end
// tests check that inactivity ends a conversation without waiting an hour).
// Without the variable it is the wall clock and the endpoint does not exist.
type clock struct {
	movable bool
	mu      sync.Mutex
	offset  time.Duration
}

func newClock() *clock { return &clock{movable: os.Getenv("CONVERSA_TEST_CLOCK") == "1"} }

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
