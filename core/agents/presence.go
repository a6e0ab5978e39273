package agents

import (
	"context"
	"errors"
	"fmt"

	"github.com/conversa/conversa/core/events"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// ErrNoSquad: someone in no squad cannot be available (no chat would reach
// them).
var ErrNoSquad = errors.New("in no squad")

// SetStatus changes an agent's status. Going offline re-queues their open
// conversations; becoming available may bring them conversations at once.
func (s *Service) SetStatus(ctx context.Context, id, status string) (*model.Agent, error) {
	return s.SetStatusBy(ctx, id, status, nil)
}

// SetStatusBy is SetStatus done by another person (by; nil or the agent
// themself: not audited), recorded in the audit log in the same
// transaction.
func (s *Service) SetStatusBy(ctx context.Context, id, status string, by *store.Actor) (*model.Agent, error) {
	switch status {
	case model.AgentAvailable, model.AgentPaused, model.AgentOffline:
	default:
		return nil, &FieldError{"status", fmt.Sprintf("must be %q, %q or %q", model.AgentAvailable, model.AgentPaused, model.AgentOffline)}
	}
	var requeued []*model.Conversation
	err := s.st.Tx(ctx, func(tx store.Tx) error {
		requeued = nil
		if status != model.AgentOffline {
			a, err := tx.Agents().Get(ctx, id)
			if err != nil {
				return err
			}
			if !a.Active {
				return ErrDeactivated
			}
			// Chats are assigned by squad: available in none, nothing would
			// ever come, though the console would say it does.
			if status == model.AgentAvailable && len(a.Squads) == 0 {
				return ErrNoSquad
			}
		}
		if err := tx.Agents().SetStatus(ctx, id, status); err != nil {
			return err
		}
		if by != nil && by.Login != id {
			if err := tx.Audit().Add(ctx, by.Entry("agent.status", id, "status "+status)); err != nil {
				return err
			}
		}
		if status == model.AgentOffline {
			var err error
			requeued, err = tx.Conversations().RequeueAgent(ctx, id)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	a, err := s.st.Agents().Get(ctx, id)
	if err != nil {
		return nil, err
	}
	s.log.Info("agent status", "agent", id, "status", status, "requeued", len(requeued))
	s.bus.Publish(events.Event{Type: events.Agent, Agent: id, Data: a})
	for _, c := range requeued {
		// The agent who lost it is told too, so their console drops it.
		s.bus.Publish(events.Event{Type: events.Queued, Conversation: c.ID, Agent: id, Squad: c.Squad, Data: c})
	}
	if status == model.AgentAvailable || len(requeued) > 0 {
		s.Assign(ctx)
	}
	return a, nil
}

// Connected records an open console (live events stream) of an agent; the
// returned function records its closing. An agent with a console open is
// present. On several nodes the leader only knows its own streams: the
// others show theirs through KeepAlive.
func (s *Service) Connected(id string) (release func()) {
	s.connMu.Lock()
	s.conns[id]++
	s.connMu.Unlock()
	return func() {
		s.connMu.Lock()
		s.conns[id]--
		if s.conns[id] <= 0 {
			delete(s.conns, id)
		}
		s.connMu.Unlock()
	}
}

// KeepAlive records that the session of token is in use (its console's
// stream is open), so that whichever node runs the presence timer sees the
// agent present. ErrNoSession when the session has ended meanwhile (its
// lifetime is over, or it was revoked): the stream must close, or it would
// go on showing a revoked session every message.
func (s *Service) KeepAlive(ctx context.Context, token string) error {
	_, sess, err := s.session(ctx, token)
	if err != nil {
		return err
	}
	return s.st.Sessions().Touch(ctx, sess.TokenHash, s.expiry(sess, s.now()))
}

// Check reports whether the session of token still stands (ErrNoSession
// when not), without recording a use: what a long-lived stream asks often.
func (s *Service) Check(ctx context.Context, token string) error {
	_, _, err := s.session(ctx, token)
	return err
}

func (s *Service) connected(id string) bool {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.conns[id] > 0
}

// expirePresence sets offline the agents whose session lapsed: available or
// paused, with no console open and no request for PresenceTimeout. Their
// chats go back to the queue instead of waiting for someone who left.
func (s *Service) expirePresence(ctx context.Context) {
	if _, err := s.st.Sessions().DeleteExpired(ctx); err != nil {
		s.log.Error("removing expired sessions", "err", err)
	}
	all, err := s.st.Agents().List(ctx)
	if err != nil {
		s.log.Error("presence check", "err", err)
		return
	}
	now := s.now()
	for _, a := range all {
		if a.Status == model.AgentOffline || s.connected(a.ID) {
			continue
		}
		seen, err := s.st.Sessions().LastSeen(ctx, a.ID)
		if err != nil {
			continue
		}
		if seen.Before(a.StatusAt) {
			seen = a.StatusAt
		}
		if now.Sub(seen) < s.o.PresenceTimeout {
			continue
		}
		s.log.Info("agent session lapsed: set offline", "agent", a.ID, "last_seen", seen)
		if _, err := s.SetStatus(ctx, a.ID, model.AgentOffline); err != nil {
			s.log.Error("setting lapsed agent offline", "agent", a.ID, "err", err)
		}
	}
}
