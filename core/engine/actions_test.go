package engine

import (
	"testing"
	"time"
)

func TestActionLimits(t *testing.T) {
	var l actionLimits
	t0 := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		conv int64
		at   time.Duration
		want bool
	}{
		{1, 0, true},
		{1, time.Second, false},
		{1, 4999 * time.Millisecond, false},
		{2, time.Second, true}, // each conversation has its own
		{1, 5 * time.Second, true},
		{1, 6 * time.Second, false},
	} {
		if got := l.allow(&l.typing, tc.conv, t0.Add(tc.at), typingEvery); got != tc.want {
			t.Errorf("typing in %d at +%v allowed = %v, want %v", tc.conv, tc.at, got, tc.want)
		}
	}
	// Seen: once per message, keyed by the time of the contact's latest.
	last := t0
	if !l.allow(&l.seen, 1, last, time.Nanosecond) || l.allow(&l.seen, 1, last, time.Nanosecond) {
		t.Error("seen twice for the same message, or not at all")
	}
	if !l.allow(&l.seen, 1, last.Add(time.Millisecond), time.Nanosecond) {
		t.Error("a newer message was not marked seen")
	}
}

func TestActionLimitsForgetOldConversations(t *testing.T) {
	var l actionLimits
	t0 := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	for i := range int64(actionsKept) {
		l.allow(&l.typing, i, t0, typingEvery)
	}
	l.allow(&l.typing, -1, t0.Add(25*time.Hour), typingEvery)
	if n := len(l.typing); n != 1 {
		t.Errorf("%d conversations remembered after a day, want only the latest", n)
	}
}
