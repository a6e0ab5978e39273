package engine

import (
	"context"
	"time"

	"github.com/conversa/conversa/core/model"
)

// inactivityEvery is how often the timer looks for silent users.
const inactivityEvery = 15 * time.Second

// inactivityLoop ends conversations whose user has been silent longer than
// the integration allows, on its own: users who never come back must not hold
// an agent's slot or an assistant session forever.
func (e *Engine) inactivityLoop() {
	defer e.wg.Done()
	tick := time.NewTicker(inactivityEvery)
	defer tick.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
		case <-e.inactivityWake:
		}
		if _, err := e.EndInactive(context.Background()); err != nil {
			e.log.Error("inactivity check failed", "err", err)
		}
	}
}

func (e *Engine) wakeInactivity() {
	select {
	case e.inactivityWake <- struct{}{}:
	default:
	}
}

// EndInactive ends every conversation past its integration's inactivity
// limit and reports how many.
func (e *Engine) EndInactive(ctx context.Context) (int, error) {
	now := e.now()
	n := 0
	for _, in := range e.reg.all() {
		if in.InactivityMinutes <= 0 {
			continue
		}
		cutoff := now.Add(-time.Duration(in.InactivityMinutes) * time.Minute)
		ids, err := e.st.InactiveConversations(ctx, in.ID, cutoff)
		if err != nil {
			return n, err
		}
		for _, id := range ids {
			if _, err := e.End(ctx, id, model.EndInactivity); err == nil {
				n++
				e.log.Info("conversation ended for inactivity", "integration", in.ID, "conversation", id)
			}
		}
	}
	return n, nil
}
