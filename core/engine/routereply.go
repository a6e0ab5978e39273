package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// routeReplies sends the texts a routing decision asked to tell the contact
// ("we are closed; we open at 9:00") before the route applies, through the
// outbox as every reply goes. Each text's idempotency key is the inbound
// message's, so a message processed again (after a crash, or a wait for a
// plugin) does not tell the contact twice.
func (e *Engine) routeReplies(ctx context.Context, conv *model.Conversation, msg *model.Message, texts []string) error {
	var replies []model.Content
	for _, t := range texts {
		if t != "" {
			replies = append(replies, model.Content{Type: model.Text, Text: t})
		}
	}
	if len(replies) == 0 {
		return nil
	}
	var sent []*model.Message
	err := e.txEvent(ctx, func(tx store.Tx) error {
		sent = nil
		c, err := tx.Conversations().Get(ctx, conv.ID)
		if err != nil {
			return err
		}
		if c.State == model.StateEnded {
			return nil // ended meanwhile: the route's own step records that
		}
		for i, r := range replies {
			m := &model.Message{Conversation: c.ID, Integration: c.Integration, Author: model.AuthorAssistant, Contents: []model.Content{r}}
			err := tx.Outbox().Enqueue(ctx, m, fmt.Sprintf("route:%d:%d", msg.ID, i))
			switch {
			case errors.Is(err, store.ErrConflict):
				continue // enqueued by an earlier attempt at this message
			case err != nil:
				return err
			}
			sent = append(sent, m)
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.afterReplies(conv, sent)
	return nil
}
