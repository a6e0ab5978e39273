package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// pluginsTest runs `conversa plugins test ARGS...` and returns its output
// and exit code.
func pluginsTest(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return runConversa(t, t.TempDir(), "", append([]string{"plugins", "test"}, args...)...)
}

func repoPath(parts ...string) string {
	abs, _ := filepath.Abs(filepath.Join(append([]string{"..", ".."}, parts...)...))
	return abs
}

// wantOK checks that every case kind has at least one ok line (so a case
// that silently stopped running shows) and that nothing failed.
func wantOK(t *testing.T, name, out string, kinds []string) {
	t.Helper()
	for _, k := range kinds {
		re := regexp.MustCompile(`(?m)^ok   ` + regexp.QuoteMeta(k) + `(/|$)`)
		if !re.MatchString(out) {
			t.Errorf("%s: no ok line for %s", name, k)
		}
	}
	if strings.Contains(out, "\nFAIL ") || strings.HasPrefix(out, "FAIL ") {
		t.Errorf("%s: a case failed", name)
	}
}

var commonCases = []string{"handshake", "handshake.cookie", "info.describe", "health", "fixtures", "health.final", "shutdown"}

var channelCases = append([]string{"channel.describe", "settings.valid", "settings_invalid", "webhook", "send", "send.error.500",
	"send.error.unreachable", "send.deadline", "profile", "secrets"}, commonCases...)

func TestPluginsTestPassesTheBuiltins(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cases []string
	}{
		{"meta", channelCases},
		{"zenvia", channelCases},
		{"rules", append([]string{"assistant.describe", "converse"}, commonCases...)},
		{"rasa", append([]string{"assistant.describe", "converse", "converse.deadline", "secrets"}, commonCases...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := pluginsTest(t, tc.name, "--fixtures", repoPath("plugins", tc.name, "testdata", "contract"))
			if code != 0 {
				t.Errorf("conversa plugins test %s = exit %d, want 0", tc.name, code)
			}
			wantOK(t, tc.name, out, tc.cases)
			// Hostile variants of signed or authenticated webhooks.
			if tc.name == "meta" || tc.name == "zenvia" {
				wantOK(t, tc.name, out, []string{"webhook/01-text/flipped", "webhook/01-text/random-1mib", "webhook/01-text/nested"})
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}

func TestPluginsTestPassesTheEchoExample(t *testing.T) {
	// The SDK example, built by TestMain as a third party would build it.
	bin := filepath.Join(pluginsDir, "conversa-plugin-echo")
	out, code := pluginsTest(t, bin, "--fixtures", repoPath("plugins", "examples", "echo", "testdata", "contract"))
	if code != 0 {
		t.Errorf("conversa plugins test echo = exit %d, want 0", code)
	}
	wantOK(t, "echo", out, append([]string{"assistant.describe", "converse"}, commonCases...))
	if !strings.Contains(out, "PASS echo 1.0.0: ") {
		t.Errorf("no PASS summary naming the plugin")
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// The Node.js example passes the same suite as the built-ins, installed as
// an operator installs it: a symlink named conversa-plugin-webhook.
func TestPluginsTestPassesTheNodeExample(t *testing.T) {
	js := nodeWebhookScript(t)
	bin := filepath.Join(t.TempDir(), "conversa-plugin-webhook")
	if err := os.Symlink(js, bin); err != nil {
		t.Fatal(err)
	}
	out, code := pluginsTest(t, bin, "--fixtures", repoPath("plugins", "examples", "webhook-node", "testdata", "contract"))
	if code != 0 {
		t.Errorf("conversa plugins test webhook = exit %d, want 0", code)
	}
	// Profile is the one call it has no fixture for: the channel has no
	// profile lookup and says so.
	wantOK(t, "webhook", out, slices.DeleteFunc(slices.Clone(channelCases), func(k string) bool { return k == "profile" }))
	wantOK(t, "webhook", out, []string{"webhook/file_and_text/flipped", "webhook/file_and_text/nested"})
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// The broken plugin gets several cases wrong in distinct ways; each must be
// named, and the cases it gets right must still pass.
func TestPluginsTestFailsABrokenPlugin(t *testing.T) {
	watchSources()
	bin := filepath.Join(t.TempDir(), "brokenplugin")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/conversa/conversa/core/e2e/testdata/brokenplugin")...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the broken plugin: %v\n%s", err, out)
	}
	out, code := pluginsTest(t, "--fixtures", repoPath("core", "e2e", "testdata", "brokenplugin", "testdata", "contract"), bin)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, tc := range []struct{ name, reason string }{
		{"channel.describe", `unknown content type "sticker"`},
		{"webhook/02-bad-signature", "authenticated = true, want false"},
		{"webhook/01-message/flipped", "accepted as authenticated"},
		{"webhook/01-message/empty", "the plugin process exited during this case (last log lines: panic: runtime error: index out of range"},
		{"webhook/01-message/random-1mib", "Internal"},
		{"send.error.500", "want an error that is retryable or unknown_outcome"},
		{"send.deadline", "still held its call to the provider"},
		{"secrets", "the value of settings.api_token appears in the plugin's log output"},
	} {
		re := regexp.MustCompile(`(?m)^FAIL ` + regexp.QuoteMeta(tc.name) + `: .*` + regexp.QuoteMeta(tc.reason))
		if !re.MatchString(out) {
			t.Errorf("no FAIL line for %s saying %q", tc.name, tc.reason)
		}
	}
	// What it gets right passes, also after it crashed and was restarted.
	wantPass := []string{"handshake", "handshake.cookie", "info.describe", "health", "webhook/01-message",
		"send/01-text", "send/02-window-closed", "send.error.unreachable", "health.final", "shutdown"}
	for _, k := range wantPass {
		if !regexp.MustCompile(`(?m)^ok   ` + regexp.QuoteMeta(k) + `$`).MatchString(out) {
			t.Errorf("no ok line for %s", k)
		}
	}
	if !regexp.MustCompile(`(?m)^FAIL broken 0\.0\.1: \d+ ok, \d+ failed \(channel\.describe, `).MatchString(out) {
		t.Errorf("the summary does not name the failed cases")
	}
	if strings.Contains(out, "broken-api-token-0001") {
		t.Errorf("the report repeats the leaked secret")
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

func TestPluginsTestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"a", "b"}, {"no-such-plugin"}, {"meta", "--fixtures", "/no/such/dir"}, {"meta", "--bogus"}} {
		out, code := pluginsTest(t, args...)
		if code != 2 {
			t.Errorf("plugins test %q = exit %d, want 2:\n%s", args, code, out)
		}
	}
	out, _ := runConversa(t, t.TempDir(), "", "help")
	if !strings.Contains(out, "conversa plugins test PATH [--fixtures DIR]") {
		t.Errorf("conversa help does not mention plugins test:\n%s", out)
	}
}
