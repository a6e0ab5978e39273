package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

type agents struct{ h }

const agentCols = `a.id, a.name, a.role, a.squads, a.max_chats, a.status, a.status_at, a.last_assigned_at, a.created_at,
	(SELECT count(*) FROM conversations c WHERE c.agent = a.id AND c.state = 'assigned'), a.active`

// agentsQuery lists the agents, each with their open chats counted from
// conversations_agent.
const agentsQuery = `SELECT ` + agentCols + ` FROM agents a ORDER BY a.id`

func scanAgent(r scanner) (*model.Agent, error) {
	var a model.Agent
	var squads string
	var statusAt, lastAssigned, created int64
	if err := r.Scan(&a.ID, &a.Name, &a.Role, &squads, &a.MaxChats, &a.Status, &statusAt, &lastAssigned, &created,
		&a.OpenChats, &a.Active); err != nil {
		return nil, notFound(err)
	}
	if err := json.Unmarshal([]byte(squads), &a.Squads); err != nil {
		return nil, err
	}
	a.Login = a.ID
	a.StatusAt, a.LastAssignedAt, a.CreatedAt = fromMS(statusAt), fromMS(lastAssigned), fromMS(created)
	return &a, nil
}

var collectAgents = collect(scanAgent)

func (x agents) Create(ctx context.Context, a *model.Agent, passwordHash string) error {
	squads, _ := json.Marshal(nonNil(a.Squads))
	if a.Status == "" {
		a.Status = model.AgentOffline
	}
	return x.write(ctx, func(t *txn) error {
		_, err := t.tx.ExecContext(ctx, `INSERT INTO agents (id, name, role, password_hash, squads, max_chats, status, status_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.Name, a.Role, passwordHash, string(squads), a.MaxChats, a.Status,
			ms(t.now), ms(t.now))
		if err != nil {
			return conflict(err)
		}
		a.Login, a.CreatedAt, a.StatusAt, a.Active = a.ID, t.now, t.now, true
		return nil
	})
}

func (x agents) Update(ctx context.Context, a *model.Agent, passwordHash string) error {
	squads, _ := json.Marshal(nonNil(a.Squads))
	return x.exec(ctx, `UPDATE agents SET name = ?, role = ?, squads = ?, max_chats = ?,
		password_hash = CASE WHEN ? <> '' THEN ? ELSE password_hash END WHERE id = ?`,
		a.Name, a.Role, string(squads), a.MaxChats, passwordHash, passwordHash, a.ID)
}

func (x agents) Get(ctx context.Context, id string) (*model.Agent, error) {
	return scanAgent(x.q().QueryRowContext(ctx, `SELECT `+agentCols+` FROM agents a WHERE a.id = ?`, id))
}

func (x agents) List(ctx context.Context) ([]*model.Agent, error) {
	return collectAgents(x.q().QueryContext(ctx, agentsQuery))
}

func (x agents) Available(ctx context.Context) ([]*model.Agent, error) {
	return collectAgents(x.q().QueryContext(ctx, `SELECT `+agentCols+` FROM agents a WHERE a.status = 'available' AND a.active ORDER BY a.id`))
}

func (x agents) SetStatus(ctx context.Context, id, status string) error {
	return x.write(ctx, func(t *txn) error {
		return execOne(ctx, t, `UPDATE agents SET status = ?, status_at = ? WHERE id = ?`, status, ms(t.now), id)
	})
}

func (x agents) SetActive(ctx context.Context, id string, active bool) error {
	return x.write(ctx, func(t *txn) error {
		return execOne(ctx, t, `UPDATE agents SET active = ? WHERE id = ?`, active, id)
	})
}

func (x agents) PasswordHash(ctx context.Context, id string) (string, error) {
	var hash string
	err := x.q().QueryRowContext(ctx, `SELECT password_hash FROM agents WHERE id = ?`, id).Scan(&hash)
	return hash, notFound(err)
}

// CreateFirst checks and inserts in one write transaction, and SQLite runs
// one write transaction at a time: a second caller sees the first agent.
func (x agents) CreateFirst(ctx context.Context, a *model.Agent, passwordHash string) error {
	return x.write(ctx, func(t *txn) error {
		var exists bool
		if err := t.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM agents)`).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("%w: an agent exists already", store.ErrConflict)
		}
		if err := (agents{h{db: x.db, tx: t}}).Create(ctx, a, passwordHash); err != nil {
			return err
		}
		_, err := t.tx.ExecContext(ctx, `DELETE FROM setup_tokens`)
		return err
	})
}

func (x agents) AddSetupToken(ctx context.Context, digest string) error {
	return x.write(ctx, func(t *txn) error {
		_, err := t.tx.ExecContext(ctx, `INSERT INTO setup_tokens (digest, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING`,
			digest, ms(t.now))
		return err
	})
}

func (x agents) SetupTokens(ctx context.Context) ([]string, error) {
	return collectStrings(x.q().QueryContext(ctx, `SELECT digest FROM setup_tokens ORDER BY created_at, digest`))
}
