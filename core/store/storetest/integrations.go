package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

func testIntegrations(t *testing.T, open Open) {
	full := func() *model.Integration {
		return &model.Integration{
			ID: "ig1", Name: "Loja", Channel: "zenvia", Assistant: "faq", Squad: "vendas",
			InactivityMinutes: 45, UnsupportedMediaMessages: []string{"Não entendo áudio."},
			HomologationUsers: []string{"u1", "u2"}, Settings: map[string]any{"token": "abc", "page": "123"},
			Enabled: true, Source: model.SourceConfig,
		}
	}

	t.Run("PutGetRoundTrip", func(t *testing.T) {
		f := setup(t, open)
		f.must(f.s.Integrations().Put(f.ctx, full()), "Put")
		got, err := f.s.Integrations().Get(f.ctx, "ig1")
		f.must(err, "Get(ig1)")
		want := full()
		if got.Name != want.Name || got.Channel != want.Channel || got.Assistant != want.Assistant ||
			got.Squad != want.Squad || got.InactivityMinutes != want.InactivityMinutes ||
			got.Enabled != want.Enabled || got.Source != want.Source || got.NeedsReauth != "" {
			t.Errorf("Get(ig1) = %+v, want %+v", got, want)
		}
		if !slices.Equal(got.UnsupportedMediaMessages, want.UnsupportedMediaMessages) {
			t.Errorf("Get(ig1).UnsupportedMediaMessages = %q, want %q", got.UnsupportedMediaMessages, want.UnsupportedMediaMessages)
		}
		if !slices.Equal(got.HomologationUsers, want.HomologationUsers) {
			t.Errorf("Get(ig1).HomologationUsers = %q, want %q", got.HomologationUsers, want.HomologationUsers)
		}
		if !reflect.DeepEqual(got.Settings, want.Settings) {
			t.Errorf("Get(ig1).Settings = %v, want %v", got.Settings, want.Settings)
		}
		if !sameTime(got.CreatedAt, Epoch) || !sameTime(got.UpdatedAt, Epoch) {
			t.Errorf("Get(ig1) created, updated = %v, %v, want %v", got.CreatedAt, got.UpdatedAt, Epoch)
		}
	})

	t.Run("PutReplacesKeepingCreatedAt", func(t *testing.T) {
		f := setup(t, open)
		f.must(f.s.Integrations().Put(f.ctx, full()), "Put")
		later := f.clock.Advance(time.Hour)
		in := full()
		in.Name, in.Squad, in.Enabled, in.HomologationUsers = "Loja 2", "suporte", false, nil
		f.must(f.s.Integrations().Put(f.ctx, in), "Put again")
		got, err := f.s.Integrations().Get(f.ctx, "ig1")
		f.must(err, "Get(ig1)")
		if got.Name != "Loja 2" || got.Squad != "suporte" || got.Enabled || len(got.HomologationUsers) != 0 {
			t.Errorf("Get(ig1) after a second Put = %+v, want its values", got)
		}
		if !sameTime(got.CreatedAt, Epoch) {
			t.Errorf("Get(ig1).CreatedAt after a second Put = %v, want the first %v", got.CreatedAt, Epoch)
		}
		if !sameTime(got.UpdatedAt, later) {
			t.Errorf("Get(ig1).UpdatedAt after a second Put = %v, want %v", got.UpdatedAt, later)
		}
		list, err := f.s.Integrations().List(f.ctx)
		f.must(err, "List")
		if len(list) != 1 {
			t.Errorf("List() after putting ig1 twice = %d integrations, want 1", len(list))
		}
	})

	t.Run("ListAndDelete", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		f.integration("ig2")
		list, err := f.s.Integrations().List(f.ctx)
		f.must(err, "List")
		if ids := integrationIDs(list); !sameStrings(ids, []string{"ig1", "ig2"}) {
			t.Errorf("List() = %v, want [ig1 ig2]", ids)
		}
		f.must(f.s.Integrations().Delete(f.ctx, "ig1"), "Delete(ig1)")
		_, err = f.s.Integrations().Get(f.ctx, "ig1")
		wantIs(t, "Get(ig1) after Delete", err, store.ErrNotFound)
		list, err = f.s.Integrations().List(f.ctx)
		f.must(err, "List")
		if ids := integrationIDs(list); !sameStrings(ids, []string{"ig2"}) {
			t.Errorf("List() after Delete(ig1) = %v, want [ig2]", ids)
		}
	})

	t.Run("SetNeedsReauth", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		f.must(f.s.Integrations().SetNeedsReauth(f.ctx, "ig1", "token expired"), "SetNeedsReauth")
		got, err := f.s.Integrations().Get(f.ctx, "ig1")
		f.must(err, "Get(ig1)")
		if got.NeedsReauth != "token expired" {
			t.Errorf("Get(ig1).NeedsReauth = %q, want %q", got.NeedsReauth, "token expired")
		}
		f.must(f.s.Integrations().SetNeedsReauth(f.ctx, "ig1", ""), "SetNeedsReauth(\"\")")
		got, err = f.s.Integrations().Get(f.ctx, "ig1")
		f.must(err, "Get(ig1)")
		if got.NeedsReauth != "" {
			t.Errorf("Get(ig1).NeedsReauth after clearing = %q, want \"\"", got.NeedsReauth)
		}
	})
}

func integrationIDs(list []*model.Integration) []string {
	var ids []string
	for _, in := range list {
		ids = append(ids, in.ID)
	}
	return ids
}

// sameStrings compares two sets of strings, whatever their order.
func sameStrings(got, want []string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}
