package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

type agents struct{ h h }

const agentCols = `a.id, a.name, a.role, a.squads, a.max_chats, a.status, a.status_at, a.last_assigned_at, a.created_at,
	(SELECT count(*) FROM conversations c WHERE c.agent = a.id AND c.state = 'assigned'), a.active`

func scanAgent(r pgx.Row) (*model.Agent, error) {
	var a model.Agent
	var squads string
	var statusAt, lastAssigned, created int64
	if err := r.Scan(&a.ID, &a.Name, &a.Role, &squads, &a.MaxChats, &a.Status, &statusAt, &lastAssigned, &created,
		&a.OpenChats, &a.Active); err != nil {
		return nil, notFound(err)
	}
	if err := json.Unmarshal([]byte(squads), &a.Squads); err != nil {
		return nil, fmt.Errorf("agent %s squads: %w", a.ID, err)
	}
	a.Login = a.ID
	a.StatusAt, a.LastAssignedAt, a.CreatedAt = fromMS(statusAt), fromMS(lastAssigned), fromMS(created)
	return &a, nil
}

var collectAgents = collect(scanAgent)

// Create lets the primary key refuse a taken login without a failed
// statement: in PostgreSQL an error would abort the caller's transaction,
// and ErrConflict is an answer the caller may act on and go on.
func (x agents) Create(ctx context.Context, a *model.Agent, passwordHash string) error {
	squads, err := json.Marshal(nonNil(a.Squads))
	if err != nil {
		return err
	}
	if a.Status == "" {
		a.Status = model.AgentOffline
	}
	return x.h.write(ctx, func(t *txn) error {
		tag, err := t.tx.Exec(ctx, `INSERT INTO agents (id, name, role, password_hash, squads, max_chats, status, status_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (id) DO NOTHING`,
			a.ID, a.Name, a.Role, passwordHash, string(squads), a.MaxChats, a.Status, ms(t.now))
		if err != nil {
			return conflict(err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: login %q is taken", store.ErrConflict, a.ID)
		}
		a.Login, a.CreatedAt, a.StatusAt, a.Active = a.ID, t.now, t.now, true
		return nil
	})
}

// Update takes the agent's row lock like Conversations.Assign, so a lowered
// maximum applies to every assignment that starts after it commits.
func (x agents) Update(ctx context.Context, a *model.Agent, passwordHash string) error {
	squads, err := json.Marshal(nonNil(a.Squads))
	if err != nil {
		return err
	}
	return x.h.write(ctx, func(t *txn) error {
		return updateOne(ctx, t, `UPDATE agents SET name = $1, role = $2, squads = $3, max_chats = $4,
			password_hash = coalesce(nullif($5, ''), password_hash) WHERE id = $6`,
			a.Name, a.Role, string(squads), a.MaxChats, passwordHash, a.ID)
	})
}

func (x agents) Get(ctx context.Context, id string) (*model.Agent, error) {
	return scanAgent(x.h.q().QueryRow(ctx, `SELECT `+agentCols+` FROM agents a WHERE a.id = $1`, id))
}

func (x agents) List(ctx context.Context) ([]*model.Agent, error) {
	return collectAgents(x.h.q().Query(ctx, `SELECT `+agentCols+` FROM agents a ORDER BY a.id`))
}

func (x agents) Available(ctx context.Context) ([]*model.Agent, error) {
	return collectAgents(x.h.q().Query(ctx, `SELECT `+agentCols+` FROM agents a WHERE a.status = 'available' AND a.active ORDER BY a.id`))
}

// SetStatus writes the agent's row, so it waits for the assignments to the
// agent in progress (they hold the row's lock, see Conversations.Assign) and
// every assignment after it reads the new status: once an agent going
// offline is committed, nobody gives them another conversation, and a
// RequeueAgent in the same transaction sees every conversation they got.
func (x agents) SetStatus(ctx context.Context, id, status string) error {
	return x.h.write(ctx, func(t *txn) error {
		return updateOne(ctx, t, `UPDATE agents SET status = $1, status_at = $2 WHERE id = $3`, status, ms(t.now), id)
	})
}

// SetActive writes the agent's row, like SetStatus: an assignment in
// progress finishes first, and none starts for a deactivated agent after.
func (x agents) SetActive(ctx context.Context, id string, active bool) error {
	return x.h.write(ctx, func(t *txn) error {
		return updateOne(ctx, t, `UPDATE agents SET active = $1 WHERE id = $2`, active, id)
	})
}

func (x agents) PasswordHash(ctx context.Context, id string) (string, error) {
	var hash string
	err := x.h.q().QueryRow(ctx, `SELECT password_hash FROM agents WHERE id = $1`, id).Scan(&hash)
	return hash, notFound(err)
}

// CreateFirst locks the agents table against writers (readers go on) for
// the check and the insert: under READ COMMITTED two transactions would both
// see no agent, and several nodes may run a setup at once. The lock is taken
// only while no agent exists, so it is never waited on in service.
func (x agents) CreateFirst(ctx context.Context, a *model.Agent, passwordHash string) error {
	return x.h.write(ctx, func(t *txn) error {
		if _, err := t.tx.Exec(ctx, `LOCK TABLE agents IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		var exists bool
		if err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM agents)`).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("%w: an agent exists already", store.ErrConflict)
		}
		if err := (agents{h{db: x.h.db, tx: t}}).Create(ctx, a, passwordHash); err != nil {
			return err
		}
		_, err := t.tx.Exec(ctx, `DELETE FROM setup_tokens`)
		return err
	})
}

func (x agents) AddSetupToken(ctx context.Context, digest string) error {
	return x.h.write(ctx, func(t *txn) error {
		_, err := t.tx.Exec(ctx, `INSERT INTO setup_tokens (digest, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			digest, ms(t.now))
		return err
	})
}

func (x agents) SetupTokens(ctx context.Context) ([]string, error) {
	return collectStrings(x.h.q().Query(ctx, `SELECT digest FROM setup_tokens ORDER BY created_at, digest`))
}
