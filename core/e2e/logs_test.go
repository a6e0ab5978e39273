package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The secrets of the integration the logs tests create through the API.
const (
	logsAccessToken = "EAAB-e2e-access-token-7781"
	logsVerifyToken = "verify-e2e-5521"
	logsNewToken    = "EAAB-e2e-replaced-token-9934"
	logsIntegration = "ig-api"
)

// logsConfig is a server with no integration: the admin creates one,
// pointed at a fake Graph API on loopback.
const logsConfig = `
[server]
listen = "127.0.0.1:0"
allow_private_urls = true
body_limit_kb = 64

[storage]
path = "{{DIR}}/data/conversa.db"

[scripts]
dir = "{{DIR}}/scripts"

[plugins]
dir = "{{DIR}}/plugins"
`

type auditEntry struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	IP     string    `json:"ip"`
	Detail string    `json:"detail"`
}

type httpMessage struct {
	Method  string `json:"method"`
	URL     string `json:"url"`
	Status  int    `json:"status"`
	Headers []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"headers"`
	Body string `json:"body"`
}

type delivery struct {
	At                 time.Time    `json:"at"`
	Direction          string       `json:"direction"`
	MessageID          string       `json:"message_id"`
	ProviderMessageIDs []string     `json:"provider_message_ids"`
	Outcome            string       `json:"outcome"`
	HTTPStatus         int          `json:"http_status"`
	LatencyMS          int64        `json:"latency_ms"`
	Error              string       `json:"error"`
	Request            *httpMessage `json:"request"`
	Response           *httpMessage `json:"response"`
}

// createLogsIntegration creates the Meta integration (Facebook login: the
// token travels in the query, with an appsecret_proof) through the API.
func createLogsIntegration(t *testing.T, srv *server, admin, graphURL string) {
	t.Helper()
	var out map[string]any
	status := srv.api("POST", "/api/v1/integrations", admin, map[string]any{
		"id": logsIntegration, "name": "Loja API", "channel": "meta",
		"settings": map[string]any{"account_id": businessID, "login": "facebook", "access_token": logsAccessToken,
			"app_secret": metaSecret, "verify_token": logsVerifyToken, "graph_url": graphURL, "api_version": "v25.0"},
	}, &out)
	if status != 201 {
		t.Fatalf("POST /api/v1/integrations = %d %v, want 201", status, out)
	}
}

// getJSON is a GET whose raw answer is kept too, to look for secrets in it.
func getJSON(t *testing.T, srv *server, path, token string, out any) []byte {
	t.Helper()
	status, body := srv.do("GET", path, nil, map[string]string{"Authorization": "Bearer " + token})
	if status != 200 {
		t.Fatalf("GET %s = %d %s, want 200", path, status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
	return body
}

// An end-to-end day: an admin creates an integration and an agent, changes
// the agent and sets them available; a forged webhook is refused, a real one
// stored; the agent's reply fails once at Meta and then goes out. The audit
// log has every change by a person, the delivery log every webhook and
// attempt, and neither shows a secret.
func TestAuditAndDeliveryLogsOfADay(t *testing.T) { logsOfADay(t, logsConfig) }

// The same day on PostgreSQL (skipped without CONVERSA_TEST_POSTGRES).
func TestAuditAndDeliveryLogsOfADayOnPostgres(t *testing.T) {
	url := pgDatabase(t)
	logsOfADay(t, strings.Replace(logsConfig, `path = "{{DIR}}/data/conversa.db"`, fmt.Sprintf("url = %q", url), 1))
}

func logsOfADay(t *testing.T, config string) {
	graph := newFakeGraph(t)
	srv := newServer(t, config)
	admin := srv.admin()
	createLogsIntegration(t, srv, admin, graph.URL)

	const anaPassword, anaNewPassword = "ana-first-pass-1", "ana-second-pass-2"
	if status := srv.api("POST", "/api/v1/agents", admin, map[string]any{"login": "ana", "name": "Ana", "role": "agent",
		"password": anaPassword, "squads": []string{"geral"}}, nil); status != 201 {
		t.Fatalf("POST /api/v1/agents = %d, want 201", status)
	}
	if status := srv.api("PUT", "/api/v1/agents/ana", admin, map[string]any{"name": "Ana Lima", "role": "agent",
		"squads": []string{"geral"}, "password": anaNewPassword}, nil); status != 200 {
		t.Fatalf("PUT /api/v1/agents/ana = %d, want 200", status)
	}
	if status := srv.api("PUT", "/api/v1/agents/ana/status", admin, map[string]string{"status": "available"}, nil); status != 200 {
		t.Fatalf("PUT /api/v1/agents/ana/status = %d, want 200", status)
	}
	if status := srv.api("POST", "/api/v1/canned_responses", admin, map[string]string{"shortcut": "oi", "text": "Olá!"}, nil); status != 201 {
		t.Fatalf("POST /api/v1/canned_responses = %d, want 201", status)
	}
	ana := srv.signIn("ana", anaNewPassword)
	// A canned response created by mistake and removed; the integration
	// switched off and on again, its token replaced on the way.
	var oops struct {
		ID int64 `json:"id"`
	}
	srv.api("POST", "/api/v1/canned_responses", admin, map[string]string{"shortcut": "oops", "text": "x"}, &oops)
	if status := srv.api("DELETE", fmt.Sprintf("/api/v1/canned_responses/%d", oops.ID), admin, nil, nil); status != 204 {
		t.Fatalf("DELETE canned response = %d, want 204", status)
	}
	for _, change := range []struct {
		enabled bool
		token   string // "": kept as it is
	}{{false, logsNewToken}, {true, ""}} {
		settings := map[string]any{"account_id": businessID, "login": "facebook", "graph_url": graph.URL, "api_version": "v25.0"}
		if change.token != "" {
			settings["access_token"] = change.token
		}
		in := map[string]any{"name": "Loja API", "channel": "meta", "enabled": change.enabled, "settings": settings}
		if status := srv.api("PUT", "/api/v1/integrations/"+logsIntegration, admin, in, nil); status != 200 {
			t.Fatalf("PUT integration %+v = %d, want 200", change, status)
		}
	}

	// A forged webhook, an oversized one, then the real message.
	body := fresh(fixture(t, "01-message-text.json"))
	if status, _ := srv.postMeta(logsIntegration, "not-the-app-secret", body); status != 401 {
		t.Fatalf("forged webhook = %d, want 401", status)
	}
	if status := srv.announceBody("/webhooks/"+logsIntegration, 100<<10); status != 413 {
		t.Fatalf("oversized webhook = %d, want 413", status)
	}
	if status, b := srv.postMeta(logsIntegration, metaSecret, body); status != 200 {
		t.Fatalf("webhook = %d %s, want 200", status, b)
	}
	var convs struct {
		Conversations []apiConversation `json:"conversations"`
	}
	eventually(t, "the conversation assigned to ana", func() bool {
		srv.api("GET", "/api/v1/conversations", ana, nil, &convs)
		return len(convs.Conversations) == 1 && convs.Conversations[0].State == "assigned"
	})
	conv := convs.Conversations[0].ID

	// Meta fails the first attempt (transient), then takes the retry.
	graph.setSendError(`{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","is_transient":true,"code":2}}`)
	var reply struct {
		ID int64 `json:"id"`
	}
	if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", conv), ana,
		map[string]any{"contents": []map[string]string{{"type": "text", "text": "Yes, size M is in stock."}}}, &reply); status != 202 {
		t.Fatalf("reply = %d, want 202", status)
	}
	eventually(t, "the failed attempt", func() bool { return len(graph.sends()) >= 1 })
	graph.setSendError("")
	eventually(t, "the retry delivered", func() bool { return graph.delivered() == 1 })

	// The audit log: every change, by whom, from where; newest first.
	var audit struct {
		Entries []auditEntry `json:"entries"`
	}
	auditJSON := getJSON(t, srv, "/api/v1/audit", admin, &audit)
	var got []string
	for _, e := range audit.Entries {
		got = append(got, e.Actor+" "+e.Action+" "+e.Target)
		wantIP := "127.0.0.1"
		if e.Actor == "command line" {
			wantIP = "" // conversa agents add, on the server's machine
		}
		if e.IP != wantIP || e.At.IsZero() {
			t.Errorf("entry %+v: want ip %q and a time", e, wantIP)
		}
	}
	want := []string{"boss integration.enable " + logsIntegration, "boss integration.update " + logsIntegration,
		"boss integration.disable " + logsIntegration, "boss canned_response.delete 2", "boss canned_response.create 2",
		"boss canned_response.create 1", "boss agent.status ana", "boss agent.update ana",
		"boss agent.password ana", "boss agent.create ana", "boss integration.create " + logsIntegration,
		"command line agent.create boss"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit log =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, e := range audit.Entries {
		if e.Action == "integration.update" && e.Detail != "changed: settings.access_token" {
			t.Errorf("the token change reads %q, want it named, not shown", e.Detail)
		}
		if e.Action == "agent.update" && e.Detail != "changed: name" {
			t.Errorf("the agent change reads %q, want %q", e.Detail, "changed: name")
		}
	}
	var only struct {
		Entries []auditEntry `json:"entries"`
	}
	getJSON(t, srv, "/api/v1/audit?action=agent&limit=2", admin, &only)
	if len(only.Entries) != 2 || only.Entries[0].Action != "agent.status" || only.Entries[1].Action != "agent.update" {
		t.Errorf("audit?action=agent&limit=2 = %+v, want the two newest agent changes", only.Entries)
	}
	if status := srv.api("GET", "/api/v1/audit", ana, nil, nil); status != 403 {
		t.Errorf("GET /api/v1/audit as an agent = %d, want 403", status)
	}

	// The delivery log: the webhooks and the two attempts.
	var ds struct {
		Deliveries []delivery `json:"deliveries"`
	}
	var deliveriesJSON []byte
	eventually(t, "the sent attempt logged", func() bool {
		deliveriesJSON = getJSON(t, srv, "/api/v1/integrations/"+logsIntegration+"/deliveries", admin, &ds)
		return len(ds.Deliveries) > 0 && ds.Deliveries[0].Outcome == "sent"
	})
	byOutcome := map[string]delivery{}
	var seq []string
	for _, d := range ds.Deliveries {
		seq = append(seq, d.Direction+":"+d.Outcome)
		if _, seen := byOutcome[d.Outcome]; !seen {
			byOutcome[d.Outcome] = d
		}
	}
	// Newest first; the webhooks came within a few milliseconds, so only
	// the sends' order is certain.
	if len(seq) != 5 || strings.Join(seq[:2], " ") != "out:sent out:retry" || len(byOutcome) != 5 ||
		byOutcome["stored"].Direction != "in" || byOutcome["too_large"].Direction != "in" || byOutcome["unauthorized"].Direction != "in" {
		t.Errorf("deliveries = %s, want the send, its failed attempt, then the stored webhook and the two refused", strings.Join(seq, " "))
	}
	mid := "aWdfaXRlbToxOklHTWVzc2FnZUlEOjE3ODQxNDAwMTIzNDU2Nzg5OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAyMzg1MTIzNDU2NzozMTk4NzY1NDMyMTA5ODc2NTQzMjEwMDAwMDAwMDAwMQ"
	if d := byOutcome["stored"]; d.MessageID != mid || d.HTTPStatus != 200 || d.Request == nil ||
		!strings.Contains(d.Request.Body, "blue jacket") || d.Request.Method != "POST" {
		t.Errorf("stored webhook = %+v, want the message's id, 200 and the request's body", d)
	}
	if d := byOutcome["unauthorized"]; d.HTTPStatus != 401 || d.Error == "" || d.Request == nil {
		t.Errorf("forged webhook = %+v, want 401 with the reason and the request", d)
	}
	if d := byOutcome["too_large"]; d.HTTPStatus != 413 {
		t.Errorf("oversized webhook = %+v, want 413", d)
	}
	sent, retry := byOutcome["sent"], byOutcome["retry"]
	msgID := fmt.Sprint(reply.ID)
	if sent.MessageID != msgID || retry.MessageID != msgID || sent.HTTPStatus != 200 || retry.HTTPStatus != 400 ||
		!strings.Contains(retry.Error, "unexpected error") || len(sent.ProviderMessageIDs) != 1 {
		t.Errorf("attempts = %+v and %+v, want message %s failed with Meta's 400 then sent", retry, sent, msgID)
	}
	for _, d := range []delivery{sent, retry} {
		if d.Request == nil || d.Response == nil || !strings.Contains(d.Request.URL, "/v25.0/me/messages?") ||
			!strings.Contains(d.Request.Body, "size M is in stock") || d.LatencyMS < 0 {
			t.Errorf("attempt %s: request %+v, response %+v; want Meta's call and answer", d.Outcome, d.Request, d.Response)
		}
	}
	if !strings.Contains(sent.Request.URL, "access_token=[redacted]") || !strings.Contains(sent.Request.URL, "appsecret_proof=[redacted]") {
		t.Errorf("send URL = %s, want its credentials redacted", sent.Request.URL)
	}

	// Why didn't it arrive? One message's deliveries.
	var one struct {
		Deliveries []delivery `json:"deliveries"`
	}
	getJSON(t, srv, "/api/v1/integrations/"+logsIntegration+"/deliveries?message_id="+msgID, admin, &one)
	if len(one.Deliveries) != 2 || one.Deliveries[1].Outcome != "retry" || one.Deliveries[0].Outcome != "sent" {
		t.Errorf("deliveries of message %s = %+v, want its two attempts", msgID, one.Deliveries)
	}
	getJSON(t, srv, "/api/v1/integrations/"+logsIntegration+"/deliveries?outcome=unauthorized", admin, &one)
	if len(one.Deliveries) != 1 {
		t.Errorf("deliveries?outcome=unauthorized = %+v, want the forged webhook", one.Deliveries)
	}
	var e struct {
		Error struct{ Code, Field string } `json:"error"`
	}
	if status := srv.api("GET", "/api/v1/integrations/"+logsIntegration+"/deliveries?limit=0", admin, nil, &e); status != 400 || e.Error.Field != "limit" {
		t.Errorf("deliveries?limit=0 = %d %+v, want 400 naming limit", status, e)
	}
	if status := srv.api("GET", "/api/v1/integrations/"+logsIntegration+"/deliveries?outcome=lost", admin, nil, &e); status != 400 || e.Error.Field != "outcome" {
		t.Errorf("deliveries?outcome=lost = %d %+v, want 400 naming outcome", status, e)
	}
	if status := srv.api("GET", "/api/v1/integrations/nope/deliveries", admin, nil, nil); status != 404 {
		t.Errorf("deliveries of an unknown integration = %d, want 404", status)
	}
	if status := srv.api("GET", "/api/v1/integrations/"+logsIntegration+"/deliveries", ana, nil, nil); status != 403 {
		t.Errorf("deliveries as an agent = %d, want 403", status)
	}

	// Deactivating ana is recorded as such.
	if status := srv.api("PUT", "/api/v1/agents/ana", admin, map[string]any{"name": "Ana Lima", "role": "agent",
		"squads": []string{"geral"}, "active": false}, nil); status != 200 {
		t.Fatalf("deactivating ana = %d, want 200", status)
	}
	getJSON(t, srv, "/api/v1/audit?action=agent.deactivate", admin, &only)
	if len(only.Entries) != 1 || only.Entries[0].Target != "ana" || only.Entries[0].Actor != "boss" {
		t.Errorf("audit?action=agent.deactivate = %+v, want boss deactivating ana", only.Entries)
	}

	// No secret anywhere in either log.
	m := hmac.New(sha256.New, []byte(metaSecret))
	m.Write([]byte(logsNewToken))
	proof := hex.EncodeToString(m.Sum(nil))
	for _, secret := range []string{logsAccessToken, logsNewToken, metaSecret, logsVerifyToken, proof, sign(metaSecret, body),
		anaPassword, anaNewPassword, admin, ana} {
		for name, b := range map[string][]byte{"audit": auditJSON, "deliveries": deliveriesJSON} {
			if strings.Contains(string(b), secret) {
				t.Errorf("the %s log shows the secret %q", name, secret)
			}
		}
	}
}

// A delivery log past [storage] delivery_log_days is pruned; 0 keeps none.
func TestDeliveryLogIsKeptForTheConfiguredDays(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, strings.Replace(metaConfig(graph.URL, ""), "[storage]\n", "[storage]\ndelivery_log_days = 1\n", 1))
	admin := srv.admin()
	if status, _ := srv.postMeta("ig-meta", "forged", fresh(fixture(t, "01-message-text.json"))); status != 401 {
		t.Fatalf("forged webhook = %d, want 401", status)
	}
	var ds struct {
		Deliveries []delivery `json:"deliveries"`
	}
	eventually(t, "the refusal logged", func() bool {
		getJSON(t, srv, "/api/v1/integrations/ig-meta/deliveries", admin, &ds)
		return len(ds.Deliveries) == 1
	})
	srv.clockForward(25 * time.Hour)
	admin = srv.signIn("boss", "boss-password") // the session lapsed meanwhile
	eventually(t, "the day-old delivery pruned", func() bool {
		getJSON(t, srv, "/api/v1/integrations/ig-meta/deliveries", admin, &ds)
		return len(ds.Deliveries) == 0
	})

	off := newServer(t, strings.Replace(metaConfig(graph.URL, ""), "[storage]\n", "[storage]\ndelivery_log_days = 0\n", 1))
	offAdmin := off.admin()
	if status, _ := off.postMeta("ig-meta", metaSecret, fresh(fixture(t, "01-message-text.json"))); status != 200 {
		t.Fatalf("webhook = %d, want 200", status)
	}
	eventually(t, "the assistant's reply", func() bool { return len(graph.sends()) > 0 })
	time.Sleep(300 * time.Millisecond) // time for a queued delivery to be written, were it queued
	getJSON(t, off, "/api/v1/integrations/ig-meta/deliveries", offAdmin, &ds)
	if len(ds.Deliveries) != 0 {
		t.Errorf("with delivery_log_days = 0, deliveries = %+v, want none", ds.Deliveries)
	}
}

// Setting up the first admin in the browser is the audit log's first entry.
func TestSetupIsAudited(t *testing.T) {
	srv := newBareServer(t)
	token := srv.setupToken(srv.banner(bannerEnd))
	var ans setupAnswer
	if status := srv.api("POST", "/api/v1/setup", "", setupBody(token, "root", "Root", "root-password-1"), &ans); status != 201 {
		t.Fatalf("POST /api/v1/setup = %d, want 201", status)
	}
	var audit struct {
		Entries []auditEntry `json:"entries"`
	}
	b := getJSON(t, srv, "/api/v1/audit", ans.Token, &audit)
	if len(audit.Entries) != 1 || audit.Entries[0].Action != "setup" || audit.Entries[0].Actor != "root" ||
		audit.Entries[0].Target != "root" || audit.Entries[0].IP != "127.0.0.1" {
		t.Errorf("audit log after setup = %+v, want root's setup from 127.0.0.1", audit.Entries)
	}
	for _, secret := range []string{token, "root-password-1"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("the audit log shows %q", secret)
		}
	}
}

// Trusting and untrusting a plugin are changes too: the audit log has
// them, by the command line, with the executable's sha256.
func TestPluginTrustIsAudited(t *testing.T) {
	graph := newFakeGraph(t)
	srv := preparedServer(t, igdirectConfig(graph.URL))
	sum := srv.installPlugin("igdirect", nil)
	srv.start()
	t.Cleanup(srv.stop)
	admin := srv.admin()
	srv.cli("plugins", "trust", "igdirect", "--config", srv.config)
	srv.cli("plugins", "untrust", "igdirect", "--config", srv.config)
	var audit struct {
		Entries []auditEntry `json:"entries"`
	}
	getJSON(t, srv, "/api/v1/audit?action=plugin", admin, &audit)
	var got []string
	for _, e := range audit.Entries {
		got = append(got, e.Actor+" "+e.Action+" "+e.Target+" "+e.Detail)
	}
	want := []string{"command line plugin.untrust igdirect ", "command line plugin.trust igdirect sha256 " + sum}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit of plugins =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
