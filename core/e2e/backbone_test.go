package e2e

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The signature vectors' app secret (fixtures/signatures.md).
const metaSecret = "3f7a1c9e5b2d4f6081a2c3e4d5f60718"

// The ids the Meta fixtures use.
const (
	businessID = "17841400123456789"
	customerA  = "7425819036458213"
)

func metaConfig(graphURL string, extra string) string {
	return `
[server]
listen = "127.0.0.1:0"
body_limit_kb = 64

[storage]
path = "{{DIR}}/data/conversa.db"

[scripts]
dir = "{{DIR}}/scripts"

[plugins]
dir = "{{DIR}}/plugins"

[[integrations]]
id = "ig-meta"
name = "Instagram direct"
channel = "meta"
assistant = "demo"
` + extra + `
[integrations.settings]
account_id = "` + businessID + `"
access_token = "token-abc"
app_secret = "` + metaSecret + `"
verify_token = "verify-me"
graph_url = "` + graphURL + `"
api_version = "v25.0"
`
}

func TestWebhookReplyReachesMetaThroughPluginProcesses(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))

	status, body := srv.postMeta("ig-meta", metaSecret, fresh(fixture(t, "01-message-text.json")))
	if status != 200 {
		t.Fatalf("POST webhook = %d %s, want 200", status, body)
	}
	eventually(t, "the assistant's reply at the Graph API", func() bool { return len(graph.sends()) > 0 })
	got := graph.sends()[0]
	if got.Recipient() != customerA {
		t.Errorf("reply recipient = %q, want %q", got.Recipient(), customerA)
	}
	if got.Path != "/v25.0/me/messages" || got.Auth != "Bearer token-abc" {
		t.Errorf("reply went to %s with auth %q, want /v25.0/me/messages with the bearer token", got.Path, got.Auth)
	}
	if got.Text() == "" {
		t.Errorf("reply body %v has no text", got.Body)
	}
	// The channel and the assistant ran as separate processes.
	children := strings.Join(srv.children(), "\n")
	for _, want := range []string{"conversa plugin meta", "conversa plugin rules"} {
		if !strings.Contains(children, want) {
			t.Errorf("server's children:\n%s\nwant a process %q", children, want)
		}
	}
}

func TestBadSignatureIsRefusedAndNothingStored(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	body := fresh(fixture(t, "01-message-text.json"))

	status, _ := srv.postMeta("ig-meta", "not-the-secret", body)
	if status != 401 {
		t.Errorf("POST with a bad signature = %d, want 401", status)
	}
	status, _ = srv.do("POST", "/webhooks/ig-meta", body, map[string]string{"Content-Type": "application/json"})
	if status != 401 {
		t.Errorf("POST without a signature = %d, want 401", status)
	}
	if n := srv.count(`SELECT count(*) FROM inbox`); n != 0 {
		t.Errorf("inbox has %d rows after refused requests, want 0", n)
	}
	if n := srv.count(`SELECT count(*) FROM messages`); n != 0 {
		t.Errorf("messages has %d rows after refused requests, want 0", n)
	}
	if n := len(graph.sends()); n != 0 {
		t.Errorf("Graph API received %d sends, want none", n)
	}
}

func TestSameBodyTwiceIsAnsweredOnce(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	body := fresh(fixture(t, "01-message-text.json"))
	for i := range 2 {
		if status, b := srv.postMeta("ig-meta", metaSecret, body); status != 200 {
			t.Fatalf("POST %d = %d %s, want 200", i+1, status, b)
		}
	}
	eventually(t, "everything processed and sent", func() bool {
		return srv.count(`SELECT count(*) FROM inbox WHERE processed_at IS NULL`) == 0 &&
			srv.count(`SELECT count(*) FROM outbox WHERE done_at IS NULL`) == 0 && len(graph.sends()) > 0
	})
	if n := srv.count(`SELECT count(*) FROM inbox`); n != 1 {
		t.Errorf("inbox rows = %d, want 1", n)
	}
	if n := srv.count(`SELECT count(*) FROM messages WHERE direction = 'in'`); n != 1 {
		t.Errorf("inbound messages = %d, want 1", n)
	}
	replies := srv.count(`SELECT count(*) FROM messages WHERE direction = 'out'`)
	if sends := len(graph.sends()); sends != replies || replies == 0 {
		t.Errorf("Graph API received %d sends for %d replies; want each reply sent once", sends, replies)
	}
}

func TestRestartBetweenAckAndSendDeliversOnce(t *testing.T) {
	graph := newFakeGraph(t)
	// Meta rate-limits the first attempts: the reply stays in the outbox.
	graph.setSendError(`{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","code":4,"fbtrace_id":"x"}}`)
	srv := newServer(t, metaConfig(graph.URL, ""))
	if status, b := srv.postMeta("ig-meta", metaSecret, fresh(fixture(t, "01-message-text.json"))); status != 200 {
		t.Fatalf("POST = %d %s", status, b)
	}
	eventually(t, "a refused send attempt", func() bool { return len(graph.sends()) > 0 })
	pending := srv.count(`SELECT count(*) FROM outbox WHERE done_at IS NULL`)
	if pending == 0 {
		t.Fatal("no pending outbox row after a rate-limited send")
	}

	srv.kill()
	graph.setSendError("")
	srv.restart()

	eventually(t, "the pending replies delivered after the restart", func() bool {
		return graph.delivered() == pending && srv.count(`SELECT count(*) FROM outbox WHERE done_at IS NULL`) == 0
	})
	if n := srv.count(`SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'sent'`); n != pending {
		t.Errorf("sent replies = %d, want %d", n, pending)
	}
	if got := graph.delivered(); got != pending {
		t.Errorf("Graph API accepted %d sends, want exactly %d", got, pending)
	}
}

func TestPluginsDoNotOutliveAKilledServer(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	var pids map[string]int
	eventually(t, "the plugin processes", func() bool {
		pids = pluginPIDs(srv.cmd.Process.Pid)
		return pids["meta"] != 0 && pids["rules"] != 0
	})
	srv.kill()
	eventually(t, "the plugins to exit after the server was killed", func() bool {
		for _, pid := range pids {
			if alive(pid) {
				return false
			}
		}
		return true
	})
}

func TestMetaVerificationHandshake(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	status, body := srv.do("GET", "/webhooks/ig-meta?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444", nil, nil)
	if status != 200 || string(body) != "1158201444" {
		t.Errorf("handshake = %d %q, want 200 \"1158201444\"", status, body)
	}
	status, _ = srv.do("GET", "/webhooks/ig-meta?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1158201444", nil, nil)
	if status != 403 {
		t.Errorf("handshake with a wrong token = %d, want 403", status)
	}
}

func TestWebhookErrors(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	if status, _ := srv.postMeta("nobody", metaSecret, fresh(fixture(t, "01-message-text.json"))); status != 404 {
		t.Errorf("POST to an unknown integration = %d, want 404", status)
	}
	if status := srv.announceBody("/webhooks/ig-meta", 70*1024); status != 413 {
		t.Errorf("POST over the body limit = %d, want 413", status)
	}
	if status, _ := srv.postMeta("ig-meta", metaSecret, []byte(`{"object":`)); status != 400 {
		t.Errorf("POST of broken JSON = %d, want 400", status)
	}
	if n := srv.count(`SELECT count(*) FROM inbox`); n != 0 {
		t.Errorf("inbox has %d rows after refused requests, want 0", n)
	}
	// And the server still works.
	if status, _ := srv.postMeta("ig-meta", metaSecret, fresh(fixture(t, "01-message-text.json"))); status != 200 {
		t.Errorf("POST after the errors = %d, want 200", status)
	}
}

func TestServesHealthzOnBuiltInDefaults(t *testing.T) {
	if ln, err := net.Listen("tcp", "127.0.0.1:8080"); err != nil {
		t.Skipf("127.0.0.1:8080 is taken (%v); the built-in defaults listen there", err)
	} else {
		ln.Close()
	}
	watchSources()
	dir := t.TempDir()
	cmd := exec.Command(binary)
	cmd.Dir = dir
	stdout, _ := cmd.StdoutPipe()
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
		}
	}()
	go func() { done <- cmd.Wait() }()
	srv := &server{t: t, URL: "http://127.0.0.1:8080"}
	eventually(t, "healthz on the defaults", func() bool {
		conn, err := net.Dial("tcp", "127.0.0.1:8080")
		if err != nil {
			return false
		}
		conn.Close()
		status, _ := srv.do("GET", "/healthz", nil, nil)
		return status == 200
	})
	if _, err := os.Stat(filepath.Join(dir, "data", "conversa.db")); err != nil {
		t.Errorf("database not created under ./data: %v", err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("conversa after SIGINT: %v\n%s", err, logs)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("conversa did not stop after SIGINT\n%s", logs)
	}
}

var handshakeLine = regexp.MustCompile(`^1\|1\|unix\|[^|]+\|grpc\|`)

func TestBuiltinPluginPrintsOnlyTheHandshake(t *testing.T) {
	watchSources()
	for _, name := range []string{"meta", "zenvia", "rules", "rasa"} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(binary, "plugin", name)
			cmd.Env = append(os.Environ(), "CONVERSA_PLUGIN=5b0c9f4e-conversa-plugin", "PLUGIN_PROTOCOL_VERSIONS=1",
				"PLUGIN_MIN_PORT=10000", "PLUGIN_MAX_PORT=25000")
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cmd.Process.Kill(); cmd.Wait() }()
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil {
				t.Fatalf("reading the handshake: %v", err)
			}
			if !handshakeLine.MatchString(line) {
				t.Errorf("first line on stdout = %q, want the go-plugin handshake", line)
			}
		})
	}
}
