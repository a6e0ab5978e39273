package sdk

import (
	"errors"
	"fmt"
	"slices"

	"github.com/conversa/conversa/plugins/proto"
)

// Types of a setting in a channel's settings schema (SettingField.type),
// which decide the input the console draws for it.
const (
	// One line of text (the default).
	FieldString = "string"
	// A credential: typed unseen, never shown again once saved.
	FieldSecret = "secret"
	// The base URL of an API.
	FieldURL    = "url"
	FieldNumber = "number"
	// A checkbox; the setting is true or false.
	FieldBool = "bool"
	// One of SettingField.choices.
	FieldSelect = "select"
)

// CheckSettingsSchema reports what is inconsistent in a channel's settings
// schema (ChannelInfo.settings) against the rest of its ChannelInfo: every
// required, secret, generated and URL setting must be in it, flagged
// required, typed secret or url as it is listed; names must be unique, each
// field labelled, and selects have choices. A channel's tests call it on
// its Describe; nil when all is well, and also when there is no schema
// (a plain form is drawn then).
func CheckSettingsSchema(info *proto.ChannelInfo) error {
	fields := info.GetSettings()
	if len(fields) == 0 {
		return nil
	}
	var errs []error
	byName := map[string]*proto.SettingField{}
	for i, f := range fields {
		switch {
		case f.GetName() == "":
			errs = append(errs, fmt.Errorf("settings[%d] has no name", i))
			continue
		case byName[f.GetName()] != nil:
			errs = append(errs, fmt.Errorf("settings: %s appears twice", f.GetName()))
		}
		byName[f.GetName()] = f
		if f.GetLabel() == "" {
			errs = append(errs, fmt.Errorf("settings: %s has no label", f.GetName()))
		}
		switch t := f.GetType(); t {
		case "", FieldString, FieldSecret, FieldURL, FieldNumber, FieldBool:
			if len(f.GetChoices()) > 0 {
				errs = append(errs, fmt.Errorf("settings: %s has choices but is not a select", f.GetName()))
			}
		case FieldSelect:
			if len(f.GetChoices()) == 0 {
				errs = append(errs, fmt.Errorf("settings: %s is a select without choices", f.GetName()))
			}
			if len(f.GetChoiceLabels()) > len(f.GetChoices()) {
				errs = append(errs, fmt.Errorf("settings: %s has more choice labels than choices", f.GetName()))
			}
		default:
			errs = append(errs, fmt.Errorf("settings: %s has unknown type %q", f.GetName(), t))
		}
	}
	lists := []struct {
		what  string
		names []string
		ok    func(*proto.SettingField) bool
	}{
		{"required", info.GetRequiredSettings(), func(f *proto.SettingField) bool { return f.GetRequired() }},
		{"secret", info.GetSecretSettings(), func(f *proto.SettingField) bool { return f.GetType() == FieldSecret }},
		{"generated", info.GetGeneratedSettings(), func(*proto.SettingField) bool { return true }},
		{"url", info.GetUrlSettings(), func(f *proto.SettingField) bool { return f.GetType() == FieldURL }},
	}
	for _, l := range lists {
		for _, name := range l.names {
			f := byName[name]
			switch {
			case f == nil:
				errs = append(errs, fmt.Errorf("settings: %s setting %s is not in the schema", l.what, name))
			case !l.ok(f):
				errs = append(errs, fmt.Errorf("settings: %s setting %s is not marked %s in the schema", l.what, name, l.what))
			}
		}
	}
	if a := info.GetAccountSetting(); a != "" && byName[a] == nil {
		errs = append(errs, fmt.Errorf("settings: account setting %s is not in the schema", a))
	}
	for _, f := range fields {
		if f.GetType() == FieldSecret && !slices.Contains(info.GetSecretSettings(), f.GetName()) {
			// The host hides only what secret_settings lists.
			errs = append(errs, fmt.Errorf("settings: %s is typed secret but not in secret_settings", f.GetName()))
		}
	}
	return errors.Join(errs...)
}
