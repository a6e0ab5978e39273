package engine

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// audit adds entries in tx: the change and its record commit together.
func audit(ctx context.Context, tx store.Tx, entries []*store.AuditEntry) error {
	for _, e := range entries {
		if err := tx.Audit().Add(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// integrationChanges are the audit entries of by writing in over old (nil:
// a new one). They name what changed, never a setting's value: settings
// hold secrets.
func integrationChanges(by *store.Actor, old, in *model.Integration) []*store.AuditEntry {
	if old == nil {
		detail := "channel " + in.Channel
		if !in.Enabled {
			detail += ", disabled"
		}
		return []*store.AuditEntry{by.Entry("integration.create", in.ID, detail)}
	}
	var out []*store.AuditEntry
	if old.Enabled != in.Enabled {
		action := "integration.disable"
		if in.Enabled {
			action = "integration.enable"
		}
		out = append(out, by.Entry(action, in.ID, ""))
	}
	var changed []string
	field := func(name string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			changed = append(changed, name)
		}
	}
	field("name", old.Name, in.Name)
	field("channel", old.Channel, in.Channel)
	field("assistant", old.Assistant, in.Assistant)
	field("squad", old.Squad, in.Squad)
	field("inactivity_minutes", old.InactivityMinutes, in.InactivityMinutes)
	field("unsupported_media_messages", nonEmpty(old.UnsupportedMediaMessages), nonEmpty(in.UnsupportedMediaMessages))
	field("homologation_users", nonEmpty(old.HomologationUsers), nonEmpty(in.HomologationUsers))
	var keys []string
	for k := range old.Settings {
		keys = append(keys, k)
	}
	for k := range in.Settings {
		if _, ok := old.Settings[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if fmt.Sprint(old.Settings[k]) != fmt.Sprint(in.Settings[k]) {
			changed = append(changed, "settings."+k)
		}
	}
	switch {
	case len(changed) > 0:
		out = append(out, by.Entry("integration.update", in.ID, "changed: "+strings.Join(changed, ", ")))
	case len(out) == 0:
		out = append(out, by.Entry("integration.update", in.ID, "saved without changes"))
	}
	return out
}

func nonEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
