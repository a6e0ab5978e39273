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
// slot may have opened (a conversation queued or ended, an agent available),
// on whichever node saw it.
//
// Each assignment is a transaction of its own that locks one agent, and
// the store repeats every check in it: the choice made here is a
// preference, not the guarantee, so assignment stays correct whatever runs
// concurrently, on this node or another. (One transaction for the whole
// pass would hold several agents' locks at once, which two nodes can take
// in opposite orders.)
func (s *Service) Assign(ctx context.Context) {
	s.assignMu.Lock()
	defer s.assignMu.Unlock()
	// The agents first: they are few, and when none of them has a free
	// slot, no queued conversation can be assigned, however long the queue
	// (a queue that grows under load while every agent is busy is when
	// Assign runs most). Listing the queue only then keeps each call to a
	// query of the agents. A slot that frees meanwhile calls Assign again
	// (an end, a requeue, a status change), so nothing waits for it.
	available, err := s.st.Agents().Available(ctx)
	if err != nil {
		s.log.Error("assignment failed", "err", err)
		return
	}
	if !anyFreeSlot(available) {
		return
	}
	queued, err := s.st.Conversations().Queued(ctx)
	if err != nil || len(queued) == 0 {
		if err != nil {
			s.log.Error("assignment failed", "err", err)
		}
		return
	}
	for _, c := range queued {
		for {
			a, wait := pick(c, available)
			if a == nil || wait {
				break
			}
			var done *model.Conversation
			var note *model.Message
			err := s.st.Tx(ctx, func(tx store.Tx) error {
				var err error
				if done, err = tx.Conversations().Assign(ctx, c.ID, a.ID); err != nil {
					return err
				}
				note = model.SystemNote(done, "Assigned to "+model.AgentName(a))
				_, err = tx.Messages().Add(ctx, note)
				return err
			})
			if errors.Is(err, store.ErrNoCapacity) {
				// Filled meanwhile (another node assigned), or no longer
				// available: try the next agent for this conversation.
				a.OpenChats = a.MaxChats
				continue
			}
			if errors.Is(err, store.ErrIllegalTransition) || errors.Is(err, store.ErrNotFound) {
				break // assigned, ended or gone meanwhile
			}
			if err != nil {
				s.log.Error("assignment failed", "conversation", c.ID, "agent", a.ID, "err", err)
				return
			}
			a.OpenChats++
			a.LastAssignedAt = s.now()
			s.log.Info("conversation assigned", "conversation", done.ID, "agent", done.Agent, "squad", done.Squad)
			s.bus.Publish(events.Event{Type: events.Message, Conversation: done.ID, Agent: done.Agent, Squad: done.Squad, Data: note})
			s.bus.Publish(events.Event{Type: events.Assigned, Conversation: done.ID, Agent: done.Agent, Squad: done.Squad, Data: done})
			break
		}
	}
}

// anyFreeSlot reports whether some available agent can take another
// conversation. It only saves work: the store's guarded Assign decides.
func anyFreeSlot(available []*model.Agent) bool {
	for _, a := range available {
		if a.OpenChats < a.MaxChats {
			return true
		}
	}
	return false
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
