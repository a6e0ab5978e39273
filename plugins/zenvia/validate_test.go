package zenvia

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
	"github.com/conversa/conversa/plugins/sdk/sdktest"
)

// withSettings are the tests' settings changed by kv (nil removes one).
func withSettings(t *testing.T, kv map[string]any) []byte {
	t.Helper()
	m := map[string]any{}
	if err := json.Unmarshal(testSettingsJSON(DefaultAPIURL), &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range kv {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidateSettings(t *testing.T) {
	ch := sdktest.Channel(t, New()).(sdk.SettingsValidator)
	tests := []struct {
		name string
		raw  []byte
		want []string // the fields named, in order
	}{
		{"the fixtures' settings", testSettingsJSON(DefaultAPIURL), nil},
		{"a local fake Zenvia", testSettingsJSON("http://127.0.0.1:8089/"), nil},
		{"webhook credentials left to be generated", withSettings(t, map[string]any{"webhook_username": nil, "webhook_token": ""}), nil},
		{"a numeric sender id, no api_url", withSettings(t, map[string]any{"sender_id": json.Number("12345678901234567890"), "api_url": nil}), nil},
		{"a one-letter username", withSettings(t, map[string]any{"webhook_username": "u"}), nil},
		{"nothing", []byte(`{}`), []string{"sender_id", "api_token"}},
		{"no sender id", withSettings(t, map[string]any{"sender_id": "  "}), []string{"sender_id"}},
		{"no api token", withSettings(t, map[string]any{"api_token": nil}), []string{"api_token"}},
		{"api_url not http", withSettings(t, map[string]any{"api_url": "ftp://api.zenvia.com"}), []string{"api_url"}},
		{"api_url without a scheme", withSettings(t, map[string]any{"api_url": "api.zenvia.com"}), []string{"api_url"}},
		{"a username with spaces", withSettings(t, map[string]any{"webhook_username": "nlu instagram"}), []string{"webhook_username"}},
		{"a username too long", withSettings(t, map[string]any{"webhook_username": strings.Repeat("u", 257)}), []string{"webhook_username"}},
		{"a short webhook token", withSettings(t, map[string]any{"webhook_token": "1234"}), []string{"webhook_token"}},
		{"a webhook token with a line break", withSettings(t, map[string]any{"webhook_token": "3b1f0c7e\n9a2d4e68"}), []string{"webhook_token"}},
		{"a webhook token out of ASCII", withSettings(t, map[string]any{"webhook_token": "senha-secreta-ção"}), []string{"webhook_token"}},
		{"everything wrong at once", []byte(`{"api_url":"x","webhook_username":"a b","webhook_token":"x"}`),
			[]string{"sender_id", "api_token", "api_url", "webhook_username", "webhook_token"}},
		{"not JSON", []byte(`{"api_token": "zenvia-api-token`), []string{""}},
		{"not an object", []byte(`"zenvia-api-token"`), []string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := ch.ValidateSettings(context.Background(), &proto.ValidateSettingsRequest{
				Integration: &proto.Integration{Id: "ig-zenvia", SettingsJson: tc.raw}})
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
			_, sendProblems := sendSettings(tc.raw)
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
	for _, bad := range []string{"zenvia-api-token", testToken, "invalid character", "unexpected", "parse", "json:", "%!"} {
		if strings.Contains(m, bad) {
			t.Errorf("problem %s = %q carries %q", p.GetField(), m, bad)
		}
	}
}

// Send refuses over the same words ValidateSettings shows under the field.
func TestSendRefusesWithTheProblems(t *testing.T) {
	fake, srv := startFakeZenvia(t, 200, []byte(`{"id":"m1"}`), nil)
	req := sendRequest(srv.URL, &proto.Content{Type: "text", Text: "oi"})
	req.Integration.SettingsJson = []byte(`{"api_url":"` + srv.URL + `"}`)
	resp, err := newTestChannel().Send(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := validate(req.GetIntegration().GetSettingsJson())
	if len(want) != 2 {
		t.Fatalf("validate = %v, want sender_id and api_token", want)
	}
	for _, p := range want {
		if !strings.Contains(resp.GetError().GetMessage(), p.GetField()+": "+p.GetMessage()) {
			t.Errorf("Send's refusal %q lacks %s: %s", resp.GetError().GetMessage(), p.GetField(), p.GetMessage())
		}
	}
	if n := len(fake.recorded()); n != 0 {
		t.Errorf("a refused Send made %d requests", n)
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
		if f.GetHelp() == "" {
			t.Errorf("setting %s has no help", f.GetName())
		}
	}
	want := []string{"sender_id", "api_token", "api_url", "webhook_username", "webhook_token"}
	if !slices.Equal(names, want) {
		t.Errorf("schema = %v, want %v in that order", names, want)
	}
	if f := info.GetSettings()[2]; f.GetType() != sdk.FieldURL || f.GetPlaceholder() != DefaultAPIURL {
		t.Errorf("api_url = %v, want a url with %s for placeholder", f, DefaultAPIURL)
	}
}
