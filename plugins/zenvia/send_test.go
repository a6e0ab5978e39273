package zenvia

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

const testAPIToken = "zenvia-api-token"

// fakeZenvia records what it receives and answers with a canned response.
type fakeZenvia struct {
	status int
	header map[string]string
	body   []byte

	mu       sync.Mutex
	requests []recordedRequest
}

type recordedRequest struct {
	method, path string
	header       http.Header
	body         []byte
}

func startFakeZenvia(t *testing.T, status int, body []byte, header map[string]string) (*fakeZenvia, *httptest.Server) {
	t.Helper()
	f := &fakeZenvia{status: status, body: body, header: header}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.requests = append(f.requests, recordedRequest{r.Method, r.URL.Path, r.Header.Clone(), b})
		f.mu.Unlock()
		for k, v := range f.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(f.status)
		w.Write(f.body)
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeZenvia) recorded() []recordedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedRequest(nil), f.requests...)
}

// sendNow is the send tests' clock; their contact wrote an hour before.
func sendNow() time.Time { return time.Date(2025, 3, 14, 14, 22, 7, 0, time.UTC) }

func sendRequest(apiURL string, contents ...*proto.Content) *proto.SendRequest {
	return &proto.SendRequest{
		Integration: &proto.Integration{Id: "ig-zenvia", SettingsJson: testSettingsJSON(apiURL)},
		Contact: &proto.Contact{
			Id:            marina,
			Username:      "marina.costa.rj",
			LastInboundMs: sendNow().Add(-time.Hour).UnixMilli(),
		},
		Contents:   contents,
		AuthorKind: sdk.AuthorAssistant,
		NowMs:      sendNow().UnixMilli(),
	}
}

func newTestChannel() sdk.Channel { return New(sdk.WithClock(sendNow)) }

func TestSendRequestFixtures(t *testing.T) {
	tests := []struct {
		fixture  string
		response string
		req      func(apiURL string) *proto.SendRequest
	}{
		{"request_text.json", "response_200_text.json", func(u string) *proto.SendRequest {
			r := sendRequest(u, &proto.Content{Type: "text", Text: "Entregamos sim! Qual o seu CEP?"})
			r.IdempotencyKey = "nlu-turn-000123"
			return r
		}},
		{"request_image.json", "response_200_image.json", func(u string) *proto.SendRequest {
			r := sendRequest(u, &proto.Content{Type: "image", Url: "https://cdn.example.com/catalogo/kit-presente.jpg", MimeType: "image/jpeg"})
			r.IdempotencyKey = "nlu-turn-000124"
			return r
		}},
		{"request_image_then_caption_text.json", "response_200_minimal.json", func(u string) *proto.SendRequest {
			r := sendRequest(u, &proto.Content{
				Type: "image", Url: "https://cdn.example.com/catalogo/kit-presente.jpg", MimeType: "image/jpeg",
				Caption: "Kit presente: R$ 89,90",
			})
			r.IdempotencyKey = "nlu-turn-000125"
			return r
		}},
		{"request_text_human_agent.json", "response_200_minimal.json", func(u string) *proto.SendRequest {
			r := sendRequest(u, &proto.Content{Type: "text", Text: "Oi Marina, aqui é a Júlia do atendimento."})
			r.AuthorKind = sdk.AuthorAgent
			return r
		}},
	}
	// Request fixtures Send never produces, and why.
	notProduced := map[string]string{
		"request_replyable_text.json":       "quick replies reach Send already converted to text by the host",
		"request_handoff_conversation.json": "handoff to a Zenvia product is not how Conversa hands off",
	}
	files, err := filepath.Glob(filepath.Join("testdata", "send", "request_*.json"))
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.fixture] = true
	}
	for _, f := range files {
		if name := filepath.Base(f); !covered[name] && notProduced[name] == "" {
			t.Errorf("request fixture %s is neither produced by a test case nor listed as not produced", name)
		}
	}

	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			respBody := readFixture(t, filepath.Join("send", tt.response))
			fake, srv := startFakeZenvia(t, http.StatusOK, respBody, map[string]string{"Content-Type": "application/json"})
			resp, err := newTestChannel().Send(context.Background(), tt.req(srv.URL))
			if err != nil {
				t.Fatalf("Send() error = %v", err)
			}
			if resp.Error != nil {
				t.Fatalf("Send() SendError = %v, want none", resp.Error)
			}
			var answer struct{ ID string }
			if err := json.Unmarshal(respBody, &answer); err != nil {
				t.Fatal(err)
			}
			if len(resp.MessageIds) != 1 || resp.MessageIds[0] != answer.ID {
				t.Errorf("Send().message_ids = %v, want [%s]", resp.MessageIds, answer.ID)
			}
			reqs := fake.recorded()
			if len(reqs) != 1 {
				t.Fatalf("fake Zenvia got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.method != "POST" || r.path != "/v2/channels/instagram/messages" {
				t.Errorf("Send() called %s %s, want POST /v2/channels/instagram/messages", r.method, r.path)
			}
			if got := r.header.Get("X-API-TOKEN"); got != testAPIToken {
				t.Errorf("Send() X-API-TOKEN = %q, want %q", got, testAPIToken)
			}
			if got := r.header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Send() Content-Type = %q, want application/json", got)
			}
			want := readFixture(t, filepath.Join("send", tt.fixture))
			if !jsonEqual(r.body, want) {
				t.Errorf("Send() body = %s, want %s", r.body, want)
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	fixture := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", "send", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name   string
		status int
		header map[string]string
		body   []byte
		want   *proto.SendError
	}{
		{"error_400_validation.json", 400, nil, fixture("error_400_validation.json"), &proto.SendError{
			Code:    "VALIDATION_ERROR",
			Message: "Zenvia answered 400: Validation error: to: String too long (65), maximum length is 64",
		}},
		{"error_400_unsupported_content_type.json", 400, nil, fixture("error_400_unsupported_content_type.json"), &proto.SendError{
			Code:    "VALIDATION_ERROR",
			Message: `Zenvia answered 400: Validation error: contents[0].type: Discriminator property "type" as "template" did not map to a schema`,
		}},
		{"error_401_authentication.json", 401, nil, fixture("error_401_authentication.json"), &proto.SendError{
			Code: "AUTHENTICATION_ERROR", Message: "Zenvia answered 401: No authorization token was found", Reauthorize: true,
		}},
		{"error_404_not_found.json", 404, nil, fixture("error_404_not_found.json"), &proto.SendError{
			Code: "NOT_FOUND", Message: "Zenvia answered 404: Not found",
		}},
		{"error_500_internal.json", 500, nil, fixture("error_500_internal.json"), &proto.SendError{
			Code: "INTERNAL_ERROR", Message: "Zenvia answered 500: Internal error", Retryable: true, UnknownOutcome: true,
		}},
		{"429 with Retry-After seconds", 429, map[string]string{"Retry-After": "30"}, nil, &proto.SendError{
			Code: "rate_limited", Message: "Zenvia answered 429: Too Many Requests", Retryable: true, RetryAfterMs: 30000,
		}},
		{"429 with Retry-After date", 429, map[string]string{"Retry-After": sendNow().Add(90 * time.Second).Format(http.TimeFormat)},
			[]byte(`{"code":"TOO_MANY_REQUESTS","message":"Slow down"}`), &proto.SendError{
				Code: "TOO_MANY_REQUESTS", Message: "Zenvia answered 429: Slow down", Retryable: true, RetryAfterMs: 90000,
			}},
		{"503 with a text body", 503, map[string]string{"Retry-After": "5"}, []byte("upstream down\n"), &proto.SendError{
			Code: "http_503", Message: "Zenvia answered 503: Service Unavailable: upstream down",
			Retryable: true, UnknownOutcome: true, RetryAfterMs: 5000,
		}},
		{"408", 408, nil, nil, &proto.SendError{
			Code: "http_408", Message: "Zenvia answered 408: Request Timeout", Retryable: true, UnknownOutcome: true,
		}},
		{"403 with the S4 string code", 403, nil, []byte(`{"code":"400","message":"Validation error","details":[{"code":"400","path":"Error","message":"Error description"}]}`), &proto.SendError{
			Code: "400", Message: "Zenvia answered 403: Validation error: Error: Error description",
		}},
		{"redirect", 302, map[string]string{"Location": "https://elsewhere.example/"}, nil, &proto.SendError{
			Code: "http_302", Message: `Zenvia answered 302: Found (redirect to "https://elsewhere.example/": check api_url)`,
		}},
		{"200 without id", 200, nil, []byte(`{"from":"brisk-harbor"}`), &proto.SendError{
			Code: "no_message_id", Message: "Zenvia answered 200 without a message id", Retryable: true, UnknownOutcome: true,
		}},
		{"200 not JSON", 200, nil, []byte(`OK`), &proto.SendError{
			Code: "no_message_id", Message: "Zenvia answered 200 without a message id", Retryable: true, UnknownOutcome: true,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, srv := startFakeZenvia(t, tt.status, tt.body, tt.header)
			resp, err := newTestChannel().Send(context.Background(), sendRequest(srv.URL, &proto.Content{Type: "text", Text: "oi"}))
			if err != nil {
				t.Fatalf("Send() error = %v", err)
			}
			if len(fake.recorded()) != 1 {
				t.Errorf("fake Zenvia got %d requests, want 1", len(fake.recorded()))
			}
			if len(resp.MessageIds) != 0 {
				t.Errorf("failed Send().message_ids = %v, want none", resp.MessageIds)
			}
			checkSendError(t, resp.Error, tt.want)
		})
	}
}

func checkSendError(t *testing.T, got, want *proto.SendError) {
	t.Helper()
	if got == nil {
		t.Fatalf("Send() error = nil, want %v", want)
	}
	field := func(name string, g, w any) {
		t.Helper()
		if g != w {
			t.Errorf("Send() error.%s = %#v, want %#v", name, g, w)
		}
	}
	field("code", got.Code, want.Code)
	if want.Message != "" {
		field("message", got.Message, want.Message)
	}
	field("retryable", got.Retryable, want.Retryable)
	field("retry_after_ms", got.RetryAfterMs, want.RetryAfterMs)
	field("reauthorize", got.Reauthorize, want.Reauthorize)
	field("unknown_outcome", got.UnknownOutcome, want.UnknownOutcome)
	field("refused", got.Refused, want.Refused)
	if strings.Contains(got.Message, testAPIToken) {
		t.Errorf("Send() error.message = %q reveals the API token", got.Message)
	}
}

func TestSendNetworkErrors(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		resp, err := newTestChannel().Send(context.Background(), sendRequest(url, &proto.Content{Type: "text", Text: "oi"}))
		if err != nil {
			t.Fatalf("Send() error = %v", err)
		}
		checkSendError(t, resp.Error, &proto.SendError{Code: "network", Retryable: true})
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		ch := New(sdk.WithClock(sendNow), sdk.WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}))
		resp, err := ch.Send(context.Background(), sendRequest(srv.URL, &proto.Content{Type: "text", Text: "oi"}))
		if err != nil {
			t.Fatalf("Send() error = %v", err)
		}
		checkSendError(t, resp.Error, &proto.SendError{Code: "timeout", Retryable: true, UnknownOutcome: true})
	})
	t.Run("connection dropped after the request", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}))
		t.Cleanup(srv.Close)
		resp, err := newTestChannel().Send(context.Background(), sendRequest(srv.URL, &proto.Content{Type: "text", Text: "oi"}))
		if err != nil {
			t.Fatalf("Send() error = %v", err)
		}
		checkSendError(t, resp.Error, &proto.SendError{Code: "network", Retryable: true, UnknownOutcome: true})
	})
}

func TestSendWindow(t *testing.T) {
	now := sendNow()
	tests := []struct {
		name        string
		author      string
		lastInbound time.Time // zero: never
		nowMs       int64     // 0: the channel's clock (sendNow)
		wantCode    string    // "" = sent
	}{
		{"never wrote", sdk.AuthorAssistant, time.Time{}, 0, "no_inbound"},
		{"never wrote, agent", sdk.AuthorAgent, time.Time{}, 0, "no_inbound"},
		{"assistant within 24h", sdk.AuthorAssistant, now.Add(-23*time.Hour - 59*time.Minute), 0, ""},
		{"assistant at exactly 24h", sdk.AuthorAssistant, now.Add(-24 * time.Hour), 0, ""},
		{"assistant past 24h", sdk.AuthorAssistant, now.Add(-24*time.Hour - time.Minute), 0, "outside_window"},
		{"system past 24h", sdk.AuthorSystem, now.Add(-25 * time.Hour), 0, "outside_window"},
		{"unknown author past 24h", "", now.Add(-25 * time.Hour), 0, "outside_window"},
		{"agent after 3 days", sdk.AuthorAgent, now.Add(-72 * time.Hour), 0, ""},
		{"agent within 7 days", sdk.AuthorAgent, now.Add(-7*24*time.Hour + time.Minute), 0, ""},
		{"agent past 7 days", sdk.AuthorAgent, now.Add(-7*24*time.Hour - time.Minute), 0, "outside_window"},
		{"now_ms from the request wins", sdk.AuthorAssistant, now.Add(-time.Hour), now.Add(48 * time.Hour).UnixMilli(), "outside_window"},
		{"inbound in the future (clock skew)", sdk.AuthorAssistant, now.Add(time.Minute), 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, srv := startFakeZenvia(t, 200, []byte(`{"id":"m1"}`), nil)
			req := sendRequest(srv.URL, &proto.Content{Type: "text", Text: "oi"})
			req.AuthorKind = tt.author
			req.NowMs = tt.nowMs
			req.Contact.LastInboundMs = 0
			if !tt.lastInbound.IsZero() {
				req.Contact.LastInboundMs = tt.lastInbound.UnixMilli()
			}
			resp, err := newTestChannel().Send(context.Background(), req)
			if err != nil {
				t.Fatalf("Send() error = %v", err)
			}
			if tt.wantCode == "" {
				if resp.Error != nil || len(resp.MessageIds) != 1 {
					t.Errorf("Send() = %v, want sent", resp)
				}
				return
			}
			checkSendError(t, resp.Error, &proto.SendError{Code: tt.wantCode, Refused: true})
			if n := len(fake.recorded()); n != 0 {
				t.Errorf("refused Send() made %d requests, want 0", n)
			}
		})
	}
}

func TestSendContents(t *testing.T) {
	const pdf = "https://cdn.example.com/catalog.pdf"
	tests := []struct {
		name     string
		contents []*proto.Content
		want     string // the request's contents as JSON
		wantCode string // refused with this code instead
	}{
		{"file without mime type goes as file",
			[]*proto.Content{{Type: "file", Url: "https://cdn.example.com/x"}},
			`[{"type":"file","fileUrl":"https://cdn.example.com/x"}]`, ""},
		{"file with an image mime type goes as file",
			[]*proto.Content{{Type: "file", Url: "https://cdn.example.com/x.png", MimeType: "image/png", Name: "x.png"}},
			`[{"type":"file","fileUrl":"https://cdn.example.com/x.png","fileMimeType":"image/png"}]`, ""},
		{"image without mime type",
			[]*proto.Content{{Type: "image", Url: "https://cdn.example.com/x.png"}},
			`[{"type":"file","fileUrl":"https://cdn.example.com/x.png"}]`, ""},
		{"non-image file goes as a link with its name",
			[]*proto.Content{{Type: "file", Url: pdf, MimeType: "application/pdf", Name: "catalog.pdf"}},
			`[{"type":"text","text":"catalog.pdf\n` + pdf + `"}]`, ""},
		{"non-image file: the caption before the name",
			[]*proto.Content{{Type: "file", Url: pdf, MimeType: "application/pdf", Name: "catalog.pdf", Caption: "Our catalog"}},
			`[{"type":"text","text":"Our catalog\n` + pdf + `"}]`, ""},
		{"non-image file without name or caption",
			[]*proto.Content{{Type: "file", Url: pdf, MimeType: "application/pdf"}},
			`[{"type":"text","text":"` + pdf + `"}]`, ""},
		{"audio goes as a link",
			[]*proto.Content{{Type: "audio", Url: "https://cdn.example.com/a.mp3", MimeType: "audio/mpeg"}},
			`[{"type":"text","text":"https://cdn.example.com/a.mp3"}]`, ""},
		{"video without mime type goes as a link",
			[]*proto.Content{{Type: "video", Url: "https://cdn.example.com/v.mp4", Caption: "Tutorial"}},
			`[{"type":"text","text":"Tutorial\nhttps://cdn.example.com/v.mp4"}]`, ""},
		{"file without mime type keeps its caption as text",
			[]*proto.Content{{Type: "file", Url: "https://cdn.example.com/x", Caption: "Look"}},
			`[{"type":"file","fileUrl":"https://cdn.example.com/x"},{"type":"text","text":"Look"}]`, ""},
		{"several contents, in order, in one request",
			[]*proto.Content{
				{Type: "text", Text: "Here it is"},
				{Type: "image", Url: "https://cdn.example.com/a.jpg", MimeType: "image/jpeg"},
				{Type: "text", Text: "Anything else?"},
			},
			`[{"type":"text","text":"Here it is"},{"type":"file","fileUrl":"https://cdn.example.com/a.jpg","fileMimeType":"image/jpeg"},{"type":"text","text":"Anything else?"}]`, ""},
		{"unconverted quick replies go as their text",
			[]*proto.Content{{Type: "quick_replies", Text: "1. Sales\n2. Support", Options: []*proto.Option{{Title: "Sales"}}}},
			`[{"type":"text","text":"1. Sales\n2. Support"}]`, ""},
		{"HTML-like text is not escaped",
			[]*proto.Content{{Type: "text", Text: "a < b & c > d"}},
			`[{"type":"text","text":"a < b & c > d"}]`, ""},
		{"empty texts are skipped",
			[]*proto.Content{{Type: "text", Text: " "}, {Type: "text", Text: "oi"}},
			`[{"type":"text","text":"oi"}]`, ""},
		{"a component without text is refused",
			[]*proto.Content{{Type: "select", Options: []*proto.Option{{Title: "Sales"}}}}, "", "unsupported_content"},
		{"a reaction is refused",
			[]*proto.Content{{Type: "reaction", Emoji: "❤"}}, "", "unsupported_content"},
		{"an image without url is refused",
			[]*proto.Content{{Type: "image"}}, "", "unsupported_content"},
		{"only empty texts",
			[]*proto.Content{{Type: "text"}}, "", "empty_message"},
		{"no contents", nil, "", "empty_message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, srv := startFakeZenvia(t, 200, []byte(`{"id":"m1"}`), nil)
			resp, err := newTestChannel().Send(context.Background(), sendRequest(srv.URL, tt.contents...))
			if err != nil {
				t.Fatalf("Send() error = %v", err)
			}
			reqs := fake.recorded()
			if tt.wantCode != "" {
				checkSendError(t, resp.Error, &proto.SendError{Code: tt.wantCode, Refused: true})
				if len(reqs) != 0 {
					t.Errorf("refused Send() made %d requests, want 0", len(reqs))
				}
				return
			}
			if resp.Error != nil || len(reqs) != 1 {
				t.Fatalf("Send() = %v with %d requests, want sent once", resp, len(reqs))
			}
			var body struct {
				Contents json.RawMessage `json:"contents"`
			}
			if err := json.Unmarshal(reqs[0].body, &body); err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(body.Contents, []byte(tt.want)) {
				t.Errorf("Send(%v) contents = %s, want %s", tt.contents, body.Contents, tt.want)
			}
			if strings.Contains(string(reqs[0].body), `\u003c`) {
				t.Errorf("Send() body %s escapes HTML characters", reqs[0].body)
			}
		})
	}
}

func TestSendSettings(t *testing.T) {
	tests := []struct {
		name     string
		settings string // API_URL stands for the fake's URL
		wantCode string
		wantFrom string
	}{
		{"no sender id", `{"api_token":"t","api_url":"API_URL"}`, "settings", ""},
		{"no api token", `{"sender_id":"s","api_url":"API_URL"}`, "settings", ""},
		{"not JSON", `{"sender_id":`, "settings", ""},
		{"not an object", `["s"]`, "settings", ""},
		{"api_url not http", `{"sender_id":"s","api_token":"t","api_url":"ftp://zenvia"}`, "settings", ""},
		{"numeric sender id, trailing slash", `{"sender_id":12345678901234567890,"api_token":"t","api_url":"API_URL/"}`, "", "12345678901234567890"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, srv := startFakeZenvia(t, 200, []byte(`{"id":"m1"}`), nil)
			req := sendRequest(srv.URL, &proto.Content{Type: "text", Text: "oi"})
			req.Integration.SettingsJson = []byte(strings.ReplaceAll(tt.settings, "API_URL", srv.URL))
			resp, err := newTestChannel().Send(context.Background(), req)
			if err != nil {
				t.Fatalf("Send() error = %v", err)
			}
			reqs := fake.recorded()
			if tt.wantCode != "" {
				checkSendError(t, resp.Error, &proto.SendError{Code: tt.wantCode, Refused: true})
				if len(reqs) != 0 {
					t.Errorf("refused Send() made %d requests", len(reqs))
				}
				return
			}
			if resp.Error != nil || len(reqs) != 1 {
				t.Fatalf("Send() = %v with %d requests, want sent once", resp, len(reqs))
			}
			if reqs[0].path != "/v2/channels/instagram/messages" {
				t.Errorf("Send() path = %q, want /v2/channels/instagram/messages", reqs[0].path)
			}
			var body struct{ From string }
			if err := json.Unmarshal(reqs[0].body, &body); err != nil {
				t.Fatal(err)
			}
			if body.From != tt.wantFrom {
				t.Errorf("Send() from = %q, want %q", body.From, tt.wantFrom)
			}
		})
	}
}

func TestParseSettingsDefaults(t *testing.T) {
	s, problems := parseSettings([]byte(`{"sender_id":" brisk-harbor ","api_token":"t","other":{"x":1}}`))
	if len(problems) > 0 {
		t.Fatalf("parseSettings() problems = %v", problems)
	}
	if s.APIURL != DefaultAPIURL || s.SenderID != "brisk-harbor" {
		t.Errorf("parseSettings() = api_url %q, sender_id %q, want %q, %q", s.APIURL, s.SenderID, DefaultAPIURL, "brisk-harbor")
	}
	if s, problems := parseSettings(nil); len(problems) > 0 || s.APIURL != DefaultAPIURL {
		t.Errorf("parseSettings(nil) = %+v, %v, want defaults", s, problems)
	}
}

func TestCheckSend(t *testing.T) {
	fake, srv := startFakeZenvia(t, 200, []byte(`{"id":"m1"}`), nil)
	ch := newTestChannel()

	req := sendRequest(srv.URL, &proto.Content{Type: "text", Text: "oi"})
	resp, err := ch.(sdk.SendChecker).CheckSend(context.Background(), req)
	if err != nil || resp.Error != nil || len(resp.MessageIds) != 0 {
		t.Errorf("CheckSend() = %v, %v, want no error and no ids", resp, err)
	}

	req.AuthorKind = sdk.AuthorAgent
	req.Contact.LastInboundMs = sendNow().Add(-8 * 24 * time.Hour).UnixMilli()
	resp, err = ch.(sdk.SendChecker).CheckSend(context.Background(), req)
	if err != nil {
		t.Fatalf("CheckSend() error = %v", err)
	}
	checkSendError(t, resp.Error, &proto.SendError{Code: "outside_window", Refused: true})

	if n := len(fake.recorded()); n != 0 {
		t.Errorf("CheckSend() made %d requests, want 0", n)
	}
}
