package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// zenviaIntegration is a Zenvia [[integrations]] table answering with the
// demo, to append to a config.
func zenviaIntegration(id, channel, apiURL string) string {
	return `
[[integrations]]
id = "` + id + `"
name = "Instagram via Zenvia"
channel = "` + channel + `"
assistant = "demo"
[integrations.settings]
sender_id = "` + zenviaSender + `"
api_token = "` + zenviaToken + `"
api_url = "` + apiURL + `"
` + zenviaCredentials
}

// metaAndZenviaConfig is a server with a Meta integration (ig-meta) and a
// Zenvia one (ig-zenvia), both answered by the demo.
func metaAndZenviaConfig(graphURL, zenviaURL string, bodyLimitKB int) string {
	return withBodyLimit(metaConfig(graphURL, ""), bodyLimitKB) +
		zenviaIntegration("ig-zenvia", "zenvia", zenviaURL)
}

// floodBodies are Meta webhooks carrying total text messages from one
// sender, perBody in each: alternately one entry with many messaging items
// and many entries with one item each (Meta batches both ways).
func floodBodies(sender string, total, perBody int) [][]byte {
	// Written over the last moments, oldest first, none in the future.
	first := time.Now().Add(-time.Duration(total) * time.Millisecond)
	item := func(i int) map[string]any {
		at := first.Add(time.Duration(i) * time.Millisecond).UnixMilli()
		return map[string]any{
			"sender": map[string]string{"id": sender}, "recipient": map[string]string{"id": businessID},
			"timestamp": at,
			"message":   map[string]string{"mid": fmt.Sprintf("m_flood_%05d", i), "text": fmt.Sprintf("flood %d", i)},
		}
	}
	var bodies [][]byte
	for b := 0; b*perBody < total; b++ {
		var entries []any
		from, to := b*perBody, min(total, (b+1)*perBody)
		if b%2 == 0 {
			var items []any
			for i := from; i < to; i++ {
				items = append(items, item(i))
			}
			entries = append(entries, map[string]any{"id": businessID, "time": time.Now().UnixMilli(), "messaging": items})
		} else {
			for i := from; i < to; i++ {
				entries = append(entries, map[string]any{"id": businessID, "time": time.Now().UnixMilli(), "messaging": []any{item(i)}})
			}
		}
		body, _ := json.Marshal(map[string]any{"object": "instagram", "entry": entries})
		bodies = append(bodies, body)
	}
	return bodies
}

func TestFloodFromOneContactDoesNotDelayOthers(t *testing.T) {
	graph := newEchoGraph(t, "ig-meta", metaSecret, businessID)
	zenvia := newFakeZenvia(t)
	srv := newServer(t, metaAndZenviaConfig(graph.URL, zenvia.URL, 4096))
	url := &liveURL{}
	url.set(srv.URL)
	graph.deliverTo(url.get)

	const flooder, other, total = "7425819036400000", "7425819036411111", 20000
	start := time.Now()
	for i, body := range floodBodies(flooder, total, 1000) {
		if status, b := srv.postMeta("ig-meta", metaSecret, body); status != 200 {
			t.Fatalf("flood webhook %d (%d KB) = %d %s, want 200", i+1, len(body)/1024, status, b)
		}
	}
	t.Logf("%d messages from one contact acknowledged in %s", total, time.Since(start).Round(time.Millisecond))
	time.Sleep(time.Second)
	floodReplies := graph.countsFor(flooder).Requests
	if floodReplies >= total {
		t.Fatalf("the flood was already answered (%d replies) before the others wrote: the test proves nothing", floodReplies)
	}

	// While the flood drains, another Meta user and a Zenvia user write.
	if status, b := srv.postMeta("ig-meta", metaSecret, metaText(other, "m_other_1", "oi", time.Now())); status != 200 {
		t.Fatalf("POST the other Meta user's message = %d %s, want 200", status, b)
	}
	metaAcked := time.Now()
	if status, b := srv.postZenvia(zenviaText(t, "oi"), zenviaHookUser, zenviaHookToken); status != 200 {
		t.Fatalf("POST the Zenvia user's message = %d %s, want 200", status, b)
	}
	zenviaAcked := time.Now()

	// Wait well past the budget, to report the real latency.
	var metaLatency, zenviaLatency time.Duration = -1, -1
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && (metaLatency < 0 || zenviaLatency < 0); {
		if metaLatency < 0 {
			for _, s := range graph.sends() {
				if s.Recipient == other {
					metaLatency = s.At.Sub(metaAcked)
					break
				}
			}
		}
		if zenviaLatency < 0 {
			for _, r := range zenvia.accepted() {
				if r.To() == zenviaUser {
					zenviaLatency = time.Since(zenviaAcked)
					break
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	flood := graph.countsFor(flooder)
	seen := func(d time.Duration) string {
		if d < 0 {
			return "did not arrive within 30s of the webhook's 200"
		}
		return "arrived " + d.Round(time.Millisecond).String() + " after the webhook's 200"
	}
	t.Logf("other Meta user's reply %s; Zenvia user's reply %s; the flooding contact had %d replies sent (%d before the others wrote)",
		seen(metaLatency), seen(zenviaLatency), flood.Requests, floodReplies)
	if metaLatency < 0 || metaLatency > 2*time.Second {
		t.Errorf("while one contact's %d messages drained, another Meta user's reply %s, want within 2s", total, seen(metaLatency))
	}
	if zenviaLatency < 0 || zenviaLatency > 2*time.Second {
		t.Errorf("while one Meta contact's %d messages drained, a Zenvia user's reply %s, want within 2s", total, seen(zenviaLatency))
	}
}

// newPreparedServer is newServer with a step between writing the
// configuration and starting the server (files the server finds at start).
func newPreparedServer(t *testing.T, config string, prepare func(s *server)) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{t: t, dir: dir, config: filepath.Join(dir, "conversa.toml")}
	config = strings.ReplaceAll(config, "{{DIR}}", dir)
	if err := os.WriteFile(s.config, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	prepare(s)
	s.start()
	t.Cleanup(s.stop)
	return s
}

// writeExecutable replaces path with an executable script, atomically (a
// process may be starting it).
func writeExecutable(t *testing.T, path, script string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// integrationState reads an integration's availability through the API.
func (s *server) integrationState(token, id string) (available bool, reason string, raw string) {
	s.t.Helper()
	var in map[string]any
	if status := s.api("GET", "/api/v1/integrations/"+id, token, nil, &in); status != 200 {
		s.t.Fatalf("GET /api/v1/integrations/%s = %d", id, status)
	}
	b, _ := json.Marshal(map[string]any{"available": in["available"], "unavailable_reason": in["unavailable_reason"]})
	available, _ = in["available"].(bool)
	reason, _ = in["unavailable_reason"].(string)
	return available, reason, string(b)
}

func TestBrokenChannelPluginDoesNotStopTheServer(t *testing.T) {
	graph := newFakeGraph(t)
	zenvia := newFakeZenvia(t)
	config := metaConfig(graph.URL, "") + zenviaIntegration("ig-broken", "broken", zenvia.URL)
	var script string
	srv := newPreparedServer(t, config, func(s *server) {
		script = filepath.Join(s.dir, "plugins", "conversa-plugin-broken")
		if err := os.MkdirAll(filepath.Dir(script), 0o755); err != nil {
			t.Fatal(err)
		}
		writeExecutable(t, script, "#!/bin/sh\nexit 1\n")
		s.cli("plugins", "trust", "--config", s.config, "broken")
	})
	token := srv.admin()

	// The Meta integration works.
	if status, b := srv.postMeta("ig-meta", metaSecret, metaText(customerA, "m1", "oi", time.Now())); status != 200 {
		t.Fatalf("POST to the Meta integration = %d %s, want 200", status, b)
	}
	eventually(t, "the Meta integration's reply", func() bool { return len(graph.sends()) > 0 })

	// The broken one says so, everywhere.
	var raw string
	eventuallyWithin(t, 30*time.Second, "ig-broken shown unavailable with a reason", func() bool {
		var available bool
		var reason string
		available, reason, raw = srv.integrationState(token, "ig-broken")
		return !available && reason != ""
	}, func() string { return "GET /api/v1/integrations/ig-broken shows " + raw })
	post := func() (*http.Response, string) {
		req, _ := http.NewRequest("POST", srv.URL+"/webhooks/ig-broken", bytes.NewReader(zenviaText(t, "oi")))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Username", zenviaHookUser)
		req.Header.Set("AuthenticationToken", zenviaHookToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST /webhooks/ig-broken: %v", err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp, b.String()
	}
	if resp, body := post(); resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("POST /webhooks/ig-broken while its plugin cannot run = %d (Retry-After %q) %q, want 503 with a Retry-After",
			resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	var state pluginState
	eventuallyWithin(t, 60*time.Second, "the broken plugin reported failing", func() bool {
		state = srv.plugins(token)["broken"]
		return state.State == "failing"
	}, func() string { return fmt.Sprintf("GET /api/v1/plugins shows broken as %+v", state) })

	// The operator installs a working plugin under that name and trusts it:
	// no restart.
	writeExecutable(t, script, "#!/bin/sh\nexec "+binary+" plugin zenvia\n")
	srv.cli("plugins", "trust", "--config", srv.config, "broken")
	fixed := time.Now()
	eventuallyWithin(t, 70*time.Second, "ig-broken available once its plugin works", func() bool {
		available, _, r := srv.integrationState(token, "ig-broken")
		raw = r
		return available
	}, func() string {
		return fmt.Sprintf("GET /api/v1/integrations/ig-broken shows %s; plugin %+v", raw, srv.plugins(token)["broken"])
	})
	t.Logf("ig-broken available %s after its executable was fixed", time.Since(fixed).Round(time.Millisecond))
	if resp, body := post(); resp.StatusCode != 200 {
		t.Fatalf("POST /webhooks/ig-broken once its plugin works = %d %q, want 200", resp.StatusCode, body)
	}
	got := waitSends(t, zenvia, 1)[0]
	if got.To() != zenviaUser || got.Text() == "" {
		t.Errorf("reply through the repaired plugin = %v to %q, want a text to %q", got.Body, got.To(), zenviaUser)
	}
}

// rawRequest sends request bytes as they are (net/http would refuse some)
// and returns the answer's status and body.
func (s *server) rawRequest(request string) (int, string) {
	s.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(request)); err != nil {
		s.t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		s.t.Fatalf("reading the answer to %q: %v", strings.SplitN(request, "\r\n", 2)[0], err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// rawPost is a POST with a JSON body and the given header lines.
func rawPost(target string, headers []string, body []byte) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: conversa\r\nConnection: close\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s",
		target, strings.Join(append(headers, ""), "\r\n"), len(body), body)
}

func TestNonUTF8HeadersAndQueryGetTheirRealAnswer(t *testing.T) {
	graph := newFakeGraph(t)
	zenvia := newFakeZenvia(t)
	srv := newServer(t, metaAndZenviaConfig(graph.URL, zenvia.URL, 64))

	// Latin-1 bytes, as an old proxy or a hand-made client sends them.
	const latin1 = "caf\xe9 \xff"
	metaBody := fresh(fixture(t, "01-message-text.json"))
	cases := []struct {
		what, request string
		status        int
		body          string
	}{
		// The raw requests are well formed: the same handshake in UTF-8.
		{"Meta's handshake with the right token and another parameter in UTF-8",
			"GET /webhooks/ig-meta?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444&note=caf\xc3\xa9 HTTP/1.1\r\nHost: conversa\r\nConnection: close\r\n\r\n",
			200, "1158201444"},
		{"a Zenvia webhook whose AuthenticationToken is not UTF-8",
			rawPost("/webhooks/ig-zenvia", []string{"Username: " + zenviaHookUser, "AuthenticationToken: " + zenviaHookToken + latin1},
				zenviaText(t, "oi")), 401, ""},
		{"a Zenvia webhook with the right credentials, a header and a query that are not UTF-8",
			rawPost("/webhooks/ig-zenvia?utm_source=caf%E9&ref="+latin1[:4], []string{"Username: " + zenviaHookUser,
				"AuthenticationToken: " + zenviaHookToken, "X-Forwarded-Note: " + latin1}, zenviaText(t, "oi")), 200, ""},
		{"Meta's handshake with a wrong verify token that is not UTF-8",
			"GET /webhooks/ig-meta?hub.mode=subscribe&hub.verify_token=verify-me\xff&hub.challenge=1158201444 HTTP/1.1\r\nHost: conversa\r\nConnection: close\r\n\r\n",
			403, ""},
		{"Meta's handshake with the right token and another parameter that is not UTF-8",
			"GET /webhooks/ig-meta?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444&note=" + latin1[:4] + " HTTP/1.1\r\nHost: conversa\r\nConnection: close\r\n\r\n",
			200, "1158201444"},
		// Both channels' event deliveries: signed or authenticated, they are
		// stored whatever else the request carries.
		{"a signed Meta webhook with a header and a query that are not UTF-8",
			rawPost("/webhooks/ig-meta?utm_source=caf%E9&ref="+latin1[:4], []string{"X-Hub-Signature-256: " + sign(metaSecret, metaBody),
				"X-Forwarded-Note: " + latin1, "User-Agent: facebookexternalua " + latin1}, metaBody), 200, ""},
		{"a Meta webhook whose signature is not UTF-8",
			rawPost("/webhooks/ig-meta", []string{"X-Hub-Signature-256: sha256=" + latin1}, metaBody), 401, ""},
	}
	accepted := false
	for i, c := range cases {
		status, body := srv.rawRequest(c.request)
		if status != c.status || c.body != "" && body != c.body {
			t.Errorf("%s = %d %q, want %d %q", c.what, status, body, c.status, c.body)
		}
		accepted = accepted || i == 2 && status == 200
	}
	if !accepted {
		return
	}
	// The accepted Meta message is stored.
	eventually(t, "the Meta message stored", func() bool {
		return srv.count(`SELECT count(*) FROM messages WHERE provider_message_id = ?`, mid01) == 1
	})
	// The accepted Zenvia message is stored (and the refused one is not).
	eventually(t, "the Zenvia message stored", func() bool {
		return srv.count(`SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
			JOIN contacts ct ON ct.id = c.contact_id WHERE ct.channel_user_id = ? AND m.direction = 'in'`, zenviaUser) > 0
	})
	srv.settle()
	if n := srv.count(`SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
		JOIN contacts ct ON ct.id = c.contact_id WHERE ct.channel_user_id = ? AND m.direction = 'in'`, zenviaUser); n != 1 {
		t.Errorf("inbound Zenvia messages stored = %d, want 1: the accepted one only", n)
	}
}
