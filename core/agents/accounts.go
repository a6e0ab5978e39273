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

// HashPassword checks a password's length and returns its bcrypt hash.
func HashPassword(password string) (string, error) {
	if utf8.RuneCountInString(password) < MinPasswordLength {
		return "", &FieldError{"password", fmt.Sprintf("must be at least %d characters", MinPasswordLength)}
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", &FieldError{"password", err.Error()}
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

// Update changes an agent's name, role, squads and maximum; the password
// too when one is given.
func Update(ctx context.Context, st store.Agents, a *model.Agent, password string) error {
	if err := Normalize(a); err != nil {
		return err
	}
	hash := ""
	if password != "" {
		var err error
		if hash, err = HashPassword(password); err != nil {
			return err
		}
	}
	return st.Update(ctx, a, hash)
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

// UpdateBy is Update done by a person, recorded in the audit log in the
// same transaction: which fields changed, and a password change as an
// entry of its own (never the password).
func UpdateBy(ctx context.Context, st store.Store, a *model.Agent, password string, by *store.Actor) error {
	if err := Normalize(a); err != nil {
		return err
	}
	hash := ""
	if password != "" {
		var err error
		if hash, err = HashPassword(password); err != nil {
			return err
		}
	}
	return st.Tx(ctx, func(tx store.Tx) error {
		old, err := tx.Agents().Get(ctx, a.ID)
		if err != nil {
			return err
		}
		if err := tx.Agents().Update(ctx, a, hash); err != nil {
			return err
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
		if hash != "" {
			if err := tx.Audit().Add(ctx, by.Entry("agent.password", a.ID, "")); err != nil {
				return err
			}
		}
		if len(changed) == 0 && hash != "" {
			return nil
		}
		detail := "saved without changes"
		if len(changed) > 0 {
			detail = "changed: " + strings.Join(changed, ", ")
		}
		return tx.Audit().Add(ctx, by.Entry("agent.update", a.ID, detail))
	})
}
