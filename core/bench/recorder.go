package bench

import (
	"sync/atomic"
)

// Recorder holds one run's measurements: a slot per webhook, filled by the
// sender (due, sent, acknowledged) and by the fake provider (the reply).
type Recorder struct {
	clock *Clock
	slots slots

	acked   atomic.Int64 // webhooks answered 200
	replied atomic.Int64 // webhooks whose user got a first reply
	// unknown counts replies to a recipient no webhook of the run wrote
	// as; extra counts replies beyond the first to one user.
	unknown, extra atomic.Int64
}

// NewRecorder returns an empty recorder on clock.
func NewRecorder(clock *Clock) *Recorder { return &Recorder{clock: clock} }

// Reply notes, now, a reply the provider received for recipient (a User
// id).
func (r *Recorder) Reply(recipient string) {
	now := r.clock.Now()
	i, ok := UserIndex(recipient)
	var s *slot
	if ok {
		s = r.slots.lookup(i)
	}
	if s == nil {
		r.unknown.Add(1)
		return
	}
	if s.replies.Add(1) == 1 {
		s.reply.Store(now)
		r.replied.Add(1)
		return
	}
	r.extra.Add(1)
}
