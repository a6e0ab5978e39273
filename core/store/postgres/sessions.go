package postgres

import (
	"context"
	"time"

	"github.com/conversa/conversa/core/store"
)

type sessions struct{ h h }

var _ store.Sessions = sessions{}

// Create stores a new session. A taken token hash is found by the statement
// (ON CONFLICT DO NOTHING) rather than by an error, which would abort the
// caller's transaction.
func (x sessions) Create(ctx context.Context, s *store.Session) error {
	return x.h.write(ctx, func(t *txn) error {
		s.CreatedAt, s.LastSeenAt = t.now, t.now
		tag, err := t.tx.Exec(ctx, `INSERT INTO auth_sessions (token_hash, agent_id, csrf_token, created_at, last_seen_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (token_hash) DO NOTHING`,
			s.TokenHash, s.AgentID, s.CSRFToken, ms(t.now), ms(t.now), ms(s.ExpiresAt))
		if err != nil {
			return missingRow(err)
		}
		if tag.RowsAffected() == 0 {
			return store.ErrConflict
		}
		return nil
	})
}

func (x sessions) Get(ctx context.Context, tokenHash string) (*store.Session, error) {
	var s store.Session
	var created, seen, expires int64
	err := x.h.q().QueryRow(ctx, `SELECT token_hash, agent_id, csrf_token, created_at, last_seen_at, expires_at
		FROM auth_sessions WHERE token_hash = $1`, tokenHash).Scan(&s.TokenHash, &s.AgentID, &s.CSRFToken, &created, &seen, &expires)
	if err != nil {
		return nil, notFound(err)
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromMS(created), fromMS(seen), fromMS(expires)
	return &s, nil
}

// Touch computes the expiry from the row it updates: of two concurrent
// touches, the one that waited for the other's lock reads its result, so
// the expiry never shrinks.
func (x sessions) Touch(ctx context.Context, tokenHash string, expires time.Time) error {
	return x.h.write(ctx, func(t *txn) error {
		return affectOne(ctx, t.tx, `UPDATE auth_sessions SET last_seen_at = $1, expires_at = greatest(expires_at, $2)
			WHERE token_hash = $3`, ms(t.now), ms(expires), tokenHash)
	})
}

func (x sessions) Delete(ctx context.Context, tokenHash string) error {
	return x.h.write(ctx, func(t *txn) error {
		_, err := t.tx.Exec(ctx, `DELETE FROM auth_sessions WHERE token_hash = $1`, tokenHash)
		return err
	})
}

func (x sessions) DeleteAgent(ctx context.Context, agentID, keep string) (int64, error) {
	var n int64
	err := x.h.write(ctx, func(t *txn) error {
		tag, err := t.tx.Exec(ctx, `DELETE FROM auth_sessions WHERE agent_id = $1 AND token_hash <> $2`, agentID, keep)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		return nil
	})
	return n, err
}

func (x sessions) DeleteExpired(ctx context.Context) (int64, error) {
	var n int64
	err := x.h.write(ctx, func(t *txn) error {
		tag, err := t.tx.Exec(ctx, `DELETE FROM auth_sessions WHERE expires_at < $1`, ms(t.now))
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		return nil
	})
	return n, err
}

func (x sessions) LastSeen(ctx context.Context, agentID string) (time.Time, error) {
	var v *int64 // NULL: no session
	err := x.h.q().QueryRow(ctx, `SELECT max(last_seen_at) FROM auth_sessions WHERE agent_id = $1`, agentID).Scan(&v)
	if err != nil || v == nil {
		return time.Time{}, err
	}
	return fromMS(*v), nil
}
