package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func runConversa(t *testing.T, dir, stdin string, args ...string) (string, int) {
	t.Helper()
	watchSources()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

func TestCheckReportsFileAndLine(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "scripts"), 0o755)
	cfg := filepath.Join(dir, "conversa.toml")
	os.WriteFile(cfg, []byte("[scripts]\ndir = \"scripts\"\n"), 0o644)

	out, code := runConversa(t, dir, "", "check", "--config", cfg)
	if code != 0 {
		t.Fatalf("check on defaults = exit %d:\n%s", code, out)
	}
	os.WriteFile(filepath.Join(dir, "scripts", "routing.lua"), []byte("function route(ev)\n  return {to = \n end\n"), 0o644)
	out, code = runConversa(t, dir, "", "check", "--config", cfg)
	if code != 1 || !regexp.MustCompile(`routing\.lua:\d+: `).MatchString(out) {
		t.Errorf("check with a broken script = exit %d:\n%s\nwant exit 1 and routing.lua:LINE: message", code, out)
	}
	os.WriteFile(cfg, []byte("[scripts]\ndir = \"scripts\"\n\n[server]\nlisten = \"127.0.0.1:1\"\nlisen = \"x\"\n"), 0o644)
	out, code = runConversa(t, dir, "", "check", "--config", cfg)
	if code != 1 || !strings.Contains(out, "conversa.toml:6: unknown key \"server.lisen\"") {
		t.Errorf("check with an unknown key = exit %d:\n%s", code, out)
	}
}

func TestAgentsAddCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "conversa.toml")
	os.WriteFile(cfg, []byte("[storage]\npath = \"data/c.db\"\n"), 0o644)
	add := func(stdin string, args ...string) (string, int) {
		return runConversa(t, dir, stdin, append([]string{"agents", "add", "--config", cfg}, args...)...)
	}
	if out, code := add("s3cret-pass\n", "--login", "ana", "--name", "Ana Lima", "--role", "agent", "--squads", "geral,vendas", "--max-chats", "5"); code != 0 {
		t.Fatalf("agents add = %d:\n%s", code, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--login", "ana", "--name", "Again", "--role", "agent"}, "login already exists"},
		{[]string{"--login", "bob", "--name", "Bob", "--role", "owner"}, "role"},
		{[]string{"--login", "bob", "--name", "Bob", "--role", "agent", "--max-chats", "0"}, ""},
	} {
		out, code := add("s3cret-pass\n", tc.args...)
		if tc.want == "" {
			if code != 0 {
				t.Errorf("agents add %v = %d:\n%s", tc.args, code, out)
			}
			continue
		}
		if code != 1 || !strings.Contains(out, tc.want) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("agents add %v = exit %d %q, want exit 1 with a one-line reason about %q", tc.args, code, out, tc.want)
		}
	}
	if out, code := add("short\n", "--login", "cid", "--name", "Cid", "--role", "admin"); code != 1 || !strings.Contains(out, "password") {
		t.Errorf("agents add with a short password = exit %d %q", code, out)
	}
}

func TestMetrics(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	srv.postMeta("ig-meta", metaSecret, fresh(fixture(t, "01-message-text.json")))
	srv.postMeta("ig-meta", "wrong", fresh(fixture(t, "01-message-text.json")))
	eventually(t, "processing", srv.drained)
	status, body := srv.do("GET", "/metrics", nil, nil)
	for _, want := range []string{
		`conversa_webhooks_total{integration="ig-meta",result="accepted"} 1`,
		`conversa_webhooks_total{integration="ig-meta",result="refused"} 1`,
		`conversa_events_stored_total 1`,
		`conversa_inbox_pending 0`,
		`conversa_plugin_up{plugin="meta"} 1`,
	} {
		if status != 200 || !strings.Contains(string(body), want) {
			t.Errorf("/metrics = %d, missing %q:\n%s", status, want, body)
		}
	}
}
