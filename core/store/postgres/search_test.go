package postgres

import (
	"context"
	"testing"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// Messages written before search existed (search NULL) are indexed when
// the store opens: found by their words, a deleted one still not.
func TestOpenIndexesUnindexedMessages(t *testing.T) {
	ctx := context.Background()
	url := testURL(t)
	db, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Integrations().Put(ctx, &model.Integration{ID: "ig", Name: "IG", Channel: "fake", Squad: "geral",
		Source: model.SourceAPI, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	var convs []*model.Conversation
	var msgs []*model.Message
	for i, body := range []string{"Não chegou a encomenda", "encomenda apagada"} {
		ct, err := db.Contacts().Upsert(ctx, "ig", string(rune('a'+i)), store.ContactHints{}, db.Now())
		if err != nil {
			t.Fatal(err)
		}
		c := &model.Conversation{Integration: "ig", ContactID: ct.ID, State: model.StateBot, Origin: model.OriginDirect}
		if _, err := db.Conversations().Start(ctx, c); err != nil {
			t.Fatal(err)
		}
		m := &model.Message{Conversation: c.ID, Integration: "ig", Direction: model.DirectionIn, Author: model.AuthorContact,
			Contents: []model.Content{{Type: model.Text, Text: body}}, Status: model.StatusReceived}
		if _, err := db.Messages().Add(ctx, m); err != nil {
			t.Fatal(err)
		}
		convs, msgs = append(convs, c), append(msgs, m)
	}
	if _, err := db.pool.Exec(ctx, `UPDATE messages SET deleted_at = 1 WHERE id = $1`, msgs[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, `UPDATE messages SET search = NULL`); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Conversations().List(ctx, store.ConversationFilter{Search: "encomenda"}); err != nil || len(got) != 0 {
		t.Fatalf("search before indexing = %d conversations, %v; want none (the test must start unindexed)", len(got), err)
	}
	db.Close()

	db, err = Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.Conversations().List(ctx, store.ConversationFilter{Search: "nao chegou encomenda"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != convs[0].ID || got[0].Match == nil || got[0].Match.MessageID != msgs[0].ID {
		t.Errorf("search after reopening = %+v, want conversation %d by message %d", got, convs[0].ID, msgs[0].ID)
	}
	if got, err := db.Conversations().List(ctx, store.ConversationFilter{Search: "apagada"}); err != nil || len(got) != 0 {
		t.Errorf("search for the deleted message's words = %d conversations, %v; want none", len(got), err)
	}
	var left int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE search IS NULL`).Scan(&left); err != nil || left != 0 {
		t.Errorf("messages left unindexed = %d, %v; want 0", left, err)
	}
}
