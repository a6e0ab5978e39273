package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// The agent's workspace through the API (CONTRACT §5): private notes,
// labels, the contact panel, assignment to one agent, canned responses,
// and the transcript's notes, each with its refusals.

// workspaceMessage is a message as the API returns it.
type workspaceMessage struct {
	ID       int64  `json:"id"`
	Author   string `json:"author"`
	Status   string `json:"status"`
	Private  bool   `json:"private"`
	Contents []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"contents"`
}

type workspaceConversation struct {
	ID       int64              `json:"id"`
	State    string             `json:"state"`
	Agent    string             `json:"agent"`
	Squad    string             `json:"squad"`
	Labels   []string           `json:"labels"`
	Messages []workspaceMessage `json:"messages"`
	Contact  struct {
		ID int64 `json:"id"`
	} `json:"contact"`
}

// workspaceServer is a Meta install with available agents ana and bia
// (squad geral, one chat each) and an admin; the first user's message is
// handed off and assigned to ana.
func workspaceServer(t *testing.T) (srv *server, graph *fakeGraph, admin, ana, bia string, conv int64) {
	t.Helper()
	graph = newFakeGraph(t)
	srv = newServer(t, metaConfig(graph.URL, ""))
	admin = srv.admin()
	srv.agentsAdd("ana", "agent", "ana-password", "--max-chats", "1")
	srv.agentsAdd("bia", "agent", "bia-password", "--max-chats", "1")
	ana = srv.signIn("ana", "ana-password")
	bia = srv.signIn("bia", "bia-password")
	srv.api("PUT", "/api/v1/me/status", ana, map[string]string{"status": "available"}, nil)
	srv.postMeta("ig-meta", metaSecret, metaText("5001", "w1", handoffText, time.Now()))
	eventually(t, "the chat assigned to ana", func() bool { return len(srv.conversations(ana, "?state=assigned")) == 1 })
	conv = srv.conversations(ana, "?state=assigned")[0].ID
	return
}

func (s *server) conversation(token string, id int64) workspaceConversation {
	s.t.Helper()
	var c workspaceConversation
	if status := s.api("GET", fmt.Sprintf("/api/v1/conversations/%d", id), token, nil, &c); status != 200 {
		s.t.Fatalf("GET conversation %d = %d", id, status)
	}
	return c
}

func notesOf(c workspaceConversation) []string {
	var out []string
	for _, m := range c.Messages {
		if m.Author == "system" && len(m.Contents) > 0 {
			out = append(out, m.Contents[0].Text)
		}
	}
	return out
}

func TestPrivateNoteNeverReachesTheContact(t *testing.T) {
	srv, graph, _, ana, bia, id := workspaceServer(t)
	path := fmt.Sprintf("/api/v1/conversations/%d/messages", id)
	var note workspaceMessage
	status := srv.api("POST", path, ana, map[string]any{
		"contents": []map[string]string{{"type": "text", "text": "internal: she paid twice"}}, "private": true}, &note)
	if status != 201 || !note.Private || note.Status != "internal" {
		t.Fatalf("POST a private note = %d %+v, want 201 private internal", status, note)
	}
	if status := srv.api("POST", path, bia, map[string]any{
		"contents": []map[string]string{{"type": "text", "text": "x"}}, "private": true}, nil); status != 404 {
		t.Errorf("a note by an agent the chat is not assigned to = %d, want 404", status)
	}
	var e apiErrorBody
	if status := srv.api("POST", path, ana, map[string]any{
		"contents": []map[string]string{{"type": "image", "url": "https://example.com/a.jpg"}}, "private": true}, &e); status != 400 || e.Error.Field != "contents[0]" {
		t.Errorf("a private image = %d %+v, want 400 naming contents[0]", status, e)
	}
	// A reply after the note: once the provider has it, the note would
	// have gone before it.
	if status := srv.api("POST", path, ana, map[string]any{
		"contents": []map[string]string{{"type": "text", "text": "Vou verificar o pagamento."}}}, nil); status != 202 {
		t.Fatalf("POST a reply = %d, want 202", status)
	}
	eventually(t, "the reply at the fake Graph API", func() bool {
		for _, r := range graph.sends() {
			if r.Text() == "Vou verificar o pagamento." {
				return true
			}
		}
		return false
	})
	for _, r := range graph.sends() {
		if strings.Contains(fmt.Sprint(r.Body), "paid twice") {
			t.Errorf("the private note reached the provider: %v", r.Body)
		}
	}
	c := srv.conversation(ana, id)
	found := false
	for _, m := range c.Messages {
		if m.ID == note.ID {
			found = m.Private && m.Author == "agent:ana"
		}
	}
	if !found {
		t.Errorf("the note is not in the transcript as ana's private message: %+v", c.Messages)
	}
	if n := srv.count(`SELECT count(*) FROM outbox o JOIN messages m ON m.id = o.message_id WHERE m.private`); n != 0 {
		t.Errorf("%d outbox rows for private notes, want none", n)
	}
}

func TestLabelsAPI(t *testing.T) {
	srv, _, admin, ana, bia, id := workspaceServer(t)
	path := fmt.Sprintf("/api/v1/conversations/%d/labels", id)
	var c workspaceConversation
	if status := srv.api("PUT", path, ana, map[string]any{"labels": []string{" VIP ", "reembolso", "vip"}}, &c); status != 200 {
		t.Fatalf("PUT labels = %d", status)
	}
	if !slices.Equal(c.Labels, []string{"reembolso", "vip"}) {
		t.Errorf("labels = %v, want [reembolso vip]: trimmed, lower case, once each, sorted", c.Labels)
	}
	for _, tc := range []struct {
		body  any
		field string
	}{
		{map[string]any{"labels": []string{"two words"}}, "labels[0]"},
		{map[string]any{"labels": []string{"ok", ""}}, "labels[1]"},
		{map[string]any{"labels": []string{strings.Repeat("x", 33)}}, "labels[0]"},
		{map[string]any{"nope": true}, "labels"},
	} {
		var e apiErrorBody
		if status := srv.api("PUT", path, ana, tc.body, &e); status != 400 || e.Error.Field != tc.field {
			t.Errorf("PUT labels %v = %d %+v, want 400 naming %s", tc.body, status, e, tc.field)
		}
	}
	if status := srv.api("PUT", path, bia, map[string]any{"labels": []string{"x"}}, nil); status != 404 {
		t.Errorf("PUT labels by another agent = %d, want 404", status)
	}
	if got := srv.conversations(admin, "?label=vip"); len(got) != 1 || got[0].ID != id {
		t.Errorf("?label=vip = %+v, want conversation %d", got, id)
	}
	if got := srv.conversations(admin, "?label=VIP"); len(got) != 1 {
		t.Errorf("?label=VIP = %d conversations, want 1 (labels ignore case)", len(got))
	}
	if got := srv.conversations(admin, "?label=other"); len(got) != 0 {
		t.Errorf("?label=other = %d conversations, want 0", len(got))
	}
	var counts struct {
		Labels []struct {
			Name  string `json:"name"`
			Count int    `json:"count"`
		} `json:"labels"`
	}
	srv.api("GET", "/api/v1/labels", admin, nil, &counts)
	if len(counts.Labels) != 2 || counts.Labels[1].Name != "vip" || counts.Labels[1].Count != 1 {
		t.Errorf("GET labels (admin) = %+v, want reembolso 1, vip 1", counts.Labels)
	}
	srv.api("GET", "/api/v1/labels", bia, nil, &counts)
	if len(counts.Labels) != 0 {
		t.Errorf("GET labels (bia, who has no chat) = %+v, want none of ana's", counts.Labels)
	}
}

func TestAssignToAnAgentAndTranscriptNotes(t *testing.T) {
	srv, _, admin, ana, bia, id := workspaceServer(t)
	path := fmt.Sprintf("/api/v1/conversations/%d/assign", id)
	var e apiErrorBody
	if status := srv.api("POST", path, ana, map[string]string{"agent": "bia"}, &e); status != 409 || e.Error.Code != "agent_full" {
		t.Errorf("assign to bia while she is offline = %d %+v, want 409", status, e)
	}
	if status := srv.api("POST", path, ana, map[string]string{"agent": "nobody"}, &e); status != 400 || e.Error.Field != "agent" {
		t.Errorf("assign to an unknown login = %d %+v, want 400 naming agent", status, e)
	}
	if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/transfer", id), ana, map[string]string{"squad": "no-such-squad"}, &e); status != 400 || e.Error.Field != "squad" {
		t.Errorf("transfer to an unknown squad = %d %+v, want 400 naming squad", status, e)
	}
	if c := srv.conversation(ana, id); c.State != "assigned" || c.Agent != "ana" {
		t.Fatalf("after the refusals the chat is %s with %q, want still ana's", c.State, c.Agent)
	}
	srv.api("PUT", "/api/v1/me/status", bia, map[string]string{"status": "available"}, nil)
	var c workspaceConversation
	if status := srv.api("POST", path, ana, map[string]string{"agent": "bia"}, &c); status != 200 || c.Agent != "bia" || c.State != "assigned" {
		t.Fatalf("ana hands the chat to bia = %d %+v, want 200 assigned to bia", status, c)
	}
	if status := srv.api("POST", path, ana, map[string]string{"agent": "ana"}, nil); status != 404 {
		t.Errorf("ana assigning a chat that is no longer hers = %d, want 404", status)
	}
	// A second user: bia is full (one chat), so an admin cannot give it to her.
	srv.postMeta("ig-meta", metaSecret, metaText("5002", "w2", handoffText, time.Now()))
	eventually(t, "the second chat assigned to ana", func() bool { return len(srv.conversations(ana, "?state=assigned")) == 1 })
	second := srv.conversations(ana, "?state=assigned")[0].ID
	if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/assign", second), admin, map[string]string{"agent": "bia"}, &e); status != 409 || e.Error.Code != "agent_full" {
		t.Errorf("assign to bia with her one slot taken = %d %+v, want 409 agent_full", status, e)
	}
	if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/end", id), bia, nil, nil); status != 200 {
		t.Fatalf("bia ends = %d", status)
	}
	notes := notesOf(srv.conversation(admin, id))
	want := []string{"The assistant handed off to squad geral", "Assigned to Ana", "Assigned to Bia by Ana", "Ended by Bia"}
	for _, w := range want {
		if !slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, w) }) {
			t.Errorf("transcript notes %q lack %q", notes, w)
		}
	}
	if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/transfer", second), ana, map[string]string{"squad": "geral"}, nil); status != 200 {
		t.Fatalf("transfer to geral = %d", status)
	}
	if notes := notesOf(srv.conversation(admin, second)); !slices.ContainsFunc(notes, func(n string) bool {
		return n == "Transferred to squad geral by Ana"
	}) {
		t.Errorf("transcript notes %q lack the transfer", notes)
	}
}

func TestContactPanelShowsEarlierConversations(t *testing.T) {
	srv, _, admin, ana, bia, first := workspaceServer(t)
	if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/end", first), ana, nil, nil); status != 200 {
		t.Fatalf("end = %d", status)
	}
	srv.postMeta("ig-meta", metaSecret, metaText("5001", "w3", handoffText, time.Now()))
	eventually(t, "the user's second conversation with ana", func() bool {
		cs := srv.conversations(ana, "?state=assigned")
		return len(cs) == 1 && cs[0].ID != first
	})
	second := srv.conversations(ana, "?state=assigned")[0].ID
	contactID := srv.conversation(ana, second).Contact.ID
	var contact struct {
		ChannelUserID string                  `json:"channel_user_id"`
		Integration   string                  `json:"integration"`
		Conversations []workspaceConversation `json:"conversations"`
	}
	if status := srv.api("GET", fmt.Sprintf("/api/v1/contacts/%d", contactID), ana, nil, &contact); status != 200 {
		t.Fatalf("GET contact = %d", status)
	}
	if contact.ChannelUserID != "5001" || contact.Integration != "ig-meta" || len(contact.Conversations) != 2 ||
		contact.Conversations[0].ID != second || contact.Conversations[1].ID != first {
		t.Errorf("contact = %+v, want user 5001 of ig-meta with conversations [%d %d]", contact, second, first)
	}
	// Ana serves the contact now: she may read the earlier conversation.
	if c := srv.conversation(ana, first); c.State != "ended" {
		t.Errorf("the earlier conversation = %s, want ended", c.State)
	}
	if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", first), ana, map[string]any{
		"contents": []map[string]string{{"type": "text", "text": "hi"}}}, nil); status != 409 {
		t.Errorf("a reply to the earlier, ended conversation = %d, want 409", status)
	}
	if status := srv.api("GET", fmt.Sprintf("/api/v1/contacts/%d", contactID), bia, nil, nil); status != 404 {
		t.Errorf("GET contact by an agent who does not serve them = %d, want 404", status)
	}
	if status := srv.api("GET", fmt.Sprintf("/api/v1/conversations/%d", first), bia, nil, nil); status != 404 {
		t.Errorf("GET the earlier conversation by bia = %d, want 404", status)
	}
	if status := srv.api("GET", fmt.Sprintf("/api/v1/contacts/%d", contactID), admin, nil, nil); status != 200 {
		t.Errorf("GET contact by an admin = %d, want 200", status)
	}
	if status := srv.api("GET", "/api/v1/contacts/99999", admin, nil, nil); status != 404 {
		t.Errorf("GET an unknown contact = %d, want 404", status)
	}
}

func TestCannedResponsesAPI(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, "")+"\n[[squads]]\nname = \"vendas\"\n")
	admin := srv.admin()
	srv.agentsAdd("ana", "agent", "ana-password")
	ana := srv.signIn("ana", "ana-password")

	type canned struct {
		ID       int64  `json:"id"`
		Shortcut string `json:"shortcut"`
		Text     string `json:"text"`
		Squad    string `json:"squad"`
	}
	var hours canned
	if status := srv.api("POST", "/api/v1/canned_responses", admin, map[string]string{"shortcut": "/Hours", "text": "Abrimos das 9h às 18h."}, &hours); status != 201 || hours.Shortcut != "hours" || hours.ID == 0 {
		t.Fatalf("POST canned = %d %+v, want 201 with shortcut hours", status, hours)
	}
	if status := srv.api("POST", "/api/v1/canned_responses", admin, map[string]string{"shortcut": "promo", "text": "10% off", "squad": "vendas"}, nil); status != 201 {
		t.Fatalf("POST canned for vendas = %d", status)
	}
	var e apiErrorBody
	for _, tc := range []struct {
		body   map[string]string
		status int
		field  string
	}{
		{map[string]string{"shortcut": "hours", "text": "again"}, 409, "shortcut"},
		{map[string]string{"shortcut": "x y", "text": "t"}, 400, "shortcut"},
		{map[string]string{"shortcut": "ok", "text": " "}, 400, "text"},
		{map[string]string{"shortcut": "ok", "text": "t", "squad": "no-such"}, 400, "squad"},
	} {
		if status := srv.api("POST", "/api/v1/canned_responses", admin, tc.body, &e); status != tc.status || e.Error.Field != tc.field {
			t.Errorf("POST canned %v = %d %+v, want %d naming %s", tc.body, status, e, tc.status, tc.field)
		}
	}
	if status := srv.api("POST", "/api/v1/canned_responses", ana, map[string]string{"shortcut": "mine", "text": "x"}, nil); status != 403 {
		t.Errorf("an agent writing a canned response = %d, want 403", status)
	}
	if status := srv.api("PUT", fmt.Sprintf("/api/v1/canned_responses/%d", hours.ID), ana, map[string]string{"shortcut": "h", "text": "x"}, nil); status != 403 {
		t.Errorf("an agent changing a canned response = %d, want 403", status)
	}
	if status := srv.api("DELETE", fmt.Sprintf("/api/v1/canned_responses/%d", hours.ID), ana, nil, nil); status != 403 {
		t.Errorf("an agent deleting a canned response = %d, want 403", status)
	}
	var list struct {
		Canned []canned `json:"canned_responses"`
	}
	srv.api("GET", "/api/v1/canned_responses", ana, nil, &list)
	if len(list.Canned) != 1 || list.Canned[0].Shortcut != "hours" {
		t.Errorf("ana (squad geral) reads %+v, want only hours (for everyone), not vendas' promo", list.Canned)
	}
	srv.api("GET", "/api/v1/canned_responses", admin, nil, &list)
	if len(list.Canned) != 2 {
		t.Errorf("an admin reads %d canned responses, want 2", len(list.Canned))
	}
	var up canned
	if status := srv.api("PUT", fmt.Sprintf("/api/v1/canned_responses/%d", hours.ID), admin, map[string]string{"shortcut": "horario", "text": "9h–18h", "squad": "geral"}, &up); status != 200 || up.Shortcut != "horario" || up.Squad != "geral" {
		t.Errorf("PUT canned = %d %+v", status, up)
	}
	if status := srv.api("DELETE", fmt.Sprintf("/api/v1/canned_responses/%d", hours.ID), admin, nil, nil); status != 204 {
		t.Errorf("DELETE canned = %d, want 204", status)
	}
	if status := srv.api("DELETE", fmt.Sprintf("/api/v1/canned_responses/%d", hours.ID), admin, nil, nil); status != 404 {
		t.Errorf("DELETE it again = %d, want 404", status)
	}
}
