package agents

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// ErrBadCredentials: unknown login or wrong password (never which).
var ErrBadCredentials = errors.New("wrong login or password")

// ErrNoSession: the token is unknown or expired.
var ErrNoSession = errors.New("not signed in")

// ErrDeactivated: an admin deactivated the agent.
var ErrDeactivated = errors.New("this account is deactivated")

// dummyHash is compared against when the login does not exist, so a wrong
// login takes as long as a wrong password.
// It is made at the first sign-in, not at start-up: every process of the
// binary (plugins and commands too) would otherwise pay a bcrypt to start.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("conversa-timing-equalizer"), bcrypt.DefaultCost)
	return h
})

// Login is a new session.
type Login struct {
	Token string
	CSRF  string
	Agent *model.Agent
}

// Login checks a login and password and opens a session.
func (s *Service) Login(ctx context.Context, login, password string) (*Login, error) {
	hash, err := s.st.Agents().PasswordHash(ctx, login)
	if errors.Is(err, store.ErrNotFound) {
		bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return nil, ErrBadCredentials
	}
	a, err := s.st.Agents().Get(ctx, login)
	if err != nil {
		return nil, err
	}
	if !a.Active {
		// Said only to someone who knows the password.
		return nil, ErrDeactivated
	}
	l, err := s.openSession(ctx, login)
	if err != nil {
		return nil, err
	}
	s.log.Info("agent signed in", "agent", login)
	return l, nil
}

// openSession signs an agent in: a new session and its CSRF token.
func (s *Service) openSession(ctx context.Context, login string) (*Login, error) {
	token, err := randomString(32)
	if err != nil {
		return nil, err
	}
	csrf, err := randomString(24)
	if err != nil {
		return nil, err
	}
	sess := &store.Session{TokenHash: hashToken(token), AgentID: login, CSRFToken: csrf,
		ExpiresAt: s.now().Add(min(s.o.SessionTTL, s.o.SessionLifetime))}
	if err := s.st.Sessions().Create(ctx, sess); err != nil {
		return nil, err
	}
	a, err := s.st.Agents().Get(ctx, login)
	if err != nil {
		return nil, err
	}
	return &Login{Token: token, CSRF: csrf, Agent: a}, nil
}

// Authenticate returns the agent and session of a token, extending the
// session (at most once a minute, to keep reads off the writer).
func (s *Service) Authenticate(ctx context.Context, token string) (*model.Agent, *store.Session, error) {
	a, sess, err := s.session(ctx, token)
	if err != nil {
		return nil, nil, err
	}
	if now := s.now(); now.Sub(sess.LastSeenAt) > 30e9 {
		if err := s.st.Sessions().Touch(ctx, sess.TokenHash, s.expiry(sess, now)); err != nil {
			s.log.Error("extending session", "agent", a.ID, "err", err)
		}
	}
	return a, sess, nil
}

// session looks up a token's session and agent: ErrNoSession when the
// session is unknown (signed out, or revoked by a password change or a
// deactivation), idle too long, or older than its lifetime.
func (s *Service) session(ctx context.Context, token string) (*model.Agent, *store.Session, error) {
	if token == "" {
		return nil, nil, ErrNoSession
	}
	sess, err := s.st.Sessions().Get(ctx, hashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrNoSession
	}
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	if now.After(sess.ExpiresAt) || !now.Before(sess.CreatedAt.Add(s.o.SessionLifetime)) {
		return nil, nil, ErrNoSession
	}
	a, err := s.st.Agents().Get(ctx, sess.AgentID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrNoSession
	}
	if err != nil {
		return nil, nil, err
	}
	if !a.Active {
		return nil, nil, ErrNoSession
	}
	return a, sess, nil
}

// expiry is when a session used at now lapses: after SessionTTL without
// use, and never past its lifetime.
func (s *Service) expiry(sess *store.Session, now time.Time) time.Time {
	idle, end := now.Add(s.o.SessionTTL), sess.CreatedAt.Add(s.o.SessionLifetime)
	if idle.Before(end) {
		return idle
	}
	return end
}

// Logout ends the session of a token.
func (s *Service) Logout(ctx context.Context, token string) error {
	return s.st.Sessions().Delete(ctx, hashToken(token))
}

func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
