package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// formcheckConfig serves the third-party channel conversa-plugin-formcheck
// (core/e2e/testdata/formcheck), which publishes a settings form and checks
// settings, with one integration from the file whose region it refuses.
const formcheckConfig = `
[server]
listen = "127.0.0.1:0"

[storage]
path = "{{DIR}}/data/conversa.db"

[scripts]
dir = "{{DIR}}/scripts"

[plugins]
dir = "{{PLUGINS}}"

[[integrations]]
id = "fc-file"
name = "Formcheck from the file"
channel = "formcheck"

[integrations.settings]
region = "mars"
api_token = "tok_from_the_file"
`

type settingsProblemJSON struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

type settingsError struct {
	Error struct {
		Code     string                `json:"code"`
		Field    string                `json:"field"`
		Message  string                `json:"message"`
		Fields   map[string]string     `json:"fields"`
		Problems []settingsProblemJSON `json:"problems"`
	} `json:"error"`
}

type availabilityJSON struct {
	Name              string         `json:"name"`
	Available         bool           `json:"available"`
	UnavailableReason string         `json:"unavailable_reason"`
	Settings          map[string]any `json:"settings"`
	Webhook           struct {
		Headers map[string]string `json:"headers"`
	} `json:"webhook"`
}

func TestChannelRefusesABadSettingAtSaveNamingTheField(t *testing.T) {
	srv := newTrustingServer(t, formcheckConfig, "formcheck")
	admin := srv.admin()

	// The configuration file's integration is applied, and unavailable,
	// naming the setting the channel refuses.
	var file availabilityJSON
	if st := srv.api("GET", "/api/v1/integrations/fc-file", admin, nil, &file); st != 200 {
		t.Fatalf("GET the file's integration = %d", st)
	}
	if file.Available || !strings.Contains(file.UnavailableReason, `settings.region: "mars" is not a data region`) {
		t.Errorf("the file's integration: available %v, reason %q; want unavailable naming settings.region", file.Available, file.UnavailableReason)
	}
	eventually(t, "the refused setting logged with its field", func() bool {
		return strings.Contains(srv.logs.String(), "integration=fc-file") && strings.Contains(srv.logs.String(), "field=settings.region")
	})

	// The channel's form, as the console draws it.
	var chans struct {
		Channels []struct {
			Name     string `json:"name"`
			Settings []struct {
				Name, Label, Type string
				Required          bool
				Choices           []string `json:"choices"`
				ChoiceLabels      []string `json:"choice_labels"`
			} `json:"settings"`
		} `json:"channels"`
	}
	if st := srv.api("GET", "/api/v1/channels", admin, nil, &chans); st != 200 {
		t.Fatalf("GET /api/v1/channels = %d", st)
	}
	var names []string
	for _, c := range chans.Channels {
		if c.Name != "formcheck" {
			continue
		}
		for _, f := range c.Settings {
			names = append(names, f.Name+":"+f.Type)
		}
		if len(c.Settings) > 0 && (strings.Join(c.Settings[0].ChoiceLabels, ",") != "Europe,United States" || !c.Settings[0].Required) {
			t.Errorf("region field = %+v, want a required select with its labels", c.Settings[0])
		}
	}
	if got := strings.Join(names, " "); got != "region:select api_token:secret api_url:url max_per_minute:number sandbox:bool" {
		t.Errorf("formcheck's settings form = %q, want its five fields in order", got)
	}

	// A create with bad settings: 400, every problem with its field, in
	// the channel's order; nothing created.
	var bad settingsError
	st := srv.api("POST", "/api/v1/integrations", admin, map[string]any{
		"id": "fc", "name": "Formcheck", "channel": "formcheck",
		"settings": map[string]any{"region": "mars", "api_token": "abc", "max_per_minute": "5000"},
	}, &bad)
	if st != 400 || bad.Error.Code != "invalid" || bad.Error.Field != "settings.region" {
		t.Fatalf("POST bad settings = %d %+v, want 400 invalid naming settings.region first", st, bad.Error)
	}
	var fields []string
	for _, p := range bad.Error.Problems {
		fields = append(fields, p.Field)
		if p.Message == "" || bad.Error.Fields[p.Field] == "" {
			t.Errorf("problem %+v has no message, or is missing from fields %v", p, bad.Error.Fields)
		}
	}
	if got := strings.Join(fields, ","); got != "settings.region,settings.api_token,settings.max_per_minute" {
		t.Errorf("POST bad settings problems = %q, want settings.region,settings.api_token,settings.max_per_minute", got)
	}
	if !strings.Contains(bad.Error.Fields["settings.api_token"], "starts with tok_") {
		t.Errorf("api_token problem = %q, want the channel's own words", bad.Error.Fields["settings.api_token"])
	}
	if st := srv.api("GET", "/api/v1/integrations/fc", admin, nil, nil); st != 404 {
		t.Errorf("GET after a refused create = %d, want 404 (nothing created)", st)
	}

	// Good settings: created, with the generated webhook secret it checked.
	var created availabilityJSON
	st = srv.api("POST", "/api/v1/integrations", admin, map[string]any{
		"id": "fc", "name": "Formcheck", "channel": "formcheck",
		"settings": map[string]any{"region": "eu", "api_token": "tok_123456789", "max_per_minute": "60"},
	}, &created)
	if st != 201 || !created.Available {
		t.Fatalf("POST good settings = %d, available %v (%s); want 201, available", st, created.Available, created.UnavailableReason)
	}
	secret := created.Webhook.Headers["X-Formcheck-Secret"]
	if secret == "" {
		t.Fatalf("webhook headers = %v, want the generated secret", created.Webhook.Headers)
	}
	if st, b := srv.do("POST", "/webhooks/fc", []byte(`{}`), map[string]string{"X-Formcheck-Secret": secret}); st != 200 {
		t.Errorf("webhook with the generated secret = %d %s, want 200", st, b)
	}

	// An update with a bad setting (the token masked, as the console sends
	// it back): 400 naming it, the integration left as it was.
	upd := map[string]any{"name": "Formcheck renamed", "channel": "formcheck", "settings": map[string]any{
		"region": "moon", "api_token": created.Settings["api_token"], "max_per_minute": "60"}}
	bad = settingsError{}
	if st := srv.api("PUT", "/api/v1/integrations/fc", admin, upd, &bad); st != 400 || bad.Error.Field != "settings.region" ||
		len(bad.Error.Problems) != 1 {
		t.Errorf("PUT region moon = %d %+v, want 400 naming settings.region alone (the masked token stands for the stored one)", st, bad.Error)
	}
	var now availabilityJSON
	srv.api("GET", "/api/v1/integrations/fc", admin, nil, &now)
	if now.Name != "Formcheck" || now.Settings["region"] != "eu" {
		t.Errorf("after a refused PUT: name %q region %v, want it unchanged", now.Name, now.Settings["region"])
	}
	upd["settings"].(map[string]any)["region"] = "us"
	if st := srv.api("PUT", "/api/v1/integrations/fc", admin, upd, &now); st != 200 || now.Settings["region"] != "us" || !now.Available {
		t.Errorf("PUT region us = %d, region %v, available %v; want 200, us, available", st, now.Settings["region"], now.Available)
	}
}

// The console draws a channel's settings form from what its plugin
// publishes, and shows each problem the channel finds under its field,
// keeping what the operator typed.
func TestConsoleDrawsThePublishedFormAndShowsTheChannelsProblems(t *testing.T) {
	ctx := newBrowser(t)
	srv := preparedServer(t, formcheckConfig)
	srv.addAgent(adminOlga)
	srv.cli("plugins", "trust", "--config", srv.config, "formcheck")
	srv.start()
	t.Cleanup(srv.stop)
	adminToken := srv.bearer(adminOlga.Login, adminOlga.Password)

	browserSignIn(t, ctx, srv, adminOlga.Login, adminOlga.Password)
	act(t, ctx, "opening the new integration form",
		chromedp.Click(chromedp.CSS(`#mainnav a[data-section="integrations"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/integrations/new"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/integrations/new"]`)),
		chromedp.WaitVisible(chromedp.CSS("#int-name")))
	waitFor(t, ctx, "the formcheck channel", `[...document.querySelectorAll('#int-channel option')].some(o => o.value === 'formcheck')`)
	evalJS[bool](t, ctx, `(() => { const s = document.querySelector('#int-channel'); s.value = 'formcheck'; s.dispatchEvent(new Event('change')); return true })()`)
	waitFor(t, ctx, "the form formcheck publishes", `document.querySelector('#int-set-region')`)

	// The published form: labels, help, kinds of input, choices.
	if got := textOf(t, ctx, `label[for="int-set-region"]`); got != "Data region" {
		t.Errorf("region label = %q, want the published label", got)
	}
	if got := textOf(t, ctx, "#int-set-api_token-hint"); !strings.Contains(got, "Developers → Tokens") {
		t.Errorf("api_token hint = %q, want the published help", got)
	}
	if got := evalJS[string](t, ctx, `[...document.querySelectorAll('#int-set-region option')].map(o => o.value + '=' + o.textContent).join(',')`); got != "eu=Europe,us=United States" {
		t.Errorf("region choices = %q, want eu=Europe,us=United States", got)
	}
	kinds := evalJS[string](t, ctx, `['api_token', 'api_url', 'max_per_minute', 'sandbox'].map(k => document.querySelector('#int-set-' + k).type).join(',')`)
	if kinds != "password,url,number,checkbox" {
		t.Errorf("input kinds = %q, want password,url,number,checkbox", kinds)
	}
	if evalJS[bool](t, ctx, `!!document.querySelector('#int-settings-extra')`) {
		t.Error("the form also offers a raw JSON box; a published form needs none")
	}

	act(t, ctx, "filling the form with settings the channel refuses",
		chromedp.SendKeys(chromedp.CSS("#int-name"), "Form check"),
		chromedp.SetValue(chromedp.CSS("#int-set-region"), "us"),
		chromedp.SendKeys(chromedp.CSS("#int-set-api_token"), "abc-not-a-token"),
		chromedp.SendKeys(chromedp.CSS("#int-set-max_per_minute"), "5000"),
		chromedp.Click(chromedp.CSS(".integration-form button[type=submit]")))
	waitFor(t, ctx, "the token's problem under its field", `!document.querySelector('#int-set-api_token-error').hidden`)
	if got := textOf(t, ctx, "#int-set-api_token-error"); !strings.Contains(got, "starts with tok_") {
		t.Errorf("api_token error = %q, want the channel's words", got)
	}
	if got := textOf(t, ctx, "#int-set-max_per_minute-error"); !strings.Contains(got, "1 to 1000") {
		t.Errorf("max_per_minute error = %q, want the channel's words", got)
	}
	if got := evalJS[string](t, ctx, `document.querySelector('#int-set-api_token').getAttribute('aria-invalid') || ''`); got != "true" {
		t.Errorf("api_token aria-invalid = %q, want true", got)
	}
	if got := evalJS[bool](t, ctx, `document.querySelector('#int-set-region-error').hidden`); !got {
		t.Error("the region, which the channel accepts, shows an error")
	}
	kept := evalJS[string](t, ctx, `['#int-name', '#int-set-region', '#int-set-api_token', '#int-set-max_per_minute'].map(s => document.querySelector(s).value).join('|')`)
	if kept != "Form check|us|abc-not-a-token|5000" {
		t.Errorf("the form after the refusal holds %q, want what the operator typed", kept)
	}
	if status := srv.api("GET", "/api/v1/integrations/form-check", adminToken, nil, nil); status != 404 {
		t.Errorf("GET the refused integration = %d, want 404 (nothing created)", status)
	}
	screenshot(t, ctx, screenshotDir(t), "integration-settings-refused")

	act(t, ctx, "fixing the settings and saving",
		chromedp.SetValue(chromedp.CSS("#int-set-api_token"), "tok_0123456789"),
		chromedp.SetValue(chromedp.CSS("#int-set-max_per_minute"), "60"),
		chromedp.Click(chromedp.CSS(".integration-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#webhook-url")))
	var saved availabilityJSON
	if status := srv.api("GET", "/api/v1/integrations/form-check", adminToken, nil, &saved); status != 200 {
		t.Fatalf("GET the saved integration = %d, want 200", status)
	}
	if saved.Settings["region"] != "us" || saved.Settings["max_per_minute"] != float64(60) || !saved.Available {
		t.Errorf("saved settings %v, available %v; want region us, max_per_minute 60 (a number), available", saved.Settings, saved.Available)
	}
}
