package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"

	"github.com/conversa/conversa/core/model"
)

const agentCols = `a.id, a.name, a.role, a.squads, a.max_chats, a.status, a.status_at, a.last_assigned_at, a.created_at,
	(SELECT count(*) FROM conversations c WHERE c.agent = a.id AND c.state = 'assigned')`

func scanAgent(r scanner) (*model.Agent, error) {
	var a model.Agent
	var squads string
	var statusAt, lastAssigned, created int64
	if err := r.Scan(&a.ID, &a.Name, &a.Role, &squads, &a.MaxChats, &a.Status, &statusAt, &lastAssigned, &created,
		&a.OpenChats); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	if err := json.Unmarshal([]byte(squads), &a.Squads); err != nil {
		return nil, err
	}
	a.Login = a.ID
	a.StatusAt, a.LastAssignedAt, a.CreatedAt = fromMS(statusAt), fromMS(lastAssigned), fromMS(created)
	return &a, nil
}

// CreateAgent adds an agent with a password hash; ErrConflict when the login
// is taken.
func (t *Tx) CreateAgent(ctx context.Context, a *model.Agent, passwordHash string) error {
	squads, _ := json.Marshal(nonNil(a.Squads))
	if a.Status == "" {
		a.Status = model.AgentOffline
	}
	_, err := t.exec(ctx, `INSERT INTO agents (id, name, role, password_hash, squads, max_chats, status, status_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.Name, a.Role, passwordHash, string(squads), a.MaxChats, a.Status,
		ms(t.now), ms(t.now))
	if err != nil && strings.Contains(err.Error(), "UNIQUE") {
		return ErrConflict
	}
	a.Login, a.CreatedAt, a.StatusAt = a.ID, t.now, t.now
	return err
}

// UpdateAgent writes an agent's editable fields (name, role, squads, max
// chats); the password only when hash is not empty.
func (t *Tx) UpdateAgent(ctx context.Context, a *model.Agent, passwordHash string) error {
	squads, _ := json.Marshal(nonNil(a.Squads))
	res, err := t.exec(ctx, `UPDATE agents SET name = ?, role = ?, squads = ?, max_chats = ?,
		password_hash = CASE WHEN ? <> '' THEN ? ELSE password_hash END WHERE id = ?`,
		a.Name, a.Role, string(squads), a.MaxChats, passwordHash, passwordHash, a.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Agent returns one agent.
func (s *Store) Agent(ctx context.Context, id string) (*model.Agent, error) {
	return scanAgent(s.r.QueryRowContext(ctx, `SELECT `+agentCols+` FROM agents a WHERE a.id = ?`, id))
}

// Agent reads an agent inside a write transaction.
func (t *Tx) Agent(ctx context.Context, id string) (*model.Agent, error) {
	return scanAgent(t.queryRow(ctx, `SELECT `+agentCols+` FROM agents a WHERE a.id = ?`, id))
}

// Agents lists every agent by login.
func (s *Store) Agents(ctx context.Context) ([]*model.Agent, error) {
	return collectAgents(s.r.QueryContext(ctx, `SELECT `+agentCols+` FROM agents a ORDER BY a.id`))
}

// PasswordHash returns an agent's bcrypt hash (ErrNotFound for no agent).
func (s *Store) PasswordHash(ctx context.Context, id string) (string, error) {
	var h string
	err := s.r.QueryRowContext(ctx, `SELECT password_hash FROM agents WHERE id = ?`, id).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return h, err
}
