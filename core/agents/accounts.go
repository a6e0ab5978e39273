package agents

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/conversa/conversa/core/config"
	"github.com/conversa/conversa/core/events"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 8

// ErrLoginTaken is returned when creating an agent whose login exists.
var ErrLoginTaken = errors.New("login already exists")

// FieldError is an invalid value, named by its field.
type FieldError struct {
	Field, Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

var loginPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,62}$`)

// Normalize fills an agent's defaults and checks every field.
func Normalize(a *model.Agent) error {
	a.ID = strings.ToLower(strings.TrimSpace(a.ID))
	a.Login = a.ID
	a.Name = strings.TrimSpace(a.Name)
	switch {
	case !loginPattern.MatchString(a.ID):
		return &FieldError{"login", "must be 2 to 63 lowercase letters, digits, '.', '_' or '-'"}
	case a.Name == "":
		return &FieldError{"name", "is required"}
	case a.Role != model.RoleAdmin && a.Role != model.RoleAgent:
		return &FieldError{"role", `must be "agent" or "admin"`}
	}
	if a.MaxChats == 0 {
		a.MaxChats = model.DefaultMaxChats
	}
	if a.MaxChats < 1 || a.MaxChats > 100 {
		return &FieldError{"max_chats", "must be between 1 and 100"}
	}
	if len(a.Squads) == 0 && a.Role == model.RoleAgent {
		a.Squads = []string{model.DefaultSquad}
	}
	for i, s := range a.Squads {
		a.Squads[i] = strings.TrimSpace(s)
		if !config.IsSlug(a.Squads[i]) {
			return &FieldError{"squads", fmt.Sprintf("%q must be lowercase letters, digits, '-' or '_'", s)}
		}
	}
	return nil
}

// MaxPasswordBytes is bcrypt's limit: it reads no further, so a longer
// password would be cut without a word.
const MaxPasswordBytes = 72

// HashPassword checks a password's length and returns its bcrypt hash.
func HashPassword(password string) (string, error) {
	if utf8.RuneCountInString(password) < MinPasswordLength {
		return "", &FieldError{"password", fmt.Sprintf("must be at least %d characters", MinPasswordLength)}
	}
	if len(password) > MaxPasswordBytes {
		return "", &FieldError{"password", fmt.Sprintf("must be at most %d bytes (%d letters, fewer with accents or emoji); this one has %d",
			MaxPasswordBytes, MaxPasswordBytes, len(password))}
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hashing the password: %w", err)
	}
	return string(h), nil
}

// Create validates and stores a new agent.
func Create(ctx context.Context, st store.Agents, a *model.Agent, password string) error {
	if err := Normalize(a); err != nil {
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	err = st.Create(ctx, a, hash)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: %s", ErrLoginTaken, a.ID)
	}
	return err
}

// Change is what an admin's edit of an agent changes besides the name,
// role, squads and maximum (PUT /api/v1/agents/{id}).
type Change struct {
	// Password, when not empty, replaces the password.
	Password string
	// Active, when set, activates or deactivates the agent.
	Active *bool
	// Session is the token of the request making the change. When agents
	// change their own password, that session stays signed in.
	Session string
	// By is the person making the change: it goes to the audit log in the
	// same transaction (nil: not recorded).
	By *store.Actor
}

// Update changes an agent's name, role, squads and maximum, and what ch
// says. A new password ends every other session of the agent (whoever
// knew the old one is signed out); a deactivation ends all of them, sets
// the agent offline and puts their open conversations back in the queue.
func (s *Service) Update(ctx context.Context, a *model.Agent, ch Change) error {
	if err := Normalize(a); err != nil {
		return err
	}
	hash := ""
	if ch.Password != "" {
		var err error
		if hash, err = HashPassword(ch.Password); err != nil {
			return err
		}
	}
	deactivate := ch.Active != nil && !*ch.Active
	keep := ""
	if ch.Session != "" && !deactivate {
		// Only the agent's own session can match: an admin changing
		// someone else's password keeps none of theirs.
		keep = hashToken(ch.Session)
	}
	var requeued []*model.Conversation
	var revoked int64
	err := s.st.Tx(ctx, func(tx store.Tx) error {
		requeued, revoked = nil, 0
		var old *model.Agent
		if ch.By != nil {
			var err error
			if old, err = tx.Agents().Get(ctx, a.ID); err != nil {
				return err
			}
		}
		if err := tx.Agents().Update(ctx, a, hash); err != nil {
			return err
		}
		if old != nil {
			for _, e := range agentChanges(ch.By, old, a, hash != "", ch.Active) {
				if err := tx.Audit().Add(ctx, e); err != nil {
					return err
				}
			}
		}
		if ch.Active != nil {
			if err := tx.Agents().SetActive(ctx, a.ID, *ch.Active); err != nil {
				return err
			}
		}
		if hash != "" || deactivate {
			var err error
			if revoked, err = tx.Sessions().DeleteAgent(ctx, a.ID, keep); err != nil {
				return err
			}
		}
		if deactivate {
			if err := tx.Agents().SetStatus(ctx, a.ID, model.AgentOffline); err != nil {
				return err
			}
			var err error
			requeued, err = tx.Conversations().RequeueAgent(ctx, a.ID)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if hash != "" || deactivate {
		s.log.Info("agent's sessions ended", "agent", a.ID, "sessions", revoked, "password_changed", hash != "", "deactivated", deactivate)
	}
	if deactivate {
		if got, err := s.st.Agents().Get(ctx, a.ID); err == nil {
			s.bus.Publish(events.Event{Type: events.Agent, Agent: a.ID, Data: got})
		}
		for _, c := range requeued {
			s.bus.Publish(events.Event{Type: events.Queued, Conversation: c.ID, Agent: a.ID, Squad: c.Squad, Data: c})
		}
	}
	s.Assign(ctx)
	return nil
}

// CommandLine is the actor of changes made with the conversa command (on
// the server's machine: no address).
const CommandLine = "command line"

// CreateBy is Create done by a person: the new agent and its audit entry
// commit together.
func CreateBy(ctx context.Context, st store.Store, a *model.Agent, password string, by *store.Actor) error {
	if err := Normalize(a); err != nil {
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	err = st.Tx(ctx, func(tx store.Tx) error {
		if err := tx.Agents().Create(ctx, a, hash); err != nil {
			return err
		}
		return tx.Audit().Add(ctx, by.Entry("agent.create", a.ID, "role "+a.Role))
	})
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: %s", ErrLoginTaken, a.ID)
	}
	return err
}

// agentChanges are the audit entries of by changing old into a: which
// fields changed, and a password change and an (de)activation as entries
// of their own (never the password).
func agentChanges(by *store.Actor, old, a *model.Agent, password bool, active *bool) []*store.AuditEntry {
	var out []*store.AuditEntry
	if password {
		out = append(out, by.Entry("agent.password", a.ID, ""))
	}
	if active != nil && *active != old.Active {
		action := "agent.deactivate"
		if *active {
			action = "agent.activate"
		}
		out = append(out, by.Entry(action, a.ID, ""))
	}
	var changed []string
	if old.Name != a.Name {
		changed = append(changed, "name")
	}
	if old.Role != a.Role {
		changed = append(changed, "role "+old.Role+" → "+a.Role)
	}
	if !slices.Equal(old.Squads, a.Squads) {
		changed = append(changed, "squads "+strings.Join(a.Squads, ","))
	}
	if old.MaxChats != a.MaxChats {
		changed = append(changed, fmt.Sprintf("max_chats %d → %d", old.MaxChats, a.MaxChats))
	}
	switch {
	case len(changed) > 0:
		out = append(out, by.Entry("agent.update", a.ID, "changed: "+strings.Join(changed, ", ")))
	case len(out) == 0:
		out = append(out, by.Entry("agent.update", a.ID, "saved without changes"))
	}
	return out
}
