package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Regression tests of the hostile-input findings (S11) that are observable
// from outside: each drives the real binary and failed before its fix.

// One Zenvia subscription delivers the events of every Instagram account
// (sender id) of the customer to the same URL: an event for another sender
// id is acknowledged and kept with the reason, and never answered from this
// integration's account.
func TestZenviaEventForAnotherSenderIDIsNotAnswered(t *testing.T) {
	zenvia := newFakeZenvia(t)
	srv := newServer(t, zenviaConfig(zenvia.URL, "", zenviaCredentials))

	other := zenviaEvent(t, "zenvia/message_in_text_with_visitor.json", func(ev map[string]any) {
		ev["message"].(map[string]any)["to"] = "quiet-meadow"
	})
	var ev struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(other, &ev); err != nil {
		t.Fatal(err)
	}
	srv.deliver(other)
	srv.settle()
	if n := len(zenvia.sends()); n != 0 {
		t.Errorf("Zenvia received %d sends for an event to another sender id, want none", n)
	}
	if note := srv.note(ev.ID); !strings.Contains(note, `"quiet-meadow"`) || !strings.Contains(note, "not answered") {
		t.Errorf("inbox note = %q, want why it was not answered (the other sender id)", note)
	}
	if n := srv.count(`SELECT count(*) FROM messages`); n != 0 {
		t.Errorf("%d messages stored, want none: the conversation is another account's", n)
	}
	if !strings.Contains(srv.logs.String(), "another sender id") {
		t.Errorf("the log does not say an event for another sender id came:\n%s", srv.logs)
	}

	// A message to this integration's sender id is answered, from it.
	srv.deliver(zenviaText(t, "oi"))
	if got := waitSends(t, zenvia, 1)[0]; got.From() != zenviaSender {
		t.Errorf("reply from %q, want %q", got.From(), zenviaSender)
	}
}

// A 400 says what is wrong in the product's words, naming the field it can:
// never the JSON decoder's or bcrypt's own text.
func TestBadRequestsCarryNoLibraryText(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	admin := srv.admin()
	bearer := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + admin}
	long := strings.Repeat("senha-longa-", 7) // 84 bytes: bcrypt reads only 72
	cases := []struct {
		what, method, path, body string
		status                   int
		field                    string
	}{
		{"an unknown field of an integration", "POST", "/api/v1/integrations", `{"id": "x", "nme": "X", "channel": "meta"}`, 400, "nme"},
		{"a number for a string", "POST", "/api/v1/agents", `{"login": 5, "name": "Five", "password": "password-5"}`, 400, "login"},
		{"a list for a string", "PUT", "/api/v1/me/status", `{"status": ["available"]}`, 400, "status"},
		{"broken JSON", "POST", "/api/v1/agents", `{"login": "ana", "name": `, 400, ""},
		{"two JSON values", "PUT", "/api/v1/me/status", `{"status": "paused"} {"status": "available"}`, 400, ""},
		{"a JSON list for an object", "POST", "/api/v1/canned_responses", `["/oi", "Olá!"]`, 400, ""},
		{"a password over 72 bytes", "POST", "/api/v1/agents", `{"login": "long", "name": "Long", "role": "agent", "password": "` + long + `"}`, 400, "password"},
		{"a new password over 72 bytes", "PUT", "/api/v1/agents/boss", `{"name": "Boss", "role": "admin", "password": "` + long + `"}`, 400, "password"},
	}
	for _, c := range cases {
		status, b := srv.do(c.method, c.path, []byte(c.body), bearer)
		var e apiError
		json.Unmarshal(b, &e)
		if status != c.status || e.Error.Field != c.field || e.Error.Message == "" {
			t.Errorf("%s: %s %s = %d %s, want %d naming field %q", c.what, c.method, c.path, status, b, c.status, c.field)
		}
		for _, lib := range []string{"json:", "bcrypt", "Go value", "Go struct", "[]string", "model.", "server.", "invalid character"} {
			if strings.Contains(string(b), lib) {
				t.Errorf("%s: the answer %s carries library text (%q)", c.what, b, lib)
			}
		}
	}
	// The long password is refused, not cut: nobody signs in with its
	// first 72 bytes.
	if status := srv.api("POST", "/api/v1/login", "", map[string]string{"login": "long", "password": long[:72]}, nil); status != 401 {
		t.Errorf("sign-in with the first 72 bytes of the refused password = %d, want 401", status)
	}
	// A body that says it is a form is not taken for JSON.
	if status, b := srv.do("PUT", "/api/v1/me/status", []byte(`status=paused`), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Bearer " + admin}); status != 415 {
		t.Errorf("a form body = %d %s, want 415", status, b)
	}
}

// POST /api/v1/login refuses what another site's page can make a browser
// send (login CSRF): a form, a text/plain body that looks like JSON, and a
// request the browser says comes from another site.
func TestLoginRefusesCrossSiteRequests(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	srv.agentsAdd("ana", "agent", "ana-password")
	creds := `{"login": "ana", "password": "ana-password"}`
	cases := []struct {
		what    string
		body    string
		headers map[string]string
		status  int
	}{
		{"a form post", `login=ana&password=ana-password`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		{"a form post from another site", `login=ana&password=ana-password`, map[string]string{"Content-Type": "application/x-www-form-urlencoded",
			"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, 403},
		{"a multipart form", "--b\r\nContent-Disposition: form-data; name=\"login\"\r\n\r\nana\r\n--b--\r\n",
			map[string]string{"Content-Type": "multipart/form-data; boundary=b"}, 415},
		{"JSON sent as text/plain (a form's enctype)", creds, map[string]string{"Content-Type": "text/plain"}, 415},
		{"JSON without a content type", creds, map[string]string{}, 415},
		{"JSON from another origin", creds, map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example"}, 403},
		{"JSON from an opaque origin", creds, map[string]string{"Content-Type": "application/json", "Origin": "null"}, 403},
		{"JSON the browser calls cross-site", creds, map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403},
		{"JSON from a sibling site", creds, map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, 403},
		// The console itself, and clients that are not browsers.
		{"the console", creds, map[string]string{"Content-Type": "application/json", "Origin": srv.URL, "Sec-Fetch-Site": "same-origin"}, 200},
		{"a script", creds, map[string]string{"Content-Type": "application/json; charset=utf-8"}, 200},
	}
	for _, c := range cases {
		req, err := http.NewRequest("POST", srv.URL+"/api/v1/login", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range c.headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: POST /api/v1/login = %d %s, want %d", c.what, resp.StatusCode, b, c.status)
		}
		if c.status != 200 && resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s: a refused sign-in set a cookie: %s", c.what, resp.Header.Get("Set-Cookie"))
		}
	}
}

// One agent message of 200 KB became 137 Send API calls: an agent's text is
// capped (4,000 characters in all its contents), with a 400 naming the
// content over the cap, and nothing is sent for a refused message.
func TestAgentMessageLengthIsCapped(t *testing.T) {
	srv, graph, _, ana, _, id := workspaceServer(t)
	path := fmt.Sprintf("/api/v1/conversations/%d/messages", id)
	srv.settle()
	before := len(graph.sends())
	text := func(s string) map[string]any { return map[string]any{"type": "text", "text": s} }
	var eleven []map[string]any
	for range 11 {
		eleven = append(eleven, text("oi"))
	}
	cases := []struct {
		what  string
		body  map[string]any
		field string
	}{
		{"a text of 40 KB", map[string]any{"contents": []any{text(strings.Repeat("palavra ", 5_000))}}, "contents[0]"},
		{"4,001 characters", map[string]any{"contents": []any{text(strings.Repeat("a", 4001))}}, "contents[0]"},
		{"two texts over the cap together", map[string]any{"contents": []any{text(strings.Repeat("a", 3000)), text(strings.Repeat("b", 1500))}}, "contents[1]"},
		{"a caption over the cap", map[string]any{"contents": []any{map[string]any{"type": "image", "url": "https://cdn.example.com/a.jpg",
			"caption": strings.Repeat("c", 5000)}}}, "contents[0]"},
		{"a private note of 40 KB", map[string]any{"private": true, "contents": []any{text(strings.Repeat("nota ", 8_000))}}, "contents[0]"},
		{"eleven contents", map[string]any{"contents": eleven}, "contents"},
	}
	for _, c := range cases {
		var e apiError
		if status := srv.api("POST", path, ana, c.body, &e); status != 400 || e.Error.Field != c.field {
			t.Errorf("%s = %d %+v, want 400 naming %s", c.what, status, e.Error, c.field)
		}
	}
	srv.settle()
	if n := len(graph.sends()) - before; n != 0 {
		t.Errorf("%d Send API calls for refused messages, want none", n)
	}
	// The longest message goes out: 4,000 two-byte letters are 8 parts.
	if status := srv.api("POST", path, ana, map[string]any{"contents": []any{text(strings.Repeat("á", 4000))}}, nil); status != 202 {
		t.Fatalf("a message of 4,000 characters = %d, want 202", status)
	}
	eventually(t, "the longest message sent", func() bool { return len(graph.sends())-before == 8 })
}

// GET /api/v1/queues showed every squad's waiting contacts to any agent,
// while the conversation itself was 404 to them: an agent sees only their
// own squads' queues, and what waits there without who.
func TestQueuesShowAnAgentOnlyTheirSquadsAndNoContacts(t *testing.T) {
	srv, graph, admin, _, bia, _ := workspaceServer(t)
	srv.agentsAdd("caio", "agent", "caio-password", "--squads", "vendas")
	caio := srv.signIn("caio", "caio-password")
	graph.setProfile("5002", profileJSON("5002", "Bruna Lima", "bruna.lima"))
	// Ana has her one chat and Bia is offline: Bruna waits in geral.
	srv.postMeta("ig-meta", metaSecret, metaText("5002", "w2", handoffText, time.Now()))
	eventually(t, "Bruna's chat queued", func() bool { return len(srv.conversations(admin, "?state=queued")) == 1 })
	srv.settle()
	queued := srv.conversations(admin, "?state=queued")[0].ID

	type queue struct {
		Squad   string `json:"squad"`
		Waiting []struct {
			Conversation map[string]any `json:"conversation"`
			WaitSeconds  int64          `json:"wait_seconds"`
		} `json:"waiting"`
	}
	queues := func(token string) ([]queue, string) {
		t.Helper()
		status, b := srv.do("GET", "/api/v1/queues", nil, map[string]string{"Authorization": "Bearer " + token})
		var out struct {
			Queues []queue `json:"queues"`
		}
		if status != 200 || json.Unmarshal(b, &out) != nil {
			t.Fatalf("GET /api/v1/queues = %d %s", status, b)
		}
		return out.Queues, string(b)
	}
	squads := func(qs []queue) []string {
		var out []string
		for _, q := range qs {
			out = append(out, q.Squad)
		}
		return out
	}

	qs, raw := queues(bia)
	if got := strings.Join(squads(qs), ","); got != "geral" {
		t.Errorf("bia's queues = %s, want only her squad geral", got)
	}
	if len(qs) == 1 && (len(qs[0].Waiting) != 1 || qs[0].Waiting[0].Conversation["id"] != float64(queued)) {
		t.Errorf("bia's geral queue = %+v, want Bruna's conversation %d waiting", qs[0], queued)
	}
	for _, who := range []string{"Bruna", "bruna.lima", "5002", `"contact"`, `"labels"`} {
		if strings.Contains(raw, who) {
			t.Errorf("bia's queues show %s of a conversation she cannot open: %s", who, raw)
		}
	}
	if status := srv.api("GET", fmt.Sprintf("/api/v1/conversations/%d", queued), bia, nil, nil); status != 404 {
		t.Errorf("GET the queued conversation as bia = %d, want 404", status)
	}

	qs, raw = queues(caio)
	if got := strings.Join(squads(qs), ","); got != "vendas" || strings.Contains(raw, "Bruna") || strings.Contains(raw, "geral") {
		t.Errorf("caio's queues = %s, want only vendas, nothing of geral", raw)
	}

	// An admin sees every squad, and who waits.
	qs, raw = queues(admin)
	if got := strings.Join(squads(qs), ","); !strings.Contains(got, "geral") || !strings.Contains(got, "vendas") {
		t.Errorf("the admin's queues = %s, want every squad", got)
	}
	if !strings.Contains(raw, "Bruna Lima") {
		t.Errorf("the admin's queues do not show who waits: %s", raw)
	}

	// A second contact waits behind her: ?limit=1 shows the first in
	// serving order and counts both.
	srv.postMeta("ig-meta", metaSecret, metaText("5003", "w3", handoffText, time.Now()))
	eventually(t, "the second chat queued", func() bool { return len(srv.conversations(admin, "?state=queued")) == 2 })
	srv.settle()
	status, b := srv.do("GET", "/api/v1/queues?limit=1", nil, map[string]string{"Authorization": "Bearer " + admin})
	var limited struct {
		Queues []struct {
			Squad   string `json:"squad"`
			Total   int    `json:"waiting_total"`
			Waiting []struct {
				Conversation struct {
					ID int64 `json:"id"`
				} `json:"conversation"`
			} `json:"waiting"`
		} `json:"queues"`
	}
	if status != 200 || json.Unmarshal(b, &limited) != nil {
		t.Fatalf("GET /api/v1/queues?limit=1 = %d %s", status, b)
	}
	for _, q := range limited.Queues {
		if q.Squad != "geral" {
			continue
		}
		if q.Total != 2 || len(q.Waiting) != 1 || q.Waiting[0].Conversation.ID != queued {
			t.Errorf("geral with ?limit=1 = %+v, want conversation %d shown and 2 waiting in all", q, queued)
		}
	}
}

// A transfer names a squad that exists, exactly (refused since S9; kept
// here with the other findings): any other string is a 400 naming squad,
// and the conversation stays where it is.
func TestTransferOnlyToASquadThatExists(t *testing.T) {
	srv, _, admin, ana, _, id := workspaceServer(t)
	path := fmt.Sprintf("/api/v1/conversations/%d/transfer", id)
	for _, squad := range []string{"no-such-squad", "GERAL", "geral ", "../geral", "geral\x00", strings.Repeat("g", 500), "<script>"} {
		for _, token := range []string{ana, admin} {
			var e apiError
			if status := srv.api("POST", path, token, map[string]string{"squad": squad}, &e); status != 400 || e.Error.Field != "squad" {
				t.Errorf("transfer to %q = %d %+v, want 400 naming squad", squad, status, e.Error)
			}
		}
	}
	if c := srv.conversation(ana, id); c.State != "assigned" || c.Agent != "ana" || c.Squad != "geral" {
		t.Errorf("after the refusals the chat is %s in %q with %q, want still ana's in geral", c.State, c.Squad, c.Agent)
	}
}

// Behind a reverse proxy every client looked like the proxy, so 30 failed
// sign-ins by anyone locked everyone out. From a trusted proxy ([server]
// trusted_proxies) the client is the rightmost X-Forwarded-For address that
// is not a trusted proxy; from anyone else the header means nothing.
func TestSignInLimitsKeyOnTheClientBehindATrustedProxy(t *testing.T) {
	graph := newFakeGraph(t)
	// The test connects from 127.0.0.1: here that is the proxy.
	proxied := newServer(t, strings.Replace(metaConfig(graph.URL, ""), "[server]\n", "[server]\ntrusted_proxies = [\"127.0.0.1/32\", \"10.0.0.0/8\"]\n", 1))
	direct := newServer(t, metaConfig(graph.URL, ""))
	login := func(srv *server, xff, user, password string) int {
		status, _ := srv.do("POST", "/api/v1/login", []byte(`{"login": "`+user+`", "password": "`+password+`"}`),
			map[string]string{"Content-Type": "application/json", "X-Forwarded-For": xff})
		return status
	}

	proxied.agentsAdd("ana", "agent", "ana-password")
	// 30 failures from one client, whatever the logins, through a chain of
	// proxies: that client waits, the others sign in.
	for i := range 30 {
		if status := login(proxied, "203.0.113.7, 10.1.2.3", fmt.Sprintf("nobody%d", i), "wrong-password"); status != 401 {
			t.Fatalf("failed sign-in %d = %d, want 401", i+1, status)
		}
	}
	if status := login(proxied, "203.0.113.7", "ana", "ana-password"); status != 429 {
		t.Errorf("the 31st sign-in from 203.0.113.7 = %d, want 429", status)
	}
	// What the client writes left of its own address changes nothing.
	if status := login(proxied, "198.51.100.9, 203.0.113.7", "ana", "ana-password"); status != 429 {
		t.Errorf("sign-in from 203.0.113.7 claiming to forward for 198.51.100.9 = %d, want 429", status)
	}
	if status := login(proxied, "198.51.100.9", "ana", "ana-password"); status != 200 {
		t.Errorf("sign-in from another client behind the proxy = %d, want 200", status)
	}
	if !strings.Contains(proxied.logs.String(), "ip=203.0.113.7") {
		t.Errorf("the failed sign-ins are not logged with the client's address:\n%s", proxied.logs)
	}

	// Without trusted proxies X-Forwarded-For is the client's to write,
	// and believed by no one: ana's five failures are the peer's.
	direct.agentsAdd("ana", "agent", "ana-password")
	for i := range 5 {
		if status := login(direct, fmt.Sprintf("203.0.113.%d", i), "ana", "wrong-password"); status != 401 {
			t.Fatalf("failed sign-in %d = %d, want 401", i+1, status)
		}
	}
	if status := login(direct, "198.51.100.9", "ana", "ana-password"); status != 429 {
		t.Errorf("sign-in claiming another address, with no trusted proxy = %d, want 429", status)
	}
	if strings.Contains(direct.logs.String(), "ip=203.0.113") {
		t.Errorf("an untrusted X-Forwarded-For reached the log:\n%s", direct.logs)
	}
}

// A session slid forever with use; it now ends 12 hours after sign-in
// however often it is used (one working shift), and a new sign-in works.
func TestSessionEndsTwelveHoursAfterSignIn(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	srv.agentsAdd("ana", "agent", "ana-password")
	token := srv.signIn("ana", "ana-password")
	for i := range 3 {
		srv.advance(3*time.Hour + 50*time.Minute)
		if status := srv.api("GET", "/api/v1/me", token, nil, nil); status != 200 {
			t.Fatalf("GET /me %s after sign-in = %d, want 200", time.Duration(i+1)*(3*time.Hour+50*time.Minute), status)
		}
	}
	srv.advance(31 * time.Minute) // 12 h 1 min after sign-in
	if status := srv.api("GET", "/api/v1/me", token, nil, nil); status != 401 {
		t.Errorf("GET /me 12 h 1 min after sign-in, used every 4 hours = %d, want 401", status)
	}
	if status := srv.api("GET", "/api/v1/me", srv.signIn("ana", "ana-password"), nil, nil); status != 200 {
		t.Errorf("GET /me after signing in again = %d, want 200", status)
	}
}

// openStream opens the live events stream with token and returns a channel
// closed when the server ends it.
func (s *server) openStream(token string) <-chan struct{} {
	s.t.Helper()
	req, err := http.NewRequest("GET", s.URL+"/api/v1/events", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		s.t.Fatalf("GET /api/v1/events = %v, %v", resp, err)
	}
	ended := make(chan struct{})
	go func() {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		close(ended)
	}()
	s.t.Cleanup(func() { resp.Body.Close() })
	return ended
}

// A password change left the old sessions signed in. Now it ends every
// session of the agent (open event streams too), except the one of the
// admin who changed their own password.
func TestPasswordChangeEndsTheOtherSessions(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	boss := srv.admin()
	bossElsewhere := srv.signIn("boss", "boss-password")
	srv.agentsAdd("ana", "agent", "ana-password")
	ana1, ana2 := srv.signIn("ana", "ana-password"), srv.signIn("ana", "ana-password")
	stream := srv.openStream(ana1)
	me := func(token string) int { return srv.api("GET", "/api/v1/me", token, nil, nil) }

	if status := srv.api("PUT", "/api/v1/agents/ana", boss, map[string]any{"name": "Ana", "role": "agent", "squads": []string{"geral"},
		"password": "ana-new-password"}, nil); status != 200 {
		t.Fatalf("PUT ana with a new password = %d", status)
	}
	for i, token := range []string{ana1, ana2} {
		if status := me(token); status != 401 {
			t.Errorf("ana's session %d after her password changed = %d, want 401", i+1, status)
		}
	}
	select {
	case <-stream:
	case <-time.After(40 * time.Second):
		t.Error("ana's open event stream still runs 40 s after her password changed")
	}
	if status := srv.api("POST", "/api/v1/login", "", map[string]string{"login": "ana", "password": "ana-password"}, nil); status != 401 {
		t.Errorf("sign-in with the old password = %d, want 401", status)
	}
	if status := me(srv.signIn("ana", "ana-new-password")); status != 200 {
		t.Errorf("GET /me with a session of the new password = %d, want 200", status)
	}

	// The admin changes their own: the session that did it stays.
	if status := srv.api("PUT", "/api/v1/agents/boss", boss, map[string]any{"name": "Boss", "role": "admin",
		"password": "boss-new-password"}, nil); status != 200 {
		t.Fatalf("PUT boss with a new password = %d", status)
	}
	if status := me(boss); status != 200 {
		t.Errorf("the session that changed its own password = %d, want 200 (still signed in)", status)
	}
	if status := me(bossElsewhere); status != 401 {
		t.Errorf("the admin's other session after the change = %d, want 401", status)
	}
}

// A deactivated agent is signed out everywhere, cannot sign in again, and
// their open conversations go back to the queue; an admin cannot
// deactivate themselves. Activated again, they sign in.
func TestDeactivatedAgentIsSignedOutAndServesNoOne(t *testing.T) {
	srv, _, admin, ana, _, id := workspaceServer(t)
	ana2 := srv.signIn("ana", "ana-password")
	edit := func(login string, active bool) (int, apiError, map[string]any) {
		var e apiError
		status, b := srv.do("PUT", "/api/v1/agents/"+login, mustJSON(t, map[string]any{"name": login, "role": "agent",
			"squads": []string{"geral"}, "max_chats": 1, "active": active}), map[string]string{
			"Content-Type": "application/json", "Authorization": "Bearer " + admin})
		var out map[string]any
		json.Unmarshal(b, &e)
		json.Unmarshal(b, &out)
		return status, e, out
	}
	status, _, out := edit("ana", false)
	if status != 200 || out["active"] != false {
		t.Fatalf("PUT ana active=false = %d %v, want 200 and active false", status, out)
	}
	for i, token := range []string{ana, ana2} {
		if status := srv.api("GET", "/api/v1/me", token, nil, nil); status != 401 {
			t.Errorf("ana's session %d after deactivation = %d, want 401", i+1, status)
		}
	}
	var e apiError
	if status := srv.api("POST", "/api/v1/login", "", map[string]string{"login": "ana", "password": "ana-password"}, &e); status != 403 || e.Error.Code != "deactivated" {
		t.Errorf("sign-in of a deactivated agent = %d %+v, want 403 deactivated", status, e.Error)
	}
	if c := srv.conversation(admin, id); c.State != "queued" || c.Agent != "" {
		t.Errorf("ana's chat after her deactivation is %s with %q, want queued for someone else", c.State, c.Agent)
	}
	if status := srv.api("PUT", "/api/v1/agents/ana/status", admin, map[string]string{"status": "available"}, &e); status != 409 {
		t.Errorf("setting a deactivated agent available = %d %+v, want 409", status, e.Error)
	}
	if status := srv.api("PUT", "/api/v1/agents/boss", admin, map[string]any{"name": "Boss", "role": "admin", "active": false}, &e); status != 409 || e.Error.Field != "active" {
		t.Errorf("an admin deactivating themselves = %d %+v, want 409 naming active", status, e.Error)
	}

	if status, _, out := edit("ana", true); status != 200 || out["active"] != true {
		t.Fatalf("PUT ana active=true = %d %v", status, out)
	}
	if status := srv.api("GET", "/api/v1/me", srv.signIn("ana", "ana-password"), nil, nil); status != 200 {
		t.Errorf("GET /me after ana is active again = %d, want 200", status)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withPrivateURLs lets integrations made through the API point at the
// test's fakes on loopback ([server] allow_private_urls, for development).
func withPrivateURLs(config string) string {
	if !strings.Contains(config, "[server]\n") {
		panic("the configuration has no [server] table")
	}
	return strings.Replace(config, "[server]\n", "[server]\nallow_private_urls = true\n", 1)
}

// graph_url and api_url receive the integration's credentials with every
// call: through the API they must be https on a public host, never
// loopback, link-local (the cloud's metadata service) or a private
// network. The configuration file, the operator's own, may point anywhere,
// and so may the API with [server] allow_private_urls (development).
func TestProviderURLsFromTheAPIMustBePublic(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	admin := srv.admin()
	zenvia := func(id, apiURL string) map[string]any {
		return map[string]any{"id": id, "name": "Zenvia " + id, "channel": "zenvia",
			"settings": map[string]any{"sender_id": "brisk-harbor", "api_token": "zenvia-token-123456", "api_url": apiURL}}
	}
	meta := func(id, graphURL string) map[string]any {
		return map[string]any{"id": id, "name": "Meta " + id, "channel": "meta",
			"settings": map[string]any{"access_token": "t", "app_secret": "s", "graph_url": graphURL}}
	}
	refused := []struct {
		body  map[string]any
		field string
	}{
		{zenvia("z1", "http://127.0.0.1:9999"), "settings.api_url"},
		{zenvia("z2", "https://localhost"), "settings.api_url"},
		{zenvia("z3", "https://10.1.2.3/v2"), "settings.api_url"},
		{zenvia("z4", "http://api.zenvia.com"), "settings.api_url"},
		{meta("m1", "http://169.254.169.254/latest"), "settings.graph_url"},
		{meta("m2", "https://[::1]:8443"), "settings.graph_url"},
		{meta("m3", "https://2130706433"), "settings.graph_url"},
		{meta("m4", "https://metadata.google.internal"), "settings.graph_url"},
	}
	for _, c := range refused {
		var e apiError
		status := srv.api("POST", "/api/v1/integrations", admin, c.body, &e)
		if status != 400 || e.Error.Fields[c.field] == "" {
			t.Errorf("POST %v = %d %+v, want 400 naming %s", c.body["settings"], status, e.Error, c.field)
		}
	}
	// Nor can an update move one there.
	if status := srv.api("POST", "/api/v1/integrations", admin, zenvia("ok", "https://api.zenvia.com"), nil); status != 201 {
		t.Fatalf("POST with Zenvia's own https URL = %d, want 201", status)
	}
	var e apiError
	if status := srv.api("PUT", "/api/v1/integrations/ok", admin, zenvia("ok", "http://127.0.0.1:9999"), &e); status != 400 || e.Error.Fields["settings.api_url"] == "" {
		t.Errorf("PUT moving api_url to loopback = %d %+v, want 400", status, e.Error)
	}
	if status := srv.api("POST", "/api/v1/integrations", admin, meta("default", ""), nil); status != 201 {
		t.Errorf("POST with no graph_url (the channel's default) = %d, want 201", status)
	}
	// The file's integration points at the test's fake on loopback, and works.
	srv.deliverMeta("ig-meta", fresh(fixture(t, "01-message-text.json")))
	eventually(t, "the reply at the fake Graph API", func() bool { return len(graph.sends()) > 0 })

	dev := newServer(t, withPrivateURLs(metaConfig(graph.URL, "")))
	if status := dev.api("POST", "/api/v1/integrations", dev.admin(), zenvia("z1", "http://127.0.0.1:9999"), nil); status != 201 {
		t.Errorf("POST a loopback api_url with allow_private_urls = %d, want 201", status)
	}
}
