package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Search (CONTRACT §5 GET /api/v1/conversations?q=) through the binary:
// Meta's webhooks bring the messages; agents find the conversations by the
// words their contacts wrote, their own only; admins everywhere.

// searchHit is a conversation in search results, with the message that
// matched.
type searchHit struct {
	ID    int64 `json:"id"`
	Match *struct {
		MessageID int64  `json:"message_id"`
		Text      string `json:"text"`
	} `json:"match"`
}

func (s *server) search(token, q string) []searchHit {
	s.t.Helper()
	var resp struct {
		Conversations []searchHit `json:"conversations"`
	}
	if status := s.api("GET", "/api/v1/conversations?q="+url.QueryEscape(q), token, nil, &resp); status != 200 {
		s.t.Fatalf("GET /api/v1/conversations?q=%s = %d, want 200", q, status)
	}
	return resp.Conversations
}

func hitIDs(hits []searchHit) []int64 {
	ids := []int64{}
	for _, h := range hits {
		ids = append(ids, h.ID)
	}
	return ids
}

func TestSearchByMessageText(t *testing.T) {
	graph := newFakeGraph(t)
	graph.setProfile("5001", profileJSON("5001", "Ana Souza", "ana.souza"))
	graph.setProfile("5002", profileJSON("5002", "Bruno Lima", "bruno.lima"))
	srv := newServer(t, metaConfig(graph.URL, ""))
	admin := srv.admin()
	srv.agentsAdd("ana", "agent", "ana-password")
	srv.agentsAdd("bia", "agent", "bia-password")
	ana, bia := srv.signIn("ana", "ana-password"), srv.signIn("bia", "bia-password")

	// Ana Souza's chat goes to Ana (the only one available), Bruno's to Bia.
	srv.api("PUT", "/api/v1/me/status", ana, map[string]string{"status": "available"}, nil)
	srv.deliverMeta("ig-meta", metaText("5001", "s1", handoffText, time.Now()))
	eventually(t, "Ana Souza's chat with Ana", func() bool { return len(srv.conversations(ana, "?state=assigned")) == 1 })
	srv.deliverMeta("ig-meta", metaText("5001", "s2", "Olá, o pedido 4711 ainda não chegou", time.Now()))
	srv.api("PUT", "/api/v1/me/status", ana, map[string]string{"status": "paused"}, nil)
	srv.api("PUT", "/api/v1/me/status", bia, map[string]string{"status": "available"}, nil)
	srv.deliverMeta("ig-meta", metaText("5002", "b1", handoffText, time.Now()))
	eventually(t, "Bruno's chat with Bia", func() bool { return len(srv.conversations(bia, "?state=assigned")) == 1 })
	srv.deliverMeta("ig-meta", metaText("5002", "b2", "Meu pedido atrasou", time.Now()))
	eventually(t, "every message stored and searchable", func() bool { return srv.drained() && srv.searchable() })
	souza, bruno := srv.conversations(ana, "")[0].ID, srv.conversations(bia, "")[0].ID

	cases := []struct {
		who, token, q string
		want          []int64
	}{
		{"admin", admin, "pedido", []int64{bruno, souza}}, // newest activity first
		{"admin", admin, "4711", []int64{souza}},
		{"admin", admin, "NAO CHEGOU", []int64{souza}},
		{"admin", admin, "atras", []int64{bruno}}, // typing: a prefix
		{"admin", admin, "@ana.souza", []int64{souza}},
		{"admin", admin, "5002", []int64{bruno}},
		{"ana", ana, "pedido", []int64{souza}},
		{"ana", ana, "atrasou", nil}, // Bia's conversation
		{"bia", bia, "pedido", []int64{bruno}},
		{"bia", bia, "@ana.souza", nil},
	}
	for _, c := range cases {
		hits := srv.search(c.token, c.q)
		if got := hitIDs(hits); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s searching %q = %v, want %v", c.who, c.q, got, c.want)
		}
	}

	// The match shows the message and the words around the hit.
	hits := srv.search(admin, "4711")
	if len(hits) != 1 || hits[0].Match == nil || !strings.Contains(hits[0].Match.Text, "pedido 4711 ainda não chegou") {
		t.Fatalf("search 4711 = %+v, want Ana Souza's conversation with the message's text", hits)
	}
	var conv apiConversation
	srv.api("GET", fmt.Sprintf("/api/v1/conversations/%d", souza), admin, nil, &conv)
	found := false
	for _, m := range conv.Messages {
		found = found || (m.ID == hits[0].Match.MessageID && m.Contents[0].Text == "Olá, o pedido 4711 ainda não chegou")
	}
	if !found {
		t.Errorf("match message_id %d is not the conversation's message with the hit", hits[0].Match.MessageID)
	}
	if h := srv.search(admin, "@ana.souza"); len(h) != 1 || h[0].Match != nil {
		t.Errorf("search @ana.souza = %+v, want the conversation without a match (found by its username)", h)
	}

	// Query syntax, wildcards, emoji and bytes that are no text: answers,
	// never errors.
	for _, q := range []string{`"`, `*`, `AND`, `(`, `pedido)`, `🎉`, `%`, `'; DROP TABLE messages; --`, "\xff\xfe", "ped\x00ido"} {
		status := srv.api("GET", "/api/v1/conversations?q="+url.QueryEscape(q), admin, nil, nil)
		if status != 200 {
			t.Errorf("search %q = %d, want 200", q, status)
		}
	}
}

// In the admin console, typing a word of a message into the search box
// finds the conversation, shows the message under it and marks the word.
func TestConsoleSearchHighlightsTheMatch(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newConsoleServer(t, metaConfig(graph.URL, ""), nil, adminOlga)
	graph.setProfile(customerA, profileOf(srv))
	mustPostMeta(t, srv, userMessage(t, "Bom dia! A encomenda <b>4711</b> não chegou até agora"))
	admin := srv.bearer(adminOlga.Login, adminOlga.Password)
	eventually(t, "the message stored", func() bool { return len(srv.search(admin, "encomenda")) == 1 })

	ctx := newBrowser(t)
	browserSignIn(t, ctx, srv, adminOlga.Login, adminOlga.Password)
	act(t, ctx, "opening Conversations",
		chromedp.Navigate(srv.URL+"/conversations"),
		chromedp.WaitVisible(chromedp.CSS("#search-q")))
	act(t, ctx, "typing a word of the message, without its accent",
		chromedp.SendKeys(chromedp.CSS("#search-q"), "nao chegou"))
	waitFor(t, ctx, "the conversation with the message, its words marked",
		`[...document.querySelectorAll('.conversations-table .search-match mark')].map(m => m.textContent).join(' ') === 'não chegou'`)
	if got := textOf(t, ctx, ".conversations-table .search-match"); got != "Bom dia! A encomenda <b>4711</b> não chegou até agora" {
		t.Errorf("the match shown = %q, want the message's text as text", got)
	}
	if n := evalJS[int](t, ctx, `document.querySelectorAll('.conversations-table .search-match b').length`); n != 0 {
		t.Error("the message's text became markup")
	}
	if got := textOf(t, ctx, ".conversations-table .contact-cell"); !strings.Contains(got, "Ana Souza") {
		t.Errorf("the result's contact = %q, want Ana Souza", got)
	}
	screenshot(t, ctx, screenshotDir(t), "admin-search")
}

// The agent's own search box, above her chats: a word of a message finds
// the chat, shows the message with the word marked, and opens it.
func TestConsoleAgentSearchesHerChats(t *testing.T) {
	srv, ctx, ana := anaAvailableInTheConsole(t)
	mustPostMeta(t, srv, metaText(customerA, "mid-search-1", handoffText, time.Now()))
	mustPostMeta(t, srv, metaText(customerA, "mid-search-2", "O pedido 4711 não chegou", time.Now()))
	eventually(t, "the message in Ana's chat", func() bool { return len(srv.search(ana, "4711")) == 1 })
	waitFor(t, ctx, "the chat in Ana's list", `!!document.querySelector('.chat-list li[data-conversation]')`)
	id := evalJS[int](t, ctx, `Number(document.querySelector('.chat-list li[data-conversation]').dataset.conversation)`)

	act(t, ctx, "typing the order number", chromedp.SendKeys(chromedp.CSS("#chat-search-q"), "4711"))
	waitFor(t, ctx, "the chat found by its message, the number marked",
		`document.querySelector('.chat-search-results .search-match mark')?.textContent === '4711'`)
	if evalJS[bool](t, ctx, `getComputedStyle(document.querySelector('.chat-list')).display !== 'none'`) {
		t.Error("the chat list still shows beside the search results")
	}
	screenshot(t, ctx, screenshotDir(t), "agent-search")
	act(t, ctx, "opening the result",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`.chat-search-results li[data-conversation="%d"] a`, id))),
		chromedp.WaitVisible(chromedp.CSS("#reply-text")))
}
