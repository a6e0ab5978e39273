package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/conversa/conversa/core/store"
)

type sessions struct{ h }

func (x sessions) Create(ctx context.Context, s *store.Session) error {
	return x.write(ctx, func(t *txn) error {
		s.CreatedAt, s.LastSeenAt = t.now, t.now
		_, err := t.tx.ExecContext(ctx, `INSERT INTO auth_sessions (token_hash, agent_id, csrf_token, created_at, last_seen_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`, s.TokenHash, s.AgentID, s.CSRFToken, ms(t.now), ms(t.now), ms(s.ExpiresAt))
		return missingRow(conflict(err))
	})
}

func (x sessions) Get(ctx context.Context, tokenHash string) (*store.Session, error) {
	var s store.Session
	var created, seen, expires int64
	err := x.q().QueryRowContext(ctx, `SELECT token_hash, agent_id, csrf_token, created_at, last_seen_at, expires_at
		FROM auth_sessions WHERE token_hash = ?`, tokenHash).Scan(&s.TokenHash, &s.AgentID, &s.CSRFToken, &created, &seen, &expires)
	if err != nil {
		return nil, notFound(err)
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromMS(created), fromMS(seen), fromMS(expires)
	return &s, nil
}

func (x sessions) Touch(ctx context.Context, tokenHash string, expires time.Time) error {
	return x.write(ctx, func(t *txn) error {
		return execOne(ctx, t, `UPDATE auth_sessions SET last_seen_at = ?, expires_at = max(expires_at, ?) WHERE token_hash = ?`,
			ms(t.now), ms(expires), tokenHash)
	})
}

func (x sessions) Delete(ctx context.Context, tokenHash string) error {
	return x.write(ctx, func(t *txn) error {
		_, err := t.tx.ExecContext(ctx, `DELETE FROM auth_sessions WHERE token_hash = ?`, tokenHash)
		return err
	})
}

func (x sessions) DeleteAgent(ctx context.Context, agentID, keep string) (int64, error) {
	var n int64
	err := x.write(ctx, func(t *txn) error {
		res, err := t.tx.ExecContext(ctx, `DELETE FROM auth_sessions WHERE agent_id = ? AND token_hash <> ?`, agentID, keep)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

func (x sessions) DeleteExpired(ctx context.Context) (int64, error) {
	var n int64
	err := x.write(ctx, func(t *txn) error {
		res, err := t.tx.ExecContext(ctx, `DELETE FROM auth_sessions WHERE expires_at < ?`, ms(t.now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

func (x sessions) LastSeen(ctx context.Context, agentID string) (time.Time, error) {
	var v sql.NullInt64
	err := x.q().QueryRowContext(ctx, `SELECT max(last_seen_at) FROM auth_sessions WHERE agent_id = ?`, agentID).Scan(&v)
	if err != nil {
		return time.Time{}, err
	}
	return fromMS(v.Int64), nil
}
