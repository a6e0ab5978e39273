package engine

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/store"
)

// A channel checks an integration's settings (ValidateSettings) when an
// operator saves it through the API, which refuses a bad setting naming
// it; and when the integration is applied from the configuration file, or
// its channel plugin starts, where a problem makes the integration
// unavailable, saying why, rather than stopping the server.

// validateTimeout bounds one ValidateSettings call: it checks the
// settings' form and calls no provider, so it answers at once.
const validateTimeout = 5 * time.Second

// settingsChecks holds the problems each channel found in integrations it
// checked outside a save (configuration file, plugin start).
type settingsChecks struct {
	mu       sync.RWMutex
	problems map[string]ValidationErrors // by integration
}

func (s *settingsChecks) get(id string) ValidationErrors {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.problems[id]
}

// set records id's problems (none: clears them) and reports whether they
// changed.
func (s *settingsChecks) set(id string, errs ValidationErrors) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.problems == nil {
		s.problems = map[string]ValidationErrors{}
	}
	if errs.Error() == s.problems[id].Error() {
		return false
	}
	if len(errs) == 0 {
		delete(s.problems, id)
	} else {
		s.problems[id] = errs
	}
	return true
}

// problemsOf turns a channel's answer into field errors: a problem names
// its setting, or the settings as a whole.
func problemsOf(ps []pluginhost.SettingsProblem) ValidationErrors {
	var errs ValidationErrors
	for _, p := range ps {
		field := "settings"
		if f := bounded(strings.TrimSpace(p.Field)); f != "" {
			field += "." + f
		}
		msg := bounded(strings.TrimSpace(p.Message))
		if msg == "" {
			msg = "is not valid"
		}
		errs = append(errs, &FieldError{Field: field, Message: msg})
	}
	return errs
}

// bounded keeps what a plugin says to an operator to valid UTF-8 and a
// few lines' length: a third-party plugin's text is shown as it is.
func bounded(s string) string {
	const most = 300
	s = strings.ToValidUTF8(s, "\uFFFD")
	if r := []rune(s); len(r) > most {
		s = string(r[:most-1]) + "…"
	}
	return s
}

// askChannel has the channel check settings. err is set when it could not
// (the plugin is down, or failed): nothing is known then.
func (e *Engine) askChannel(ctx context.Context, in *model.Integration) (ValidationErrors, error) {
	ch, err := e.plug.Channel(in.Channel)
	if err != nil {
		return nil, err
	}
	vctx, cancel := context.WithTimeout(ctx, validateTimeout)
	defer cancel()
	ps, err := ch.ValidateSettings(vctx, &pluginhost.Integration{ID: in.ID, SettingsJSON: settingsJSON(in)})
	if err != nil {
		return nil, err
	}
	return problemsOf(ps), nil
}

// checkSave has the channel check in's settings as a save would store
// them: the secrets and generated credentials the stored integration keeps
// merged in, and missing credentials generated (into in itself, so that
// what is saved is what was checked). errs are the problems not already
// reported for the same setting in known.
//
// A channel plugin that cannot answer now does not block the save: its
// integrations cannot serve until it runs anyway, and when it runs again
// it checks every integration of its channel (checkChannel), so a bad
// setting saved meanwhile shows as the integration's unavailable reason.
// Refusing instead would keep an operator from fixing an integration
// (say, the very setting that makes the plugin fail) until it recovers.
func (e *Engine) checkSave(ctx context.Context, in *model.Integration, info *pluginhost.ChannelInfo, known ValidationErrors) ValidationErrors {
	cand := *in
	cand.Settings = maps.Clone(in.Settings)
	if cand.Settings == nil {
		cand.Settings = map[string]any{}
	}
	old, err := e.st.Integrations().Get(ctx, in.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		old = nil
	case err == nil:
		if err = e.opened(old); err != nil {
			old = nil
		}
	}
	if err != nil && old == nil && !errors.Is(err, store.ErrNotFound) {
		e.log.Warn("settings checked without the stored integration's secrets", "integration", in.ID, "err", err)
	}
	// Masked values stand for the stored secret, as an update keeps them.
	if err := mergeSettings(&cand, old, info, true); err != nil {
		e.log.Error("generating webhook credentials", "integration", in.ID, "err", err)
		return nil
	}
	for _, k := range info.GeneratedSettings {
		if s, _ := in.Settings[k].(string); s == "" && cand.Settings[k] != nil && (old == nil || old.Settings[k] == nil) {
			if in.Settings == nil {
				in.Settings = map[string]any{}
			}
			in.Settings[k] = cand.Settings[k]
		}
	}
	errs, err := e.askChannel(ctx, &cand)
	if err != nil {
		e.log.Warn("settings saved unchecked: the channel plugin could not check them; it checks them when it runs again",
			"integration", in.ID, "channel", in.Channel, "err", err)
		return nil
	}
	var out ValidationErrors
	for _, fe := range errs {
		if !slices.ContainsFunc(known, func(k *FieldError) bool { return k.Field == fe.Field }) {
			out = append(out, fe)
		}
	}
	return out
}

// checkChannel has a channel check every integration of it as stored (the
// configuration file's, or any, once its plugin runs). A problem is logged
// with its field when first found, and makes the integration unavailable
// (see Availability) until it is fixed.
func (e *Engine) checkChannel(ctx context.Context, channel string) {
	for _, in := range e.reg.all() {
		if in.Channel == channel {
			e.checkStored(ctx, in)
		}
	}
}

// checkStored is checkChannel for one integration.
func (e *Engine) checkStored(ctx context.Context, in *model.Integration) {
	errs, err := e.askChannel(ctx, in)
	if err != nil {
		return // checked when the plugin runs (PluginChanged)
	}
	if !e.checks.set(in.ID, errs) {
		return
	}
	if len(errs) == 0 {
		e.log.Info("integration settings accepted by the channel", "integration", in.ID, "channel", in.Channel)
		return
	}
	for _, fe := range errs {
		e.log.Error("integration unavailable: its channel refuses a setting", "integration", in.ID,
			"channel", in.Channel, "field", fe.Field, "problem", fe.Message)
	}
}
