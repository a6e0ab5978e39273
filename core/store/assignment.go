package store

import (
	"context"

	"github.com/conversa/conversa/core/model"
)

// SetAgentStatus changes an agent's status.
func (t *Tx) SetAgentStatus(ctx context.Context, id, status string) error {
	res, err := t.exec(ctx, `UPDATE agents SET status = ?, status_at = ? WHERE id = ?`, status, ms(t.now), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// QueuedConversations lists queued conversations in the order they are
// served: higher priority first, then who has waited longest.
func (t *Tx) QueuedConversations(ctx context.Context) ([]*model.Conversation, error) {
	return collectConversations(t.query(ctx, conversationWithContact+` WHERE c.state = 'queued' ORDER BY c.priority DESC, c.queued_at, c.id`))
}

// Queued lists queued conversations for reading (the queues page).
func (s *Store) Queued(ctx context.Context) ([]*model.Conversation, error) {
	return collectConversations(s.r.QueryContext(ctx, conversationWithContact+` WHERE c.state = 'queued' ORDER BY c.squad, c.priority DESC, c.queued_at, c.id`))
}

// AgentsForAssignment lists the agents who may receive conversations now
// (status available), with their open chats counted in this transaction.
func (t *Tx) AgentsForAssignment(ctx context.Context) ([]*model.Agent, error) {
	return collectAgents(t.query(ctx, `SELECT `+agentCols+` FROM agents a WHERE a.status = 'available' ORDER BY a.id`))
}

// AssignConversation gives a queued conversation to an agent. It reports
// false (and changes nothing) unless the conversation is still queued and
// the agent still available below their maximum: checked in the same
// transaction as the write, so concurrent assignments can neither give one
// conversation twice nor push an agent over capacity.
func (t *Tx) AssignConversation(ctx context.Context, convID int64, agentID string) (bool, error) {
	var ok bool
	err := t.queryRow(ctx, `SELECT a.status = 'available' AND
		(SELECT count(*) FROM conversations c WHERE c.agent = a.id AND c.state = 'assigned') < a.max_chats
		FROM agents a WHERE a.id = ?`, agentID).Scan(&ok)
	if err != nil || !ok {
		return false, err
	}
	res, err := t.exec(ctx, `UPDATE conversations SET state = 'assigned', agent = ?, assigned_at = ?, agent_read_id = 0
		WHERE id = ? AND state = 'queued'`, agentID, ms(t.now), convID)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	_, err = t.exec(ctx, `UPDATE agents SET last_assigned_at = ? WHERE id = ?`, ms(t.now), agentID)
	return err == nil, err
}

// RequeueAgent puts an agent's open conversations back in their squads'
// queues, ahead of newer arrivals (they keep their original queue time), and
// returns their ids.
func (t *Tx) RequeueAgent(ctx context.Context, agentID string) ([]int64, error) {
	return collectIDs(t.query(ctx, `UPDATE conversations SET state = 'queued', agent = '',
		queued_at = coalesce(queued_at, started_at) WHERE agent = ? AND state = 'assigned' RETURNING id`, agentID))
}

// MarkRead records the last message the assigned agent has seen.
func (t *Tx) MarkRead(ctx context.Context, convID, messageID int64) error {
	_, err := t.exec(ctx, `UPDATE conversations SET agent_read_id = max(agent_read_id, ?) WHERE id = ?`, messageID, convID)
	return err
}

// Unread counts, per conversation, the user's messages the agent has not
// seen.
func (s *Store) Unread(ctx context.Context, ids []int64) (map[int64]int, error) {
	out := map[int64]int{}
	for _, id := range ids {
		var n int
		if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
			WHERE c.id = ? AND m.direction = 'in' AND m.id > c.agent_read_id`, id).Scan(&n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, nil
}
