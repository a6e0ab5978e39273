package sdktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// The test binary doubles as a plugin: started with helperArg, it serves
// tiny, a channel and assistant small enough to read, the way a plugin
// author would run the suite from their own tests.
const helperArg = "sdktest-helper-plugin"

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == helperArg {
		t := tiny{mode: os.Args[2]}
		sdk.Serve(sdk.Plugin{Name: "tiny", Version: "0.1.0", Channel: t, Assistant: tinyBot{}})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type tiny struct{ mode string }

type tinySettings struct {
	Token string `json:"token"`
	URL   string `json:"url"`
}

func tinyParse(b []byte) tinySettings {
	var s tinySettings
	_ = json.Unmarshal(b, &s)
	return s
}

func (tiny) Describe(context.Context) (*proto.ChannelInfo, error) {
	return &proto.ChannelInfo{Name: "tiny", Version: "0.1.0", InboundTypes: []string{"text"}, OutboundTypes: []string{"text"},
		SecretSettings: []string{"token"}, UrlSettings: []string{"url"}}, nil
}

func (tiny) HandleWebhook(_ context.Context, req *proto.WebhookRequest) (*proto.WebhookResponse, error) {
	s := tinyParse(req.GetIntegrations()[0].GetSettingsJson())
	ok := false
	for _, h := range req.GetHeaders() {
		ok = ok || (h.GetName() == "X-Token" && h.GetValue() == s.Token && s.Token != "")
	}
	if !ok {
		return &proto.WebhookResponse{Status: 401, Error: "wrong X-Token"}, nil
	}
	var m struct{ ID, From, Text string }
	if err := json.Unmarshal(req.GetBody(), &m); err != nil || m.ID == "" {
		return &proto.WebhookResponse{Authenticated: true, Malformed: true, Status: 400, Error: "not a message"}, nil
	}
	return &proto.WebhookResponse{Authenticated: true, Events: []*proto.Event{{Kind: "message", DedupeKey: m.ID, ContactId: m.From,
		MessageId: m.ID, Contents: []*proto.Content{{Type: "text", Text: m.Text}}}}}, nil
}

func (t tiny) Send(ctx context.Context, req *proto.SendRequest) (*proto.SendResponse, error) {
	s := tinyParse(req.GetIntegration().GetSettingsJson())
	if req.GetNowMs()-req.GetContact().GetLastInboundMs() > 24*3600*1000 {
		return &proto.SendResponse{Error: &proto.SendError{Code: "outside_window", Refused: true}}, nil
	}
	if t.mode == "leaky" {
		sdk.Logger().Info("sending", "token", s.Token)
	}
	body, _ := json.Marshal(map[string]any{"to": req.GetContact().GetId(), "text": req.GetContents()[0].GetText()})
	hr, err := http.NewRequestWithContext(ctx, "POST", s.URL+"/send", bytes.NewReader(body))
	if err != nil {
		return &proto.SendResponse{Error: &proto.SendError{Code: "settings", Refused: true}}, nil
	}
	hr.Header.Set("X-Token", s.Token)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return &proto.SendResponse{Error: &proto.SendError{Code: "network", Retryable: true, UnknownOutcome: ctx.Err() != nil}}, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 500 {
		return &proto.SendResponse{Error: &proto.SendError{Code: strconv.Itoa(resp.StatusCode), Retryable: true, UnknownOutcome: true}}, nil
	}
	var out struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return &proto.SendResponse{MessageIds: []string{out.ID}}, nil
}

func (tiny) Profile(context.Context, *proto.ProfileRequest) (*proto.ProfileResponse, error) {
	return &proto.ProfileResponse{ErrorCode: "unsupported"}, nil
}

func (tiny) ValidateSettings(_ context.Context, req *proto.ValidateSettingsRequest) (*proto.ValidateSettingsResponse, error) {
	resp := &proto.ValidateSettingsResponse{}
	if tinyParse(req.GetIntegration().GetSettingsJson()).Token == "" {
		resp.Problems = append(resp.Problems, &proto.SettingsProblem{Field: "token", Message: "token is required"})
	}
	return resp, nil
}

// tinyBot counts turns in its session.
type tinyBot struct{}

func (tinyBot) Describe(context.Context) (*proto.AssistantInfo, error) {
	return &proto.AssistantInfo{Name: "tiny", Version: "0.1.0"}, nil
}

func (tinyBot) Converse(_ context.Context, req *proto.ConverseRequest) (*proto.ConverseResponse, error) {
	n, _ := strconv.Atoi(string(req.GetSession()))
	n++
	text := req.GetContents()[0].GetText()
	return &proto.ConverseResponse{Replies: []*proto.Content{{Type: "text", Text: fmt.Sprintf("turn %d: %s", n, text)}},
		Session: []byte(strconv.Itoa(n)), End: text == "bye"}, nil
}

func helperSuite(mode string, out *bytes.Buffer) Suite {
	return Suite{
		Command:  func() *exec.Cmd { return exec.Command(os.Args[0], helperArg, mode) },
		Fixtures: "testdata/tiny",
		Out:      out,
	}
}

func TestSuitePassesAGoodPlugin(t *testing.T) {
	var out bytes.Buffer
	rep := Run(t.Context(), helperSuite("good", &out))
	if !rep.Passed() {
		t.Fatalf("the suite failed a good plugin:\n%s", out.String())
	}
	for _, name := range []string{"handshake", "handshake.cookie", "info.describe", "health", "channel.describe",
		"settings.valid", "settings_invalid/01-no-token", "webhook/01-message", "webhook/02-wrong-token",
		"webhook/01-message/flipped", "webhook/01-message/random-1mib", "send/01-text", "send/02-window-closed",
		"send.error.500", "send.error.unreachable", "send.deadline", "assistant.describe", "converse/01-counts",
		"health.final", "shutdown", "secrets"} {
		if !strings.Contains("\n"+out.String(), "\nok   "+name+"\n") {
			t.Errorf("no ok line for %s:\n%s", name, out.String())
		}
	}
	last := strings.TrimSpace(out.String())
	last = last[strings.LastIndex(last, "\n")+1:]
	if !strings.HasPrefix(last, "PASS tiny 0.1.0: ") {
		t.Errorf("summary = %q", last)
	}
	if rep.Elapsed > 20*time.Second {
		t.Logf("the run took %v", rep.Elapsed)
	}
}

func TestSuiteFailsALeakyPlugin(t *testing.T) {
	var out bytes.Buffer
	rep := Run(t.Context(), helperSuite("leaky", &out))
	fails := rep.Failures()
	if len(fails) != 1 || fails[0].Name != "secrets" || !strings.Contains(fails[0].Reason, "settings.token") {
		t.Fatalf("failures = %+v, want only secrets naming settings.token:\n%s", fails, out.String())
	}
	if strings.Contains(out.String(), "tiny-secret-token\"") {
		t.Errorf("the report repeats the secret:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "FAIL tiny 0.1.0: ") || !strings.Contains(out.String(), "1 failed (secrets)") {
		t.Errorf("summary does not name the failed case:\n%s", out.String())
	}
}

func TestSuiteReportsAnExecutableThatIsNoPlugin(t *testing.T) {
	var out bytes.Buffer
	rep := Run(t.Context(), Suite{Command: func() *exec.Cmd { return exec.Command("/bin/sh", "-c", "echo hello; sleep 0.2") }, Out: &out})
	if rep.Passed() {
		t.Fatalf("a shell script passed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "FAIL handshake: ") || !strings.Contains(out.String(), "FAIL handshake.cookie: ") {
		t.Errorf("want handshake and handshake.cookie to fail:\n%s", out.String())
	}
}
