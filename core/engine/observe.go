package engine

import (
	"context"
	"sync"
	"time"

	"github.com/conversa/conversa/core/pluginhost"
)

// Observer is told of every send attempt and of every reply's latency
// (core/metrics).
type Observer interface {
	// Send: one attempt through a channel plugin; outcome is one of the
	// Send* constants.
	Send(channel, outcome string, d time.Duration)
	// Reply: the time from the receipt of a contact's message to the
	// provider accepting the first reply to it.
	Reply(integration string, d time.Duration)
}

// Outcomes of one send attempt, as Observer.Send is told.
const (
	SendSent = "sent"
	// SendRetry: a definite failure that is tried again.
	SendRetry = "retry"
	// SendFailed: refused for good.
	SendFailed = "failed"
	// SendUnknown: the provider may or may not have it.
	SendUnknown = "unknown"
	// SendNotAttempted: the plugin went down before the call.
	SendNotAttempted = "not_attempted"
)

type noObserver struct{}

func (noObserver) Send(string, string, time.Duration) {}
func (noObserver) Reply(string, time.Duration)        {}

// sendOutcome classifies a Send call's result as the engine acts on it.
func sendOutcome(resp *pluginhost.SendResponse, err error) string {
	switch {
	case err != nil && notAttempted(err):
		return SendNotAttempted
	case err != nil:
		return SendUnknown
	case resp.Error == nil:
		return SendSent
	case resp.Error.Retryable && !resp.Error.Refused && resp.Error.UnknownOutcome:
		return SendUnknown
	case resp.Error.Retryable && !resp.Error.Refused:
		return SendRetry
	}
	return SendFailed
}

// observeSend reports one send attempt that began at start and, when the
// provider took it, the latency of the contact's messages it answers.
func (e *Engine) observeSend(ctx context.Context, channel, integration string, conversation int64,
	start time.Time, resp *pluginhost.SendResponse, err error) {
	if err != nil && ctx.Err() != nil {
		return // shutting down: the attempt is reconciled at the next start
	}
	outcome := sendOutcome(resp, err)
	e.obs.Send(channel, outcome, time.Since(start))
	if outcome != SendSent {
		return
	}
	now := e.now()
	for _, at := range e.replies.answered(conversation) {
		e.obs.Reply(integration, now.Sub(at))
	}
}

// Bounds of replyWaits: the conversations followed, and the messages
// followed in one (the first of a burst).
const (
	maxWaiting        = 10000
	maxWaitingPerConv = 20
	// waitingFor is how long a message is followed: an agent may answer
	// within 7 days (Meta's HUMAN_AGENT tag).
	waitingFor = 7 * 24 * time.Hour
)

// replyWaits remembers, per conversation, when this node received the
// contact's messages that no reply has answered yet. It lives in memory: a
// message received on one node and answered from another, or across a
// restart, is not measured.
type replyWaits struct {
	mu      sync.Mutex
	now     func() time.Time
	waiting map[int64][]waiting
}

type waiting struct {
	message int64
	at      time.Time
}

func newReplyWaits(now func() time.Time) *replyWaits {
	return &replyWaits{now: now, waiting: map[int64][]waiting{}}
}

// received follows a contact's message received at at (again is harmless:
// a message is followed once).
func (r *replyWaits) received(conversation, message int64, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.waiting[conversation]
	for _, x := range w {
		if x.message == message {
			return
		}
	}
	if len(w) >= maxWaitingPerConv {
		return
	}
	if w == nil && len(r.waiting) >= maxWaiting {
		r.sweepLocked()
		if len(r.waiting) >= maxWaiting {
			return
		}
	}
	r.waiting[conversation] = append(w, waiting{message, at})
}

// sweepLocked forgets the conversations whose newest message is past
// waitingFor.
func (r *replyWaits) sweepLocked() {
	cut := r.now().Add(-waitingFor)
	for c, w := range r.waiting {
		if w[len(w)-1].at.Before(cut) {
			delete(r.waiting, c)
		}
	}
}

// answered returns when the messages a reply in conversation answers were
// received, and forgets them.
func (r *replyWaits) answered(conversation int64) []time.Time {
	r.mu.Lock()
	w := r.waiting[conversation]
	delete(r.waiting, conversation)
	r.mu.Unlock()
	out := make([]time.Time, len(w))
	for i, x := range w {
		out[i] = x.at
	}
	return out
}
