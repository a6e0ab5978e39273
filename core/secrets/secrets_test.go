package secrets

import (
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func newKey(t *testing.T, source string) *Key {
	t.Helper()
	raw, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	k, err := New(raw, source)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := newKey(t, "test")
	ctx := ForSetting("ig-meta", "app_secret")
	a, err := k.Seal("s3cret-value", ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := k.Seal("s3cret-value", ctx)
	if a == b {
		t.Errorf("Seal twice = %q both times, want a new nonce each time", a)
	}
	if !strings.HasPrefix(a, "enc:v1:"+k.ID()+":") || strings.Contains(a, "s3cret") {
		t.Errorf("Seal = %q, want enc:v1:%s:… without the secret", a, k.ID())
	}
	if !IsSealed(a) || IsSealed("s3cret-value") {
		t.Errorf("IsSealed(%q), IsSealed(clear) = %v, %v; want true, false", a, IsSealed(a), IsSealed("s3cret-value"))
	}
	if id, ok := KeyIDOf(a); !ok || id != k.ID() {
		t.Errorf("KeyIDOf = %q %v, want %q", id, ok, k.ID())
	}
	if got, err := k.Open(a, ctx); err != nil || got != "s3cret-value" {
		t.Errorf("Open = %q, %v; want the secret", got, err)
	}
	empty, _ := k.Seal("", ctx)
	if got, err := k.Open(empty, ctx); err != nil || got != "" {
		t.Errorf("Open(sealed empty) = %q, %v", got, err)
	}
}

func TestOpenRefuses(t *testing.T) {
	k := newKey(t, "data/secret.key")
	ctx := ForSetting("ig-meta", "app_secret")
	v, _ := k.Seal("s3cret-value", ctx)

	other := newKey(t, "other")
	_, err := other.Open(v, ctx)
	var wrong *WrongKeyError
	if !errors.As(err, &wrong) || wrong.Want != k.ID() || wrong.Have != other.ID() || wrong.Source != "other" {
		t.Errorf("Open with another key = %v, want a WrongKeyError naming both ids and the source", err)
	}

	// A byte of the sealed data changed: the tag no longer matches. (The
	// text's last character may carry padding bits only, which decode to
	// the same bytes whatever they are: the byte is changed, not the
	// character.)
	head, data := v[:strings.LastIndex(v, ":")+1], v[strings.LastIndex(v, ":")+1:]
	sealed, err := base64.RawURLEncoding.DecodeString(data)
	if err != nil {
		t.Fatalf("sealed value %q: %v", v, err)
	}
	sealed[len(sealed)-1] ^= 1
	tampered := head + base64.RawURLEncoding.EncodeToString(sealed)
	cases := []struct {
		name, value, ctx string
		want             error
	}{
		{"tampered", tampered, ctx, ErrTampered},
		{"moved to another setting", v, ForSetting("ig-meta", "verify_token"), ErrTampered},
		{"moved to another integration", v, ForSetting("ig-other", "app_secret"), ErrTampered},
		{"clear text", "s3cret-value", ctx, ErrMalformed},
		{"no data", "enc:v1:" + k.ID() + ":", ctx, ErrMalformed},
		{"not base64", "enc:v1:" + k.ID() + ":!!!!", ctx, ErrMalformed},
		{"too short", "enc:v1:" + k.ID() + ":AAAA", ctx, ErrMalformed},
	}
	for _, c := range cases {
		if got, err := k.Open(c.value, c.ctx); !errors.Is(err, c.want) {
			t.Errorf("Open(%s) = %q, %v; want %v", c.name, got, err, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	raw, _ := Generate()
	k, err := Parse(" "+Encode(raw)+"\n", "env")
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := New(raw, "file")
	if k.ID() != k2.ID() {
		t.Errorf("the same key parsed and made has ids %s and %s", k.ID(), k2.ID())
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(raw[:16])} {
		if _, err := Parse(bad, "CONVERSA_SECRET_KEY"); err == nil || !strings.Contains(err.Error(), "CONVERSA_SECRET_KEY") {
			t.Errorf("Parse(%q) = %v, want an error naming the source", bad, err)
		}
	}
}

func TestLoadGeneratesPrivateFile(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "data", "secret.key")
	if _, _, err := Load(path, "", false); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(missing, create=false) = %v, want fs.ErrNotExist", err)
	}
	k, generated, err := Load(path, "", true)
	if err != nil || !generated {
		t.Fatalf("Load(missing, create) = %v, generated %v", err, generated)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("generated key file mode %v (%v), want 0600", info.Mode().Perm(), err)
	}
	if info, err := os.Stat(filepath.Dir(path)); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("key file directory mode %v (%v), want 0700", info.Mode().Perm(), err)
	}
	if err := CheckMode(path); err != nil {
		t.Errorf("CheckMode(generated) = %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("key directory holds %v, want only the key file", entries)
	}
	again, generated, err := Load(path, "", true)
	if err != nil || generated || again.ID() != k.ID() {
		t.Errorf("Load(existing) = %v, generated %v, id %s; want the same key %s", err, generated, again.ID(), k.ID())
	}

	raw, _ := Generate()
	env, _, err := Load(path, Encode(raw), true)
	want, _ := New(raw, EnvVar)
	if err != nil || env.ID() != want.ID() || env.Source() != EnvVar {
		t.Errorf("Load with %s = %v (%v), want the variable's key", EnvVar, env, err)
	}
	if _, _, err := Load(path, "short", true); err == nil || !strings.Contains(err.Error(), EnvVar) {
		t.Errorf("Load with a bad %s = %v, want an error naming it", EnvVar, err)
	}

	if err := WriteFile(path, raw); !errors.Is(err, fs.ErrExist) {
		t.Errorf("WriteFile over a key = %v, want fs.ErrExist", err)
	}
	if err := ReplaceFile(path, raw); err != nil {
		t.Fatal(err)
	}
	if k, err := ReadFile(path); err != nil || k.ID() != want.ID() {
		t.Errorf("after ReplaceFile the file holds %v (%v), want key %s", k, err, want.ID())
	}
	os.Chmod(path, 0o644)
	if err := CheckMode(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("CheckMode(0644) = %v, want advice to chmod 600", err)
	}
}
