package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Session is a signed-in agent's session (bearer token or console cookie).
type Session struct {
	TokenHash  string
	AgentID    string
	CSRFToken  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// CreateSession stores a new session.
func (t *Tx) CreateSession(ctx context.Context, s *Session) error {
	s.CreatedAt, s.LastSeenAt = t.now, t.now
	_, err := t.exec(ctx, `INSERT INTO auth_sessions (token_hash, agent_id, csrf_token, created_at, last_seen_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`, s.TokenHash, s.AgentID, s.CSRFToken, ms(t.now), ms(t.now), ms(s.ExpiresAt))
	return err
}

// Session finds a session by its token's hash.
func (s *Store) Session(ctx context.Context, tokenHash string) (*Session, error) {
	var ss Session
	var created, seen, expires int64
	err := s.r.QueryRowContext(ctx, `SELECT token_hash, agent_id, csrf_token, created_at, last_seen_at, expires_at
		FROM auth_sessions WHERE token_hash = ?`, tokenHash).Scan(&ss.TokenHash, &ss.AgentID, &ss.CSRFToken, &created, &seen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt = fromMS(created), fromMS(seen), fromMS(expires)
	return &ss, nil
}

// TouchSession records activity on a session and extends its expiry.
func (t *Tx) TouchSession(ctx context.Context, tokenHash string, expires time.Time) error {
	_, err := t.exec(ctx, `UPDATE auth_sessions SET last_seen_at = ?, expires_at = max(expires_at, ?) WHERE token_hash = ?`,
		ms(t.now), ms(expires), tokenHash)
	return err
}

// DeleteSession ends a session.
func (t *Tx) DeleteSession(ctx context.Context, tokenHash string) error {
	_, err := t.exec(ctx, `DELETE FROM auth_sessions WHERE token_hash = ?`, tokenHash)
	return err
}

// DeleteExpiredSessions removes sessions past their expiry.
func (t *Tx) DeleteExpiredSessions(ctx context.Context) (int64, error) {
	res, err := t.exec(ctx, `DELETE FROM auth_sessions WHERE expires_at < ?`, ms(t.now))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// LastSeen is when an agent last used any of their sessions (zero: never).
func (s *Store) LastSeen(ctx context.Context, agentID string) (time.Time, error) {
	var v sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT max(last_seen_at) FROM auth_sessions WHERE agent_id = ?`, agentID).Scan(&v)
	if err != nil {
		return time.Time{}, err
	}
	return fromMS(v.Int64), nil
}
