package engine

import (
	"errors"
	"testing"
	"time"

	"github.com/conversa/conversa/core/pluginhost"
)

type notAttemptedErr struct{}

func (notAttemptedErr) Error() string      { return "plugin down" }
func (notAttemptedErr) NotAttempted() bool { return true }

func TestSendOutcome(t *testing.T) {
	for _, tc := range []struct {
		resp *pluginhost.SendResponse
		err  error
		want string
	}{
		{&pluginhost.SendResponse{}, nil, SendSent},
		{nil, notAttemptedErr{}, SendNotAttempted},
		{nil, errors.New("deadline exceeded"), SendUnknown},
		{&pluginhost.SendResponse{Error: &pluginhost.SendError{Retryable: true, UnknownOutcome: true}}, nil, SendUnknown},
		{&pluginhost.SendResponse{Error: &pluginhost.SendError{Retryable: true}}, nil, SendRetry},
		{&pluginhost.SendResponse{Error: &pluginhost.SendError{Retryable: true, Refused: true}}, nil, SendFailed},
		{&pluginhost.SendResponse{Error: &pluginhost.SendError{}}, nil, SendFailed},
	} {
		if got := sendOutcome(tc.resp, tc.err); got != tc.want {
			t.Errorf("sendOutcome(%v, %v) = %q, want %q", tc.resp, tc.err, got, tc.want)
		}
	}
}

func TestReplyWaits(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	r := newReplyWaits(func() time.Time { return now })
	r.received(1, 10, now.Add(-3*time.Second))
	r.received(1, 10, now.Add(-2*time.Second)) // the same message again
	r.received(1, 11, now.Add(-time.Second))
	got := r.answered(1)
	if len(got) != 2 || !got[0].Equal(now.Add(-3*time.Second)) || !got[1].Equal(now.Add(-time.Second)) {
		t.Errorf("answered(1) = %v, want the receipts of messages 10 and 11", got)
	}
	if got := r.answered(1); len(got) != 0 {
		t.Errorf("answered(1) again = %v, want nothing: only the first reply counts", got)
	}

	// Bounded: per conversation, and in conversations followed, where
	// those past waitingFor make room.
	for m := int64(0); m < 2*maxWaitingPerConv; m++ {
		r.received(2, m, now)
	}
	if got := len(r.answered(2)); got != maxWaitingPerConv {
		t.Errorf("a conversation follows %d messages, want %d", got, maxWaitingPerConv)
	}
	for c := int64(0); c < maxWaiting; c++ {
		r.received(100+c, 1, now.Add(-waitingFor-time.Minute))
	}
	r.received(7, 1, now)
	if _, ok := r.waiting[7]; !ok || len(r.waiting) != 1 {
		t.Errorf("with %d stale conversations followed, a new one is followed alone = %v (%d followed), want the stale ones dropped", maxWaiting, ok, len(r.waiting))
	}
	for c := int64(0); c < 2*maxWaiting; c++ {
		r.received(1000+c, 1, now)
	}
	if len(r.waiting) > maxWaiting {
		t.Errorf("%d conversations followed, want at most %d", len(r.waiting), maxWaiting)
	}
}
