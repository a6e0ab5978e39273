package agents

import (
	"context"
	"errors"
	"slices"
	"sort"

	"github.com/conversa/conversa/core/events"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// Assign gives queued conversations to available agents: to the agent of
// the conversation's squad with the fewest open chats below their maximum,
// ties to whoever has waited longest since their last assignment. Higher
// priority and longer-waiting conversations go first. It runs whenever a
// slot may have opened (a conversation queued or ended, an agent available).
//
// Every check is repeated inside the write transaction that assigns, so
// assignment stays correct whatever runs concurrently.
func (s *Service) Assign(ctx context.Context) {
	s.assignMu.Lock()
	defer s.assignMu.Unlock()
	var assigned []*model.Conversation
	err := s.st.Tx(ctx, func(tx store.Tx) error {
		assigned = nil
		queued, err := tx.Conversations().Queued(ctx)
		if err != nil || len(queued) == 0 {
			return err
		}
		available, err := tx.Agents().Available(ctx)
		if err != nil {
			return err
		}
		for _, c := range queued {
			a, wait := pick(c, available)
			if a == nil || wait {
				continue
			}
			// The store checks the agent's capacity in the statement that
			// assigns: this choice is a preference, not the guarantee.
			done, err := tx.Conversations().Assign(ctx, c.ID, a.ID)
			if errors.Is(err, store.ErrNoCapacity) || errors.Is(err, store.ErrIllegalTransition) {
				continue
			}
			if err != nil {
				return err
			}
			a.OpenChats++
			a.LastAssignedAt = tx.Now()
			assigned = append(assigned, done)
		}
		return nil
	})
	if err != nil {
		s.log.Error("assignment failed", "err", err)
		return
	}
	for _, c := range assigned {
		s.log.Info("conversation assigned", "conversation", c.ID, "agent", c.Agent, "squad", c.Squad)
		s.bus.Publish(events.Event{Type: events.Assigned, Conversation: c.ID, Agent: c.Agent, Squad: c.Squad, Data: c})
	}
}

// pick chooses the agent for a conversation among the available ones. wait
// is true when the conversation must wait for the agent routing named (they
// are signed in but cannot take it yet).
func pick(c *model.Conversation, available []*model.Agent) (best *model.Agent, wait bool) {
	if c.PreferredAgent != "" {
		for _, a := range available {
			if a.ID == c.PreferredAgent {
				if a.OpenChats < a.MaxChats {
					return a, false
				}
				return nil, true
			}
		}
		// The named agent is not available: the squad serves the user.
	}
	var candidates []*model.Agent
	for _, a := range available {
		if a.OpenChats < a.MaxChats && slices.Contains(a.Squads, c.Squad) {
			candidates = append(candidates, a)
		}
	}
	if len(candidates) == 0 {
		return nil, false
	}
	sort.SliceStable(candidates, func(i, j int) bool {
		x, y := candidates[i], candidates[j]
		if x.OpenChats != y.OpenChats {
			return x.OpenChats < y.OpenChats
		}
		if !x.LastAssignedAt.Equal(y.LastAssignedAt) {
			return x.LastAssignedAt.Before(y.LastAssignedAt)
		}
		return x.ID < y.ID
	})
	return candidates[0], false
}
