package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// seriesLines are the samples of a scrape (every line that is not a
// comment).
func seriesLines(body []byte) []string {
	var out []string
	for _, l := range strings.Split(string(body), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// sampleSum adds the values of every sample whose line starts with prefix
// (a metric name, with labels if given).
func sampleSum(t *testing.T, body []byte, prefix string) float64 {
	t.Helper()
	var sum float64
	for _, l := range seriesLines(body) {
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", l, err)
		}
		sum += v
	}
	return sum
}

// Requests to integration ids nobody configured all count under one label:
// a stranger cannot grow the metrics, nor read them back as a list of what
// was tried.
func TestMetricsUnknownIntegrationsAddNoSeries(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	body := []byte(`{"object":"instagram","entry":[]}`)
	if status, _ := srv.postMeta("nobody-configured-this", metaSecret, body); status != 404 {
		t.Fatalf("POST to an unknown integration = %d, want 404", status)
	}
	_, before := srv.do("GET", "/metrics", nil, nil)
	ids := make([]string, 1000)
	for i := range ids {
		b := make([]byte, 8)
		rand.Read(b)
		ids[i] = "x" + hex.EncodeToString(b)
		if status, _ := srv.postMeta(ids[i], metaSecret, body); status != 404 {
			t.Fatalf("POST /webhooks/%s = %d, want 404", ids[i], status)
		}
	}
	status, after := srv.do("GET", "/metrics", nil, nil)
	if status != 200 {
		t.Fatalf("GET /metrics = %d", status)
	}
	if b, a := len(seriesLines(before)), len(seriesLines(after)); a != b {
		t.Errorf("1000 requests to unknown integrations took /metrics from %d to %d series, want no new one", b, a)
	}
	for _, id := range ids {
		if bytes.Contains(after, []byte(id)) {
			t.Fatalf("/metrics names the unknown integration %q:\n%s", id, after)
		}
	}
	if got := sampleSum(t, after, `conversa_webhooks_total{integration="unknown",result="not_found"}`); got != 1001 {
		t.Errorf(`conversa_webhooks_total{integration="unknown",result="not_found"} = %v, want 1001`, got)
	}
}

func TestMetricsToken(t *testing.T) {
	graph := newFakeGraph(t)
	cfg := strings.Replace(metaConfig(graph.URL, ""), "body_limit_kb = 64\n", "body_limit_kb = 64\nmetrics_token = \"scrape-me\"\n", 1)
	srv := newServer(t, cfg)
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"", 401},
		{"Bearer wrong", 401},
		{"Bearer scrape-me-not", 401},
		{"Basic c2NyYXBlLW1l", 401},
		{"scrape-me", 401},
		{"Bearer scrape-me", 200},
	} {
		headers := map[string]string{}
		if tc.auth != "" {
			headers["Authorization"] = tc.auth
		}
		status, body := srv.do("GET", "/metrics", nil, headers)
		if status != tc.want {
			t.Errorf("GET /metrics with Authorization %q = %d, want %d", tc.auth, status, tc.want)
		}
		if tc.want == 401 && bytes.Contains(body, []byte("conversa_")) {
			t.Errorf("GET /metrics with Authorization %q answered with metrics:\n%s", tc.auth, body)
		}
	}
	// The rest of the server is not behind the token.
	if status, _ := srv.do("GET", "/healthz", nil, nil); status != 200 {
		t.Errorf("GET /healthz = %d, want 200", status)
	}
}

// promtool finds Debian's promtool (package prometheus). Without it the
// test is skipped, unless CONVERSA_PROMTOOL=required (CI) makes that a
// failure.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err == nil {
		return path
	}
	if os.Getenv("CONVERSA_PROMTOOL") == "required" {
		t.Fatalf("promtool not found and CONVERSA_PROMTOOL=required: apt-get install prometheus")
	}
	t.Skip("promtool not found (apt-get install prometheus, Debian's package, provides it); set CONVERSA_PROMTOOL=required to fail instead")
	return ""
}

// After real traffic (a webhook, the assistant's reply through the plugins
// and a Lua hook, the send to the fake Graph API), the scrape passes
// promtool's checks and carries every histogram with observations.
func TestMetricsPassPromtoolWithHistograms(t *testing.T) {
	tool := promtool(t)
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	if status, body := srv.postMeta("ig-meta", metaSecret, fresh(fixture(t, "01-message-text.json"))); status != 200 {
		t.Fatalf("POST webhook = %d %s", status, body)
	}
	srv.postMeta("ig-meta", "wrong", fresh(fixture(t, "01-message-text.json")))
	srv.postMeta("no-such-integration", metaSecret, fresh(fixture(t, "01-message-text.json")))
	eventually(t, "the assistant's reply at the Graph API", func() bool { return len(graph.sends()) > 0 })
	eventually(t, "processing", srv.drained)

	var body []byte
	eventually(t, "the reply's latency in /metrics", func() bool {
		_, body = srv.do("GET", "/metrics", nil, nil)
		return sampleSum(t, body, `conversa_reply_latency_seconds_count{integration="ig-meta"}`) > 0
	})
	cmd := exec.Command(tool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s\nscrape:\n%s", err, out, body)
	}
	for _, want := range []string{
		`conversa_webhook_duration_seconds_count{integration="ig-meta",result="accepted"}`,
		`conversa_webhook_duration_seconds_count{integration="ig-meta",result="refused"}`,
		`conversa_webhook_duration_seconds_count{integration="unknown",result="not_found"}`,
		`conversa_plugin_call_duration_seconds_count{method="HandleWebhook",plugin="meta"}`,
		`conversa_plugin_call_duration_seconds_count{method="Converse",plugin="rules"}`,
		`conversa_plugin_call_duration_seconds_count{method="Send",plugin="meta"}`,
		`conversa_lua_hook_duration_seconds_count{hook="route"}`,
		`conversa_send_duration_seconds_count{channel="meta",outcome="sent"}`,
		`conversa_reply_latency_seconds_count{integration="ig-meta"}`,
		// The Go runtime's and the process's collectors.
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if got := sampleSum(t, body, want); got <= 0 {
			t.Errorf("%s = %v, want > 0", want, got)
		}
	}
	// A histogram's buckets come with it.
	if !regexp.MustCompile(`(?m)^conversa_send_duration_seconds_bucket\{channel="meta",outcome="sent",le="\+Inf"\} [1-9]`).Match(body) {
		t.Errorf("no +Inf bucket with observations for conversa_send_duration_seconds:\n%s", body)
	}
}
