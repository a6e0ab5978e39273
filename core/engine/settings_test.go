package engine

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/conversa/conversa/core/config"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/store"
)

// regionChannel is a channel whose "region" must be eu or us and whose
// "token" must not contain spaces; it notes every settings it checks.
type regionChannel struct {
	mu   sync.Mutex
	seen []map[string]any
}

func (c *regionChannel) validate(in *pluginhost.Integration) ([]pluginhost.SettingsProblem, error) {
	var s map[string]any
	if err := json.Unmarshal(in.SettingsJSON, &s); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.seen = append(c.seen, s)
	c.mu.Unlock()
	var ps []pluginhost.SettingsProblem
	if r := s["region"]; r != "eu" && r != "us" {
		ps = append(ps, pluginhost.SettingsProblem{Field: "region", Message: "must be eu or us"})
	}
	if tok, _ := s["token"].(string); strings.Contains(tok, " ") {
		ps = append(ps, pluginhost.SettingsProblem{Field: "token", Message: "has a space: paste it whole"})
	}
	if s["token"] == nil {
		ps = append(ps, pluginhost.SettingsProblem{Field: "token", Message: "the channel needs it too"})
	}
	return ps, nil
}

func (c *regionChannel) last() map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) == 0 {
		return nil
	}
	return c.seen[len(c.seen)-1]
}

func (c *regionChannel) calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func fieldsOf(err error) []string {
	var ve ValidationErrors
	if !errors.As(err, &ve) {
		return nil
	}
	var out []string
	for _, fe := range ve {
		out = append(out, fe.Field)
	}
	return out
}

func TestChannelRefusesBadSettingsAtSave(t *testing.T) {
	ctx := context.Background()
	e, st, ch := secretRig(t, filepath.Join(t.TempDir(), "c.db"), testKey(t))
	rc := &regionChannel{}
	ch.validate = rc.validate
	ch.required = []string{"token"}

	// Create: every problem named, the host's own first; nothing stored.
	in := &model.Integration{ID: "ig", Name: "IG", Channel: "fake", Enabled: true, Source: model.SourceAPI,
		Settings: map[string]any{"region": "mars"}}
	err := e.Validate(ctx, in)
	if got := strings.Join(fieldsOf(err), ","); got != "settings.token,settings.region" {
		t.Errorf("Validate(region mars, no token) fields = %q (%v), want settings.token,settings.region "+
			"(the channel's own word on token left out: the host named it)", got, err)
	}
	if rc.calls() != 1 {
		t.Fatalf("ValidateSettings called %d times on create, want 1", rc.calls())
	}
	if rc.last()["hook"] == nil || rc.last()["hook"] == "" {
		t.Errorf("the channel checked %v, want the generated hook filled in as it would be saved", rc.last())
	}
	if _, err := st.Integrations().Get(ctx, "ig"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after a refused create, Get = %v, want nothing stored", err)
	}

	// A good one is saved with the very credentials the channel checked.
	in = &model.Integration{ID: "ig", Name: "IG", Channel: "fake", Enabled: true, Source: model.SourceAPI,
		Settings: map[string]any{"region": "eu", "token": "tok-secret-1"}}
	if err := e.Validate(ctx, in); err != nil {
		t.Fatalf("Validate(good settings) = %v", err)
	}
	checkedHook := rc.last()["hook"]
	if err := e.Put(ctx, in, false); err != nil {
		t.Fatal(err)
	}
	if got := e.Integration("ig").Setting("hook"); got != checkedHook {
		t.Errorf("saved hook %q, want the one the channel checked (%v)", got, checkedHook)
	}

	// Update: the channel sees the stored secret behind the mask, and a
	// bad value is refused with the integration left as it was.
	upd := &model.Integration{ID: "ig", Name: "IG 2", Channel: "fake", Enabled: true, Source: model.SourceAPI,
		Settings: e.MaskedSettings(ctx, e.Integration("ig"))}
	upd.Settings["region"] = "moon"
	err = e.Validate(ctx, upd)
	if got := strings.Join(fieldsOf(err), ","); got != "settings.region" {
		t.Errorf("Validate(update, region moon) fields = %q (%v), want settings.region", got, err)
	}
	if seen := rc.last(); seen["token"] != "tok-secret-1" || seen["hook"] != checkedHook {
		t.Errorf("on update the channel checked %v, want the stored token and hook merged in", seen)
	}
	if got := e.Integration("ig"); got.Name != "IG" || got.Setting("region") != "eu" {
		t.Errorf("after a refused update the integration is %q region %q, want it unchanged", got.Name, got.Setting("region"))
	}
	if row, err := st.Integrations().Get(ctx, "ig"); err != nil || row.Name != "IG" {
		t.Errorf("stored after a refused update = %v, %v; want the old row", row, err)
	}

	// A whole-settings problem names "settings"; a third party's long
	// text is bounded.
	ch.validate = func(*pluginhost.Integration) ([]pluginhost.SettingsProblem, error) {
		return []pluginhost.SettingsProblem{{Message: strings.Repeat("x", 5000)}}, nil
	}
	err = e.Validate(ctx, &model.Integration{ID: "ig2", Name: "IG", Channel: "fake", Enabled: true, Source: model.SourceAPI,
		Settings: map[string]any{"token": "t"}})
	var ve ValidationErrors
	if !errors.As(err, &ve) || len(ve) != 1 || ve[0].Field != "settings" || len([]rune(ve[0].Message)) > 300 {
		t.Errorf("Validate(a problem of the whole settings) = %v, want one bounded problem of field settings", err)
	}
}

// A channel plugin that cannot check (down, or failing) does not block a
// save: the settings are checked when it runs again, and a problem then
// makes the integration unavailable, naming the setting.
func TestSettingsSavedWhileTheChannelIsDownAreCheckedWhenItRuns(t *testing.T) {
	ctx := context.Background()
	rc := &regionChannel{}
	ch := &fakeChannel{}
	var down atomic.Bool
	r := newRigWith(t, "", fakePlugins{ch: ch, as: &fakeAssistant{}, down: &down}, 0)
	defer r.close()
	ch.validate = rc.validate // after the rig's own integration, which has no region
	e := r.e
	down.Store(true)
	in := &model.Integration{ID: "ig", Name: "IG", Channel: "fake", Enabled: true, Source: model.SourceAPI,
		Settings: map[string]any{"region": "mars", "token": "t"}}
	if err := e.Validate(ctx, in); err != nil {
		t.Fatalf("Validate while the plugin is down (its description cached) = %v, want the save let through", err)
	}
	if err := e.Put(ctx, in, true); err != nil {
		t.Fatal(err)
	}
	down.Store(false)
	e.PluginChanged("fake", "running")
	eventually(t, "the settings checked once the plugin runs", func() bool {
		ok, why := e.Availability(e.Integration("ig"))
		return !ok && strings.Contains(why, "settings.region: must be eu or us")
	})
	// Fixed through a save: available at once.
	fixed := *e.Integration("ig")
	fixed.Settings = map[string]any{"region": "us", "token": "t"}
	if err := e.Validate(ctx, &fixed); err != nil {
		t.Fatal(err)
	}
	if err := e.Put(ctx, &fixed, true); err != nil {
		t.Fatal(err)
	}
	if ok, why := e.Availability(e.Integration("ig")); !ok {
		t.Errorf("Availability after the fix = unavailable (%q), want available", why)
	}
}

// The configuration file is applied whatever a channel says of a setting;
// that integration is unavailable, naming it, until the file is fixed.
func TestConfigSettingsTheChannelRefusesMakeTheIntegrationUnavailable(t *testing.T) {
	ctx := context.Background()
	rc := &regionChannel{}
	ch := &fakeChannel{}
	r := newRigWith(t, "", fakePlugins{ch: ch, as: &fakeAssistant{}}, 0)
	defer r.close()
	ch.validate = rc.validate
	e := r.e
	sixty, on := 60, true
	apply := func(region string) {
		t.Helper()
		cfg := []config.Integration{{ID: "cfg", Name: "Cfg", Channel: "fake", Squad: "geral", InactivityMinutes: &sixty,
			Enabled: &on, Settings: map[string]any{"region": region, "token": "t"}}}
		if err := e.ApplyConfig(ctx, cfg); err != nil {
			t.Fatalf("ApplyConfig(region %s) = %v, want it applied", region, err)
		}
	}
	apply("mars")
	ok, why := e.Availability(e.Integration("cfg"))
	if ok || !strings.Contains(why, "settings.region") {
		t.Errorf("Availability of a config integration with a refused setting = %v %q, want unavailable naming settings.region", ok, why)
	}
	if ok, why := e.Availability(e.Integration("ig")); !ok {
		t.Errorf("the other integration is unavailable (%q), want it untouched", why)
	}
	apply("eu")
	if ok, why := e.Availability(e.Integration("cfg")); !ok {
		t.Errorf("Availability once the file is fixed = unavailable (%q), want available", why)
	}
}
