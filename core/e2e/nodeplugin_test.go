package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The webhook channel of plugins/examples/webhook-node: a third-party
// plugin written in Node.js, installed and trusted as an operator does, in
// front of the demo assistant.

const (
	nodeWebhookSecret = "e2e-webhook-signing-secret-42"
	nodeCallbackToken = "e2e-callback-token-9f3a"
)

// nodeWebhookScript is the plugin's entry script, skipping the test when
// node or the plugin's packages are missing (failing it with
// CONVERSA_NODE_TESTS=required, as CI sets).
func nodeWebhookScript(t *testing.T) string {
	t.Helper()
	js, err := filepath.Abs(filepath.Join("..", "..", "plugins", "examples", "webhook-node", "plugin.js"))
	if err != nil {
		t.Fatal(err)
	}
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not installed"
	} else if _, err := os.Stat(filepath.Join(filepath.Dir(js), "node_modules", "@grpc", "grpc-js", "package.json")); err != nil {
		missing = "the plugin's packages are not installed (npm ci --prefix plugins/examples/webhook-node)"
	}
	if missing != "" {
		if os.Getenv("CONVERSA_NODE_TESTS") == "required" {
			t.Fatalf("CONVERSA_NODE_TESTS=required but %s", missing)
		}
		t.Skipf("skipped: %s (set CONVERSA_NODE_TESTS=required to fail instead)", missing)
	}
	return js
}

func nodeWebhookConfig(callbackURL string) string {
	return `
[server]
listen = "127.0.0.1:0"

[storage]
path = "{{DIR}}/data/conversa.db"

[scripts]
dir = "{{DIR}}/scripts"

[plugins]
dir = "{{DIR}}/plugins"

[[integrations]]
id = "web"
name = "Web chat"
channel = "webhook"          # conversa-plugin-webhook
assistant = "demo"

[integrations.settings]
secret = "` + nodeWebhookSecret + `"
callback_url = "` + callbackURL + `"
callback_token = "` + nodeCallbackToken + `"
`
}

// callbackReceiver is the system behind callback_url: it records each
// reply and answers with an id of its own.
type callbackReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	replies []callbackReply
}

type callbackReply struct {
	Path, Auth, Signature string
	Body                  struct {
		ID       string `json:"id"`
		To       struct{ ID, Name, Username string }
		Author   string `json:"author"`
		ReplyTo  string `json:"reply_to"`
		Contents []struct {
			Type, Text string
			Options    []struct{ Title, Payload string }
		} `json:"contents"`
	}
	Raw []byte
}

func newCallbackReceiver(t *testing.T) *callbackReceiver {
	t.Helper()
	rc := &callbackReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		reply := callbackReply{Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Signature: r.Header.Get("X-Webhook-Signature"), Raw: b}
		if err := json.Unmarshal(b, &reply.Body); err != nil {
			http.Error(w, `{"error":"not JSON"}`, http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.replies = append(rc.replies, reply)
		n := len(rc.replies)
		rc.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"rcv-%d"}`, n)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *callbackReceiver) got() []callbackReply {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]callbackReply(nil), rc.replies...)
}

// postWebhook delivers a body to the integration, signed with secret.
func (s *server) postWebhook(integration, secret string, body []byte) (int, []byte) {
	return s.do("POST", "/webhooks/"+integration, body, map[string]string{
		"Content-Type": "application/json", "X-Webhook-Signature": sign(secret, body)})
}

func TestNodeWebhookPluginAnswersThroughTheAssistant(t *testing.T) {
	js := nodeWebhookScript(t)
	rc := newCallbackReceiver(t)
	srv := preparedServer(t, nodeWebhookConfig(rc.URL+"/conversa/replies"))

	// Installed as the README says: a symlink in the plugins directory to
	// the script, then trusted; the pin is the script's SHA-256.
	dir := filepath.Join(srv.dir, "plugins")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(js, filepath.Join(dir, "conversa-plugin-webhook")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if out := srv.cli("plugins", "trust", "webhook", "--config", srv.config); !strings.Contains(out, "plugin webhook trusted: ") || !strings.Contains(out, hex.EncodeToString(sum[:])) {
		t.Errorf("plugins trust printed %q, want the script's sha256 %x", out, sum)
	}
	srv.start()
	t.Cleanup(srv.stop)
	admin := srv.admin()

	eventually(t, "the webhook plugin running", func() bool { return srv.pluginStatus(admin, "webhook").State == "running" })
	if p := srv.pluginStatus(admin, "webhook"); p.Builtin || p.PID == 0 {
		t.Errorf("plugin status = %+v, want a third-party process", p)
	}
	var list struct {
		Integrations []struct {
			ID        string         `json:"id"`
			Channel   string         `json:"channel"`
			Available bool           `json:"available"`
			Reason    string         `json:"unavailable_reason"`
			Webhook   map[string]any `json:"webhook"`
		} `json:"integrations"`
	}
	if status := srv.api("GET", "/api/v1/integrations", admin, nil, &list); status != 200 {
		t.Fatalf("GET /api/v1/integrations = %d", status)
	}
	found := false
	for _, in := range list.Integrations {
		if in.ID == "web" {
			found = true
			if !in.Available || in.Channel != "webhook" {
				t.Errorf("integration web = %+v, want available on channel webhook", in)
			}
			// What the operator copies into the sending system: the URL and
			// the signing secret (a plain webhook field of this channel).
			if in.Webhook["secret"] != nodeWebhookSecret || !strings.HasSuffix(fmt.Sprint(in.Webhook["url"]), "/webhooks/web") {
				t.Errorf("integration web webhook = %v, want its URL and the signing secret", in.Webhook)
			}
		}
	}
	if !found {
		t.Fatalf("GET /api/v1/integrations has no web: %+v", list.Integrations)
	}

	// A forged request: refused, nothing stored, nothing sent.
	forged := []byte(fmt.Sprintf(`{"id":"msg-forged","from":{"id":"u1"},"text":"oi","timestamp":%d}`, time.Now().UnixMilli()))
	if status, _ := srv.postWebhook("web", "not-the-secret", forged); status != 401 {
		t.Errorf("a wrongly signed webhook = %d, want 401", status)
	}
	if status, _ := srv.do("POST", "/webhooks/web", forged, map[string]string{"Content-Type": "application/json"}); status != 401 {
		t.Errorf("an unsigned webhook = %d, want 401", status)
	}
	if n := srv.count(`SELECT count(*) FROM inbox`); n != 0 {
		t.Errorf("inbox has %d rows after refused requests, want 0", n)
	}
	if n := srv.count(`SELECT count(*) FROM messages`); n != 0 {
		t.Errorf("messages has %d rows after refused requests, want 0", n)
	}

	// "oi" from Ana: the demo assistant's greeting reaches the receiver.
	oi := []byte(fmt.Sprintf(`{"id":"msg-1","from":{"id":"u1","name":"Ana","username":"ana"},"text":"oi","timestamp":%d}`, time.Now().UnixMilli()))
	if status, body := srv.postWebhook("web", nodeWebhookSecret, oi); status != 200 || string(body) != `{"received":1}` {
		t.Fatalf("signed webhook = %d %s, want 200 {\"received\":1}", status, body)
	}
	eventually(t, "the assistant's reply at the callback URL", func() bool { return len(rc.got()) > 0 })
	if len(srv.children()) == 0 || !srv.runsPlugin("webhook") {
		t.Errorf("children %v: want conversa-plugin-webhook", srv.children())
	}
	reply := rc.got()[0]
	if reply.Path != "/conversa/replies" || reply.Auth != "Bearer "+nodeCallbackToken || reply.Signature != sign(nodeWebhookSecret, reply.Raw) {
		t.Errorf("reply went to %s with Authorization %q and signature %q, want /conversa/replies with the bearer token, signed",
			reply.Path, reply.Auth, reply.Signature)
	}
	if reply.Body.To.ID != "u1" || reply.Body.Author != "assistant" || reply.Body.ID == "" || len(reply.Body.Contents) == 0 {
		t.Errorf("reply body = %s", reply.Raw)
	}
	text := ""
	for _, c := range reply.Body.Contents {
		text += c.Text
	}
	if !strings.Contains(text, "Sou o assistente de demonstração") {
		t.Errorf("reply contents = %s, want the demo assistant's Portuguese greeting", reply.Raw)
	}
	// Conversa stored the receiver's id for the reply, and the contact as
	// the message named her.
	eventually(t, "the reply stored as sent with the receiver's id", func() bool {
		return srv.count(`SELECT count(*) FROM messages WHERE direction = 'out' AND provider_message_id = 'rcv-1'`) == 1
	})
	if n := srv.count(`SELECT count(*) FROM messages WHERE direction = 'in' AND provider_message_id = 'msg-1'`); n != 1 {
		t.Errorf("inbound messages with id msg-1 = %d, want 1", n)
	}

	// The receiver reports the reply delivered.
	delivered := []byte(`{"type":"status","message_id":"rcv-1","status":"delivered","to":{"id":"u1"}}`)
	if status, body := srv.postWebhook("web", nodeWebhookSecret, delivered); status != 200 {
		t.Fatalf("status webhook = %d %s", status, body)
	}
	eventually(t, "the reply marked delivered", func() bool {
		return srv.count(`SELECT count(*) FROM messages WHERE provider_message_id = 'rcv-1' AND status = 'delivered'`) == 1
	})

	// The same message again (a retry by the sender) is answered once.
	if status, _ := srv.postWebhook("web", nodeWebhookSecret, oi); status != 200 {
		t.Errorf("the same webhook again = %d, want 200", status)
	}
	eventually(t, "everything processed", func() bool {
		return srv.count(`SELECT count(*) FROM inbox WHERE processed_at IS NULL`) == 0 &&
			srv.count(`SELECT count(*) FROM outbox WHERE done_at IS NULL`) == 0
	})
	if n := srv.count(`SELECT count(*) FROM messages WHERE direction = 'in'`); n != 1 {
		t.Errorf("inbound messages after a redelivery = %d, want 1", n)
	}

	// The plugin's log lines reach Conversa's log, without a secret.
	if logs := srv.logs.String(); strings.Contains(logs, nodeWebhookSecret) || strings.Contains(logs, nodeCallbackToken) {
		t.Error("the server's log shows the integration's secret or token")
	}
	if !strings.Contains(srv.logs.String(), "plugin started") {
		t.Errorf("the plugin's start-up line is not in the server's log")
	}
}
