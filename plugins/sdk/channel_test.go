package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
	"github.com/conversa/conversa/plugins/sdk/sdktest"
)

const baseToken = "tok-3f9a1c7e5b"

// baseChannel is a channel built on the base whose Send does what its
// first content's text says, calling a fake provider at url.
type baseChannel struct {
	plainChannel
	sdk.ChannelBase
	url string
}

func (c *baseChannel) Send(ctx context.Context, req *proto.SendRequest) (*proto.SendResponse, error) {
	return c.SendWith(ctx, req, c.prepare)
}

func (c *baseChannel) CheckSend(ctx context.Context, req *proto.SendRequest) (*proto.SendResponse, error) {
	return c.CheckSendWith(ctx, req, c.prepare)
}

func (c *baseChannel) prepare(_ context.Context, req *proto.SendRequest) (*sdk.Outgoing, *proto.SendError) {
	what := req.GetContents()[0].GetText()
	switch what {
	case "refuse":
		return nil, &proto.SendError{Code: "closed_window", Message: "the window is closed"}
	case "settings":
		var p sdk.Problems
		p.Add("token", "Enter the token.")
		return nil, p.Refusal()
	case "panic preparing":
		var m map[string]int
		m["boom"]++ // a nil map: the runtime panics
	case "nothing":
		return nil, nil
	}
	now := c.Now(req.GetNowMs())
	return &sdk.Outgoing{Secrets: []string{baseToken}, Deliver: func(ctx context.Context) (*proto.SendResponse, error) {
		if what == "error before calling" {
			return nil, errors.New("open /etc/provider.pem: permission denied")
		}
		hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/send?access_token="+baseToken, strings.NewReader(`{"text":"hi"}`))
		if err != nil {
			return nil, err
		}
		hreq.Header.Set("X-Api-Token", baseToken)
		resp, err := c.HTTPClient().Do(hreq)
		if err != nil {
			return nil, err
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		switch what {
		case "panic after calling":
			panic("index out of range [3] with length 3")
		case "error after calling":
			return &proto.SendResponse{MessageIds: []string{"part-1"}}, errors.New("json: cannot unmarshal number into Go value (token " + baseToken + ")")
		case "no outcome":
			return nil, nil
		}
		return &proto.SendResponse{MessageIds: []string{strconv.FormatInt(now.UnixMilli(), 10)}}, nil
	}}, nil
}

// fakeProvider counts the calls it gets.
func fakeProvider(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"m1"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// syncBuffer is a log sink the plugin's server goroutines write to while
// the test reads it.
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

func baseSend(what string, nowMs int64) *proto.SendRequest {
	return &proto.SendRequest{
		Integration: &proto.Integration{Id: "int-7", SettingsJson: []byte(`{}`)},
		Contents:    []*proto.Content{{Type: sdk.ContentText, Text: what}},
		NowMs:       nowMs,
	}
}

// Send's outcomes through the base, over a real gRPC connection: refusals
// marked refused, faults of the plugin as plugin_error with the outcome
// known only while the provider was not called, and never the fault's own
// text; the process survives every one.
func TestSendWith(t *testing.T) {
	srv, calls := fakeProvider(t)
	var log syncBuffer
	ch := sdktest.Channel(t, &baseChannel{
		ChannelBase: sdk.NewChannelBase(sdk.WithLogger(slog.New(slog.NewTextHandler(&log, nil)))),
		url:         srv.URL,
	})
	tests := []struct {
		what      string
		code      string
		refused   bool
		unknown   bool
		calls     int32
		exchanges int
		ids       int
		logged    string
	}{
		{what: "send", calls: 1, exchanges: 1, ids: 1},
		{what: "refuse", code: "closed_window", refused: true},
		{what: "settings", code: sdk.CodeSettings, refused: true},
		{what: "panic preparing", code: sdk.CodePluginError, refused: true, logged: "assignment to entry in nil map"},
		{what: "nothing", code: sdk.CodePluginError, refused: true, logged: "nothing to deliver"},
		{what: "error before calling", code: sdk.CodePluginError, refused: true, logged: "permission denied"},
		{what: "panic after calling", code: sdk.CodePluginError, unknown: true, calls: 1, exchanges: 1, logged: "index out of range"},
		{what: "error after calling", code: sdk.CodePluginError, unknown: true, calls: 1, exchanges: 1, ids: 1, logged: "cannot unmarshal"},
		{what: "no outcome", code: sdk.CodePluginError, unknown: true, calls: 1, exchanges: 1, logged: "no outcome"},
	}
	for _, tc := range tests {
		t.Run(tc.what, func(t *testing.T) {
			before := calls.Load()
			resp, err := ch.Send(context.Background(), baseSend(tc.what, 0))
			if err != nil {
				t.Fatalf("Send(%s) error = %v, want the outcome in the response", tc.what, err)
			}
			e := resp.GetError()
			if e.GetCode() != tc.code || e.GetRefused() != tc.refused || e.GetUnknownOutcome() != tc.unknown || e.GetRetryable() {
				t.Errorf("Send(%s) error = %v, want code %q refused %v unknown_outcome %v, not retryable", tc.what, e, tc.code, tc.refused, tc.unknown)
			}
			if got := calls.Load() - before; got != tc.calls {
				t.Errorf("Send(%s) called the provider %d times, want %d", tc.what, got, tc.calls)
			}
			if got := len(resp.GetExchanges()); got != tc.exchanges {
				t.Errorf("Send(%s) returned %d exchanges, want %d", tc.what, got, tc.exchanges)
			}
			if got := len(resp.GetMessageIds()); got != tc.ids {
				t.Errorf("Send(%s) returned ids %v, want %d", tc.what, resp.GetMessageIds(), tc.ids)
			}
			if tc.logged != "" {
				if !strings.Contains(log.String(), tc.logged) || !strings.Contains(log.String(), "integration=int-7") {
					t.Errorf("Send(%s): the log lacks %q with the integration:\n%s", tc.what, tc.logged, log.String())
				}
				if strings.Contains(e.GetMessage(), tc.logged) {
					t.Errorf("Send(%s) error message %q carries the fault's own text", tc.what, e.GetMessage())
				}
			}
		})
	}
	if strings.Contains(log.String(), baseToken) {
		t.Errorf("the log shows the message's credentials:\n%s", log.String())
	}
	if !strings.Contains(log.String(), "goroutine") {
		t.Errorf("a panic's stack is not in the log:\n%s", log.String())
	}
}

// The calls Deliver makes come back as exchanges with the credentials
// hidden, whatever client the channel was given.
func TestSendWithRecordsExchanges(t *testing.T) {
	srv, _ := fakeProvider(t)
	var trips atomic.Int32
	given := &http.Client{Timeout: 5 * time.Second, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		trips.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	ch := sdktest.Channel(t, &baseChannel{ChannelBase: sdk.NewChannelBase(sdk.WithHTTPClient(given)), url: srv.URL})
	resp, err := ch.Send(context.Background(), baseSend("send", 0))
	if err != nil || resp.GetError() != nil {
		t.Fatalf("Send = %v, %v; want sent", resp, err)
	}
	if trips.Load() != 1 {
		t.Errorf("the given client made %d calls, want 1", trips.Load())
	}
	if len(resp.GetExchanges()) != 1 {
		t.Fatalf("exchanges = %v, want 1", resp.GetExchanges())
	}
	x := resp.GetExchanges()[0]
	if x.GetStatus() != http.StatusOK || x.GetMethod() != http.MethodPost || string(x.GetResponseBody()) != `{"id":"m1"}` {
		t.Errorf("exchange = %v, want the POST and its 200 answer", x)
	}
	for _, h := range x.GetRequestHeaders() {
		if strings.Contains(h.GetValue(), baseToken) {
			t.Errorf("header %s = %q shows the token", h.GetName(), h.GetValue())
		}
	}
	if strings.Contains(x.GetUrl(), baseToken) || !strings.Contains(x.GetUrl(), sdk.Redacted) {
		t.Errorf("exchange URL %q shows the token", x.GetUrl())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// CheckSend answers as Send would, without delivering.
func TestCheckSendWith(t *testing.T) {
	srv, calls := fakeProvider(t)
	quiet := sdk.WithLogger(slog.New(slog.DiscardHandler))
	ch := sdktest.Channel(t, &baseChannel{ChannelBase: sdk.NewChannelBase(quiet), url: srv.URL}).(sdk.SendChecker)
	for what, code := range map[string]string{
		"send": "", "panic after calling": "", "refuse": "closed_window", "settings": sdk.CodeSettings, "panic preparing": sdk.CodePluginError,
	} {
		resp, err := ch.CheckSend(context.Background(), baseSend(what, 0))
		if err != nil || resp.GetError().GetCode() != code || (code != "" && !resp.GetError().GetRefused()) {
			t.Errorf("CheckSend(%s) = %v, %v; want refusal %q", what, resp, err, code)
		}
	}
	if calls.Load() != 0 {
		t.Errorf("CheckSend called the provider %d times", calls.Load())
	}
}

// The time of a call is the request's now_ms, else the injected clock.
func TestChannelBaseClock(t *testing.T) {
	srv, _ := fakeProvider(t)
	clock := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	ch := sdktest.Channel(t, &baseChannel{ChannelBase: sdk.NewChannelBase(sdk.WithClock(func() time.Time { return clock })), url: srv.URL})
	for nowMs, want := range map[int64]int64{0: clock.UnixMilli(), 1767607200000: 1767607200000} {
		resp, err := ch.Send(context.Background(), baseSend("send", nowMs))
		if err != nil || len(resp.GetMessageIds()) != 1 || resp.GetMessageIds()[0] != strconv.FormatInt(want, 10) {
			t.Errorf("Send(now_ms %d) = %v, %v; want the time %d", nowMs, resp, err, want)
		}
	}
	if got := sdk.NewChannelBase().Now(0); time.Since(got) > time.Minute || time.Since(got) < 0 {
		t.Errorf("the default clock says %v, want about now", got)
	}
}

func TestProblems(t *testing.T) {
	var p sdk.Problems
	if p.Refusal() != nil || len(p.Response().GetProblems()) != 0 {
		t.Errorf("no problems = refusal %v, response %v; want none", p.Refusal(), p.Response())
	}
	p.Add("api_url", "Enter an https URL.")
	p.Add("", "The settings must be a JSON object.")
	r := p.Refusal()
	if r.GetCode() != sdk.CodeSettings || !r.GetRefused() || r.GetRetryable() ||
		!strings.Contains(r.GetMessage(), "api_url: Enter an https URL. The settings must be a JSON object.") {
		t.Errorf("Refusal() = %v, want a refused %q naming each problem", r, sdk.CodeSettings)
	}
	if got := p.Response().GetProblems(); len(got) != 2 || got[0].GetField() != "api_url" || got[1].GetField() != "" {
		t.Errorf("Response() = %v, want both problems in order", got)
	}
}

func TestReadSettings(t *testing.T) {
	for _, raw := range []string{`{`, `[1]`, `null`, `{"token": "abc`} {
		s, p := sdk.ReadSettings([]byte(raw))
		if len(p) != 1 || p[0].GetField() != "" || len(s) != 0 {
			t.Errorf("ReadSettings(%s) = %v, %v; want one problem of the whole", raw, s, p)
			continue
		}
		if m := p[0].GetMessage(); strings.Contains(m, "abc") || strings.Contains(m, "unexpected") || strings.Contains(m, "invalid character") {
			t.Errorf("ReadSettings(%s) problem %q carries the decoder's text", raw, m)
		}
	}
	if s, p := sdk.ReadSettings([]byte(`{"a": 1}`)); len(p) != 0 || s.String("a") != "1" {
		t.Errorf("ReadSettings(object) = %v, %v; want the settings", s, p)
	}
}

func TestSettingChecks(t *testing.T) {
	s, err := sdk.ParseSettings([]byte(`{"t": true, "f": "false", "one": 1, "zero": 0, "blank": " ", "null": null,
		"yes": "yes", "two": 2, "list": [true], "obj": {}}`))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"t": true, "f": true, "one": true, "zero": true, "blank": true, "null": true, "absent": true,
		"yes": false, "two": false, "list": false, "obj": false} {
		if got := s.IsBool(key); got != want {
			t.Errorf("IsBool(%s) = %v, want %v", key, got, want)
		}
	}
	for raw, want := range map[string]bool{"https://api.zenvia.com": true, "http://127.0.0.1:8080/x": true,
		"ftp://x": false, "api.zenvia.com": false, "https://": false, "": false, "https://a b": false, "/v2": false} {
		if got := sdk.IsHTTPURL(raw); got != want {
			t.Errorf("IsHTTPURL(%q) = %v, want %v", raw, got, want)
		}
	}
	for tok, want := range map[string]bool{"hook-token-5678": true, "A_b.c~!#": true, "u": true, strings.Repeat("x", 256): true,
		"": false, "with space": false, "tab\t": false, "ação": false, strings.Repeat("x", 257): false, "new\nline": false} {
		if got := sdk.IsToken(tok); got != want {
			t.Errorf("IsToken(%q) = %v, want %v", tok, got, want)
		}
	}
}

func TestCheckSettingsSchema(t *testing.T) {
	good := func() *proto.ChannelInfo {
		return &proto.ChannelInfo{
			RequiredSettings: []string{"token"}, SecretSettings: []string{"token", "hook"}, GeneratedSettings: []string{"hook"},
			UrlSettings: []string{"api_url"}, AccountSetting: "account",
			Settings: []*proto.SettingField{
				{Name: "account", Label: "Account"},
				{Name: "token", Label: "Token", Type: sdk.FieldSecret, Required: true},
				{Name: "hook", Label: "Hook", Type: sdk.FieldSecret},
				{Name: "api_url", Label: "API URL", Type: sdk.FieldURL},
				{Name: "mode", Label: "Mode", Type: sdk.FieldSelect, Choices: []string{"a", "b"}, ChoiceLabels: []string{"A"}},
			},
		}
	}
	if err := sdk.CheckSettingsSchema(good()); err != nil {
		t.Errorf("CheckSettingsSchema(good) = %v, want nil", err)
	}
	if err := sdk.CheckSettingsSchema(&proto.ChannelInfo{RequiredSettings: []string{"x"}}); err != nil {
		t.Errorf("CheckSettingsSchema(no schema) = %v, want nil", err)
	}
	tests := []struct {
		name   string
		change func(*proto.ChannelInfo)
		want   string
	}{
		{"required not flagged", func(i *proto.ChannelInfo) { i.Settings[1].Required = false }, "required setting token"},
		{"secret typed string", func(i *proto.ChannelInfo) { i.Settings[2].Type = "" }, "secret setting hook"},
		{"url typed string", func(i *proto.ChannelInfo) { i.Settings[3].Type = sdk.FieldString }, "url setting api_url"},
		{"generated missing", func(i *proto.ChannelInfo) { i.GeneratedSettings = append(i.GeneratedSettings, "user") }, "generated setting user"},
		{"account missing", func(i *proto.ChannelInfo) { i.AccountSetting = "acct" }, "account setting acct"},
		{"twice", func(i *proto.ChannelInfo) {
			i.Settings = append(i.Settings, &proto.SettingField{Name: "mode", Label: "M"})
		}, "mode appears twice"},
		{"no label", func(i *proto.ChannelInfo) { i.Settings[0].Label = "" }, "account has no label"},
		{"select without choices", func(i *proto.ChannelInfo) { i.Settings[4].Choices = nil; i.Settings[4].ChoiceLabels = nil }, "without choices"},
		{"unknown type", func(i *proto.ChannelInfo) { i.Settings[0].Type = "checkbox" }, `unknown type "checkbox"`},
		{"secret not listed", func(i *proto.ChannelInfo) { i.Settings[0].Type = sdk.FieldSecret }, "account is typed secret"},
	}
	for _, tc := range tests {
		info := good()
		tc.change(info)
		if err := sdk.CheckSettingsSchema(info); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckSettingsSchema(%s) = %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// A base declared without NewChannelBase still records, tells the time
// and logs.
func TestZeroChannelBase(t *testing.T) {
	srv, calls := fakeProvider(t)
	ch := sdktest.Channel(t, &baseChannel{url: srv.URL})
	resp, err := ch.Send(context.Background(), baseSend("send", 1767607200000))
	if err != nil || resp.GetError() != nil || len(resp.GetExchanges()) != 1 || calls.Load() != 1 {
		t.Errorf("Send through a zero base = %v, %v after %d calls; want sent and recorded", resp, err, calls.Load())
	}
	var b sdk.ChannelBase
	if b.HTTPClient() != b.HTTPClient() || b.Logger() == nil || time.Since(b.Now(0)) > time.Minute {
		t.Errorf("a zero base has no shared client, logger or clock")
	}
}
