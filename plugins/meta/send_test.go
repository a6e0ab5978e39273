package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// recorded is one request the fake Graph API received.
type recorded struct {
	method, path string
	query        url.Values
	header       http.Header
	body         []byte
}

// reply is what the fake answers; an empty body means a fresh success.
type reply struct {
	status int
	header map[string]string
	body   string
}

// fakeGraph is a Graph API stand-in that records requests and answers from
// a script (then with successes carrying ids mid-1, mid-2...).
type fakeGraph struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []recorded
	// Answers to give, in order.
	script []reply
	sent   int
}

func newFakeGraph(t *testing.T, script ...reply) *fakeGraph {
	t.Helper()
	f := &fakeGraph{script: script}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGraph) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.got = append(f.got, recorded{method: r.Method, path: r.URL.Path, query: r.URL.Query(), header: r.Header.Clone(), body: body})
	var rep reply
	if len(f.script) > 0 {
		rep, f.script = f.script[0], f.script[1:]
	}
	if rep.body == "" && rep.status == 0 {
		f.sent++
		rep = reply{status: 200, body: fmt.Sprintf(`{"recipient_id":"%s","message_id":"mid-%d"}`, customerA, f.sent)}
	}
	f.mu.Unlock()
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	io.WriteString(w, rep.body)
}

func (f *fakeGraph) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.got...)
}

func metaSettings(graphURL string, kv map[string]any) *proto.Integration {
	m := map[string]any{
		"account_id": business, "access_token": "IGQWtoken", "app_secret": testSecret,
		"verify_token": "verify-me", "graph_url": graphURL,
	}
	for k, v := range kv {
		m[k] = v
	}
	return &proto.Integration{Id: "ig", SettingsJson: settingsJSON(m)}
}

const nowMs = int64(1767607200000)

func sendReq(in *proto.Integration, lastInboundAgo time.Duration, author string, contents ...*proto.Content) *proto.SendRequest {
	return &proto.SendRequest{
		Integration: in,
		Contact:     &proto.Contact{Id: customerA, LastInboundMs: nowMs - lastInboundAgo.Milliseconds()},
		Contents:    contents,
		AuthorKind:  author,
		NowMs:       nowMs,
	}
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(t *testing.T, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("request body %q: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return reflect.DeepEqual(g, w)
}

func TestSendFixtures(t *testing.T) {
	qr := &proto.Content{Type: sdk.ContentQuickReplies, Text: "Which size do you need?", Options: []*proto.Option{
		{Title: "Size S", Payload: "SIZE_S"}, {Title: "Size M", Payload: "SIZE_M"}, {Title: "Size L", Payload: "SIZE_L"},
	}}
	tests := []struct {
		fixture  string
		login    string
		tag      bool
		ago      time.Duration
		author   string
		replyTo  string
		contents []*proto.Content
		// Rewrites the fixture where it holds what Send never produces.
		adjust func(map[string]any)
	}{
		{fixture: "req-01-text.json", login: LoginInstagram, ago: time.Hour, author: sdk.AuthorAssistant,
			contents: []*proto.Content{text("Yes! Size M is in stock. Want me to reserve one?")}},
		{fixture: "req-02-text-messaging-type-response.json", login: LoginFacebook, ago: time.Hour, author: sdk.AuthorAssistant,
			contents: []*proto.Content{text("Thanks for your message!")}},
		{fixture: "req-03-text-human-agent-tag.json", login: LoginInstagram, tag: true, ago: 50 * time.Hour, author: sdk.AuthorAgent,
			contents: []*proto.Content{text("Sorry for the delay over the weekend - your refund was approved today.")}},
		{fixture: "req-04-image-url.json", login: LoginInstagram, ago: time.Hour, author: sdk.AuthorAgent,
			contents: []*proto.Content{media(sdk.ContentImage, "https://cdn.shop.example.com/products/denim-jacket.jpg")}},
		{fixture: "req-05-images-multiple.json", login: LoginInstagram, ago: time.Hour, author: sdk.AuthorAgent,
			contents: []*proto.Content{
				media(sdk.ContentImage, "https://cdn.shop.example.com/products/denim-front.jpg"),
				media(sdk.ContentImage, "https://cdn.shop.example.com/products/denim-back.jpg"),
			},
			// Contents carry URLs, never upload ids: the second image goes by
			// URL where the fixture shows an attachment_id.
			adjust: func(m map[string]any) {
				atts := m["message"].(map[string]any)["attachments"].([]any)
				atts[1].(map[string]any)["payload"] = map[string]any{"url": "https://cdn.shop.example.com/products/denim-back.jpg"}
			}},
		{fixture: "req-06-video-url.json", login: LoginInstagram, ago: time.Hour, author: sdk.AuthorAgent,
			contents: []*proto.Content{media(sdk.ContentVideo, "https://cdn.shop.example.com/videos/fit-guide.mp4")}},
		{fixture: "req-07-audio-url.json", login: LoginInstagram, ago: time.Hour, author: sdk.AuthorAgent,
			contents: []*proto.Content{media(sdk.ContentAudio, "https://cdn.shop.example.com/audio/reply.m4a")}},
		{fixture: "req-08-file-pdf.json", login: LoginInstagram, ago: time.Hour, author: sdk.AuthorAgent,
			contents: []*proto.Content{{Type: sdk.ContentFile, Url: "https://cdn.shop.example.com/docs/size-chart.pdf", MimeType: "application/pdf"}}},
		{fixture: "req-09-quick-replies.json", login: LoginFacebook, ago: time.Hour, author: sdk.AuthorAssistant,
			contents: []*proto.Content{qr}},
		{fixture: "req-12-reply-to-message.json", login: LoginInstagram, ago: time.Hour, author: sdk.AuthorAgent,
			replyTo: fmid(14), contents: []*proto.Content{text("Reserved for you until Friday.")}},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			g := newFakeGraph(t)
			in := metaSettings(g.srv.URL, map[string]any{"login": tc.login, "human_agent_tag": tc.tag})
			req := sendReq(in, tc.ago, tc.author, tc.contents...)
			req.ReplyTo = tc.replyTo
			resp, err := New().Send(context.Background(), req)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if resp.GetError() != nil {
				t.Fatalf("Send error: %v", resp.GetError())
			}
			if want := []string{"mid-1"}; !reflect.DeepEqual(resp.GetMessageIds(), want) {
				t.Errorf("message_ids = %v, want %v", resp.GetMessageIds(), want)
			}
			reqs := g.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.method != http.MethodPost || r.path != "/v25.0/me/messages" {
				t.Errorf("request = %s %s, want POST /v25.0/me/messages", r.method, r.path)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			checkAuth(t, r, tc.login)

			want := readFixture(t, "send/"+tc.fixture)
			if tc.adjust != nil {
				var m map[string]any
				if err := json.Unmarshal(want, &m); err != nil {
					t.Fatal(err)
				}
				tc.adjust(m)
				want, _ = json.Marshal(m)
			}
			if !sameJSON(t, r.body, want) {
				t.Errorf("body =\n%s\nwant\n%s", r.body, want)
			}
		})
	}
}

// checkAuth checks how the token travelled: a bearer header for Instagram
// login, access_token and appsecret_proof in the query for Facebook login.
func checkAuth(t *testing.T, r recorded, login string) {
	t.Helper()
	switch login {
	case LoginFacebook:
		if got := r.header.Get("Authorization"); got != "" {
			t.Errorf("Authorization = %q, want none", got)
		}
		if got := r.query.Get("access_token"); got != "IGQWtoken" {
			t.Errorf("access_token = %q, want IGQWtoken", got)
		}
		// hex HMAC-SHA256(app secret, token), computed independently.
		if got, want := r.query.Get("appsecret_proof"), sign([]byte("IGQWtoken"), testSecret)[len("sha256="):]; got != want {
			t.Errorf("appsecret_proof = %q, want %q", got, want)
		}
	default:
		if got := r.header.Get("Authorization"); got != "Bearer IGQWtoken" {
			t.Errorf("Authorization = %q, want Bearer IGQWtoken", got)
		}
		if r.query.Has("access_token") || r.query.Has("appsecret_proof") {
			t.Errorf("query %v carries the token", r.query)
		}
	}
}

func TestSendWindow(t *testing.T) {
	hello := text("hello")
	tests := []struct {
		name    string
		neverIn bool
		ago     time.Duration
		author  string
		tagOn   bool
		// The refusal code, or "" for a send, with tagged saying whether
		// the HUMAN_AGENT tag rides along.
		refusal string
		tagged  bool
	}{
		{name: "never wrote", neverIn: true, author: sdk.AuthorAgent, tagOn: true, refusal: "no_inbound"},
		{name: "assistant within 24 h", ago: 23 * time.Hour, author: sdk.AuthorAssistant},
		{name: "agent within 24 h, tag on", ago: 23*time.Hour + 59*time.Minute, author: sdk.AuthorAgent, tagOn: true},
		{name: "clock skew", ago: -time.Minute, author: sdk.AuthorAssistant},
		{name: "assistant after 24 h", ago: 24 * time.Hour, author: sdk.AuthorAssistant, tagOn: true, refusal: "outside_window"},
		{name: "system after 24 h", ago: 30 * time.Hour, author: sdk.AuthorSystem, tagOn: true, refusal: "outside_window"},
		{name: "agent after 24 h, tag off", ago: 30 * time.Hour, author: sdk.AuthorAgent, refusal: "outside_window"},
		{name: "agent after 24 h, tag on", ago: 30 * time.Hour, author: sdk.AuthorAgent, tagOn: true, tagged: true},
		{name: "agent at 6 days 23 h, tag on", ago: 7*24*time.Hour - time.Hour, author: sdk.AuthorAgent, tagOn: true, tagged: true},
		{name: "agent after 7 days, tag on", ago: 7 * 24 * time.Hour, author: sdk.AuthorAgent, tagOn: true, refusal: "outside_window"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGraph(t)
			req := sendReq(metaSettings(g.srv.URL, map[string]any{"human_agent_tag": tc.tagOn}), tc.ago, tc.author, hello)
			if tc.neverIn {
				req.Contact.LastInboundMs = 0
			}
			resp, err := New().Send(context.Background(), req)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			reqs := g.requests()
			if tc.refusal != "" {
				e := resp.GetError()
				if e.GetCode() != tc.refusal || !e.GetRefused() || e.GetRetryable() || e.GetMessage() == "" {
					t.Errorf("error = %v, want a non-retryable refusal %q with a message", e, tc.refusal)
				}
				if len(reqs) != 0 {
					t.Errorf("a refused send made %d requests", len(reqs))
				}
				return
			}
			if resp.GetError() != nil || len(reqs) != 1 {
				t.Fatalf("Send = %v with %d requests, want one send", resp.GetError(), len(reqs))
			}
			var b map[string]any
			if err := json.Unmarshal(reqs[0].body, &b); err != nil {
				t.Fatal(err)
			}
			gotTagged := b["messaging_type"] == "MESSAGE_TAG" && b["tag"] == "HUMAN_AGENT"
			if gotTagged != tc.tagged {
				t.Errorf("body %s: tagged = %v, want %v", reqs[0].body, gotTagged, tc.tagged)
			}
			if !tc.tagged && (b["messaging_type"] != nil || b["tag"] != nil) {
				t.Errorf("body %s carries a messaging type on Instagram login", reqs[0].body)
			}
		})
	}
}

func TestSendHumanAgentTagAsString(t *testing.T) {
	g := newFakeGraph(t)
	req := sendReq(metaSettings(g.srv.URL, map[string]any{"human_agent_tag": "true"}), 30*time.Hour, sdk.AuthorAgent, text("late"))
	resp, err := New().Send(context.Background(), req)
	if err != nil || resp.GetError() != nil {
		t.Fatalf("Send = %v, %v; want a tagged send", resp, err)
	}
	if reqs := g.requests(); len(reqs) != 1 || !strings.Contains(string(reqs[0].body), `"tag":"HUMAN_AGENT"`) {
		t.Errorf("requests = %v, want one tagged send", reqs)
	}
}

func TestSendSeveralMessages(t *testing.T) {
	long := strings.Repeat("palavra ", 300) // 2400 bytes
	g := newFakeGraph(t)
	req := sendReq(metaSettings(g.srv.URL, nil), time.Hour, sdk.AuthorAgent,
		text(long),
		&proto.Content{Type: sdk.ContentImage, Url: "https://cdn.example.com/a.png", Caption: "the front"},
		&proto.Content{Type: sdk.ContentFile, Url: "https://cdn.example.com/photo", MimeType: "image/jpeg"},
		&proto.Content{Type: sdk.ContentFile, Url: "https://cdn.example.com/x.docx"},
		&proto.Content{Type: sdk.ContentQuickReplies, Text: "Pick", Options: []*proto.Option{{Title: "A title longer than twenty"}, {Title: " "}, {Title: "B", Payload: "pb"}}},
	)
	req.ReplyTo = "quoted-mid"
	resp, err := New().Send(context.Background(), req)
	if err != nil || resp.GetError() != nil {
		t.Fatalf("Send = %v, %v", resp, err)
	}
	reqs := g.requests()
	want := []string{
		`{"recipient":{"id":"7425819036458213"},"message":{"text":"` + strings.TrimSpace(strings.Repeat("palavra ", 125)) + `"},"reply_to":{"mid":"quoted-mid"}}`,
		`{"recipient":{"id":"7425819036458213"},"message":{"text":"` + strings.TrimSpace(strings.Repeat("palavra ", 125)) + `"}}`,
		`{"recipient":{"id":"7425819036458213"},"message":{"text":"` + strings.TrimSpace(strings.Repeat("palavra ", 50)) + `"}}`,
		`{"recipient":{"id":"7425819036458213"},"message":{"attachment":{"type":"image","payload":{"url":"https://cdn.example.com/a.png"}}}}`,
		`{"recipient":{"id":"7425819036458213"},"message":{"text":"the front"}}`,
		`{"recipient":{"id":"7425819036458213"},"message":{"attachment":{"type":"image","payload":{"url":"https://cdn.example.com/photo"}}}}`,
		`{"recipient":{"id":"7425819036458213"},"message":{"attachment":{"type":"file","payload":{"url":"https://cdn.example.com/x.docx"}}}}`,
		`{"recipient":{"id":"7425819036458213"},"message":{"text":"Pick","quick_replies":[{"content_type":"text","title":"A title longer than","payload":"A title longer than twenty"},{"content_type":"text","title":"B","payload":"pb"}]}}`,
	}
	if len(reqs) != len(want) {
		for _, r := range reqs {
			t.Logf("%s", r.body)
		}
		t.Fatalf("%d requests, want %d", len(reqs), len(want))
	}
	for i, w := range want {
		if !sameJSON(t, reqs[i].body, []byte(w)) {
			t.Errorf("request %d =\n%s\nwant\n%s", i, reqs[i].body, w)
		}
	}
	var ids []string
	for i := range want {
		ids = append(ids, fmt.Sprintf("mid-%d", i+1))
	}
	if !reflect.DeepEqual(resp.GetMessageIds(), ids) {
		t.Errorf("message_ids = %v, want %v", resp.GetMessageIds(), ids)
	}
}

func TestSendAlbumLimit(t *testing.T) {
	g := newFakeGraph(t)
	var contents []*proto.Content
	for i := range 12 {
		contents = append(contents, media(sdk.ContentImage, fmt.Sprintf("https://cdn.example.com/%d.jpg", i)))
	}
	resp, err := New().Send(context.Background(), sendReq(metaSettings(g.srv.URL, nil), time.Hour, sdk.AuthorAgent, contents...))
	if err != nil || resp.GetError() != nil {
		t.Fatalf("Send = %v, %v", resp, err)
	}
	reqs := g.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 (10 images, then 2)", len(reqs))
	}
	for i, n := range []int{10, 2} {
		var b struct {
			Message outMessage `json:"message"`
		}
		if err := json.Unmarshal(reqs[i].body, &b); err != nil {
			t.Fatal(err)
		}
		if len(b.Message.Attachments) != n || b.Message.Attachment != nil {
			t.Errorf("request %d carries %d attachments (single %v), want %d", i, len(b.Message.Attachments), b.Message.Attachment, n)
		}
	}
}

func TestSendRefusesBeforeCalling(t *testing.T) {
	tests := []struct {
		name     string
		in       func(url string) *proto.Integration
		contact  string
		contents []*proto.Content
		code     string
	}{
		{"no token", func(u string) *proto.Integration { return metaSettings(u, map[string]any{"access_token": ""}) },
			customerA, []*proto.Content{text("hi")}, "settings"},
		{"bad graph url", func(string) *proto.Integration { return metaSettings("ftp://x", nil) },
			customerA, []*proto.Content{text("hi")}, "settings"},
		{"unknown login", func(u string) *proto.Integration { return metaSettings(u, map[string]any{"login": "whatsapp"}) },
			customerA, []*proto.Content{text("hi")}, "settings"},
		{"no recipient", func(u string) *proto.Integration { return metaSettings(u, nil) },
			"", []*proto.Content{text("hi")}, "no_recipient"},
		{"nothing to send", func(u string) *proto.Integration { return metaSettings(u, nil) },
			customerA, []*proto.Content{text("  ")}, "empty_message"},
		{"image without url", func(u string) *proto.Integration { return metaSettings(u, nil) },
			customerA, []*proto.Content{text("look"), media(sdk.ContentImage, "")}, "invalid_content"},
		{"quick replies without text", func(u string) *proto.Integration { return metaSettings(u, nil) },
			customerA, []*proto.Content{{Type: sdk.ContentQuickReplies, Options: []*proto.Option{{Title: "a"}}}}, "invalid_content"},
		{"a story mention", func(u string) *proto.Integration { return metaSettings(u, nil) },
			customerA, []*proto.Content{text("hi"), {Type: sdk.ContentStoryMention, Url: "https://x"}}, "unsupported_content"},
		// 200 KB of text would be 200 calls to one user.
		{"a text of 200 KB", func(u string) *proto.Integration { return metaSettings(u, nil) },
			customerA, []*proto.Content{text(strings.Repeat("palavra ", 25_000))}, "too_long"},
		{"26 captioned images, 52 messages", func(u string) *proto.Integration { return metaSettings(u, nil) },
			customerA, manyCaptioned(26), "too_long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGraph(t)
			req := sendReq(tc.in(g.srv.URL), time.Hour, sdk.AuthorAgent, tc.contents...)
			req.Contact.Id = tc.contact
			resp, err := New().Send(context.Background(), req)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if e := resp.GetError(); e.GetCode() != tc.code || !e.GetRefused() || e.GetRetryable() {
				t.Errorf("error = %v, want refusal %q", e, tc.code)
			}
			if n := len(g.requests()); n != 0 {
				t.Errorf("%d requests, want none", n)
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name        string
		rep         reply
		code        string
		retryable   bool
		reauthorize bool
		unknown     bool
		retryAfter  int64
		// Meta's message must come through.
		message string
	}{
		{name: "err-01", rep: reply{status: 400, body: "send/err-01-outside-window-ig-10-2534022.json"}, code: "10/2534022", message: "outside of allowed window"},
		{name: "err-02", rep: reply{status: 400, body: "send/err-02-outside-window-messenger-10-2018278.json"}, code: "10/2018278"},
		{name: "err-03", rep: reply{status: 400, body: "send/err-03-user-unavailable-551.json"}, code: "551/1545041", message: "isn't available"},
		{name: "err-04", rep: reply{status: 400, body: "send/err-04-token-expired-190.json"}, code: "190/463", reauthorize: true},
		{name: "err-05", rep: reply{status: 400, body: "send/err-05-rate-limit-613.json"}, code: "613/2534040", retryable: true, retryAfter: 60000},
		{name: "err-05 with Retry-After", rep: reply{status: 400, header: map[string]string{"Retry-After": "7"}, body: "send/err-05-rate-limit-613.json"},
			code: "613/2534040", retryable: true, retryAfter: 7000},
		{name: "err-06", rep: reply{status: 400, body: "send/err-06-app-rate-limit-4.json"}, code: "4", retryable: true, retryAfter: 60000},
		{name: "err-06 with business usage", rep: reply{status: 400,
			header: map[string]string{"X-Business-Use-Case-Usage": `{"1784":[{"type":"instagram","call_count":100,"estimated_time_to_regain_access":3}]}`},
			body:   "send/err-06-app-rate-limit-4.json"}, code: "4", retryable: true, retryAfter: 180000},
		{name: "err-07", rep: reply{status: 400, body: "send/err-07-invalid-param-100.json"}, code: "100"},
		{name: "err-08", rep: reply{status: 400, body: "send/err-08-no-matching-user-100-2534014.json"}, code: "100/2534014"},
		{name: "err-09", rep: reply{status: 403, body: "send/err-09-ig-messages-access-disabled-200-2534041.json"}, code: "200/2534041"},
		{name: "err-10", rep: reply{status: 500, body: "send/err-10-unexpected-2.json"}, code: "2", retryable: true, unknown: true, retryAfter: 5000},
		{name: "err-10 as 400", rep: reply{status: 400, body: "send/err-10-unexpected-2.json"}, code: "2", retryable: true, retryAfter: 5000},
		{name: "err-12", rep: reply{status: 400, body: "send/err-12-ig-login-no-matching-user-9010.json"}, code: "9010"},
		{name: "err-13", rep: reply{status: 400, body: "send/err-13-story-unavailable-1609005.json"}, code: "1609005"},
		{name: "restricted account", rep: reply{status: 400, body: `{"error":{"message":"restricted","code":10,"error_subcode":1893063}}`}, code: "10/1893063"},
		{name: "permission", rep: reply{status: 400, body: `{"error":{"message":"no permission","code":3}}`}, code: "3"},
		{name: "page rate limit", rep: reply{status: 400, body: `{"error":{"message":"slow down","code":32}}`}, code: "32", retryable: true, retryAfter: 60000},
		{name: "user rate limit", rep: reply{status: 400, body: `{"error":{"message":"slow down","code":17}}`}, code: "17", retryable: true, retryAfter: 60000},
		{name: "business use case limit", rep: reply{status: 400, body: `{"error":{"message":"slow down","code":80002}}`}, code: "80002", retryable: true, retryAfter: 60000},
		{name: "unknown transient code", rep: reply{status: 400, body: `{"error":{"message":"?","code":12345,"is_transient":true}}`}, code: "12345", retryable: true, retryAfter: 5000},
		{name: "unknown code", rep: reply{status: 400, body: `{"error":{"message":"?","code":12345}}`}, code: "12345"},
		{name: "5xx without a body", rep: reply{status: 502, body: "<html>bad gateway</html>"}, code: "http_502", retryable: true, unknown: true, retryAfter: 5000},
		{name: "429 without a body", rep: reply{status: 429, header: map[string]string{"Retry-After": "2"}, body: "-"}, code: "http_429", retryable: true, retryAfter: 2000},
		{name: "404 without a body", rep: reply{status: 404, body: "not found"}, code: "http_404"},
		{name: "200 without message_id", rep: reply{status: 200, body: `{"recipient_id":"7425819036458213"}`}, code: "no_message_id", retryable: true, unknown: true, retryAfter: 5000},
		{name: "200 not JSON", rep: reply{status: 200, body: `ok`}, code: "no_message_id", retryable: true, unknown: true, retryAfter: 5000},
		{name: "200 with an error object", rep: reply{status: 200, body: "send/err-07-invalid-param-100.json"}, code: "100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := tc.rep
			if strings.HasPrefix(rep.body, "send/") {
				rep.body = string(readFixture(t, rep.body))
			}
			g := newFakeGraph(t, rep)
			resp, err := New().Send(context.Background(), sendReq(metaSettings(g.srv.URL, nil), time.Hour, sdk.AuthorAgent, text("hi")))
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			e := resp.GetError()
			if e == nil {
				t.Fatalf("Send succeeded with %v, want error %s", resp.GetMessageIds(), tc.code)
			}
			if e.GetCode() != tc.code || e.GetRetryable() != tc.retryable || e.GetReauthorize() != tc.reauthorize ||
				e.GetUnknownOutcome() != tc.unknown || e.GetRetryAfterMs() != tc.retryAfter || e.GetRefused() {
				t.Errorf("error = %v, want code %s retryable %v reauthorize %v unknown_outcome %v retry_after_ms %d",
					e, tc.code, tc.retryable, tc.reauthorize, tc.unknown, tc.retryAfter)
			}
			if !strings.Contains(e.GetMessage(), tc.message) || e.GetMessage() == "" {
				t.Errorf("message = %q, want Meta's (containing %q)", e.GetMessage(), tc.message)
			}
			if len(resp.GetMessageIds()) != 0 {
				t.Errorf("message_ids = %v, want none", resp.GetMessageIds())
			}
		})
	}
}

// Code 1 / 1357046 means the message went out despite the error.
func TestSendInvalidJSONReplyCountsAsSent(t *testing.T) {
	g := newFakeGraph(t, reply{status: 400, body: `{"error":{"message":"Invalid JSON reply","code":1,"error_subcode":1357046}}`})
	resp, err := New().Send(context.Background(), sendReq(metaSettings(g.srv.URL, nil), time.Hour, sdk.AuthorAgent, text("hi"), text("again")))
	if err != nil || resp.GetError() != nil {
		t.Fatalf("Send = %v, %v; want success", resp, err)
	}
	if want := []string{"mid-1"}; !reflect.DeepEqual(resp.GetMessageIds(), want) {
		t.Errorf("message_ids = %v, want %v", resp.GetMessageIds(), want)
	}
}

func TestSendPartialFailureIsNotRetried(t *testing.T) {
	g := newFakeGraph(t, reply{}, reply{status: 400, body: string(readFixture(t, "send/err-05-rate-limit-613.json"))})
	resp, err := New().Send(context.Background(), sendReq(metaSettings(g.srv.URL, nil), time.Hour, sdk.AuthorAgent,
		text("first"), text("second"), text("third")))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if want := []string{"mid-1"}; !reflect.DeepEqual(resp.GetMessageIds(), want) {
		t.Errorf("message_ids = %v, want %v", resp.GetMessageIds(), want)
	}
	e := resp.GetError()
	if e.GetCode() != "613/2534040" || e.GetRetryable() || !strings.Contains(e.GetMessage(), "1 of 3") {
		t.Errorf("error = %v, want a non-retryable 613/2534040 saying 1 of 3 went out", e)
	}
	if n := len(g.requests()); n != 2 {
		t.Errorf("%d requests, want 2 (nothing after the failure)", n)
	}
}

func TestSendTransportErrors(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		resp, err := New().Send(context.Background(), sendReq(metaSettings("http://"+addr, nil), time.Hour, sdk.AuthorAgent, text("hi")))
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		if e := resp.GetError(); e.GetCode() != "network" || !e.GetRetryable() || e.GetUnknownOutcome() {
			t.Errorf("error = %v, want retryable network error with a known outcome (nothing left)", e)
		}
	})
	t.Run("connection dropped after the request", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}))
		defer srv.Close()
		in := metaSettings(srv.URL, map[string]any{"login": LoginFacebook})
		resp, err := New().Send(context.Background(), sendReq(in, time.Hour, sdk.AuthorAgent, text("hi")))
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		e := resp.GetError()
		if e.GetCode() != "network" || !e.GetRetryable() || !e.GetUnknownOutcome() {
			t.Errorf("error = %v, want retryable with unknown outcome", e)
		}
		if strings.Contains(e.GetMessage(), "IGQWtoken") {
			t.Errorf("error message %q leaks the access token", e.GetMessage())
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		ch := New(sdk.WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}))
		resp, err := ch.Send(context.Background(), sendReq(metaSettings(srv.URL, nil), time.Hour, sdk.AuthorAgent, text("hi")))
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		if e := resp.GetError(); !e.GetRetryable() || !e.GetUnknownOutcome() {
			t.Errorf("error = %v, want retryable with unknown outcome", e)
		}
	})
}

func TestSendUsesClockWithoutNow(t *testing.T) {
	g := newFakeGraph(t)
	clock := func() time.Time { return time.UnixMilli(nowMs) }
	req := sendReq(metaSettings(g.srv.URL, nil), 25*time.Hour, sdk.AuthorAssistant, text("hi"))
	req.NowMs = 0
	resp, err := New(sdk.WithClock(clock)).Send(context.Background(), req)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if resp.GetError().GetCode() != "outside_window" {
		t.Errorf("error = %v, want outside_window by the injected clock", resp.GetError())
	}
}

func TestSplitText(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		limit int
		want  []string
	}{
		{"empty", "", 10, nil},
		{"blank", "  \n ", 10, nil},
		{"fits", "hello world", 11, []string{"hello world"}},
		{"at a space", "hello world", 10, []string{"hello", "world"}},
		{"space right at the limit", "0123456789 abc", 10, []string{"0123456789", "abc"}},
		{"several spaces", "aaa   bbb   ccc", 7, []string{"aaa", "bbb", "ccc"}},
		{"newline", "line one\nline two", 12, []string{"line one", "line two"}},
		{"long word", "abcdefghijklmnopqrstuvwxyz", 10, []string{"abcdefghij", "klmnopqrst", "uvwxyz"}},
		{"word after a short one", "a abcdefghijklmnop", 10, []string{"a", "abcdefghij", "klmnop"}},
		{"never inside a rune", "ééééé", 5, []string{"éé", "éé", "é"}},
		{"emoji", "😀😀😀", 6, []string{"😀", "😀", "😀"}},
		{"limit below a rune", "😀😀", 2, []string{"😀", "😀"}},
		{"invalid UTF-8", "ab\xffcd", 100, []string{"ab\uFFFDcd"}},
	}
	for _, tc := range tests {
		if got := splitText(tc.in, tc.limit); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitText(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
	}
}

// At the real limit, on text of every kind: no part over 1000 bytes, every
// part valid UTF-8, and nothing but whitespace lost.
func TestSplitTextProperties(t *testing.T) {
	inputs := []string{
		strings.Repeat("ação ", 400),
		strings.Repeat("é", 1500),
		strings.Repeat("😀 ", 600),
		strings.Repeat("x", 999) + " " + strings.Repeat("y", 1200),
		strings.Repeat("日本語のテキスト", 100),
	}
	strip := func(s string) string { return strings.Join(strings.Fields(s), "") }
	for _, in := range inputs {
		parts := splitText(in, maxTextBytes)
		for _, p := range parts {
			if len(p) > maxTextBytes || !utf8.ValidString(p) || p == "" {
				t.Errorf("part of %d bytes (valid %v) from input %.20q", len(p), utf8.ValidString(p), in)
			}
		}
		if strip(strings.Join(parts, "")) != strip(in) {
			t.Errorf("splitText lost text from input %.20q", in)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"nothing", nil, time.Minute},
		{"seconds", map[string]string{"Retry-After": "30"}, 30 * time.Second},
		{"date", map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second},
		{"past date", map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, 0},
		{"huge", map[string]string{"Retry-After": "99999999999"}, 24 * time.Hour},
		{"garbage", map[string]string{"Retry-After": "soon"}, time.Minute},
		{"business usage", map[string]string{"X-Business-Use-Case-Usage": `{"1":[{"estimated_time_to_regain_access":2},{"estimated_time_to_regain_access":5}]}`}, 5 * time.Minute},
		{"business usage zero", map[string]string{"X-Business-Use-Case-Usage": `{"1":[{"estimated_time_to_regain_access":0}]}`}, time.Minute},
	}
	for _, tc := range tests {
		h := http.Header{}
		for k, v := range tc.header {
			h.Set(k, v)
		}
		if got := retryAfter(h, now, time.Minute); got != tc.want {
			t.Errorf("retryAfter(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNeverSent(t *testing.T) {
	dial := &net.OpError{Op: "dial", Err: errors.New("refused")}
	read := &net.OpError{Op: "read", Err: errors.New("reset")}
	if !neverSent(&url.Error{Op: "Post", Err: dial}) {
		t.Errorf("neverSent(dial error) = false, want true")
	}
	if neverSent(&url.Error{Op: "Post", Err: read}) {
		t.Errorf("neverSent(read error) = true, want false")
	}
}

func TestCheckSend(t *testing.T) {
	tests := []struct {
		name    string
		ago     time.Duration
		content *proto.Content
		code    string
	}{
		{"would send", time.Hour, text("hi"), ""},
		{"window closed", 30 * time.Hour, text("hi"), "outside_window"},
		{"bad content", time.Hour, media(sdk.ContentImage, ""), "invalid_content"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGraph(t)
			req := sendReq(metaSettings(g.srv.URL, nil), tc.ago, sdk.AuthorAssistant, tc.content)
			resp, err := New().(sdk.SendChecker).CheckSend(context.Background(), req)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if resp.GetError().GetCode() != tc.code || len(resp.GetMessageIds()) != 0 {
				t.Errorf("CheckSend = %v, want error code %q and no ids", resp, tc.code)
			}
			if n := len(g.requests()); n != 0 {
				t.Errorf("CheckSend made %d requests", n)
			}
		})
	}
}

// manyCaptioned is n images each with a caption: two messages each.
func manyCaptioned(n int) []*proto.Content {
	var out []*proto.Content
	for i := range n {
		out = append(out, &proto.Content{Type: sdk.ContentImage, Url: fmt.Sprintf("https://cdn.example.com/%d.jpg", i), Caption: "foto"})
	}
	return out
}

// The bound leaves room for any message an agent may send: 4,000
// characters of 4-byte runes go out whole.
func TestSendLongestAgentMessageGoesOut(t *testing.T) {
	g := newFakeGraph(t)
	req := sendReq(metaSettings(g.srv.URL, nil), time.Hour, sdk.AuthorAgent, text(strings.Repeat("🎉", 4000)))
	resp, err := New().Send(context.Background(), req)
	if err != nil || resp.GetError() != nil {
		t.Fatalf("Send = %v, %v; want it sent", resp, err)
	}
	if n := len(g.requests()); n != 16 {
		t.Errorf("%d Send API calls, want 16 parts of 1000 bytes", n)
	}
}
