package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/conversa/conversa/core/events"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// inactivityEvery is how often the timer looks for silent users.
const inactivityEvery = 15 * time.Second

// endInactive ends conversations whose user has been silent longer than
// the integration allows, on its own: users who never come back must not
// hold an agent's slot or an assistant session forever. It runs every
// inactivityEvery on the leader only (the guarded end would make a second
// run harmless, but not free).
func (e *Engine) endInactive() {
	if !e.o.Cluster.Leader() {
		return
	}
	if _, err := e.EndInactive(context.Background()); err != nil {
		e.log.Error("inactivity check failed", "err", err)
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
		ids, err := e.st.Conversations().Inactive(ctx, in.ID, cutoff)
		if err != nil {
			return n, err
		}
		for _, id := range ids {
			// Guarded by the cutoff: a user who writes while the timer runs
			// keeps their conversation.
			var c *model.Conversation
			var note *model.Message
			err := e.st.Tx(ctx, func(tx store.Tx) error {
				var err error
				if c, err = tx.Conversations().EndInactive(ctx, id, cutoff); err != nil {
					return err
				}
				note, err = addNote(ctx, tx, c, inactivityNote(in.InactivityMinutes))
				return err
			})
			if errors.Is(err, store.ErrIllegalTransition) {
				continue
			}
			if err != nil {
				return n, err
			}
			n++
			e.log.Info("conversation ended for inactivity", "integration", in.ID, "conversation", id)
			e.publish(events.Message, c, note)
			e.publish(events.Ended, c, c)
		}
		if len(ids) > 0 {
			e.assign(ctx)
		}
	}
	return n, nil
}

func inactivityNote(minutes int) string {
	return fmt.Sprintf("Ended after %d minutes without a message from the user", minutes)
}
