package pluginhost

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// The test binary doubles as the plugins under test: the host re-executes it
// as `<test binary> plugin NAME [ARGS]`, the way conversa re-executes itself.
func TestMain(m *testing.M) {
	if len(os.Args) >= 3 && os.Args[1] == "plugin" {
		servePlugin(os.Args[2], os.Args[3:])
		return
	}
	// A plugin built with -race otherwise lingers a second when it exits.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	os.Exit(m.Run())
}

// plugins are the test binary's other plugins, by name (benchmarks add
// theirs).
var plugins = map[string]func(){}

// servePlugin behaves as the plugin name asks:
//   - slow STARTED GATE: appends its pid to the file STARTED, then waits for
//     the file GATE to exist before its handshake (a plugin slow to start);
//   - anything else: serves testAssistant at once.
func servePlugin(name string, args []string) {
	if serve, ok := plugins[name]; ok {
		serve()
		return
	}
	if name == "slow" && len(args) == 2 {
		f, err := os.OpenFile(args[0], os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			os.Exit(4)
		}
		fmt.Fprintln(f, os.Getpid())
		f.Close()
		for {
			if _, err := os.Stat(args[1]); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	sdk.Serve(sdk.Plugin{Name: name, Version: "0.0.1", Assistant: testAssistant{}})
}

// testAssistant echoes and logs every call. Told "crash", it exits the
// process (a plugin that dies mid-call); told "hang", it answers only when
// the call is cancelled.
type testAssistant struct{}

func (testAssistant) Describe(context.Context) (*proto.AssistantInfo, error) {
	return &proto.AssistantInfo{Name: "test"}, nil
}

func (testAssistant) Converse(ctx context.Context, r *proto.ConverseRequest) (*proto.ConverseResponse, error) {
	text := r.Contents[0].Text
	sdk.Logger().Warn("converse called", "said", text)
	switch text {
	case "crash":
		os.Exit(3)
	case "hang":
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &proto.ConverseResponse{Replies: []*proto.Content{{Type: "text", Text: "echo: " + text}}}, nil
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// harness is a Host whose OnChange records every change, after calling back
// into the host: were a lock held during OnChange, that would deadlock.
type harness struct {
	*Host
	logs *logBuffer

	mu      sync.Mutex
	changes map[string][]string
}

// newHarness starts a host of the test binary's plugins; tune, when set,
// shortens its policy before anything runs.
func newHarness(t *testing.T, o Options, tune func(*policy)) *harness {
	t.Helper()
	hs := &harness{logs: &logBuffer{}, changes: map[string][]string{}}
	o.Logger = slog.New(slog.NewTextHandler(hs.logs, nil))
	o.Self = os.Args[0]
	o.OnChange = hs.onChange
	if o.Pin == nil {
		o.Pin = trustWhateverIsThere(o.Dir)
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(&h.pol)
	}
	hs.Host = h
	t.Cleanup(func() {
		h.Close()
		if t.Failed() {
			t.Logf("host log:\n%s", hs.logs)
		}
	})
	return hs
}

// trustWhateverIsThere pins every executable in dir as it is now: for the
// tests of everything but trust, which replace executables freely.
func trustWhateverIsThere(dir string) func(context.Context, string) (string, error) {
	return func(_ context.Context, name string) (string, error) {
		sum, err := Sum(filepath.Join(dir, ExternalPrefix+name))
		if err != nil {
			return "", nil
		}
		return hex.EncodeToString(sum), nil
	}
}

func (hs *harness) onChange(name, state string) {
	_ = hs.Statuses()
	_, _ = hs.Availability(name)
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.changes[name] = append(hs.changes[name], state)
}

func (hs *harness) changesOf(name string) []string {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return slices.Clone(hs.changes[name])
}

func (hs *harness) status(t *testing.T, name string) Status {
	t.Helper()
	for _, st := range hs.Statuses() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no status for %s in %+v", name, hs.Statuses())
	return Status{}
}

// lastBackoff is the wait the supervisor chose after the last crash or
// failed start.
func lastBackoff(h *Host, name string) time.Duration {
	h.mu.RLock()
	s := h.plugins[name]
	h.mu.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.backoff
}

func newHost(t *testing.T, dir string, builtins ...string) (*Host, *logBuffer) {
	t.Helper()
	hs := newHarness(t, Options{Dir: dir, Builtins: builtins}, nil)
	return hs.Host, hs.logs
}

func converseWithin(h *Host, d time.Duration, name, text string) (string, error) {
	as, err := h.Assistant(name)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	resp, err := as.Converse(ctx, &ConverseRequest{Contents: []model.Content{{Type: "text", Text: text}}})
	if err != nil {
		return "", err
	}
	return resp.Replies[0].Text, nil
}

func converse(t *testing.T, h *Host, name, text string) (string, error) {
	t.Helper()
	if !h.Has(name) {
		t.Fatalf("no plugin %s", name)
	}
	return converseWithin(h, 20*time.Second, name, text)
}

func notAttempted(err error) bool {
	var na interface{ NotAttempted() bool }
	return errors.As(err, &na) && na.NotAttempted()
}

// waitFor polls cond; generous, since -race on a busy machine is slow.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// writeScript installs a third-party plugin: a shell script, replaced
// atomically, as an operator's deploy would.
func writeScript(t *testing.T, dir, name, body string, mode os.FileMode) {
	t.Helper()
	tmp := filepath.Join(dir, ".tmp-"+name)
	if err := os.WriteFile(tmp, []byte("#!/bin/sh\n"+body+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, ExternalPrefix+name)); err != nil {
		t.Fatal(err)
	}
}

// serving is the script of a working third-party plugin.
func serving(name string, args ...string) string {
	cmd := fmt.Sprintf("exec %q plugin %q", os.Args[0], name)
	for _, a := range args {
		cmd += fmt.Sprintf(" %q", a)
	}
	return cmd
}

func TestBuiltinRunsAsProcessAndItsLogsReachTheHost(t *testing.T) {
	h, logs := newHost(t, "", "echo")
	got, err := converse(t, h, "echo", "hi")
	if err != nil || got != "echo: hi" {
		t.Fatalf("Converse = %q, %v; want the plugin's echo", got, err)
	}
	st := h.Statuses()
	if len(st) != 1 || st[0].State != StateRunning || st[0].PID == 0 || st[0].PID == os.Getpid() || st[0].Version != "0.0.1" {
		t.Errorf("Statuses() = %+v, want echo running in its own process", st)
	}
	waitFor(t, "the plugin's log line in the host's log", func() bool {
		l := logs.String()
		return strings.Contains(l, "level=WARN") && strings.Contains(l, `msg="converse called"`) &&
			strings.Contains(l, "plugin=echo") && strings.Contains(l, "said=hi")
	})
}

func TestCrashedPluginIsRestarted(t *testing.T) {
	hs := newHarness(t, Options{Builtins: []string{"echo"}}, nil)
	if _, err := converse(t, hs.Host, "echo", "hi"); err != nil {
		t.Fatal(err)
	}
	before := hs.status(t, "echo").PID
	_, err := converse(t, hs.Host, "echo", "crash")
	if err == nil {
		t.Fatal("Converse(crash) succeeded, want the error of a plugin that died mid-call")
	}
	if notAttempted(err) {
		t.Errorf("Converse(crash) = %v, reported as not attempted; the plugin did get the call", err)
	}
	waitFor(t, "the plugin restarted", func() bool {
		st := hs.status(t, "echo")
		return st.State == StateRunning && st.Restarts == 1 && st.PID != before
	})
	if got, err := converse(t, hs.Host, "echo", "again"); err != nil || got != "echo: again" {
		t.Errorf("Converse after the restart = %q, %v", got, err)
	}
	want := []string{StateRunning, StateRestarting, StateRunning}
	if got := hs.changesOf("echo"); !slices.Equal(got, want) {
		t.Errorf("OnChange calls = %v, want %v", got, want)
	}
}

func TestAnRPCThatWasMadeIsNotReportedAsNotAttempted(t *testing.T) {
	hs := newHarness(t, Options{Builtins: []string{"echo"}}, nil)
	if err := hs.Start(context.Background(), "echo"); err != nil {
		t.Fatal(err)
	}
	pid := hs.status(t, "echo").PID
	_, err := converseWithin(hs.Host, 300*time.Millisecond, "echo", "hang")
	if err == nil || notAttempted(err) {
		t.Errorf("Converse(hang) with a short deadline = %v, want an error without NotAttempted", err)
	}
	if st := hs.status(t, "echo"); st.State != StateRunning || st.PID != pid {
		t.Errorf("after a call that timed out: %+v, want the same process still running", st)
	}
	if got, err := converse(t, hs.Host, "echo", "hi"); err != nil || got != "echo: hi" {
		t.Errorf("Converse = %q, %v", got, err)
	}
}

func TestUnknownAndWrongKindPlugins(t *testing.T) {
	h, _ := newHost(t, "", "echo")
	_, err := h.Channel("nope")
	if !errors.Is(err, ErrUnknown) || !notAttempted(err) {
		t.Errorf("Channel(nope) = %v, want ErrUnknown, not attempted", err)
	}
	if ok, why := h.Availability("nope"); ok || !strings.Contains(why, `no plugin named "nope"`) {
		t.Errorf("Availability(nope) = %v, %q", ok, why)
	}
	ch, err := h.Channel("echo")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ch.Describe(context.Background())
	if err == nil || !strings.Contains(err.Error(), "not a channel plugin") || !notAttempted(err) {
		t.Errorf("Describe on an assistant-only plugin = %v, want a clear error, not attempted", err)
	}
}

func TestExternalPluginsAreDiscovered(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "ext", serving("external"), 0o755)
	// Not executable, or not named for Conversa: ignored. A symlink to an
	// executable is one.
	writeScript(t, dir, "noexec", serving("external"), 0o644)
	os.WriteFile(filepath.Join(dir, "other-tool"), []byte("#!/bin/sh\n"), 0o755)
	if err := os.Symlink(filepath.Join(dir, ExternalPrefix+"ext"), filepath.Join(dir, ExternalPrefix+"link")); err != nil {
		t.Fatal(err)
	}
	h, _ := newHost(t, dir)
	if got := strings.Join(h.Names(), ","); got != "ext,link" {
		t.Fatalf("Names() = %s, want ext,link", got)
	}
	for _, name := range []string{"ext", "link"} {
		if got, err := converse(t, h, name, "hi"); err != nil || got != "echo: hi" {
			t.Errorf("Converse on the external plugin %s = %q, %v", name, got, err)
		}
	}
	if st := h.Statuses()[0]; st.Builtin || st.Path != filepath.Join(dir, ExternalPrefix+"ext") {
		t.Errorf("status = %+v, want an external plugin with its path", st)
	}
}

func TestBackoff(t *testing.T) {
	p := defaultPolicy()
	for n, want := range map[int]time.Duration{
		0: 0, 1: 250 * time.Millisecond, 2: 500 * time.Millisecond, 3: time.Second, 4: 2 * time.Second,
		7: 16 * time.Second, 8: 30 * time.Second, 9: 30 * time.Second, 1000: 30 * time.Second,
	} {
		if got := p.backoff(n); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
}
