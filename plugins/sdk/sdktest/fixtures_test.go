package sdktest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/conversa/conversa/plugins/proto"
)

func TestRenderReplacesPlaceholdersInValuesOnly(t *testing.T) {
	v := vars{providerURL: "http://127.0.0.1:9", fixtures: "/fx"}
	got, err := v.render([]byte(`{"{{fixtures}}": "{{provider_url}}/v2", "n": [17841400000000001, {"f": "{{ fixtures }}/a.toml"}], "b": true}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"b":true,"n":[17841400000000001,{"f":"/fx/a.toml"}],"{{fixtures}}":"http://127.0.0.1:9/v2"}`
	if string(got) != want {
		t.Errorf("render = %s, want %s", got, want)
	}
}

func TestRenderRefusesUnknownPlaceholder(t *testing.T) {
	_, err := vars{}.render([]byte(`{"a": {"b": "{{provider}}"}}`))
	if err == nil || !strings.Contains(err.Error(), "{{provider}}") || !strings.Contains(err.Error(), "a: b") {
		t.Errorf("render with {{provider}} = %v, want an error naming it and where", err)
	}
}

func TestParseWebhook(t *testing.T) {
	f, err := parseWebhook([]byte(`{"request": {"body": {"a": 1}}, "want": {}}`))
	if err != nil {
		t.Fatal(err)
	}
	if f.Request.Method != "POST" || f.Request.Path != "/webhooks/contract" || !f.Want.authenticated() {
		t.Errorf("defaults = %q %q authenticated %v, want POST /webhooks/contract true", f.Request.Method, f.Request.Path, f.Want.authenticated())
	}
	if b, _ := f.Request.body(); string(b) != `{"a": 1}` {
		t.Errorf("body = %s", b)
	}
	for _, bad := range []string{
		`{"request": {"body": {}, "body_text": "x"}}`,
		`{"request": {}, "wnat": {}}`,
		`{"request": {}, "sign": {"header": "X-Sig", "secret_setting": "s", "algorithm": "md5"}}`,
		`{"request": {}, "sign": {"header": "X-Sig"}}`,
	} {
		if _, err := parseWebhook([]byte(bad)); err == nil {
			t.Errorf("parseWebhook(%s) = nil error, want one", bad)
		}
	}
}

func TestParseOthersRefuseIncompleteFixtures(t *testing.T) {
	if _, err := parseSend([]byte(`{"provider": []}`)); err == nil {
		t.Error("a send without request parsed")
	}
	if _, err := parseProfile([]byte(`{"want": {}}`)); err == nil {
		t.Error("a profile without contact_id parsed")
	}
	if _, err := parseConverse([]byte(`{"turns": []}`)); err == nil {
		t.Error("a conversation without turns parsed")
	}
	if _, err := parseSettingsInvalid([]byte(`{"settings": {}, "want_fields": []}`)); err == nil {
		t.Error("settings_invalid without want_fields parsed")
	}
}

func TestSignHMACSHA256(t *testing.T) {
	req := &proto.WebhookRequest{Body: []byte("The quick brown fox jumps over the lazy dog")}
	err := sign(req, &signSpec{Header: "X-Hub-Signature-256", SecretSetting: "app_secret", Prefix: "sha256="}, []byte(`{"app_secret": "key"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
	if len(req.Headers) != 1 || req.Headers[0].Value != want {
		t.Errorf("headers = %v, want X-Hub-Signature-256: %s", req.Headers, want)
	}
	if err := sign(req, &signSpec{Header: "X", SecretSetting: "missing"}, []byte(`{}`)); err == nil {
		t.Error("signing with a missing setting succeeded")
	}
}

func TestFlipByteKeepsJSONValid(t *testing.T) {
	in := []byte(`{"id":"m-100","text":"hello world"}`)
	out := flipByte(in)
	if string(out) == string(in) || len(out) != len(in) {
		t.Fatalf("flipByte(%s) = %s, want one byte changed", in, out)
	}
	if !json.Valid(out) {
		t.Errorf("flipByte(%s) = %s, not JSON any more", in, out)
	}
	diff := 0
	for i := range in {
		if in[i] != out[i] {
			diff++
		}
	}
	if diff != 1 {
		t.Errorf("flipByte changed %d bytes, want 1", diff)
	}
}

func TestSucceedsPicksASendTheProviderAccepts(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want bool
	}{
		{`{"request": {}, "provider": [{"status": 200}], "want": {"error": null}}`, true},
		{`{"request": {}, "provider": [{"status": 200}], "want": {}}`, true},
		{`{"request": {}, "provider": [], "want": {"error": {"refused": true}}}`, false},
		{`{"request": {}, "provider": [{"status": 400}], "want": {"error": {"retryable": false}}}`, false},
	} {
		if got := succeeds(fixtureFile{raw: []byte(tc.doc)}); got != tc.want {
			t.Errorf("succeeds(%s) = %v, want %v", tc.doc, got, tc.want)
		}
	}
}

func TestLeakContextHidesTheSecret(t *testing.T) {
	text := `{"@message":"sending","token":"tok-123456"}`
	where, at, n := locate("tok-123456", []seenText{{where: "log", text: text}})
	if where == nil {
		t.Fatal("secret not found")
	}
	got := leakContext(where.text, at, n)
	if strings.Contains(got, "tok-123456") || !strings.Contains(got, "[SECRET]") {
		t.Errorf("leakContext = %s, want the secret replaced", got)
	}
	// Escaped forms are found too.
	if w, _, _ := locate("a/b c&d", []seenText{{text: "url?x=a%2Fb+c%26d"}}); w == nil {
		t.Error("a query-escaped secret was not found")
	}
	if w, _, _ := locate(`say "hi"`, []seenText{{text: `{"m":"say \"hi\""}`}}); w == nil {
		t.Error("a JSON-escaped secret was not found")
	}
}
