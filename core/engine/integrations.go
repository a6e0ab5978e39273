package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/conversa/conversa/core/config"
	"github.com/conversa/conversa/core/model"
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
// and fills its defaults (squad geral). Every error names its field.
func (e *Engine) Validate(ctx context.Context, in *model.Integration) error {
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
	}
	if in.Name == "" {
		add("name", "is required")
	}
	if in.Channel == "" {
		add("channel", "is required")
	} else if info, err := e.channelInfo(ctx, in.Channel); err != nil {
		add("channel", "%q is not an available channel plugin", in.Channel)
	} else {
		old := e.reg.integration(in.ID)
		for _, k := range info.RequiredSettings {
			v := strings.TrimSpace(fmt.Sprint(in.Settings[k]))
			given := in.Settings[k] != nil && v != "" && !isMasked(v)
			kept := old != nil && old.Channel == in.Channel && old.Setting(k) != "" && (in.Settings[k] == nil || isMasked(v))
			if !given && !kept {
				add("settings."+k, "is required for the %s channel", in.Channel)
			}
		}
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
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// Put creates or replaces an integration (already validated), keeping the
// secrets and generated credentials the caller did not change, generating
// missing webhook credentials, and applies it at once.
func (e *Engine) Put(ctx context.Context, in *model.Integration, keepSecrets bool) error {
	info, err := e.channelInfo(ctx, in.Channel)
	if err != nil {
		return err
	}
	if in.Settings == nil {
		in.Settings = map[string]any{}
	}
	err = e.st.Write(ctx, func(tx *store.Tx) error {
		old, err := tx.Integration(ctx, in.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if old != nil {
			for _, k := range append(append([]string{}, info.SecretSettings...), info.GeneratedSettings...) {
				v, given := in.Settings[k]
				s, _ := v.(string)
				if (!given || s == "" || (keepSecrets && isMasked(s))) && old.Settings[k] != nil {
					in.Settings[k] = old.Settings[k]
				}
			}
			if sameCredentials(old, in, info.SecretSettings) {
				in.NeedsReauth = old.NeedsReauth
			}
		}
		for _, k := range info.GeneratedSettings {
			if s, _ := in.Settings[k].(string); s == "" {
				if in.Settings[k], err = randomToken(); err != nil {
					return err
				}
			}
		}
		return tx.PutIntegration(ctx, in)
	})
	if err != nil {
		return err
	}
	return e.Reload(ctx)
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
func (e *Engine) Delete(ctx context.Context, id string) error {
	if err := e.st.Write(ctx, func(tx *store.Tx) error { return tx.DeleteIntegration(ctx, id) }); err != nil {
		return err
	}
	return e.Reload(ctx)
}

// Integration returns the live view of one integration.
func (e *Engine) Integration(id string) *model.Integration { return e.reg.integration(id) }

// ApplyConfig creates or updates the configuration file's integrations
// (source "config") and disables config integrations no longer in the file.
func (e *Engine) ApplyConfig(ctx context.Context, cfg []config.Integration) error {
	if err := e.Reload(ctx); err != nil {
		return err
	}
	inFile := map[string]bool{}
	for _, c := range cfg {
		inFile[c.ID] = true
		in := &model.Integration{
			ID: c.ID, Name: c.Name, Channel: c.Channel, Assistant: c.Assistant, Squad: c.Squad,
			InactivityMinutes: *c.InactivityMinutes, UnsupportedMediaMessages: c.UnsupportedMediaMessages,
			HomologationUsers: c.HomologationUsers, Settings: c.Settings, Enabled: *c.Enabled, Source: model.SourceConfig,
		}
		if err := e.Validate(ctx, in); err != nil {
			return fmt.Errorf("integration %s: %w", c.ID, err)
		}
		if err := e.Put(ctx, in, false); err != nil {
			return fmt.Errorf("integration %s: %w", c.ID, err)
		}
	}
	for _, in := range e.reg.all() {
		if in.Source == model.SourceConfig && !inFile[in.ID] && in.Enabled {
			off := *in
			off.Enabled = false
			if err := e.st.Write(ctx, func(tx *store.Tx) error { return tx.PutIntegration(ctx, &off) }); err != nil {
				return err
			}
			e.log.Warn("integration removed from the configuration file: disabled", "integration", in.ID)
		}
	}
	return e.Reload(ctx)
}

// Webhook describes where and how a source delivers an integration's events.
type Webhook struct {
	URL         string            `json:"url"`
	Headers     map[string]string `json:"headers,omitempty"`
	VerifyToken string            `json:"verify_token,omitempty"`
	Fields      map[string]string `json:"-"`
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
// replaced by a mask that keeps its last four characters.
func (e *Engine) MaskedSettings(ctx context.Context, in *model.Integration) map[string]any {
	out := make(map[string]any, len(in.Settings))
	for k, v := range in.Settings {
		out[k] = v
	}
	info, err := e.channelInfo(ctx, in.Channel)
	if err != nil {
		return out
	}
	for _, k := range info.SecretSettings {
		if s, ok := out[k].(string); ok && s != "" {
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
