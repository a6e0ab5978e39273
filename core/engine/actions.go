package engine

import (
	"context"
	"sync"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/plugins/sdk"
)

// What the contact sees of the agent where the channel shows it: "typing"
// while the agent writes, and their messages seen once the agent has read
// them. Both are best effort: they never fail, delay or outlive the agent's
// request, and a provider that is down costs only a log line.
const (
	// typingEvery: Instagram shows "typing" for about 20 s after one
	// typing_on; one every few seconds of typing is plenty.
	typingEvery   = 5 * time.Second
	actionTimeout = 5 * time.Second
	// actionsKept bounds the per-conversation memory of what was sent:
	// beyond it, entries older than a window are forgotten.
	actionsKept = 4096
)

// actionLimits remembers, per conversation, when typing was last shown
// and up to which of the contact's messages "seen" was.
type actionLimits struct {
	mu     sync.Mutex
	typing map[int64]time.Time
	seen   map[int64]time.Time
}

// allow records at under key in m and reports whether it is due: at is
// after the recorded time plus every.
func (l *actionLimits) allow(m *map[int64]time.Time, key int64, at time.Time, every time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if *m == nil {
		*m = map[int64]time.Time{}
	}
	if last, ok := (*m)[key]; ok && at.Before(last.Add(every)) {
		return false
	}
	if len(*m) >= actionsKept {
		for k, t := range *m {
			if at.Sub(t) > assistantWindow {
				delete(*m, k)
			}
		}
	}
	(*m)[key] = at
	return true
}

// Typing shows the contact that the agent is typing (Meta's typing_on),
// at most once every few seconds per conversation. It returns at once.
func (e *Engine) Typing(id int64) {
	if !e.actions.allow(&e.actions.typing, id, e.now(), typingEvery) {
		return
	}
	e.goBackground(func() { e.act(id, sdk.ActionTypingOn, nil) })
}

// Seen tells the contact that their messages were seen (Meta's mark_seen)
// when the assigned agent has read the conversation: once per new message
// from the contact. It returns at once.
func (e *Engine) Seen(id int64) {
	e.goBackground(func() {
		e.act(id, sdk.ActionMarkSeen, func(c *model.Conversation) bool {
			// Once per message: the time of the contact's latest is the mark.
			return c.State == model.StateAssigned &&
				e.actions.allow(&e.actions.seen, id, c.LastInboundAt, time.Nanosecond)
		})
	})
}

// act sends one action for a conversation, if due (when is nil or says so)
// and within the messaging window.
func (e *Engine) act(id int64, action string, when func(*model.Conversation) bool) {
	ctx, cancel := context.WithTimeout(context.Background(), actionTimeout)
	defer cancel()
	go func() {
		select {
		case <-e.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	log := e.log.With("conversation", id, "action", action)
	c, err := e.st.Conversations().Get(ctx, id)
	if err != nil {
		log.Warn("conversation action skipped", "err", err)
		return
	}
	if c.State == model.StateEnded || c.Contact == nil || (when != nil && !when(c)) {
		return
	}
	last := c.Contact.LastInboundAt
	if last.IsZero() || e.now().Sub(last) > assistantWindow {
		// Outside the window the provider refuses these too.
		return
	}
	in := e.reg.integration(c.Integration)
	if in == nil || !in.Enabled {
		return
	}
	if ok, _ := e.plug.Availability(in.Channel); !ok {
		return
	}
	ch, err := e.plug.Channel(in.Channel)
	if err != nil {
		return
	}
	resp, err := ch.Action(ctx, &pluginhost.ActionRequest{
		Integration: e.reg.forPlugin(in), Contact: c.Contact, Action: action, Now: e.now(),
	})
	switch {
	case err != nil:
		log.Warn("conversation action failed", "integration", in.ID, "err", err)
	case resp.Error != nil:
		log.Warn("conversation action refused", "integration", in.ID,
			"err", describeError(resp.Error.Code, resp.Error.Message))
	}
}
