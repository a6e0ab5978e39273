package engine

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/secrets"
	"github.com/conversa/conversa/core/store/sqlite"
)

func testKey(t *testing.T) *secrets.Key {
	t.Helper()
	raw, err := secrets.Generate()
	if err != nil {
		t.Fatal(err)
	}
	k, err := secrets.New(raw, "test key")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// secretRig is an engine with a key, on a channel whose "token" is secret
// and whose "hook" is generated.
func secretRig(t *testing.T, path string, key *secrets.Key) (*Engine, *sqlite.DB, *fakeChannel) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ch := &fakeChannel{parse: textEvents("u1", "hello"), secrets: []string{"token"}, generated: []string{"hook"}}
	e, err := New(Options{Store: st, Plugins: fakePlugins{ch: ch, as: &fakeAssistant{}}, Hooks: plainHooks{},
		Assistants: []Assistant{{ID: "bot", Backend: "fake"}}, Secrets: key})
	if err != nil {
		t.Fatal(err)
	}
	return e, st, ch
}

// stored reads an integration's settings as the database holds them.
func stored(t *testing.T, st *sqlite.DB, id string) map[string]any {
	t.Helper()
	in, err := st.Integrations().Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return in.Settings
}

func TestSecretSettingsAreEncryptedInTheStore(t *testing.T) {
	ctx := context.Background()
	key := testKey(t)
	path := filepath.Join(t.TempDir(), "c.db")
	e, st, ch := secretRig(t, path, key)
	// A person may type what looks like an encrypted value: it is theirs.
	lookalike := "enc:v1:00000000:AAAA"
	in := &model.Integration{ID: "ig", Name: "IG", Channel: "fake", Assistant: "bot", Enabled: true, Source: model.SourceAPI,
		Settings: map[string]any{"token": "tok-very-secret", "url": "http://127.0.0.1:1", "note": lookalike, "n": 3}}
	if err := e.Validate(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := e.Put(ctx, in, false); err != nil {
		t.Fatal(err)
	}
	row := stored(t, st, "ig")
	for _, k := range []string{"token", "hook", "note"} {
		v, _ := row[k].(string)
		if id, ok := secrets.KeyIDOf(v); !ok || id != key.ID() {
			t.Errorf("stored %s = %q, want it encrypted with key %s", k, v, key.ID())
		}
	}
	if row["url"] != "http://127.0.0.1:1" || row["n"] != float64(3) {
		t.Errorf("stored url, n = %v, %v; want the settings that are not secret as given", row["url"], row["n"])
	}
	raw, _ := json.Marshal(row)
	if strings.Contains(string(raw), "tok-very-secret") {
		t.Errorf("stored settings %s hold the secret", raw)
	}

	// In memory, and in what the plugin receives, they are clear.
	live := e.Integration("ig")
	if live.Setting("token") != "tok-very-secret" || live.Setting("note") != lookalike || live.Setting("hook") == "" ||
		secrets.IsSealed(live.Setting("hook")) {
		t.Errorf("live settings = %v, want them clear", live.Settings)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	if res, err := e.Webhook(ctx, "ig", WebhookRequest{Method: "POST", Body: []byte("{}")}); err != nil || res.Status != 200 {
		t.Fatalf("Webhook = %+v, %v", res, err)
	}
	eventually(t, "the reply sent", func() bool { return len(ch.sends()) == 1 })
	var got map[string]any
	json.Unmarshal([]byte(ch.sends()[0].Integration.SettingsJSON), &got)
	if got["token"] != "tok-very-secret" || got["hook"] != live.Setting("hook") {
		t.Errorf("the plugin received settings %v, want the clear secrets", got)
	}

	// A masked PUT keeps the secret; disabling keeps it encrypted.
	upd := &model.Integration{ID: "ig", Name: "IG 2", Channel: "fake", Assistant: "bot", Enabled: true, Source: model.SourceAPI,
		Settings: e.MaskedSettings(ctx, live)}
	if err := e.Put(ctx, upd, true); err != nil {
		t.Fatal(err)
	}
	if err := e.Disable(ctx, "ig"); err != nil {
		t.Fatal(err)
	}
	if v, _ := stored(t, st, "ig")["token"].(string); !secrets.IsSealed(v) {
		t.Errorf("after a masked PUT and Disable, stored token = %q, want it encrypted", v)
	}
	if got := e.Integration("ig").Setting("token"); got != "tok-very-secret" {
		t.Errorf("after a masked PUT and Disable, token = %q, want it kept", got)
	}

	// Another key cannot read them: the engine says which key they need.
	other, _, _ := secretRig(t, path, testKey(t))
	var wrong *secrets.WrongKeyError
	if err := other.Reload(ctx); !errors.As(err, &wrong) || wrong.Want != key.ID() {
		t.Errorf("Reload with another key = %v, want a WrongKeyError naming key %s", err, key.ID())
	}
}

func TestSealStoredEncryptsClearRows(t *testing.T) {
	ctx := context.Background()
	key := testKey(t)
	path := filepath.Join(t.TempDir(), "c.db")
	e, st, _ := secretRig(t, path, key)
	// Rows from before secrets were encrypted at rest; one of a channel
	// that cannot describe itself now (its settings are all kept secret).
	for _, in := range []*model.Integration{
		{ID: "old", Name: "Old", Channel: "fake", Enabled: true, Source: model.SourceAPI,
			Settings: map[string]any{"token": "tok-old", "hook": "hook-old", "url": "http://u"}},
		{ID: "gone", Name: "Gone", Channel: "absent", Enabled: true, Source: model.SourceAPI,
			Settings: map[string]any{"api_key": "key-gone", "n": 1}},
	} {
		if err := st.Integrations().Put(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	n, err := e.SealStored(ctx)
	if err != nil || n != 2 {
		t.Fatalf("SealStored = %d, %v; want 2 rows encrypted", n, err)
	}
	old, gone := stored(t, st, "old"), stored(t, st, "gone")
	for name, v := range map[string]any{"old.token": old["token"], "old.hook": old["hook"], "gone.api_key": gone["api_key"]} {
		if s, _ := v.(string); !secrets.IsSealed(s) {
			t.Errorf("%s = %v after SealStored, want it encrypted", name, v)
		}
	}
	if old["url"] != "http://u" || gone["n"] != float64(1) {
		t.Errorf("old.url, gone.n = %v, %v; want them untouched", old["url"], gone["n"])
	}
	if n, err := e.SealStored(ctx); err != nil || n != 0 {
		t.Errorf("SealStored again = %d, %v; want nothing to do", n, err)
	}
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.Integration("old").Setting("token"); got != "tok-old" {
		t.Errorf("token after SealStored = %q, want tok-old", got)
	}
	if ids, err := SecretKeyIDs(ctx, st); err != nil || len(ids) != 1 || ids[0] != key.ID() {
		t.Errorf("SecretKeyIDs = %v, %v; want [%s]", ids, err, key.ID())
	}
}

func TestRotateSecrets(t *testing.T) {
	ctx := context.Background()
	from, to := testKey(t), testKey(t)
	path := filepath.Join(t.TempDir(), "c.db")
	e, st, _ := secretRig(t, path, from)
	for _, id := range []string{"a", "b"} {
		in := &model.Integration{ID: id, Name: id, Channel: "fake", Enabled: true, Source: model.SourceAPI,
			Settings: map[string]any{"token": "tok-" + id}}
		if err := e.Put(ctx, in, false); err != nil {
			t.Fatal(err)
		}
	}
	n, err := RotateSecrets(ctx, st, from, to)
	if err != nil || n != 4 { // token and hook of each
		t.Fatalf("RotateSecrets = %d, %v; want 4 values re-encrypted", n, err)
	}
	if ids, _ := SecretKeyIDs(ctx, st); len(ids) != 1 || ids[0] != to.ID() {
		t.Errorf("after rotation the secrets are sealed by %v, want only %s", ids, to.ID())
	}
	after, _, _ := secretRig(t, path, to)
	if err := after.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := after.Integration("b").Setting("token"); got != "tok-b" {
		t.Errorf("token under the new key = %q, want tok-b", got)
	}
	if n, err := RotateSecrets(ctx, st, from, to); err != nil || n != 0 {
		t.Errorf("RotateSecrets again = %d, %v; want nothing left to do", n, err)
	}
	// A third key opens nothing: the transaction changes nothing.
	if _, err := RotateSecrets(ctx, st, testKey(t), testKey(t)); err == nil {
		t.Error("RotateSecrets from a key that sealed nothing succeeded")
	}
	if ids, _ := SecretKeyIDs(ctx, st); len(ids) != 1 || ids[0] != to.ID() {
		t.Errorf("after a refused rotation the secrets are sealed by %v, want %s still", ids, to.ID())
	}
}
