package postgres

import (
	"context"
	"strings"
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

// Contacts written before their search words existed (search NULL) are
// indexed when the store opens, found by the words of each field.
func TestOpenIndexesUnindexedContacts(t *testing.T) {
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
	ct, err := db.Contacts().Upsert(ctx, "ig", "17841400000042", store.ContactHints{Name: "Zélia Duncan", Username: "zelia.d"}, db.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := &model.Conversation{Integration: "ig", ContactID: ct.ID, State: model.StateBot, Origin: model.OriginDirect}
	if _, err := db.Conversations().Start(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, `UPDATE contacts SET search = NULL`); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Conversations().List(ctx, store.ConversationFilter{Search: "zelia"}); err != nil || len(got) != 0 {
		t.Fatalf("search before indexing = %d conversations, %v; want none (the test must start unindexed)", len(got), err)
	}
	db.Close()

	db, err = Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"zelia duncan", "@zelia.d", "17841400000042", "dunc"} {
		got, err := db.Conversations().List(ctx, store.ConversationFilter{Search: q})
		if err != nil || len(got) != 1 || got[0].ID != c.ID {
			t.Errorf("search %q after reopening = %v, %v; want conversation %d", q, got, err, c.ID)
		}
	}
	var left int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM contacts WHERE search IS NULL`).Scan(&left); err != nil || left != 0 {
		t.Errorf("contacts left unindexed = %d, %v; want 0", left, err)
	}
}

// A search finds the newest contacts its words match whether they are
// among the newest searchWalk contacts (a common name) or not (a rare
// one, read from the index).
func TestContactSearchBeyondTheNewest(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, testURL(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// searchWalk + 2000 contacts; the first, older than any walk reads,
	// is the only Zuleica; the newest 1500 are Marias. Older contacts'
	// conversations have newer activity, so a list sorted by activity
	// shows which contacts were candidates.
	n := searchWalk + 2000
	for _, q := range []string{
		`INSERT INTO integrations (id, name, channel, squad, inactivity_minutes, source, created_at, updated_at)
			VALUES ('ig', 'IG', 'meta', 'sales', 60, 'config', 0, 0)`,
		`INSERT INTO contacts (id, integration_id, channel_user_id, name, created_at, search)
			SELECT g, 'ig', 'u' || g, n, 0, array_to_tsvector(ARRAY[lower(n), 'u', g::text])
			FROM generate_series(1::bigint, $1) g,
				LATERAL (SELECT CASE WHEN g = 1 THEN 'Zuleica' WHEN g > $1 - 1500 THEN 'Maria' ELSE 'Pedro' END AS n) x`,
		`INSERT INTO conversations (id, integration_id, contact_id, state, origin, started_at, last_activity_at)
			SELECT g, 'ig', g, 'bot', 'direct', 0, ($1 - g) * 1000 FROM generate_series(1::bigint, $1) g`,
		`ANALYZE`,
	} {
		var err error
		if strings.Contains(q, "$1") {
			_, err = db.pool.Exec(ctx, q, n)
		} else {
			_, err = db.pool.Exec(ctx, q)
		}
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	got, err := db.Conversations().List(ctx, store.ConversationFilter{Search: "zuleica"})
	if err != nil || len(got) != 1 || got[0].ID != 1 {
		t.Errorf("List(zuleica) = %v, %v; want conversation 1", conversationIDs(got), err)
	}
	// The page is made of the newest Marias: the oldest of those has the
	// newest activity among them.
	for _, limit := range []int{3, 500} {
		got, err = db.Conversations().List(ctx, store.ConversationFilter{Search: "maria", Limit: limit})
		first := int64(n - limit + 1)
		if err != nil || len(got) != limit || got[0].ID != first || got[limit-1].ID != int64(n) {
			t.Errorf("List(maria, limit %d) = %v, %v; want %d to %d", limit, conversationIDs(got), err, first, n)
		}
	}
}

func conversationIDs(cs []*model.Conversation) []int64 {
	ids := make([]int64, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}
