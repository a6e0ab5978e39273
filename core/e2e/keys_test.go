package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// conversa keys rotate: every secret encrypted again under a new key, the
// old one kept; run again after an interruption, it finishes.
func TestKeysRotate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	srv.stop()
	keyFile := filepath.Join(srv.dir, "data", "secret.key")
	orig := srv.keyText()
	oldID := keyIDOf(t, orig)

	out, code := runConversa(t, srv.dir, "", "keys", "rotate", "--config", srv.config)
	if code != 0 {
		t.Fatalf("keys rotate = exit %d:\n%s", code, out)
	}
	newID := keyIDOf(t, srv.keyText())
	backup := keyFile + "." + oldID + ".old"
	if newID == oldID || !strings.Contains(out, newID) || !strings.Contains(out, "data/secret.key."+oldID+".old") {
		t.Errorf("keys rotate printed:\n%s\nwant the new key %s and where the old one is kept (%s)", out, newID, filepath.Base(backup))
	}
	if b, err := os.ReadFile(backup); err != nil || strings.TrimSpace(string(b)) != orig {
		t.Errorf("old key kept as %q (%v), want the replaced key", b, err)
	}
	for _, p := range []string{keyFile, backup} {
		if info, err := os.Stat(p); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", filepath.Base(p), info.Mode().Perm(), err)
		}
	}
	if got := srv.sealedBy(); len(got) != 1 || got[newID] == 0 {
		t.Errorf("after rotation the secrets are sealed by %v, want all by %s", got, newID)
	}
	srv.start()
	if status, _ := srv.postMeta("ig-meta", metaSecret, metaText(customerA, "mid-rot-1", "oi", time.Now())); status != 200 {
		t.Errorf("webhook after rotation = %d, want 200 (the app secret opens with the new key)", status)
	}
	eventually(t, "the reply", func() bool { return graph.delivered() > 0 })
	if got := graph.sends()[0].Auth; got != "Bearer token-abc" {
		t.Errorf("reply sent with %q, want the access token as configured", got)
	}
	srv.stop()

	// A rotation that stopped after the database changed, before the new
	// key took the file's place: the start says where the key is, and
	// running the rotation again finishes it.
	if err := os.Rename(keyFile, keyFile+".new"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(orig+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code = serveFails(t, srv.dir, srv.config)
	if code != 1 || !strings.Contains(out, "secret.key.new holds key "+newID) {
		t.Errorf("start after an interrupted rotation = exit %d:\n%s\nwant exit 1 pointing at secret.key.new", code, out)
	}
	out, code = runConversa(t, srv.dir, "", "keys", "rotate", "--config", srv.config)
	if code != 0 || !strings.Contains(out, "0 secrets re-encrypted") {
		t.Fatalf("keys rotate resumed = exit %d:\n%s\nwant it to put the new key in place, re-encrypting nothing", code, out)
	}
	if got := keyIDOf(t, srv.keyText()); got != newID {
		t.Errorf("key file after the resumed rotation holds %s, want %s", got, newID)
	}
	if _, err := os.Stat(keyFile + ".new"); err == nil {
		t.Error("secret.key.new is still there after the rotation finished")
	}

	// With the key in the environment, the new one must go to a file named.
	out, code = runConversa(t, srv.dir, "", "keys", "rotate", "--config", srv.config)
	if code != 0 {
		t.Fatalf("second rotation = exit %d:\n%s", code, out)
	}
	cmd := exec.Command(binary, "keys", "rotate", "--config", srv.config)
	cmd.Dir, cmd.Env = srv.dir, append(os.Environ(), "CONVERSA_SECRET_KEY="+srv.keyText())
	if b, _ := cmd.CombinedOutput(); cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(b), "--new-key-file") {
		t.Errorf("keys rotate with CONVERSA_SECRET_KEY and no --new-key-file = exit %d:\n%s\nwant exit 1 asking for one", cmd.ProcessState.ExitCode(), b)
	}
}
