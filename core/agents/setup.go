package agents

import (
	"context"
	"crypto/subtle"
	"errors"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// Setup in the browser (CONTRACT §9): while no agent exists, each node that
// starts prints a one-time setup URL, and whoever holds one of those tokens
// creates the first admin. The tokens' digests live in the database, so a
// token printed by one node works on every node sharing it; creating the
// first admin forgets them all.

// ErrSetupDone: an agent exists, so there is nothing to set up.
var ErrSetupDone = errors.New("setup is done: an agent exists already; sign in instead")

// ErrBadSetupToken: the token is not one a node printed.
var ErrBadSetupToken = errors.New("wrong or expired setup token: use the setup URL printed when Conversa started")

// setupTokenBytes is the setup token's randomness: 256 bits.
const setupTokenBytes = 32

// SetupNeeded reports whether no agent exists yet.
func (s *Service) SetupNeeded(ctx context.Context) (bool, error) {
	all, err := s.st.Agents().List(ctx)
	if err != nil {
		return false, err
	}
	return len(all) == 0, nil
}

// SetupToken makes a new setup token and records its digest, or returns ""
// when an agent exists. A restart makes another; earlier ones keep working
// until the first admin is created.
func (s *Service) SetupToken(ctx context.Context) (string, error) {
	needed, err := s.SetupNeeded(ctx)
	if err != nil || !needed {
		return "", err
	}
	token, err := randomString(setupTokenBytes)
	if err != nil {
		return "", err
	}
	if err := s.st.Agents().AddSetupToken(ctx, hashToken(token)); err != nil {
		return "", err
	}
	return token, nil
}

// Setup creates the first admin, in the default squad so they can take
// chats at once, and signs them in. It refuses with ErrSetupDone once any
// agent exists (also when another setup won the race), with
// ErrBadSetupToken for a token no node printed, and with a *FieldError for
// a bad login, name or password; the token is checked before the fields.
//
// The creation is the audit log's first entry: the new admin, from ip.
func (s *Service) Setup(ctx context.Context, token string, a *model.Agent, password, ip string) (*Login, error) {
	needed, err := s.SetupNeeded(ctx)
	if err != nil {
		return nil, err
	}
	if !needed {
		return nil, ErrSetupDone
	}
	ok, err := s.validSetupToken(ctx, token)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrBadSetupToken
	}
	a.Role = model.RoleAdmin
	if len(a.Squads) == 0 {
		a.Squads = []string{model.DefaultSquad}
	}
	if err := Normalize(a); err != nil {
		return nil, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return nil, err
	}
	err = s.st.Tx(ctx, func(tx store.Tx) error {
		if err := tx.Agents().CreateFirst(ctx, a, hash); err != nil {
			return err
		}
		by := &store.Actor{Login: a.ID, IP: ip}
		return tx.Audit().Add(ctx, by.Entry("setup", a.ID, "the first admin"))
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, ErrSetupDone
		}
		return nil, err
	}
	s.log.Info("first admin created in the browser", "agent", a.ID)
	return s.openSession(ctx, a.ID)
}

// validSetupToken compares the token's digest with every recorded one in
// constant time, without stopping at a match.
func (s *Service) validSetupToken(ctx context.Context, token string) (bool, error) {
	if token == "" {
		return false, nil
	}
	digests, err := s.st.Agents().SetupTokens(ctx)
	if err != nil {
		return false, err
	}
	got := []byte(hashToken(token))
	match := 0
	for _, d := range digests {
		match |= subtle.ConstantTimeCompare(got, []byte(d))
	}
	return match == 1, nil
}
