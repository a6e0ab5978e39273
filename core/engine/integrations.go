package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/conversa/conversa/core/cluster"
	"github.com/conversa/conversa/core/config"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/store"
)

// FieldError is a validation error about one field of an integration.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// ValidationErrors are every problem found in an integration.
type ValidationErrors []*FieldError

func (v ValidationErrors) Error() string {
	parts := make([]string, len(v))
	for i, e := range v {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Validate checks an integration against the known channels and assistants
// and fills its defaults (squad geral); then its channel checks the settings
// as a save would store them (see checkSave), which fills in the webhook
// credentials to generate. Every error names its field. When the channel
// plugin cannot describe itself now (it is down), the checks that need it
// (required settings) wait until it runs; see Availability.
func (e *Engine) Validate(ctx context.Context, in *model.Integration) error {
	errs := e.validate(ctx, in, false)
	if in.Channel != "" {
		if info, err := e.channelInfo(ctx, in.Channel); err == nil {
			errs = append(errs, e.checkSave(ctx, in, info, errs)...)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// validate collects every problem of in; lenient skips what needs the
// channel plugin when it cannot be reached (the configuration file names
// plugins that may be down at start: they must not stop the server).
func (e *Engine) validate(ctx context.Context, in *model.Integration, lenient bool) ValidationErrors {
	var errs ValidationErrors
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Squad == "" {
		in.Squad = model.DefaultSquad
	}
	if !config.IsSlug(in.ID) {
		add("id", "must be 1 to 63 lowercase letters, digits, '-' or '_' (it is part of the webhook URL)")
	} else if config.IsReservedIntegration(in.ID) {
		add("id", "%q is reserved for the built-in playground", in.ID)
	}
	if in.Name == "" {
		add("name", "is required")
	}
	if in.Channel == "" {
		add("channel", "is required")
	} else if info, err := e.channelInfo(ctx, in.Channel); err == nil {
		errs = append(errs, e.missingSettings(info, in)...)
		errs = append(errs, e.providerURLs(info, in)...)
	} else if !lenient {
		add("channel", "%q is not an available channel plugin", in.Channel)
	}
	if in.Assistant != "" && !e.HasAssistant(in.Assistant) {
		add("assistant", "%q is not a configured assistant", in.Assistant)
	}
	if !config.IsSlug(in.Squad) {
		add("squad", "must be lowercase letters, digits, '-' or '_'")
	}
	if !config.ValidInactivity(in.InactivityMinutes) {
		add("inactivity_minutes", "must be 0 (off) or between 10 and 1440, got %d", in.InactivityMinutes)
	}
	for i, u := range in.HomologationUsers {
		u = strings.TrimPrefix(strings.TrimSpace(u), "@")
		if u == "" || strings.ContainsAny(u, " \t/") {
			add(fmt.Sprintf("homologation_users[%d]", i), "%q is not an Instagram username", in.HomologationUsers[i])
		}
		in.HomologationUsers[i] = u
	}
	return errs
}

// missingSettings lists the settings the channel requires that in lacks (a
// masked or absent secret the stored integration has counts as given).
func (e *Engine) missingSettings(info *pluginhost.ChannelInfo, in *model.Integration) ValidationErrors {
	var errs ValidationErrors
	old := e.reg.integration(in.ID)
	for _, k := range info.RequiredSettings {
		v := strings.TrimSpace(fmt.Sprint(in.Settings[k]))
		given := in.Settings[k] != nil && v != "" && !isMasked(v)
		kept := old != nil && old.Channel == in.Channel && old.Setting(k) != "" && (in.Settings[k] == nil || isMasked(v))
		if !given && !kept {
			errs = append(errs, &FieldError{Field: "settings." + k, Message: "is required for the " + in.Channel + " channel"})
		}
	}
	return errs
}

// providerURLs checks the settings that name the provider's API, which
// receive the integration's credentials: through the REST API they must be
// https on a public host. The configuration file is the operator's own and
// may point anywhere (a local fake), as may anything with
// Options.AllowPrivateURLs.
func (e *Engine) providerURLs(info *pluginhost.ChannelInfo, in *model.Integration) ValidationErrors {
	if in.Source != model.SourceAPI || e.o.AllowPrivateURLs {
		return nil
	}
	var errs ValidationErrors
	for _, k := range info.URLSettings {
		v, ok := in.Settings[k].(string)
		if in.Settings[k] == nil || ok && strings.TrimSpace(v) == "" {
			continue // the channel's own default
		}
		if why := publicHTTPS(fmt.Sprint(in.Settings[k])); why != "" {
			errs = append(errs, &FieldError{Field: "settings." + k, Message: why +
				" (it receives the integration's credentials; to reach a local fake while developing, set [server] allow_private_urls = true)"})
		}
	}
	return errs
}

// Put creates or replaces an integration (already validated), keeping the
// secrets and generated credentials the caller did not change, generating
// missing webhook credentials, and applies it at once.
func (e *Engine) Put(ctx context.Context, in *model.Integration, keepSecrets bool) error {
	return e.PutBy(ctx, in, keepSecrets, nil)
}

// PutBy is Put done by a person (nil: by no one, the configuration file);
// what changed goes to the audit log in the same transaction.
func (e *Engine) PutBy(ctx context.Context, in *model.Integration, keepSecrets bool, by *store.Actor) error {
	info, err := e.channelInfo(ctx, in.Channel)
	if err != nil {
		return err
	}
	err = e.st.Tx(ctx, func(tx store.Tx) error {
		if by == nil {
			return e.putTx(ctx, tx, in, info, keepSecrets)
		}
		old, err := tx.Integrations().Get(ctx, in.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if old != nil {
			// Compared in clear: a secret is sealed anew at every write.
			if err := e.opened(old); err != nil {
				return err
			}
		}
		if err := e.putTx(ctx, tx, in, info, keepSecrets); err != nil {
			return err
		}
		return audit(ctx, tx, integrationChanges(by, old, in))
	})
	if err != nil {
		return err
	}
	// Saved as checked (Validate): a problem found before is gone.
	e.checks.set(in.ID, nil)
	return e.changed(ctx)
}

// changed applies a change of integrations here and tells the other nodes,
// which apply it on hearing (Reload).
func (e *Engine) changed(ctx context.Context) error {
	if err := e.Reload(ctx); err != nil {
		return err
	}
	if err := e.o.Cluster.Broadcast(ctx, cluster.TopicIntegrations); err != nil {
		// The others still apply it within reloadEvery.
		e.log.Error("telling the other nodes of an integration change", "err", err)
	}
	return nil
}

// putTx writes one integration in tx. info is nil when the channel cannot
// describe itself now: secrets and generated settings are then kept as
// stored, and generated when the plugin runs (provision).
func (e *Engine) putTx(ctx context.Context, tx store.Tx, in *model.Integration, info *pluginhost.ChannelInfo, keepSecrets bool) error {
	if in.Settings == nil {
		in.Settings = map[string]any{}
	}
	old, err := tx.Integrations().Get(ctx, in.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if old != nil {
		if err := e.opened(old); err != nil {
			return err
		}
	}
	if err := mergeSettings(in, old, info, keepSecrets); err != nil {
		return err
	}
	return e.putSealed(ctx, tx, in, info)
}

// mergeSettings completes in's settings as a save stores them: the secrets
// and generated credentials it leaves empty (or masked, with keepSecrets)
// come from old, the stored integration (nil: none), and generated
// credentials still missing are made.
func mergeSettings(in, old *model.Integration, info *pluginhost.ChannelInfo, keepSecrets bool) error {
	var err error
	var kept, generated []string
	if info != nil {
		kept = append(append(kept, info.SecretSettings...), info.GeneratedSettings...)
		generated = info.GeneratedSettings
	} else if old != nil {
		for k := range old.Settings {
			kept = append(kept, k)
		}
	}
	if old != nil {
		for _, k := range kept {
			v, given := in.Settings[k]
			s, _ := v.(string)
			if (!given || s == "" || (keepSecrets && isMasked(s))) && old.Settings[k] != nil {
				in.Settings[k] = old.Settings[k]
			}
		}
		if info == nil || sameCredentials(old, in, info.SecretSettings) {
			in.NeedsReauth = old.NeedsReauth
		}
	}
	for _, k := range generated {
		if s, _ := in.Settings[k].(string); s == "" {
			if in.Settings[k], err = randomToken(); err != nil {
				return err
			}
		}
	}
	return nil
}

func sameCredentials(old, in *model.Integration, secrets []string) bool {
	for _, k := range secrets {
		if fmt.Sprint(old.Settings[k]) != fmt.Sprint(in.Settings[k]) {
			return false
		}
	}
	return true
}

// Delete removes an integration; its webhook answers 404 from now on.
func (e *Engine) Delete(ctx context.Context, id string) error { return e.DeleteBy(ctx, id, nil) }

// DeleteBy is Delete done by a person, recorded in the audit log with it.
func (e *Engine) DeleteBy(ctx context.Context, id string, by *store.Actor) error {
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		if err := tx.Integrations().Delete(ctx, id); err != nil || by == nil {
			return err
		}
		return tx.Audit().Add(ctx, by.Entry("integration.delete", id, ""))
	})
	if err != nil {
		return err
	}
	e.checks.set(id, nil)
	return e.changed(ctx)
}

// Disable turns an integration off without asking its channel plugin (the
// playground's built-ins, when it is off): its webhook answers 404 and its
// pending sends fail.
func (e *Engine) Disable(ctx context.Context, id string) error {
	in, err := e.st.Integrations().Get(ctx, id)
	if err != nil {
		return err
	}
	if !in.Enabled {
		return nil
	}
	if err := e.opened(in); err != nil {
		return err
	}
	off := *in
	off.Enabled = false
	if err := e.st.Tx(ctx, func(tx store.Tx) error { return e.putSealed(ctx, tx, &off, nil) }); err != nil {
		return err
	}
	return e.changed(ctx)
}

// Integration returns the live view of one integration.
func (e *Engine) Integration(id string) *model.Integration { return e.reg.integration(id) }

// Availability reports whether an integration can serve now: its channel
// plugin runs and it has what the channel requires. When not, reason says
// why, for the operator; its webhook answers 503 meanwhile (the source
// retries) and its sends wait.
func (e *Engine) Availability(in *model.Integration) (ok bool, reason string) {
	if ok, why := e.plug.Availability(in.Channel); !ok {
		return false, why
	}
	// A configuration applied while the channel could not describe itself
	// is checked once it has (it cannot ask the plugin here: this is on the
	// webhook's path).
	if info, ok := e.channels.cached(in.Channel); ok {
		if errs := e.missingSettings(info, in); len(errs) > 0 {
			return false, "the " + in.Channel + " channel needs " + errs.Error()
		}
	}
	if errs := e.checks.get(in.ID); len(errs) > 0 {
		return false, "the " + in.Channel + " channel refuses " + errs.Error()
	}
	return true, ""
}

// ApplyConfig creates or updates the configuration file's integrations
// (source "config") and disables config integrations no longer in the file.
// The whole file is checked first and applied in one transaction: an
// invalid file changes nothing. An integration whose channel plugin cannot
// start is applied as written and shown unavailable until the plugin runs;
// it never stops the others.
func (e *Engine) ApplyConfig(ctx context.Context, cfg []config.Integration) error {
	if err := e.Reload(ctx); err != nil {
		return err
	}
	var ins []*model.Integration
	var problems []error
	inFile := map[string]bool{}
	for _, c := range cfg {
		inFile[c.ID] = true
		in := &model.Integration{
			ID: c.ID, Name: c.Name, Channel: c.Channel, Assistant: c.Assistant, Squad: c.Squad,
			InactivityMinutes: *c.InactivityMinutes, UnsupportedMediaMessages: c.UnsupportedMediaMessages,
			HomologationUsers: c.HomologationUsers, Settings: c.Settings, Enabled: *c.Enabled, Source: model.SourceConfig,
		}
		if errs := e.validate(ctx, in, true); len(errs) > 0 {
			problems = append(problems, fmt.Errorf("integration %s: %w", c.ID, errs))
		}
		ins = append(ins, in)
	}
	if len(problems) > 0 {
		return errors.Join(problems...)
	}
	// Described before the transaction: no plugin is called inside one.
	infos := map[string]*pluginhost.ChannelInfo{}
	for _, in := range ins {
		if info, err := e.channelInfo(ctx, in.Channel); err == nil {
			infos[in.Channel] = info
		}
	}
	var removed []string
	err := e.st.Tx(ctx, func(tx store.Tx) error {
		removed = nil
		for _, in := range ins {
			if err := e.putTx(ctx, tx, in, infos[in.Channel], false); err != nil {
				return fmt.Errorf("integration %s: %w", in.ID, err)
			}
		}
		for _, in := range e.reg.all() {
			if in.Source == model.SourceConfig && !inFile[in.ID] && in.Enabled {
				off := *in
				off.Enabled = false
				if err := e.putSealed(ctx, tx, &off, infos[in.Channel]); err != nil {
					return err
				}
				removed = append(removed, in.ID)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range removed {
		e.log.Warn("integration removed from the configuration file: disabled", "integration", id)
	}
	if err := e.Reload(ctx); err != nil {
		return err
	}
	for _, in := range ins {
		if ok, why := e.plug.Availability(in.Channel); !ok {
			e.log.Error("integration unavailable: its channel plugin cannot run; its webhook answers 503 until it does",
				"integration", in.ID, "channel", in.Channel, "reason", why)
			continue
		}
		// The file is applied even when a channel refuses a setting: that
		// integration alone is unavailable, saying which setting and why.
		if live := e.reg.integration(in.ID); live != nil {
			e.checkStored(ctx, live)
		}
	}
	return nil
}

// PluginChanged is told when a plugin's state changes (the plugin host's
// OnChange). A plugin that runs again is described again (it may be a new
// executable), the integrations of a channel that was down at start are
// provisioned, and the queues look for the rows that waited for it.
func (e *Engine) PluginChanged(name, state string) {
	e.channels.forget(name)
	e.assistants.forget(name)
	if ok, _ := e.plug.Availability(name); !ok {
		return
	}
	e.goBackground(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		e.provision(ctx, name)
		e.checkChannel(ctx, name)
		e.Wake()
	})
}

// provision completes the integrations of a channel once its plugin runs:
// generated credentials are filled in. (One that lacks a setting the
// channel requires is then unavailable, saying which: see Availability.)
func (e *Engine) provision(ctx context.Context, channel string) {
	info, err := e.channelInfo(ctx, channel)
	if err != nil {
		return
	}
	changed := false
	for _, in := range e.reg.all() {
		if in.Channel != channel {
			continue
		}
		missing := false
		for _, k := range info.GeneratedSettings {
			if in.Setting(k) == "" {
				missing = true
			}
		}
		if !missing {
			continue
		}
		fixed := *in
		fixed.Settings = maps.Clone(in.Settings)
		if err := e.st.Tx(ctx, func(tx store.Tx) error { return e.putTx(ctx, tx, &fixed, info, false) }); err != nil {
			e.log.Error("provisioning integration", "integration", in.ID, "err", err)
			continue
		}
		changed = true
		e.log.Info("integration provisioned: generated webhook credentials", "integration", in.ID)
	}
	if changed {
		if err := e.Reload(ctx); err != nil {
			e.log.Error("reloading integrations", "err", err)
		}
	}
}

// Webhook describes where and how a source delivers an integration's events.
type Webhook struct {
	URL         string            `json:"url"`
	Headers     map[string]string `json:"headers,omitempty"`
	VerifyToken string            `json:"verify_token,omitempty"`
	// Every plain field the channel declares (ChannelInfo.webhook_fields),
	// verify_token included. In JSON each is a key of its own beside url,
	// as Meta's verify_token always was.
	Fields map[string]string `json:"-"`
}

// MarshalJSON writes the channel's plain fields beside url and headers.
func (w Webhook) MarshalJSON() ([]byte, error) {
	out := make(map[string]any, len(w.Fields)+3)
	for k, v := range w.Fields {
		out[k] = v
	}
	out["url"] = w.URL
	if len(w.Headers) > 0 {
		out["headers"] = w.Headers
	}
	if w.VerifyToken != "" {
		out["verify_token"] = w.VerifyToken
	}
	return json.Marshal(out)
}

// WebhookOf returns an integration's webhook URL and the credentials the
// source must send.
func (e *Engine) WebhookOf(ctx context.Context, in *model.Integration) Webhook {
	w := Webhook{URL: strings.TrimRight(e.o.PublicURL, "/") + "/webhooks/" + in.ID}
	info, err := e.channelInfo(ctx, in.Channel)
	if err != nil {
		return w
	}
	for header, key := range info.WebhookHeaders {
		if w.Headers == nil {
			w.Headers = map[string]string{}
		}
		w.Headers[header] = in.Setting(key)
	}
	for field, key := range info.WebhookFields {
		if w.Fields == nil {
			w.Fields = map[string]string{}
		}
		w.Fields[field] = in.Setting(key)
		if field == "verify_token" {
			w.VerifyToken = in.Setting(key)
		}
	}
	return w
}

// MaskedSettings returns an integration's settings with every secret
// replaced by a mask that keeps its last four characters. While the channel
// cannot say which settings are secret (its plugin is down), every text
// setting is masked.
func (e *Engine) MaskedSettings(ctx context.Context, in *model.Integration) map[string]any {
	out := make(map[string]any, len(in.Settings))
	for k, v := range in.Settings {
		out[k] = v
	}
	secret := func(string) bool { return true }
	if info, err := e.channelInfo(ctx, in.Channel); err == nil {
		secret = func(k string) bool { return slices.Contains(info.SecretSettings, k) }
	}
	for k, v := range out {
		if s, ok := v.(string); ok && s != "" && secret(k) {
			out[k] = mask(s)
		}
	}
	return out
}

const maskPrefix = "••••"

func mask(s string) string {
	r := []rune(s)
	if len(r) <= 8 {
		return maskPrefix
	}
	return maskPrefix + string(r[len(r)-4:])
}

func isMasked(s string) bool { return strings.HasPrefix(s, maskPrefix) }

// randomToken makes webhook credentials: 24 random bytes, URL-safe.
func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
