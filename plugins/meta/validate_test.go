package meta

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
	"github.com/conversa/conversa/plugins/sdk/sdktest"
)

// goodSettings are the send tests' settings with a real Graph URL.
func goodSettings(kv map[string]any) []byte {
	return metaSettings(DefaultInstagramGraphURL, kv).GetSettingsJson()
}

func TestValidateSettings(t *testing.T) {
	ch := sdktest.Channel(t, New()).(sdk.SettingsValidator)
	tests := []struct {
		name string
		raw  []byte
		want []string // the fields named, in order
	}{
		{"the fixtures' settings", goodSettings(nil), nil},
		{"facebook, a version typed bare, loose scalars", goodSettings(map[string]any{
			"login": "Facebook", "api_version": "25.0", "human_agent_tag": "true", "account_id": 17841400123456789,
			"graph_url": "https://graph.facebook.com/"}), nil},
		{"a local fake Graph API", goodSettings(map[string]any{"graph_url": "http://127.0.0.1:8089"}), nil},
		{"blanks take the defaults", goodSettings(map[string]any{"graph_url": "", "api_version": "", "login": "", "verify_token": "", "account_id": ""}), nil},
		{"human_agent_tag as 0", goodSettings(map[string]any{"human_agent_tag": 0}), nil},
		{"nothing", []byte(`{}`), []string{"access_token", "app_secret"}},
		{"no access token", goodSettings(map[string]any{"access_token": " "}), []string{"access_token"}},
		{"no app secret", goodSettings(map[string]any{"app_secret": nil}), []string{"app_secret"}},
		{"another login", goodSettings(map[string]any{"login": "whatsapp"}), []string{"login"}},
		{"graph_url not http", goodSettings(map[string]any{"graph_url": "ftp://graph.facebook.com"}), []string{"graph_url"}},
		{"graph_url without a scheme", goodSettings(map[string]any{"graph_url": "graph.facebook.com"}), []string{"graph_url"}},
		{"a version without its minor", goodSettings(map[string]any{"api_version": "25"}), []string{"api_version"}},
		{"a version with a path", goodSettings(map[string]any{"api_version": "v25.0/me"}), []string{"api_version"}},
		{"a version by name", goodSettings(map[string]any{"api_version": "latest"}), []string{"api_version"}},
		{"an account by username", goodSettings(map[string]any{"account_id": "@brisk.harbor"}), []string{"account_id"}},
		{"an account with spaces", goodSettings(map[string]any{"account_id": "1784 1400"}), []string{"account_id"}},
		{"human_agent_tag yes", goodSettings(map[string]any{"human_agent_tag": "yes"}), []string{"human_agent_tag"}},
		{"human_agent_tag 2", goodSettings(map[string]any{"human_agent_tag": 2}), []string{"human_agent_tag"}},
		{"a short verify token", goodSettings(map[string]any{"verify_token": "abc"}), []string{"verify_token"}},
		{"a verify token with spaces", goodSettings(map[string]any{"verify_token": "my verify token"}), []string{"verify_token"}},
		{"everything wrong at once", []byte(`{"login":"x","graph_url":"x","api_version":"x","account_id":"x","human_agent_tag":"x","verify_token":"x"}`),
			[]string{"login", "access_token", "graph_url", "api_version", "app_secret", "account_id", "verify_token", "human_agent_tag"}},
		{"not JSON", []byte(`{"access_token": "IGQWtoken`), []string{""}},
		{"not an object", []byte(`["IGQWtoken"]`), []string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := ch.ValidateSettings(context.Background(), &proto.ValidateSettingsRequest{
				Integration: &proto.Integration{Id: "ig", SettingsJson: tc.raw}})
			if err != nil {
				t.Fatalf("ValidateSettings: %v", err)
			}
			var fields []string
			for _, p := range resp.GetProblems() {
				fields = append(fields, p.GetField())
				checkProblemText(t, p)
			}
			if !slices.Equal(fields, tc.want) {
				t.Errorf("ValidateSettings(%s) names %q, want %q (%v)", tc.name, fields, tc.want, resp.GetProblems())
			}
			// Send refuses over nothing ValidateSettings does not name.
			_, sendProblems := graphSettings(tc.raw)
			for _, p := range sendProblems {
				if !slices.Contains(fields, p.GetField()) {
					t.Errorf("Send refuses over %q, which ValidateSettings(%s) does not name", p.GetField(), tc.name)
				}
			}
		})
	}
}

// checkProblemText holds a problem to what an operator should read: one
// sentence saying what would do, with no library text and no secret.
func checkProblemText(t *testing.T, p *proto.SettingsProblem) {
	t.Helper()
	m := p.GetMessage()
	if m == "" || !strings.HasSuffix(m, ".") || strings.ToUpper(m[:1]) != m[:1] {
		t.Errorf("problem %s = %q, want a sentence", p.GetField(), m)
	}
	for _, bad := range []string{"IGQWtoken", testSecret, "invalid character", "unexpected", "parse", "json:", "%!"} {
		if strings.Contains(m, bad) {
			t.Errorf("problem %s = %q carries %q", p.GetField(), m, bad)
		}
	}
}

// Send refuses over the same words ValidateSettings shows under the field.
func TestSendRefusesWithTheProblems(t *testing.T) {
	g := newFakeGraph(t)
	req := sendReq(metaSettings(g.srv.URL, map[string]any{"access_token": "", "api_version": "latest"}), 0, sdk.AuthorAgent, text("hi"))
	resp, err := New().Send(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := validate(req.GetIntegration().GetSettingsJson())
	if len(want) != 2 {
		t.Fatalf("validate = %v, want access_token and api_version", want)
	}
	for _, p := range want {
		if !strings.Contains(resp.GetError().GetMessage(), p.GetField()+": "+p.GetMessage()) {
			t.Errorf("Send's refusal %q lacks %s: %s", resp.GetError().GetMessage(), p.GetField(), p.GetMessage())
		}
	}
}

func TestSettingsSchema(t *testing.T) {
	info, err := sdktest.Channel(t, New()).Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := sdk.CheckSettingsSchema(info); err != nil {
		t.Errorf("the settings schema disagrees with Describe: %v", err)
	}
	var names []string
	for _, f := range info.GetSettings() {
		names = append(names, f.GetName())
		if f.GetType() != sdk.FieldBool && f.GetType() != sdk.FieldSelect && f.GetName() != settingAPIVersion && f.GetHelp() == "" {
			t.Errorf("setting %s has no help", f.GetName())
		}
	}
	want := []string{"account_id", "login", "access_token", "app_secret", "verify_token", "graph_url", "api_version", "human_agent_tag"}
	if !slices.Equal(names, want) {
		t.Errorf("schema = %v, want %v in that order", names, want)
	}
	login := info.GetSettings()[1]
	if login.GetType() != sdk.FieldSelect || !slices.Equal(login.GetChoices(), []string{LoginInstagram, LoginFacebook}) || len(login.GetChoiceLabels()) != 2 {
		t.Errorf("login = %v, want a select of instagram and facebook, labelled", login)
	}
	if f := info.GetSettings()[7]; f.GetType() != sdk.FieldBool {
		t.Errorf("human_agent_tag = %v, want a bool", f)
	}
	if f := info.GetSettings()[5]; f.GetPlaceholder() != DefaultInstagramGraphURL {
		t.Errorf("graph_url placeholder = %q, want %q", f.GetPlaceholder(), DefaultInstagramGraphURL)
	}
}
