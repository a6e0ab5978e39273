package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/conversa/conversa/core/model"
)

const conversationCols = `c.id, c.integration_id, c.contact_id, c.state, c.squad, c.agent, c.preferred_agent, c.origin, c.priority,
	c.session, c.started_at, c.last_activity_at, c.last_inbound_at, c.queued_at, c.ended_at, c.end_reason`

func scanConversation(r scanner, withContact bool) (*model.Conversation, error) {
	var c model.Conversation
	var started, activity, inbound int64
	var queued, ended sql.NullInt64
	dest := []any{&c.ID, &c.Integration, &c.ContactID, &c.State, &c.Squad, &c.Agent, &c.PreferredAgent, &c.Origin, &c.Priority,
		&c.Session, &started, &activity, &inbound, &queued, &ended, &c.EndReason}
	var ct model.Contact
	var ctInbound, ctProfile int64
	if withContact {
		dest = append(dest, &ct.ID, &ct.Integration, &ct.ChannelUserID, &ct.Username, &ct.Name, &ct.AvatarURL,
			&ctInbound, &ctProfile)
	}
	if err := r.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	c.StartedAt, c.LastActivityAt, c.LastInboundAt = fromMS(started), fromMS(activity), fromMS(inbound)
	c.QueuedAt, c.EndedAt = nullMS(queued), nullMS(ended)
	if withContact {
		ct.LastInboundAt, ct.ProfileAt = fromMS(ctInbound), fromMS(ctProfile)
		c.Contact = &ct
	}
	return &c, nil
}

const conversationWithContact = `SELECT ` + conversationCols + `, ct.id, ct.integration_id, ct.channel_user_id,
	ct.username, ct.name, ct.avatar_url, ct.last_inbound_at, ct.profile_at
	FROM conversations c JOIN contacts ct ON ct.id = c.contact_id`

// OpenConversation returns the contact's conversation that has not ended, or
// ErrNotFound.
func (t *Tx) OpenConversation(ctx context.Context, contactID int64) (*model.Conversation, error) {
	return scanConversation(t.queryRow(ctx, conversationWithContact+` WHERE c.contact_id = ? AND c.state <> 'ended'`, contactID), true)
}

// Conversation reads a conversation (with its contact) inside a write
// transaction.
func (t *Tx) Conversation(ctx context.Context, id int64) (*model.Conversation, error) {
	return scanConversation(t.queryRow(ctx, conversationWithContact+` WHERE c.id = ?`, id), true)
}

// Conversation returns a conversation with its contact.
func (s *Store) Conversation(ctx context.Context, id int64) (*model.Conversation, error) {
	return scanConversation(s.r.QueryRowContext(ctx, conversationWithContact+` WHERE c.id = ?`, id), true)
}

// ConversationFilter selects conversations; zero fields match everything.
type ConversationFilter struct {
	State       string
	Integration string
	Agent       string
	// Search matches the contact's name, username or channel id.
	Search string
	Limit  int
}

// Conversations lists conversations, most recently active first.
func (s *Store) Conversations(ctx context.Context, f ConversationFilter) ([]*model.Conversation, error) {
	var where []string
	var args []any
	if f.State != "" {
		where, args = append(where, "c.state = ?"), append(args, f.State)
	}
	if f.Integration != "" {
		where, args = append(where, "c.integration_id = ?"), append(args, f.Integration)
	}
	if f.Agent != "" {
		where, args = append(where, "c.agent = ?"), append(args, f.Agent)
	}
	if f.Search != "" {
		like := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(f.Search) + "%"
		where = append(where, `(ct.name LIKE ? ESCAPE '\' OR ct.username LIKE ? ESCAPE '\' OR ct.channel_user_id LIKE ? ESCAPE '\')`)
		args = append(args, like, like, like)
	}
	q := conversationWithContact
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 500
	}
	q += " ORDER BY c.last_activity_at DESC, c.id DESC LIMIT ?"
	args = append(args, f.Limit)
	return collectConversations(s.r.QueryContext(ctx, q, args...))
}

// StartConversation inserts a new conversation; c.ID is set.
func (t *Tx) StartConversation(ctx context.Context, c *model.Conversation) error {
	if c.StartedAt.IsZero() {
		c.StartedAt = t.now
	}
	if c.LastActivityAt.IsZero() {
		c.LastActivityAt = c.StartedAt
	}
	return t.queryRow(ctx, `INSERT INTO conversations (integration_id, contact_id, state, squad, agent, preferred_agent,
		origin, priority, session, started_at, last_activity_at, last_inbound_at, queued_at, ended_at, end_reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		c.Integration, c.ContactID, c.State, c.Squad, c.Agent, c.PreferredAgent, c.Origin, c.Priority, c.Session, ms(c.StartedAt),
		ms(c.LastActivityAt), ms(c.LastInboundAt), msOrNull(c.QueuedAt), msOrNull(c.EndedAt), c.EndReason).Scan(&c.ID)
}

// SaveConversation writes back a conversation's mutable fields.
func (t *Tx) SaveConversation(ctx context.Context, c *model.Conversation) error {
	_, err := t.exec(ctx, `UPDATE conversations SET state = ?, squad = ?, agent = ?, preferred_agent = ?, origin = ?,
		priority = ?, session = ?, last_activity_at = ?, last_inbound_at = ?, queued_at = ?, ended_at = ?, end_reason = ?
		WHERE id = ?`,
		c.State, c.Squad, c.Agent, c.PreferredAgent, c.Origin, c.Priority, c.Session, ms(c.LastActivityAt), ms(c.LastInboundAt),
		msOrNull(c.QueuedAt), msOrNull(c.EndedAt), c.EndReason, c.ID)
	return err
}

// Touch moves a conversation's last activity forward.
func (t *Tx) Touch(ctx context.Context, id int64, at time.Time) error {
	_, err := t.exec(ctx, `UPDATE conversations SET last_activity_at = max(last_activity_at, ?) WHERE id = ?`, ms(at), id)
	return err
}

// InactiveConversations lists an integration's open conversations whose user
// has been silent since before cutoff.
func (s *Store) InactiveConversations(ctx context.Context, integration string, cutoff time.Time) ([]int64, error) {
	return collectIDs(s.r.QueryContext(ctx, `SELECT id FROM conversations WHERE integration_id = ? AND state <> 'ended'
		AND last_inbound_at > 0 AND last_inbound_at < ? ORDER BY id`, integration, ms(cutoff)))
}
