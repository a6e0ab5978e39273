package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAPIAuthenticationAndRoles(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	admin := srv.admin()
	srv.agentsAdd("ana", "agent", "ana-password")
	ana := srv.signIn("ana", "ana-password")

	for _, tc := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/api/v1/me", "", 401},
		{"GET", "/api/v1/me", "not-a-token", 401},
		{"GET", "/api/v1/me", ana, 200},
		{"GET", "/api/v1/integrations", ana, 403},
		{"GET", "/api/v1/agents", ana, 403},
		{"GET", "/api/v1/plugins", ana, 403},
		{"GET", "/api/v1/scripts", ana, 403},
		{"GET", "/api/v1/integrations", admin, 200},
		{"GET", "/api/v1/plugins", admin, 200},
		{"GET", "/api/v1/scripts", admin, 200},
		{"GET", "/api/v1/conversations", ana, 200},
	} {
		if got := srv.api(tc.method, tc.path, tc.token, nil, nil); got != tc.want {
			t.Errorf("%s %s with token %q = %d, want %d", tc.method, tc.path, tc.token, got, tc.want)
		}
	}
	if got := srv.api("POST", "/api/v1/login", "", map[string]string{"login": "ana", "password": "wrong-password"}, nil); got != 401 {
		t.Errorf("login with a wrong password = %d, want 401", got)
	}
	var scripts struct {
		Scripts []struct {
			Name     string `json:"name"`
			Version  int    `json:"version"`
			LoadedAt string `json:"loaded_at"`
		} `json:"scripts"`
	}
	srv.api("GET", "/api/v1/scripts", admin, nil, &scripts)
	if len(scripts.Scripts) != 3 || scripts.Scripts[0].LoadedAt == "" {
		t.Errorf("GET /api/v1/scripts = %+v, want the three hooks with their load times", scripts)
	}
}

func TestCookieSessionNeedsCSRFHeader(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	srv.agentsAdd("ana", "agent", "ana-password")
	jar := newJar()
	client := &http.Client{Jar: jar}
	resp, err := client.Post(srv.URL+"/api/v1/login", "application/json", strings.NewReader(`{"login":"ana","password":"ana-password"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		CSRF string `json:"csrf_token"`
	}
	decode(t, resp, &login)
	put := func(csrf string) int {
		req, _ := http.NewRequest("PUT", srv.URL+"/api/v1/me/status", strings.NewReader(`{"status":"paused"}`))
		req.Header.Set("Content-Type", "application/json")
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := put(""); got != 403 {
		t.Errorf("cookie PUT without the CSRF header = %d, want 403", got)
	}
	if got := put("forged"); got != 403 {
		t.Errorf("cookie PUT with a wrong CSRF header = %d, want 403", got)
	}
	if got := put(login.CSRF); got != 200 {
		t.Errorf("cookie PUT with the CSRF header = %d, want 200", got)
	}
	resp, err = client.Get(srv.URL + "/api/v1/me")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("cookie GET /me = %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
}

func TestLoginIsRateLimited(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	srv.agentsAdd("ana", "agent", "ana-password")
	for i := range 5 {
		if got := srv.api("POST", "/api/v1/login", "", map[string]string{"login": "ana", "password": "guess"}, nil); got != 401 {
			t.Fatalf("failed attempt %d = %d, want 401", i+1, got)
		}
	}
	if got := srv.api("POST", "/api/v1/login", "", map[string]string{"login": "ana", "password": "ana-password"}, nil); got != 429 {
		t.Errorf("login after 5 failures = %d, want 429 even with the right password", got)
	}
}

type apiIntegration struct {
	ID                string            `json:"id"`
	Squad             string            `json:"squad"`
	InactivityMinutes int               `json:"inactivity_minutes"`
	Enabled           bool              `json:"enabled"`
	Source            string            `json:"source"`
	Settings          map[string]any    `json:"settings"`
	HomologationUsers []string          `json:"homologation_users"`
	Webhook           map[string]any    `json:"webhook"`
	Headers           map[string]string `json:"-"`
}

type apiError struct {
	Error struct {
		Code    string            `json:"code"`
		Field   string            `json:"field"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

func TestIntegrationAPIValidatesMasksAndAppliesLive(t *testing.T) {
	graph := newFakeGraph(t)
	// The Zenvia integration it creates points at loopback.
	srv := newServer(t, withPrivateURLs(metaConfig(graph.URL, "")))
	admin := srv.admin()

	var bad apiError
	status := srv.api("POST", "/api/v1/integrations", admin, map[string]any{
		"id": "Bad Id", "channel": "telegram", "assistant": "nobody", "inactivity_minutes": 5,
		"homologation_users": []string{"ok", "two words"},
	}, &bad)
	if status != 400 {
		t.Fatalf("POST invalid = %d, want 400", status)
	}
	for _, f := range []string{"id", "name", "channel", "assistant", "inactivity_minutes", "homologation_users[1]"} {
		if bad.Error.Fields[f] == "" {
			t.Errorf("validation errors %v do not name %q", bad.Error.Fields, f)
		}
	}

	var missing apiError
	srv.api("POST", "/api/v1/integrations", admin, map[string]any{"id": "z", "name": "Z", "channel": "zenvia"}, &missing)
	for _, f := range []string{"settings.sender_id", "settings.api_token"} {
		if missing.Error.Fields[f] == "" {
			t.Errorf("validation errors %v do not name %q", missing.Error.Fields, f)
		}
	}

	var created apiIntegration
	status = srv.api("POST", "/api/v1/integrations", admin, map[string]any{
		"id": "ig-zen", "name": "Zenvia", "channel": "zenvia", "assistant": "demo", "inactivity_minutes": 0,
		"settings": map[string]any{"sender_id": "brisk-harbor", "api_token": "zenvia-token-123456", "api_url": "http://127.0.0.1:1"},
	}, &created)
	if status != 201 {
		t.Fatalf("POST = %d, want 201", status)
	}
	if created.Squad != "geral" || created.InactivityMinutes != 0 || !created.Enabled || created.Source != "api" {
		t.Errorf("created = %+v, want squad geral, inactivity off, enabled, source api", created)
	}
	if got := created.Settings["api_token"]; got == "zenvia-token-123456" || !strings.HasSuffix(fmt.Sprint(got), "3456") {
		t.Errorf("api_token shown as %v, want it masked (last four kept)", got)
	}
	headers, _ := created.Webhook["headers"].(map[string]any)
	user, _ := headers["Username"].(string)
	token, _ := headers["AuthenticationToken"].(string)
	if created.Webhook["url"] != strings.TrimSuffix(srv.publicURL(), "/")+"/webhooks/ig-zen" || user == "" || token == "" {
		t.Fatalf("webhook = %v, want the URL and generated Username/AuthenticationToken", created.Webhook)
	}
	// The generated credentials work at once, without a restart.
	zbody := []byte(`{"id":"e1","type":"MESSAGE","direction":"IN","channel":"instagram","timestamp":"` + time.Now().UTC().Format(time.RFC3339) + `",
		"message":{"id":"z1","from":"5982201744613390","to":"brisk-harbor","direction":"IN","contents":[{"type":"text","text":"oi"}]}}`)
	zpost := func() int {
		st, _ := srv.do("POST", "/webhooks/ig-zen", zbody, map[string]string{"Username": user, "AuthenticationToken": token,
			"Content-Type": "application/json"})
		return st
	}
	if got := zpost(); got != 200 {
		t.Errorf("Zenvia webhook with the shown headers = %d, want 200", got)
	}

	// PUT with the masked secret keeps the stored one; disabling answers 404.
	update := map[string]any{"name": "Zenvia BR", "channel": "zenvia", "assistant": "demo", "enabled": false,
		"settings": created.Settings}
	var updated apiIntegration
	if status := srv.api("PUT", "/api/v1/integrations/ig-zen", admin, update, &updated); status != 200 {
		t.Fatalf("PUT = %d", status)
	}
	if got := srv.settingOf("ig-zen", "api_token"); got != "zenvia-token-123456" {
		t.Errorf("api_token after a PUT of the masked value = %q, want the original kept", got)
	}
	if got := zpost(); got != 404 {
		t.Errorf("webhook of a disabled integration = %d, want 404", got)
	}
	update["enabled"] = true
	srv.api("PUT", "/api/v1/integrations/ig-zen", admin, update, nil)
	if got := zpost(); got != 200 {
		t.Errorf("webhook after re-enabling = %d, want 200", got)
	}
	// The configuration file's integrations are read-only here.
	if status := srv.api("PUT", "/api/v1/integrations/ig-meta", admin, update, nil); status != 409 {
		t.Errorf("PUT on a config integration = %d, want 409", status)
	}
	var meta apiIntegration
	srv.api("GET", "/api/v1/integrations/ig-meta", admin, nil, &meta)
	if meta.Settings["app_secret"] == metaSecret || meta.Settings["access_token"] == "token-abc" {
		t.Errorf("meta settings %v show secrets in full", meta.Settings)
	}
	if meta.Webhook["verify_token"] != "verify-me" {
		t.Errorf("meta webhook = %v, want its verify token", meta.Webhook)
	}
	if status := srv.api("DELETE", "/api/v1/integrations/ig-zen", admin, nil, nil); status != 204 {
		t.Errorf("DELETE = %d, want 204", status)
	}
	if got := zpost(); got != 404 {
		t.Errorf("webhook of a deleted integration = %d, want 404", got)
	}
}

// TestSeedFlowThroughTheAPI is the agent's day: available, a handoff is
// assigned, the reply reaches Instagram, End frees the slot for the next
// queued chat, and the user's next message starts with the assistant again.
func TestSeedFlowThroughTheAPI(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	srv.agentsAdd("ana", "agent", "ana-password", "--max-chats", "1")
	ana := srv.signIn("ana", "ana-password")
	if status := srv.api("PUT", "/api/v1/me/status", ana, map[string]string{"status": "available"}, nil); status != 200 {
		t.Fatalf("set available = %d", status)
	}
	srv.postMeta("ig-meta", metaSecret, metaText("2001", "a1", "talk to a person", time.Now()))
	eventually(t, "the first handoff assigned to ana", func() bool {
		return len(srv.conversations(ana, "?state=assigned")) == 1
	})
	srv.postMeta("ig-meta", metaSecret, metaText("2002", "b1", "agent please", time.Now()))
	eventually(t, "the second handoff queued (ana is full)", func() bool {
		return srv.count(`SELECT count(*) FROM conversations WHERE state = 'queued'`) == 1
	})
	first := srv.conversations(ana, "?state=assigned")[0]
	if first.Contact.ChannelUserID != "2001" {
		t.Fatalf("ana's chat is with %s, want 2001", first.Contact.ChannelUserID)
	}
	before := len(graph.sends())
	var msg struct {
		Status string `json:"status"`
	}
	if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", first.ID), ana,
		map[string]any{"contents": []map[string]string{{"type": "text", "text": "Hello, I'm Ana."}}}, &msg); status != 202 || msg.Status != "pending" {
		t.Fatalf("reply = %d %+v, want 202 pending", status, msg)
	}
	eventually(t, "ana's reply at the Graph API", func() bool {
		for _, s := range graph.sends()[before:] {
			if s.Text() == "Hello, I'm Ana." && s.Recipient() == "2001" {
				return true
			}
		}
		return false
	})
	if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/end", first.ID), ana, nil, nil); status != 200 {
		t.Fatalf("End = %d", status)
	}
	eventually(t, "the queued chat assigned to ana", func() bool {
		cs := srv.conversations(ana, "?state=assigned")
		return len(cs) == 1 && cs[0].Contact.ChannelUserID == "2002"
	})
	if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", first.ID), ana,
		map[string]any{"contents": []map[string]string{{"type": "text", "text": "late"}}}, nil); status != 409 {
		t.Errorf("reply to an ended conversation = %d, want 409", status)
	}
	// The user writes again: a new conversation, answered by the assistant.
	before = len(graph.sends())
	srv.postMeta("ig-meta", metaSecret, metaText("2001", "a2", "hi", time.Now()))
	eventually(t, "the assistant's answer", func() bool {
		for _, s := range graph.sends()[before:] {
			if s.Recipient() == "2001" {
				return true
			}
		}
		return false
	})
	if n := srv.count(`SELECT count(*) FROM conversations c JOIN contacts ct ON ct.id = c.contact_id
		WHERE ct.channel_user_id = '2001' AND c.state = 'bot'`); n != 1 {
		t.Errorf("open assistant conversations for 2001 = %d, want 1", n)
	}
	// Another agent cannot see or act on ana's conversation.
	srv.agentsAdd("bob", "agent", "bob-password")
	bob := srv.signIn("bob", "bob-password")
	second := srv.conversations(ana, "?state=assigned")[0]
	if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/end", second.ID), bob, nil, nil); status != 404 {
		t.Errorf("bob ending ana's conversation = %d, want 404 (not his)", status)
	}
}

func TestLiveEventsResumeWithLastEventID(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	srv.agentsAdd("ana", "agent", "ana-password")
	ana := srv.signIn("ana", "ana-password")
	srv.api("PUT", "/api/v1/me/status", ana, map[string]string{"status": "available"}, nil)

	stream := srv.events(ana, "")
	srv.postMeta("ig-meta", metaSecret, metaText("3001", "c1", "talk to a person", time.Now()))
	assigned := stream.next(t, "assigned")
	if !strings.Contains(assigned.data, `"3001"`) {
		t.Errorf("assigned event %s does not carry the conversation's contact", assigned.data)
	}
	stream.close()

	// While disconnected, the user writes again; reconnecting with the last
	// id delivers the missed message event.
	srv.postMeta("ig-meta", metaSecret, metaText("3001", "c2", "are you there?", time.Now()))
	eventually(t, "the message processed", srv.drained)
	resumed := srv.events(ana, assigned.id)
	defer resumed.close()
	if e := resumed.next(t, "message"); !strings.Contains(e.data, "are you there?") {
		t.Errorf("resumed event = %s, want the missed message", e.data)
	}
}

type sseEvent struct{ id, typ, data string }

type sseStream struct {
	resp   *http.Response
	events chan sseEvent
}

func (s *server) events(token, lastID string) *sseStream {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		s.t.Fatalf("GET /api/v1/events = %v, %v", resp, err)
	}
	st := &sseStream{resp: resp, events: make(chan sseEvent, 64)}
	go func() {
		defer close(st.events)
		sc := bufio.NewScanner(resp.Body)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				e.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				e.typ = line[7:]
			case strings.HasPrefix(line, "data: "):
				e.data = line[6:]
			case line == "" && e.typ != "":
				st.events <- e
				e = sseEvent{}
			}
		}
	}()
	return st
}

func (st *sseStream) next(t *testing.T, typ string) sseEvent {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e, ok := <-st.events:
			if !ok {
				t.Fatalf("event stream closed before a %q event", typ)
			}
			if e.typ == typ {
				return e
			}
		case <-timeout:
			t.Fatalf("no %q event", typ)
		}
	}
}

func (st *sseStream) close() { st.resp.Body.Close() }

// An agent who leaves without signing out (no console open, no requests)
// is set offline after a while, and their chats go to someone present.
func TestLapsedAgentsChatsAreRequeued(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	srv.agentsAdd("ana", "agent", "ana-password")
	srv.agentsAdd("bia", "agent", "bia-password")
	ana := srv.signIn("ana", "ana-password")
	srv.api("PUT", "/api/v1/me/status", ana, map[string]string{"status": "available"}, nil)
	srv.postMeta("ig-meta", metaSecret, metaText("4001", "d1", "talk to a person", time.Now()))
	eventually(t, "the chat assigned to ana", func() bool { return len(srv.conversations(ana, "?state=assigned")) == 1 })

	bia := srv.signIn("bia", "bia-password")
	srv.api("PUT", "/api/v1/me/status", bia, map[string]string{"status": "available"}, nil)
	stream := srv.events(bia, "") // bia keeps her console open
	defer stream.close()
	srv.advance(3 * time.Minute)
	stream.next(t, "assigned")
	if cs := srv.conversations(bia, "?state=assigned"); len(cs) != 1 || cs[0].Contact.ChannelUserID != "4001" {
		t.Errorf("bia's chats = %+v, want ana's chat re-queued to her", cs)
	}
	var me struct {
		Status string `json:"status"`
	}
	srv.api("GET", "/api/v1/me", ana, nil, &me)
	if me.Status != "offline" {
		t.Errorf("ana's status = %s, want offline after her session lapsed", me.Status)
	}
}
