package bench

import "time"

// Clock reads one monotonic clock for the whole run: the sender stamps its
// webhooks with it and the fake provider its replies, so their difference
// is a latency whatever the wall clock does meanwhile.
type Clock struct{ start time.Time }

// NewClock starts a clock at zero.
func NewClock() *Clock { return &Clock{start: time.Now()} }

// Now is the time since the clock started, in nanoseconds (never 0 after
// the start, so 0 can mean "did not happen").
func (c *Clock) Now() int64 { return int64(time.Since(c.start)) + 1 }
