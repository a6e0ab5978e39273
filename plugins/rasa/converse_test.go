package rasa

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	gproto "google.golang.org/protobuf/proto"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
	"github.com/conversa/conversa/plugins/sdk/sdktest"
)

// received is one request the fake bot got.
type received struct {
	method string
	path   string
	query  string
	header http.Header
	host   string
	body   restRequest
	raw    string
}

// fakeRasa is a REST channel that records what it receives and answers
// with a fixed status and body.
type fakeRasa struct {
	*httptest.Server
	status int
	answer string

	mu   sync.Mutex
	reqs []received
}

func newFakeRasa(t *testing.T, status int, answer string) *fakeRasa {
	t.Helper()
	f := &fakeRasa{status: status, answer: answer}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("fake rasa: read body: %v", err)
		}
		rec := received{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone(), host: r.Host, raw: string(raw)}
		if err := json.Unmarshal(raw, &rec.body); err != nil {
			t.Errorf("fake rasa: body %s: %v", raw, err)
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, rec)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		io.WriteString(w, f.answer)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeRasa) received() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.reqs...)
}

func (f *fakeRasa) settings(extra string) []byte {
	return []byte(`{"url": "` + f.URL + `/webhooks/rest/webhook?token=s3cret"` + extra + `}`)
}

func turn(settings []byte, contents ...*proto.Content) *proto.ConverseRequest {
	return &proto.ConverseRequest{
		SettingsJson:   settings,
		AssistantId:    "bot",
		IntegrationId:  "ig-meta",
		ConversationId: "c42",
		Contact:        &proto.Contact{Id: "1789", Username: "ana.souza", Name: "Ana Souza"},
		Session:        []byte("opaque"),
		Contents:       contents,
		Channel:        "meta",
	}
}

func text(s string) *proto.Content { return &proto.Content{Type: sdk.ContentText, Text: s} }

func dial(t *testing.T) sdk.Assistant { return sdktest.Assistant(t, New()) }

func TestDescribe(t *testing.T) {
	info, err := dial(t).Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.GetName() != "rasa" || info.GetVersion() == "" || len(info.GetInboundTypes()) != 1 || info.GetInboundTypes()[0] != sdk.ContentText {
		t.Errorf("Describe() = %v, want name rasa, a version, inbound [text]", info)
	}
}

func TestConverseRequest(t *testing.T) {
	bot := newFakeRasa(t, http.StatusOK, `[]`)
	as := dial(t)
	res, err := as.Converse(context.Background(), turn(bot.settings(`, "headers": {"X-Proxy-Key": "k1", "Content-Type": "text/plain"}`), text("Olá, tudo bem?")))
	if err != nil {
		t.Fatal(err)
	}
	if string(res.GetSession()) != "opaque" {
		t.Errorf("session = %q, want the request's (opaque)", res.GetSession())
	}
	got := bot.received()
	if len(got) != 1 {
		t.Fatalf("the bot got %d requests, want 1", len(got))
	}
	r := got[0]
	if r.method != http.MethodPost || r.path != "/webhooks/rest/webhook" || r.query != "token=s3cret" {
		t.Errorf("request = %s %s?%s, want POST /webhooks/rest/webhook?token=s3cret", r.method, r.path, r.query)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json (not overridable)", ct)
	}
	if k := r.header.Get("X-Proxy-Key"); k != "k1" {
		t.Errorf("X-Proxy-Key = %q, want k1", k)
	}
	want := restRequest{
		Sender:  "ig-meta:c42",
		Message: "Olá, tudo bem?",
		Metadata: restMetadata{
			Integration:  "ig-meta",
			Channel:      "meta",
			Conversation: "c42",
			Contact:      restContact{ID: "1789", Username: "ana.souza", Name: "Ana Souza"},
			Contents:     []restContent{{Type: "text", Text: "Olá, tudo bem?"}},
		},
	}
	if gotJSON, wantJSON := mustJSON(t, r.body), mustJSON(t, want); gotJSON != wantJSON {
		t.Errorf("body = %s, want %s", gotJSON, wantJSON)
	}
	// The wire names, as a custom action reads them.
	for _, key := range []string{`"sender":"ig-meta:c42"`, `"contact":{"id":"1789","username":"ana.souza","name":"Ana Souza"}`, `"contents":[{"type":"text","text":"Olá, tudo bem?"}]`} {
		if !strings.Contains(r.raw, key) {
			t.Errorf("body %s lacks %s", r.raw, key)
		}
	}
}

func TestConverseHostHeader(t *testing.T) {
	bot := newFakeRasa(t, http.StatusOK, `[]`)
	if _, err := New().Converse(context.Background(), turn(bot.settings(`, "headers": {"Host": "bot.internal"}`), text("hi"))); err != nil {
		t.Fatal(err)
	}
	if got := bot.received(); len(got) != 1 || got[0].host != "bot.internal" {
		t.Errorf("the bot got %+v, want one request for host bot.internal", got)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestConverseMessage(t *testing.T) {
	tests := []struct {
		name     string
		contents []*proto.Content
		want     string // "" when the bot must not be called
	}{
		{"text", []*proto.Content{text("hello")}, "hello"},
		{"button payload first", []*proto.Content{{Type: sdk.ContentText, Text: "Prices", Payload: "/ask_prices"}}, "/ask_prices"},
		{"several texts", []*proto.Content{text("one"), text("two")}, "one\ntwo"},
		{"caption", []*proto.Content{{Type: sdk.ContentImage, Url: "https://x/y.jpg", Caption: "is this in stock?"}}, "is this in stock?"},
		{"text over caption", []*proto.Content{{Type: sdk.ContentImage, Url: "https://x/y.jpg", Caption: "cap"}, text("words")}, "words"},
		{"audio: not sent", []*proto.Content{{Type: sdk.ContentAudio, Url: "https://x/a.mp4"}}, ""},
		{"nothing: not sent", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bot := newFakeRasa(t, http.StatusOK, `[{"recipient_id": "ig-meta:c42", "text": "ok"}]`)
			res, err := New().Converse(context.Background(), turn(bot.settings(""), tt.contents...))
			if err != nil {
				t.Fatal(err)
			}
			got := bot.received()
			if tt.want == "" {
				if len(got) != 0 || res.GetIntent() != IntentUnsupported || len(res.GetReplies()) != 0 || string(res.GetSession()) != "opaque" {
					t.Errorf("Converse() = %v after %d requests, want no call, no replies, intent unsupported, session kept", res, len(got))
				}
				return
			}
			if len(got) != 1 || got[0].body.Message != tt.want {
				t.Fatalf("the bot got %+v, want one message %q", got, tt.want)
			}
			if len(got[0].body.Metadata.Contents) != len(tt.contents) {
				t.Errorf("metadata contents = %+v, want all %d", got[0].body.Metadata.Contents, len(tt.contents))
			}
		})
	}
}

func TestConverseReplies(t *testing.T) {
	qr := func(prompt string, opts ...string) *proto.Content {
		c := &proto.Content{Type: sdk.ContentQuickReplies, Text: prompt}
		for i := 0; i < len(opts); i += 2 {
			c.Options = append(c.Options, &proto.Option{Title: opts[i], Payload: opts[i+1]})
		}
		return c
	}
	img := func(url string) *proto.Content { return &proto.Content{Type: sdk.ContentImage, Url: url} }
	tests := []struct {
		name    string
		answer  string
		want    []*proto.Content
		handoff bool
		end     bool
		squad   string
	}{
		{"text", `[{"recipient_id":"ig-meta:c42","text":"Hi there!"}]`, []*proto.Content{text("Hi there!")}, false, false, ""},
		{"several, in order", `[{"text":"one"},{"text":"two"},{"image":"https://x/3.png"}]`,
			[]*proto.Content{text("one"), text("two"), img("https://x/3.png")}, false, false, ""},
		{"text and buttons are one content", `[{"text":"Pick one","buttons":[{"title":"Prices","payload":"/prices"},{"title":"Agent","payload":"/human"}]}]`,
			[]*proto.Content{qr("Pick one", "Prices", "/prices", "Agent", "/human")}, false, false, ""},
		{"button without payload or title", `[{"text":"Pick","buttons":[{"title":"Yes"},{"payload":"/no"},{}]}]`,
			[]*proto.Content{qr("Pick", "Yes", "Yes", "/no", "/no")}, false, false, ""},
		{"text and image in one item", `[{"text":"Look:","image":"https://x/p.jpg"}]`,
			[]*proto.Content{text("Look:"), img("https://x/p.jpg")}, false, false, ""},
		{"custom flags", `[{"text":"Bye"},{"custom":{"handoff":true,"end":true,"squad":"vendas","other":{"x":1}}}]`,
			[]*proto.Content{text("Bye")}, true, true, "vendas"},
		{"custom flags false", `[{"custom":{"handoff":false,"end":false}}]`, nil, false, false, ""},
		{"custom of other types ignored", `[{"custom":{"handoff":"yes","end":1,"squad":7}},{"custom":"handoff"},{"custom":[true]}]`, nil, false, false, ""},
		{"last squad wins, any flag sticks", `[{"custom":{"handoff":true,"squad":"a"}},{"custom":{"handoff":false,"squad":"b"}}]`, nil, true, false, "b"},
		{"unknown keys ignored", `[{"text":"x","attachment":{"type":"video"},"elements":[]}]`, []*proto.Content{text("x")}, false, false, ""},
		{"nothing to say", `[]`, nil, false, false, ""},
		{"null", `null`, nil, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bot := newFakeRasa(t, http.StatusOK, tt.answer)
			res, err := New().Converse(context.Background(), turn(bot.settings(""), text("hi")))
			if err != nil {
				t.Fatal(err)
			}
			if !sameContents(res.GetReplies(), tt.want) {
				t.Errorf("replies = %v, want %v", res.GetReplies(), tt.want)
			}
			if res.GetHandoff() != tt.handoff || res.GetEnd() != tt.end || res.GetSquad() != tt.squad {
				t.Errorf("handoff, end, squad = %v, %v, %q; want %v, %v, %q",
					res.GetHandoff(), res.GetEnd(), res.GetSquad(), tt.handoff, tt.end, tt.squad)
			}
		})
	}
}

func sameContents(a, b []*proto.Content) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !gproto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestConverseErrors(t *testing.T) {
	long := strings.Repeat("é", 300)
	tests := []struct {
		name   string
		status int
		answer string
		code   codes.Code
		want   []string
	}{
		{"bad gateway", http.StatusBadGateway, "<html>\n  <h1>502</h1>\n</html>", codes.Unavailable,
			[]string{"rasa: POST http://127.0.0.1:", "/webhooks/rest/webhook: 502 Bad Gateway: <html> <h1>502</h1> </html>"}},
		{"not found, empty body", http.StatusNotFound, "", codes.Unavailable, []string{": 404 Not Found: (empty body)"}},
		{"long body cut", http.StatusInternalServerError, long, codes.Unavailable, []string{": 500 Internal Server Error: " + strings.Repeat("é", 100) + "…"}},
		{"invalid JSON", http.StatusOK, `[{"text": "unterminated`, codes.Internal, []string{"/webhooks/rest/webhook: invalid JSON response"}},
		{"object, not array", http.StatusOK, `{"text": "hi"}`, codes.Internal, []string{"invalid JSON response (want an array of messages): unexpected object: {\"text\": \"hi\"}"}},
		{"wrong field type", http.StatusOK, `[{"text": 5}]`, codes.Internal, []string{"invalid JSON response (want an array of messages): text: unexpected number"}},
	}
	as := dial(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bot := newFakeRasa(t, tt.status, tt.answer)
			_, err := as.Converse(context.Background(), turn(bot.settings(""), text("hi")))
			st, _ := status.FromError(err)
			if err == nil || st.Code() != tt.code {
				t.Fatalf("Converse() = %v, want code %v", err, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(st.Message(), w) {
					t.Errorf("Converse() = %q, want it to contain %q", st.Message(), w)
				}
			}
			if strings.Contains(st.Message(), "s3cret") {
				t.Errorf("Converse() = %q shows the token", st.Message())
			}
		})
	}
}

func TestConverseTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: the handler returns, Close can finish

	settings := []byte(`{"url": "` + srv.URL + `/webhooks/rest/webhook?token=s3cret", "timeout_ms": 50}`)
	_, err := dial(t).Converse(context.Background(), turn(settings, text("hi")))
	st, _ := status.FromError(err)
	if err == nil || st.Code() != codes.DeadlineExceeded || !strings.HasSuffix(st.Message(), "/webhooks/rest/webhook: timed out after 50ms") {
		t.Errorf("Converse() = %v, want DeadlineExceeded: rasa: POST …/webhooks/rest/webhook: timed out after 50ms", err)
	}
}

func TestConverseCallerCancels(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	_, err := New().Converse(ctx, turn([]byte(`{"url": "`+srv.URL+`"}`), text("hi")))
	if st, _ := status.FromError(err); err == nil || st.Code() != codes.Canceled {
		t.Errorf("Converse(cancelled) = %v, want Canceled", err)
	}
}

func TestConverseUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more

	_, err := New().Converse(context.Background(), turn([]byte(`{"url": "`+url+`/hook?token=s3cret"}`), text("hi")))
	st, _ := status.FromError(err)
	if err == nil || st.Code() != codes.Unavailable || !strings.HasPrefix(st.Message(), "rasa: POST "+url+"/hook: ") || strings.Contains(st.Message(), "s3cret") {
		t.Errorf("Converse(unreachable) = %v, want Unavailable: rasa: POST %s/hook: <reason>, without the token", err, url)
	}
}

func TestSettings(t *testing.T) {
	tests := []struct {
		in      string
		want    string // error substring, "" for none
		timeout string
	}{
		{`{"url": "http://localhost:5005/webhooks/rest/webhook"}`, "", "10s"},
		{`{"url": "https://bot.example.com/webhooks/rest/webhook", "timeout_ms": 1500, "headers": {"A": "b"}}`, "", "1.5s"},
		{``, "url is required", ""},
		{`{}`, "url is required", ""},
		{`{"url": "localhost:5005/webhooks"}`, "want an absolute http:// or https:// URL", ""},
		{`{"url": "/webhooks/rest/webhook"}`, "want an absolute", ""},
		{`{"url": "ftp://x/y"}`, "want an absolute", ""},
		{`{"url": "http://x/y", "timeout_ms": -1}`, "timeout_ms -1", ""},
		{`{"url": "http://x/y", "timeout": 5}`, `unknown field "timeout"`, ""},
		{`{"url": "http://x/y", "headers": ["a"]}`, "settings:", ""},
		{`{"url": "http://x/y", "headers": {"Bad Header": "v"}}`, `"Bad Header" is not a valid header name`, ""},
		{`{"url": "http://x/y", "headers": {"X-A": "v\r\nX-B: w"}}`, "the value of X-A has a line break", ""},
		{`{"url": "http://user:pw@x/y?token=t", "timeout_ms": -5}`, "timeout_ms", ""},
		{`{"url": "http://x/%zz?token=s3cret"}`, "settings: url: invalid URL escape", ""},
	}
	for _, tt := range tests {
		cfg, err := parseSettings([]byte(tt.in))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("parseSettings(%s) = %v", tt.in, err)
		case tt.want == "" && cfg.timeout.String() != tt.timeout:
			t.Errorf("parseSettings(%s).timeout = %v, want %s", tt.in, cfg.timeout, tt.timeout)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("parseSettings(%s) = %v, want an error containing %q", tt.in, err, tt.want)
		case err != nil && strings.Contains(err.Error(), "s3cret"):
			t.Errorf("parseSettings(%s) = %v shows the token", tt.in, err)
		}
	}

	_, err := New().Converse(context.Background(), turn([]byte(`{"url": ""}`), text("hi")))
	if st, _ := status.FromError(err); err == nil || st.Code() != codes.InvalidArgument {
		t.Errorf("Converse(no url) = %v, want InvalidArgument", err)
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://localhost:5005/webhooks/rest/webhook?token=abc", "http://localhost:5005/webhooks/rest/webhook"},
		{"https://user:pw@bot.example.com/hook#x", "https://user:xxxxx@bot.example.com/hook"},
	}
	for _, tt := range tests {
		cfg, err := parseSettings([]byte(`{"url": "` + tt.in + `"}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := redact(cfg.url); got != tt.want {
			t.Errorf("redact(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
