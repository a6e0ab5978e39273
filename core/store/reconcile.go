package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/conversa/conversa/core/model"
)

// LatestConversation returns a contact's most recent conversation, open or
// not.
func (t *Tx) LatestConversation(ctx context.Context, contactID int64) (*model.Conversation, error) {
	return scanConversation(t.queryRow(ctx, conversationWithContact+` WHERE c.contact_id = ? ORDER BY c.id DESC LIMIT 1`, contactID), true)
}

// sameMessage reports whether an echo's contents are (the first part of) a
// message we sent: Meta echoes each part of a split text separately, and
// rehosts media under new URLs, so texts match by prefix and media by type.
func sameMessage(ours, echo []model.Content) bool {
	if len(ours) == 0 || len(echo) == 0 {
		return false
	}
	o, e := ours[0], echo[0]
	if e.Text != "" || o.Text != "" {
		return e.Text != "" && strings.HasPrefix(o.Text, e.Text)
	}
	return o.Type == e.Type
}

// UnconfirmedSend finds our outbound message in a conversation that matches
// an echo and whose delivery we could not confirm: a pending send whose last
// attempt had an unknown outcome, or a send the provider accepted without an
// id. Only messages created after since are considered.
func (t *Tx) UnconfirmedSend(ctx context.Context, conversation int64, echo []model.Content, since time.Time) (*model.Message, error) {
	rows, err := t.query(ctx, `SELECT `+messageCols+` FROM messages m JOIN outbox o ON o.message_id = m.id
		WHERE m.conversation_id = ? AND m.created_at >= ? AND
			((o.state = 'pending' AND o.uncertain_since IS NOT NULL) OR (o.state = 'sent' AND m.provider_message_id = ''))
		ORDER BY m.id`, conversation, ms(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		if sameMessage(m.Contents, echo) {
			return m, nil
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return nil, ErrNotFound
}

// ConfirmSend records that a message whose outcome was uncertain did go out,
// under the provider id its echo carried.
func (t *Tx) ConfirmSend(ctx context.Context, messageID int64, providerID string) error {
	if _, err := t.exec(ctx, `UPDATE outbox SET state = 'sent', done_at = ?, last_error = '', uncertain_since = NULL
		WHERE message_id = ? AND state <> 'failed'`, ms(t.now), messageID); err != nil {
		return err
	}
	var integration string
	if err := t.queryRow(ctx, `SELECT integration_id FROM messages WHERE id = ?`, messageID).Scan(&integration); err != nil {
		return err
	}
	if err := t.AddProviderIDs(ctx, integration, messageID, providerID); err != nil {
		return err
	}
	_, err := t.SetMessageStatus(ctx, messageID, model.StatusSent, "")
	return err
}

// AbsorbEcho looks for an echo recorded as a business message (because it
// arrived before we knew our send's outcome) that is in fact our message m.
// When found, the business copy is removed and its provider id moved to m,
// which is confirmed sent; ok reports it.
func (t *Tx) AbsorbEcho(ctx context.Context, m *model.Message, since time.Time) (bool, error) {
	rows, err := t.query(ctx, `SELECT `+messageCols+` FROM messages m WHERE m.conversation_id = ? AND m.author = ?
		AND m.created_at >= ? ORDER BY m.id`, m.Conversation, model.AuthorBusiness, ms(since))
	if err != nil {
		return false, err
	}
	var dup *model.Message
	for rows.Next() {
		b, err := scanMessage(rows)
		if err != nil {
			rows.Close()
			return false, err
		}
		if sameMessage(m.Contents, b.Contents) {
			dup = b
			break
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || dup == nil {
		return false, err
	}
	if _, err := t.exec(ctx, `UPDATE provider_ids SET message_id = ? WHERE message_id = ?`, m.ID, dup.ID); err != nil {
		return false, err
	}
	if _, err := t.exec(ctx, `DELETE FROM reactions WHERE message_id = ?`, dup.ID); err != nil {
		return false, err
	}
	if _, err := t.exec(ctx, `DELETE FROM messages WHERE id = ?`, dup.ID); err != nil {
		return false, err
	}
	if dup.ProviderMessageID == "" {
		return false, errors.New("absorbed echo had no provider id")
	}
	return true, t.ConfirmSend(ctx, m.ID, dup.ProviderMessageID)
}
