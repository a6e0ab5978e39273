package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// igdirectConfig is metaConfig served by the third-party channel plugin
// conversa-plugin-igdirect, installed in the server's own plugins directory
// (the tests change its bytes).
func igdirectConfig(graphURL string) string {
	return strings.Replace(metaConfig(graphURL, ""), `channel = "meta"`, `channel = "igdirect"`, 1)
}

// installPlugin copies a plugin built for the run into the server's plugins
// directory, replacing any file there at once (a rename, as a deploy does),
// with extra bytes appended; it returns the file's SHA-256.
func (s *server) installPlugin(name string, extra []byte) string {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(pluginsDir, "conversa-plugin-"+name))
	if err != nil {
		s.t.Fatal(err)
	}
	b = append(b, extra...)
	dir := filepath.Join(s.dir, "plugins")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.t.Fatal(err)
	}
	tmp := filepath.Join(dir, ".new-"+name)
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "conversa-plugin-"+name)); err != nil {
		s.t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

type pluginStatus struct {
	Name      string `json:"name"`
	State     string `json:"state"`
	LastError string `json:"last_error"`
	SHA256    string `json:"sha256"`
	PID       int    `json:"pid"`
	Builtin   bool   `json:"builtin"`
}

func (s *server) pluginStatus(token, name string) pluginStatus {
	s.t.Helper()
	var out struct {
		Plugins []pluginStatus `json:"plugins"`
	}
	if status := s.api("GET", "/api/v1/plugins", token, nil, &out); status != 200 {
		s.t.Fatalf("GET /api/v1/plugins = %d", status)
	}
	for _, p := range out.Plugins {
		if p.Name == name {
			return p
		}
	}
	s.t.Fatalf("GET /api/v1/plugins has no %s: %+v", name, out.Plugins)
	return pluginStatus{}
}

func (s *server) integrationAvailability(token, id string) (bool, string) {
	s.t.Helper()
	var in struct {
		Available bool   `json:"available"`
		Reason    string `json:"unavailable_reason"`
	}
	if status := s.api("GET", "/api/v1/integrations/"+id, token, nil, &in); status != 200 {
		s.t.Fatalf("GET /api/v1/integrations/%s = %d", id, status)
	}
	return in.Available, in.Reason
}

func (s *server) runsPlugin(name string) bool {
	return strings.Contains(strings.Join(s.children(), "\n"), "conversa-plugin-"+name)
}

func TestThirdPartyPluginRunsOnlyWhileTrusted(t *testing.T) {
	graph := newFakeGraph(t)
	srv := preparedServer(t, igdirectConfig(graph.URL))
	first := srv.installPlugin("igdirect", nil)
	srv.start()
	t.Cleanup(srv.stop)
	admin := srv.admin()
	trust := func(want string) {
		t.Helper()
		out := srv.cli("plugins", "trust", "igdirect", "--config", srv.config)
		if !strings.Contains(out, "plugin igdirect trusted: ") || !strings.Contains(out, "sha256 "+want) {
			t.Errorf("plugins trust printed %q, want the executable's sha256 %s", out, want)
		}
	}
	untrusted := func(reason string) {
		t.Helper()
		eventually(t, "igdirect untrusted: "+reason, func() bool {
			p := srv.pluginStatus(admin, "igdirect")
			return p.State == "untrusted" && strings.Contains(p.LastError, reason) && p.PID == 0
		})
		// A running process is asked to stop, then killed after a grace.
		eventually(t, "no igdirect process", func() bool { return !srv.runsPlugin("igdirect") })
		ok, why := srv.integrationAvailability(admin, "ig-meta")
		if ok || !strings.Contains(why, `plugin "igdirect" is untrusted: `+reason) {
			t.Errorf("integration available = %v, %q; want unavailable, saying %q", ok, why, reason)
		}
		if status, _ := srv.postMeta("ig-meta", metaSecret, metaText(customerA, "m-refused-"+reason[:3], "hello?", time.Now())); status != 503 {
			t.Errorf("webhook while the channel is untrusted = %d, want 503 (Meta retries)", status)
		}
	}
	running := func() {
		t.Helper()
		eventually(t, "igdirect running", func() bool { return srv.pluginStatus(admin, "igdirect").State == "running" })
		if !srv.runsPlugin("igdirect") {
			t.Errorf("children %v: want conversa-plugin-igdirect", srv.children())
		}
		if ok, why := srv.integrationAvailability(admin, "ig-meta"); !ok {
			t.Errorf("integration unavailable once trusted: %q", why)
		}
	}

	// Never trusted: not started.
	untrusted("not trusted: run conversa plugins trust igdirect")
	for _, line := range strings.Split(srv.logs.String(), "\n") {
		if strings.Contains(line, "plugin=igdirect") && (strings.Contains(line, `msg="plugin started"`) || strings.Contains(line, "process exited")) {
			t.Errorf("the untrusted plugin was started: %s", line)
		}
	}
	if p := srv.pluginStatus(admin, "igdirect"); p.SHA256 != first || p.Builtin {
		t.Errorf("status = %+v, want the third-party executable's sha256 %s", p, first)
	}
	if out := srv.cli("plugins", "list", "--config", srv.config); !strings.Contains(out, "igdirect  not trusted") || !strings.Contains(out, first) {
		t.Errorf("plugins list:\n%s\nwant igdirect not trusted, with its sha256", out)
	}

	// Trusted: started while the server runs, and it serves.
	trust(first)
	running()
	sends := len(graph.sends())
	if status, body := srv.postMeta("ig-meta", metaSecret, metaText(customerA, "m1", "olá", time.Now())); status != 200 {
		t.Fatalf("webhook once trusted = %d %s", status, body)
	}
	eventually(t, "the reply through the third-party channel", func() bool { return len(graph.sends()) > sends })

	// Its bytes change (one more at the end): stopped, and not started again.
	changed := srv.installPlugin("igdirect", []byte{0})
	untrusted("changed since it was trusted (sha256 " + changed[:12] + ", trusted " + first[:12] + ")")
	if out := srv.cli("plugins", "list", "--config", srv.config); !strings.Contains(out, "igdirect  changed since trusted ("+first[:12]+")") {
		t.Errorf("plugins list:\n%s\nwant igdirect changed since trusted", out)
	}
	if status, _ := srv.do("GET", "/healthz", nil, nil); status != 200 {
		t.Errorf("GET /healthz = %d: the server must stay up", status)
	}

	// The new bytes trusted: started again; untrusted: stopped.
	trust(changed)
	running()
	if out := srv.cli("plugins", "untrust", "igdirect", "--config", srv.config); !strings.Contains(out, "no longer trusted") {
		t.Errorf("plugins untrust printed %q", out)
	}
	untrusted("not trusted: run conversa plugins trust igdirect")
	if !strings.Contains(srv.logs.String(), "plugin not started: its executable is not trusted") {
		t.Error("the server's log does not say why the plugin was not started")
	}
}

func TestPluginsTrustRefusals(t *testing.T) {
	srv := preparedServer(t, metaConfig("http://127.0.0.1:1", ""))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"trust", "meta"}, "meta is a built-in plugin, part of the conversa binary: it is trusted with it"},
		{[]string{"trust", "nope"}, "no executable conversa-plugin-nope in "},
		{[]string{"trust", "../etc"}, `"../etc" is not a plugin name`},
		{[]string{"untrust", "nope"}, "plugin nope was not trusted"},
	} {
		out, code := runConversa(t, srv.dir, "", append(append([]string{"plugins"}, tc.args...), "--config", srv.config)...)
		if code != 1 || !strings.Contains(out, tc.want) {
			t.Errorf("plugins %v = exit %d %q, want exit 1 saying %q", tc.args, code, out, tc.want)
		}
	}
	if out, code := runConversa(t, srv.dir, "", "plugins", "trust", "--config", srv.config); code != 2 || !strings.Contains(out, "usage:") {
		t.Errorf("plugins trust without a name = exit %d %q, want the usage", code, out)
	}
}

func TestSystemPageShowsAnUntrustedPlugin(t *testing.T) {
	graph := newFakeGraph(t)
	srv := preparedServer(t, igdirectConfig(graph.URL))
	srv.installPlugin("igdirect", nil)
	srv.addAgent(agentSpec{Login: "boss", Name: "Boss", Role: "admin", Password: "boss-password"})
	srv.start()
	t.Cleanup(srv.stop)
	ctx := newBrowser(t)
	browserSignIn(t, ctx, srv, "boss", "boss-password")
	act(t, ctx, "opening the System page", chromedp.Navigate(srv.URL+"/system"))
	row := `document.querySelector('tr[data-plugin="igdirect"]')`
	waitFor(t, ctx, "the igdirect row", row+` !== null`)
	if got := evalJS[string](t, ctx, row+`.querySelector('.pill').textContent`); got != "Not trusted" {
		t.Errorf("state shown = %q, want Not trusted", got)
	}
	if got := evalJS[string](t, ctx, row+`.textContent`); !strings.Contains(got, "not trusted: run conversa plugins trust igdirect") ||
		!strings.Contains(got, "sha256 ") {
		t.Errorf("row = %q, want the reason with the command to run, and the executable's sha256", got)
	}
	screenshot(t, ctx, screenshotDir(t), "system-untrusted-plugin")
}
