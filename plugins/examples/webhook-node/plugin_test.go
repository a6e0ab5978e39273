package webhooknode

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

const (
	testSecret = "test-signing-secret-0123456789"
	testToken  = "test-callback-token-abcdef"
)

// script is plugin.js, skipping the test when node or the plugin's
// packages are missing (failing it with CONVERSA_NODE_TESTS=required).
func script(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs("plugin.js")
	if err != nil {
		t.Fatal(err)
	}
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not installed"
	} else if _, err := os.Stat(filepath.Join(filepath.Dir(abs), "node_modules", "@grpc", "grpc-js", "package.json")); err != nil {
		missing = "the plugin's packages are not installed (npm ci --prefix plugins/examples/webhook-node)"
	}
	if missing != "" {
		if os.Getenv("CONVERSA_NODE_TESTS") == "required" {
			t.Fatalf("CONVERSA_NODE_TESTS=required but %s", missing)
		}
		t.Skipf("skipped: %s (set CONVERSA_NODE_TESTS=required to fail instead)", missing)
	}
	return abs
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// running is the plugin process as the host sees it.
type running struct {
	client  *plugin.Client
	cmd     *exec.Cmd
	rpc     *plugin.GRPCClient
	info    sdk.InfoClient
	channel sdk.Channel
	stderr  *syncBuffer // what the plugin wrote to stderr, raw
	hostLog *syncBuffer // the host's go-plugin log
}

// start launches plugin.js as Conversa does: through a conversa-plugin-webhook
// symlink in a plugins directory, with a minimal environment, go-plugin's
// handshake and (autoMTLS) mutual TLS.
func start(t *testing.T, autoMTLS bool) *running {
	t.Helper()
	js := script(t)
	dir := t.TempDir()
	exe := filepath.Join(dir, "conversa-plugin-webhook")
	if err := os.Symlink(js, exe); err != nil {
		t.Fatal(err)
	}
	r := &running{stderr: &syncBuffer{}, hostLog: &syncBuffer{}}
	r.cmd = exec.Command(exe)
	r.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	r.client = plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          sdk.PluginSet(nil, nil, nil),
		Cmd:              r.cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "host", Output: r.hostLog, Level: hclog.Debug}),
		Stderr:           r.stderr,
		StartTimeout:     30 * time.Second,
		AutoMTLS:         autoMTLS,
		SkipHostEnv:      true,
	})
	t.Cleanup(r.client.Kill)
	c, err := r.client.Client()
	if err != nil {
		t.Fatalf("starting the plugin: %v\nstderr:\n%s", err, r.stderr)
	}
	r.rpc = c.(*plugin.GRPCClient)
	raw, err := c.Dispense(sdk.KindInfo)
	if err != nil {
		t.Fatal(err)
	}
	r.info = raw.(sdk.InfoClient)
	if raw, err = c.Dispense(sdk.KindChannel); err != nil {
		t.Fatal(err)
	}
	r.channel = raw.(sdk.Channel)
	return r
}

func settingsJSON(t *testing.T, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func signed(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestHandshakeHealthAndDescribe(t *testing.T) {
	for _, mtls := range []bool{true, false} {
		name := "plain"
		if mtls {
			name = "mutual TLS"
		}
		t.Run(name, func(t *testing.T) {
			r := start(t, mtls)
			ctx := ctxFor(t, 10*time.Second)
			info, err := r.info.Describe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.GetName() != "webhook" || info.GetVersion() == "" || strings.Join(info.GetKinds(), ",") != "channel" {
				t.Errorf("Info.Describe = %v, want webhook, a version, [channel]", info)
			}
			h, err := grpc_health_v1.NewHealthClient(r.rpc.Conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
			if err != nil || h.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
				t.Errorf("health of %q = %v, %v; want SERVING", plugin.GRPCServiceName, h, err)
			}
			if err := r.rpc.Ping(); err != nil {
				t.Errorf("go-plugin's Ping: %v", err)
			}
			ch, err := r.channel.Describe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ch.GetName() != "webhook" || !contains(ch.GetUrlSettings(), "callback_url") ||
				!contains(ch.GetSecretSettings(), "secret") || !contains(ch.GetSecretSettings(), "callback_token") ||
				!contains(ch.GetGeneratedSettings(), "secret") || len(ch.GetWebhookHeaders()) != 0 || ch.GetWebhookFields()["secret"] != "secret" ||
				!contains(ch.GetRequiredSettings(), "callback_url") || !contains(ch.GetOutboundTypes(), "quick_replies") {
				t.Errorf("Channel.Describe = %v", ch)
			}
			var fields []string
			for _, f := range ch.GetSettings() {
				fields = append(fields, f.GetName()+":"+f.GetType())
				if f.GetLabel() == "" || f.GetHelp() == "" {
					t.Errorf("setting %s has no label or help: %v", f.GetName(), f)
				}
			}
			if got := strings.Join(fields, ","); got != "callback_url:url,callback_token:secret,secret:secret,timeout_seconds:number" {
				t.Errorf("settings schema = %s", got)
			}
			// The host's stdio stream is served: go-plugin warns otherwise.
			if log := r.hostLog.String(); strings.Contains(log, "stdio service not available") {
				t.Errorf("go-plugin could not open the stdio stream:\n%s", log)
			}
			// The profile lookup is unsupported, not an error.
			p, err := r.channel.Profile(ctx, &proto.ProfileRequest{ContactId: "u1"})
			if err != nil || p.GetErrorCode() != "unsupported" || p.GetRetryable() {
				t.Errorf("Profile = %v, %v; want unsupported, not retryable", p, err)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestShutdownIsClean: go-plugin's Kill asks GRPCController.Shutdown, and
// the process exits 0 on its own rather than being killed.
func TestShutdownIsClean(t *testing.T) {
	r := start(t, true)
	r.client.Kill()
	if st := r.cmd.ProcessState; st == nil || st.ExitCode() != 0 {
		t.Errorf("after Kill the plugin ended %v, want exit status 0 (a clean shutdown)\nstderr:\n%s", st, r.stderr)
	}
	if !strings.Contains(r.stderr.String(), `"reason":"the host asked"`) {
		t.Errorf("the plugin did not log the host's shutdown request:\n%s", r.stderr)
	}
}

func TestRefusesToRunByHand(t *testing.T) {
	js := script(t)
	cmd := exec.Command(js)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 1 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "Conversa plugin") {
		t.Errorf("without the cookie: exit %d (%v), stdout %q, stderr %q; want exit 1, nothing on stdout, a note on stderr",
			code, err, stdout.String(), stderr.String())
	}
}

func TestWebhooks(t *testing.T) {
	r := start(t, true)
	settings := settingsJSON(t, map[string]any{"secret": testSecret, "callback_url": "https://chat.example.com/r", "callback_token": testToken})
	call := func(body []byte, headers map[string]string) *proto.WebhookResponse {
		t.Helper()
		req := &proto.WebhookRequest{
			Integrations: []*proto.Integration{{Id: "web", SettingsJson: settings}},
			Method:       "POST", Path: "/webhooks/web", Body: body,
		}
		for k, v := range headers {
			req.Headers = append(req.Headers, &proto.Header{Name: k, Value: v})
		}
		resp, err := r.channel.HandleWebhook(ctxFor(t, 10*time.Second), req)
		if err != nil {
			t.Fatalf("HandleWebhook(%q): %v", body, err)
		}
		return resp
	}
	sig := func(body []byte) map[string]string {
		return map[string]string{"X-Webhook-Signature": signed(body, testSecret)}
	}

	text := []byte(`{"id":"msg-1","from":{"id":"u1","name":"Ana","username":"ana","avatar_url":"https://cdn.example.com/ana.png"},"text":"oi","timestamp":1700000000000}`)
	resp := call(text, sig(text))
	if !resp.GetAuthenticated() || resp.GetMalformed() || len(resp.GetEvents()) != 1 {
		t.Fatalf("signed text = %v, want one event", resp)
	}
	ev := resp.GetEvents()[0]
	if ev.GetKind() != "message" || ev.GetDedupeKey() != "message:msg-1" || ev.GetContactId() != "u1" ||
		ev.GetContactName() != "Ana" || ev.GetContactUsername() != "ana" || ev.GetContactAvatarUrl() != "https://cdn.example.com/ana.png" ||
		ev.GetMessageId() != "msg-1" || ev.GetTimestampMs() != 1700000000000 || len(ev.GetContents()) != 1 ||
		ev.GetContents()[0].GetType() != "text" || ev.GetContents()[0].GetText() != "oi" || !bytes.Equal(ev.GetRaw(), text) {
		t.Errorf("event = %v", ev)
	}
	if resp.GetStatus() != 200 || string(resp.GetBody()) != `{"received":1}` || resp.GetContentType() != "application/json" {
		t.Errorf("answer = %d %s %q", resp.GetStatus(), resp.GetContentType(), resp.GetBody())
	}
	// Upper-case hex and a lower-case header name are the same signature.
	if resp := call(text, map[string]string{"x-webhook-signature": "sha256=" + strings.ToUpper(signed(text, testSecret)[7:])}); !resp.GetAuthenticated() {
		t.Errorf("upper-case hex signature refused: %v", resp.GetError())
	}

	for _, tc := range []struct {
		name    string
		body    []byte
		headers map[string]string
		why     string
	}{
		{"no signature", text, nil, "no X-Webhook-Signature"},
		{"signed with another secret", text, map[string]string{"X-Webhook-Signature": signed(text, "another-secret-0123456789")}, "signature mismatch"},
		{"the signature of another body", []byte(strings.Replace(string(text), "oi", "ol", 1)), sig(text), "signature mismatch"},
		{"the secret itself as the header", text, map[string]string{"X-Webhook-Signature": testSecret}, "is not sha256="},
		{"a short digest", text, map[string]string{"X-Webhook-Signature": "sha256=abcd"}, "64 hex digits"},
	} {
		resp := call(tc.body, tc.headers)
		if resp.GetAuthenticated() || len(resp.GetEvents()) != 0 || !strings.Contains(resp.GetError(), tc.why) {
			t.Errorf("%s: %v, want unauthenticated saying %q", tc.name, resp, tc.why)
		}
		if strings.Contains(resp.GetError(), testSecret) {
			t.Errorf("%s: the refusal shows the secret: %q", tc.name, resp.GetError())
		}
		if string(resp.GetBody()) != `{"error":"missing or invalid X-Webhook-Signature"}` || resp.GetContentType() != "application/json" {
			t.Errorf("%s: the sender is answered %s %q", tc.name, resp.GetContentType(), resp.GetBody())
		}
	}

	// An integration without a secret verifies nothing.
	req := &proto.WebhookRequest{
		Integrations: []*proto.Integration{{Id: "web", SettingsJson: []byte(`{"callback_url":"https://x.example"}`)}},
		Method:       "POST", Body: text, Headers: []*proto.Header{{Name: "X-Webhook-Signature", Value: signed(text, "")}},
	}
	if resp, err := r.channel.HandleWebhook(ctxFor(t, 10*time.Second), req); err != nil || resp.GetAuthenticated() {
		t.Errorf("without a secret: %v, %v; want unauthenticated", resp, err)
	}

	for _, tc := range []struct {
		name, body, why string
	}{
		{"not JSON", `hello`, "not JSON"},
		{"no id", `{"from":{"id":"u1"},"text":"x"}`, "id is missing"},
		{"no sender", `{"id":"m","text":"x"}`, "from is missing"},
		{"nothing in it", `{"id":"m","from":{"id":"u1"}}`, "no text and no attachments"},
		{"an attachment without a url", `{"id":"m","from":{"id":"u1"},"attachments":[{"type":"image"}]}`, "attachments[0].url"},
		{"a bad timestamp", `{"id":"m","from":{"id":"u1"},"text":"x","timestamp":"yesterday"}`, "timestamp"},
		{"an unknown status", `{"type":"status","message_id":"o","status":"lost"}`, "status must be one of"},
		{"a bad event in a batch", `[{"id":"m","from":{"id":"u1"},"text":"x"},{"id":"n","text":"y"}]`, "[1] from is missing"},
		{"an empty batch", `[]`, "no event"},
		{"not UTF-8", "\xff\xfe{}", "not UTF-8"},
		{"deeply nested", strings.Repeat("[", 10000) + strings.Repeat("]", 10000), ""},
	} {
		resp := call([]byte(tc.body), sig([]byte(tc.body)))
		if !resp.GetAuthenticated() || !resp.GetMalformed() || len(resp.GetEvents()) != 0 || !strings.Contains(resp.GetError(), tc.why) {
			t.Errorf("%s: %v, want malformed saying %q", tc.name, resp, tc.why)
		}
		// The sender is told what was wrong, in the plugin's words only.
		var answer struct{ Error string }
		if err := json.Unmarshal(resp.GetBody(), &answer); err != nil || !strings.Contains(resp.GetError(), answer.Error) || answer.Error == "" ||
			strings.Contains(answer.Error, "Unexpected") || strings.Contains(answer.Error, "position") {
			t.Errorf("%s: the sender is answered %q (log: %q)", tc.name, resp.GetBody(), resp.GetError())
		}
	}

	// Media by URL, a tapped quick reply, a status, an unknown type.
	batch := []byte(`[
	 {"id":"m2","from":{"id":42},"attachments":[{"type":"image","url":"https://cdn.example.com/a.jpg","mime_type":"image/jpeg","caption":"cat"},{"type":"sticker","url":"https://cdn.example.com/s.webp"}],"timestamp":"2023-11-14T22:13:20Z"},
	 {"id":"m3","from":{"id":"u1"},"text":"Menu","payload":"MENU","reply_to":"out-9"},
	 {"type":"status","message_id":"out-9","status":"failed","error":{"code":"blocked","message":"the user blocked the bot"}},
	 {"type":"typing","from":{"id":"u1"}}]`)
	resp = call(batch, sig(batch))
	if !resp.GetAuthenticated() || resp.GetMalformed() || len(resp.GetEvents()) != 4 {
		t.Fatalf("batch = %v, want four events", resp)
	}
	evs := resp.GetEvents()
	img := evs[0].GetContents()
	if evs[0].GetContactId() != "42" || evs[0].GetTimestampMs() != 1700000000000 || len(img) != 2 ||
		img[0].GetType() != "image" || img[0].GetUrl() != "https://cdn.example.com/a.jpg" || img[0].GetMimeType() != "image/jpeg" || img[0].GetCaption() != "cat" ||
		img[1].GetType() != "unsupported" || img[1].GetOriginalType() != "sticker" {
		t.Errorf("media event = %v", evs[0])
	}
	if c := evs[1].GetContents(); evs[1].GetReplyTo() != "out-9" || len(c) != 1 || c[0].GetText() != "Menu" || c[0].GetPayload() != "MENU" {
		t.Errorf("quick reply event = %v", evs[1])
	}
	if e := evs[2]; e.GetKind() != "status" || e.GetMessageId() != "out-9" || e.GetStatus() != "failed" ||
		e.GetErrorCode() != "blocked" || e.GetErrorMessage() != "the user blocked the bot" || e.GetDedupeKey() != "status:out-9:failed" {
		t.Errorf("status event = %v", e)
	}
	if e := evs[3]; e.GetKind() != "ignored" || !strings.Contains(e.GetNote(), `"typing"`) || e.GetDedupeKey() == "" {
		t.Errorf("unknown type = %v, want an ignored event with a note", e)
	}
	if string(resp.GetBody()) != `{"received":4}` {
		t.Errorf("batch answer = %q", resp.GetBody())
	}
	checkLogs(t, r, testSecret, testToken)
}

// receiver is a fake endpoint behind callback_url that records what it
// gets and answers with handler.
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	calls []receivedCall
}

type receivedCall struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

func newReceiver(t *testing.T, handler http.HandlerFunc) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.calls = append(rc.calls, receivedCall{r.Method, r.URL.Path, r.Header.Clone(), b})
		rc.mu.Unlock()
		handler(w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) got() []receivedCall {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]receivedCall(nil), rc.calls...)
}

func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func sendReq(t *testing.T, url string, extra map[string]any) *proto.SendRequest {
	s := map[string]any{"secret": testSecret, "callback_url": url, "callback_token": testToken}
	for k, v := range extra {
		s[k] = v
	}
	return &proto.SendRequest{
		Integration:    &proto.Integration{Id: "web", SettingsJson: settingsJSON(t, s)},
		Contact:        &proto.Contact{Id: "u1", Username: "ana", Name: "Ana", LastInboundMs: time.Now().Add(-time.Minute).UnixMilli()},
		Contents:       []*proto.Content{{Type: "text", Text: "Oi! Como posso ajudar?"}, {Type: "quick_replies", Text: "Escolha", Options: []*proto.Option{{Title: "Menu", Payload: "MENU"}}}},
		AuthorKind:     "assistant",
		ReplyTo:        "msg-1",
		IdempotencyKey: "out-key-1",
		NowMs:          1700000001000,
	}
}

func TestSendDelivers(t *testing.T) {
	r := start(t, true)
	rc := newReceiver(t, answer(200, `{"id":"srv-1"}`))
	resp, err := r.channel.Send(ctxFor(t, 10*time.Second), sendReq(t, rc.URL+"/replies?tenant=7&token="+testToken, nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetError() != nil || strings.Join(resp.GetMessageIds(), ",") != "srv-1" {
		t.Fatalf("Send = %v, want message id srv-1", resp)
	}
	calls := rc.got()
	if len(calls) != 1 {
		t.Fatalf("receiver got %d calls, want 1", len(calls))
	}
	c := calls[0]
	if c.Method != "POST" || c.Path != "/replies" || c.Header.Get("Authorization") != "Bearer "+testToken ||
		c.Header.Get("Content-Type") != "application/json" || c.Header.Get("Idempotency-Key") != "out-key-1" ||
		c.Header.Get("X-Webhook-Signature") != signed(c.Body, testSecret) {
		t.Errorf("the receiver got %s %s with headers %v", c.Method, c.Path, c.Header)
	}
	var body map[string]any
	if err := json.Unmarshal(c.Body, &body); err != nil {
		t.Fatal(err)
	}
	want := `{"author":"assistant","contents":[{"text":"Oi! Como posso ajudar?","type":"text"},{"options":[{"payload":"MENU","title":"Menu"}],"text":"Escolha","type":"quick_replies"}],"id":"out-key-1","integration":"web","reply_to":"msg-1","timestamp":1700000001000,"to":{"id":"u1","name":"Ana","username":"ana"}}`
	if got, _ := json.Marshal(body); string(got) != want {
		t.Errorf("reply body\n got %s\nwant %s", got, want)
	}

	// The delivery log's record of the call, credentials hidden.
	if len(resp.GetExchanges()) != 1 {
		t.Fatalf("exchanges = %v, want one", resp.GetExchanges())
	}
	x := resp.GetExchanges()[0]
	if x.GetMethod() != "POST" || x.GetStatus() != 200 || string(x.GetResponseBody()) != `{"id":"srv-1"}` ||
		!bytes.Equal(x.GetRequestBody(), c.Body) || !strings.Contains(x.GetUrl(), "/replies?tenant=7&token=%5Bredacted%5D") {
		t.Errorf("exchange = %v", x)
	}
	headers := map[string]string{}
	for _, h := range x.GetRequestHeaders() {
		headers[h.GetName()] = h.GetValue()
	}
	if headers["Authorization"] != "Bearer [redacted]" || headers["X-Webhook-Signature"] != "[redacted]" || headers["Idempotency-Key"] != "out-key-1" {
		t.Errorf("exchange request headers = %v", headers)
	}
	if b, _ := json.Marshal(resp); bytes.Contains(b, []byte(testToken)) || bytes.Contains(b, []byte(testSecret)) {
		t.Errorf("the send response shows a secret: %s", b)
	}

	// A signing secret too short for ValidateSettings still signs replies.
	if resp, err := r.channel.Send(ctxFor(t, 10*time.Second), sendReq(t, rc.URL, map[string]any{"secret": "short-secret"})); err != nil || resp.GetError() != nil {
		t.Errorf("Send with a short secret = %v, %v; want it sent", resp, err)
	}

	// CheckSend agrees without calling the receiver.
	check, err := r.channel.(sdk.SendChecker).CheckSend(ctxFor(t, 10*time.Second), sendReq(t, rc.URL, nil))
	if err != nil || check.GetError() != nil || len(rc.got()) != 2 {
		t.Errorf("CheckSend = %v, %v with %d calls; want no objection and no call", check, err, len(rc.got()))
	}
	// And refuses as Send would, still without a call.
	check, err = r.channel.(sdk.SendChecker).CheckSend(ctxFor(t, 10*time.Second), sendReq(t, rc.URL, map[string]any{"callback_token": ""}))
	if err != nil || !check.GetError().GetRefused() || check.GetError().GetCode() != "settings" || len(rc.got()) != 2 {
		t.Errorf("CheckSend without a token = %v, %v; want refused (settings) and no call", check, err)
	}
	checkLogs(t, r, testSecret, testToken)
}

func TestSendErrors(t *testing.T) {
	r := start(t, true)
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr + "/replies"
	}()
	type flags struct{ retryable, reauthorize, unknown, refused bool }
	for _, tc := range []struct {
		name     string
		handler  http.HandlerFunc
		url      string // instead of the receiver's
		settings map[string]any
		code     string
		want     flags
		calls    int
	}{
		{"503", answer(503, `{"error":"down for maintenance"}`), "", nil, "http_503", flags{retryable: true, unknown: true}, 1},
		{"401", answer(401, `{"error":"bad token"}`), "", nil, "http_401", flags{reauthorize: true}, 1},
		{"403", answer(403, ``), "", nil, "http_403", flags{reauthorize: true}, 1},
		{"422", answer(422, `{"error":{"message":"unknown recipient"}}`), "", nil, "http_422", flags{}, 1},
		{"429", func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("Retry-After", "7"); w.WriteHeader(429) }, "", nil, "rate_limited", flags{retryable: true}, 1},
		{"a redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "https://elsewhere.example/", 302) }, "", nil, "http_302", flags{}, 1},
		{"2xx without any id", answer(200, `{}`), "", nil, "", flags{}, 1},
		{"connection refused", nil, closed, nil, "network", flags{retryable: true}, 0},
		{"no callback token", nil, "", map[string]any{"callback_token": ""}, "settings", flags{refused: true}, 0},
		{"a callback_url that is not http", nil, "ftp://files.example.com/x", nil, "settings", flags{refused: true}, 0},
		{"settings that are not an object", nil, "", map[string]any{"@raw": "[1,2]"}, "settings", flags{refused: true}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			handler := tc.handler
			if handler == nil {
				handler = answer(200, `{"id":"never"}`)
			}
			rc := newReceiver(t, handler)
			url := rc.URL + "/replies"
			if tc.url != "" {
				url = tc.url
			}
			req := sendReq(t, url, tc.settings)
			if raw, ok := tc.settings["@raw"]; ok {
				req.Integration.SettingsJson = []byte(raw.(string))
			}
			if tc.name == "2xx without any id" {
				req.IdempotencyKey = ""
			}
			resp, err := r.channel.Send(ctxFor(t, 10*time.Second), req)
			if err != nil {
				t.Fatal(err)
			}
			e := resp.GetError()
			if tc.name == "2xx without any id" {
				if e == nil || e.GetCode() != "no_message_id" || !e.GetUnknownOutcome() {
					t.Errorf("Send = %v, want no_message_id, outcome unknown", resp)
				}
				return
			}
			got := flags{e.GetRetryable(), e.GetReauthorize(), e.GetUnknownOutcome(), e.GetRefused()}
			if e == nil || e.GetCode() != tc.code || got != tc.want || len(resp.GetMessageIds()) != 0 || e.GetMessage() == "" {
				t.Errorf("Send = %v, want code %s with %+v", resp, tc.code, tc.want)
			}
			if n := len(rc.got()); n != tc.calls {
				t.Errorf("the receiver got %d calls, want %d", n, tc.calls)
			}
			if tc.name == "429" && e.GetRetryAfterMs() != 7000 {
				t.Errorf("retry_after_ms = %d, want 7000", e.GetRetryAfterMs())
			}
			if b, _ := json.Marshal(resp); bytes.Contains(b, []byte(testToken)) || bytes.Contains(b, []byte(testSecret)) {
				t.Errorf("the send response shows a secret: %s", b)
			}
		})
	}
	checkLogs(t, r, testSecret, testToken)
}

// TestSendHonoursTheDeadline: a receiver that never answers costs the call
// its deadline, no more, and the plugin stays healthy.
func TestSendHonoursTheDeadline(t *testing.T) {
	r := start(t, true)
	release := make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-release:
		case <-req.Context().Done():
		}
	})
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	began := time.Now()
	resp, err := r.channel.Send(ctx, sendReq(t, rc.URL, nil))
	took := time.Since(began)
	if err == nil {
		e := resp.GetError()
		if e.GetCode() != "timeout" || !e.GetRetryable() || !e.GetUnknownOutcome() {
			t.Errorf("Send to a receiver that hangs = %v, want a retryable timeout, outcome unknown", resp)
		}
		if x := resp.GetExchanges(); len(x) != 1 || x[0].GetError() == "" || x[0].GetStatus() != 0 {
			t.Errorf("exchanges = %v, want one without an answer, saying why", x)
		}
	}
	if took > 3*time.Second {
		t.Errorf("Send took %s past a 2 s deadline", took)
	}
	// A longer setting does not outlast the call's deadline either, and a
	// short one ends the call first.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel2()
	began = time.Now()
	resp, err = r.channel.Send(ctx2, sendReq(t, rc.URL, map[string]any{"timeout_seconds": "1"}))
	if err != nil || resp.GetError().GetCode() != "timeout" || time.Since(began) > 5*time.Second {
		t.Errorf("timeout_seconds 1: %v, %v after %s; want a timeout after about a second", resp, err, time.Since(began))
	}
	if err := r.rpc.Ping(); err != nil {
		t.Errorf("unhealthy after the timeouts: %v", err)
	}
}

func TestValidateSettings(t *testing.T) {
	r := start(t, true)
	v := r.channel.(sdk.SettingsValidator)
	check := func(settings string) map[string]string {
		t.Helper()
		resp, err := v.ValidateSettings(ctxFor(t, 10*time.Second), &proto.ValidateSettingsRequest{
			Integration: &proto.Integration{Id: "web", SettingsJson: []byte(settings)}})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, p := range resp.GetProblems() {
			if p.GetMessage() == "" {
				t.Errorf("a problem without a message: %v", p)
			}
			out[p.GetField()] = p.GetMessage()
		}
		return out
	}
	if got := check(`{"secret":"` + testSecret + `","callback_url":"https://chat.example.com/r","callback_token":"` + testToken + `","timeout_seconds":"20"}`); len(got) != 0 {
		t.Errorf("good settings: problems %v", got)
	}
	// Absent settings are the host's to require (a secret is generated).
	if got := check(`{}`); len(got) != 0 {
		t.Errorf("empty settings: problems %v, want none (missing required settings are the host's check)", got)
	}
	got := check(`{"secret":"tiny","callback_url":"ftp://x","callback_token":"a b","timeout_seconds":0}`)
	for _, f := range []string{"secret", "callback_url", "callback_token", "timeout_seconds"} {
		if got[f] == "" {
			t.Errorf("bad %s: no problem named it (problems %v)", f, got)
		}
	}
	if strings.Contains(got["callback_token"], "a b") || strings.Contains(got["secret"], "tiny") {
		t.Errorf("a problem repeats a secret: %v", got)
	}
	if got := check(`[1]`); got[""] == "" {
		t.Errorf("settings that are not an object: %v, want a problem of the whole", got)
	}
	if got := check(`{"callback_url":{"a":1}}`); got["callback_url"] == "" {
		t.Errorf("a table for callback_url: %v", got)
	}
}

// checkLogs: every line the plugin wrote to stderr is an hclog JSON line,
// and none shows a secret.
func checkLogs(t *testing.T, r *running, secrets ...string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(r.stderr.String()))
	for sc.Scan() {
		line := sc.Text()
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("a stderr line that is not JSON: %q", line)
			continue
		}
		if _, ok := m["@message"].(string); !ok || m["@level"] == nil {
			t.Errorf("a log line without @level or @message: %q", line)
		}
		ts, _ := m["@timestamp"].(string)
		if _, err := time.Parse("2006-01-02T15:04:05.000000Z07:00", ts); err != nil {
			t.Errorf("@timestamp %q is not hclog's: %v", ts, err)
		}
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("the log shows a secret: %s", line)
			}
		}
	}
}
