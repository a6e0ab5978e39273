package pluginhost

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// The test binary doubles as the plugins under test: the host re-executes it
// as `<test binary> plugin NAME`, the way conversa re-executes itself.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "plugin" {
		sdk.Serve(sdk.Plugin{Name: os.Args[2], Version: "0.0.1", Assistant: testAssistant{}})
		return
	}
	os.Exit(m.Run())
}

// testAssistant echoes, logs every call, and exits the process when told
// "crash" (a plugin that dies mid-call).
type testAssistant struct{}

func (testAssistant) Describe(context.Context) (*proto.AssistantInfo, error) {
	return &proto.AssistantInfo{Name: "test"}, nil
}

func (testAssistant) Converse(_ context.Context, r *proto.ConverseRequest) (*proto.ConverseResponse, error) {
	text := r.Contents[0].Text
	sdk.Logger().Warn("converse called", "said", text)
	if text == "crash" {
		os.Exit(3)
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

func newHost(t *testing.T, dir string, builtins ...string) (*Host, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	h, err := New(Options{Logger: slog.New(slog.NewTextHandler(logs, nil)), Self: os.Args[0], Builtins: builtins, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h, logs
}

func converse(t *testing.T, h *Host, name, text string) (string, error) {
	t.Helper()
	as, err := h.Assistant(name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := as.Converse(ctx, &proto.ConverseRequest{Contents: []*proto.Content{{Type: "text", Text: text}}})
	if err != nil {
		return "", err
	}
	return resp.Replies[0].Text, nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
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
	defer func() {
		if t.Failed() {
			t.Logf("host log:\n%s", logs)
		}
	}()
	waitFor(t, "the plugin's log line in the host's log", func() bool {
		l := logs.String()
		return strings.Contains(l, "level=WARN") && strings.Contains(l, `msg="converse called"`) &&
			strings.Contains(l, "plugin=echo") && strings.Contains(l, "said=hi")
	})
}

func TestCrashedPluginIsRestarted(t *testing.T) {
	h, _ := newHost(t, "", "echo")
	if _, err := converse(t, h, "echo", "hi"); err != nil {
		t.Fatal(err)
	}
	before := h.Statuses()[0].PID
	if _, err := converse(t, h, "echo", "crash"); err == nil {
		t.Fatal("Converse(crash) succeeded, want the error of a plugin that died mid-call")
	}
	waitFor(t, "the plugin restarted", func() bool {
		st := h.Statuses()[0]
		return st.State == StateRunning && st.Restarts == 1 && st.PID != before
	})
	if got, err := converse(t, h, "echo", "again"); err != nil || got != "echo: again" {
		t.Errorf("Converse after the restart = %q, %v", got, err)
	}
}

func TestUnknownAndWrongKindPlugins(t *testing.T) {
	h, _ := newHost(t, "", "echo")
	if _, err := h.Channel("nope"); err == nil {
		t.Error("Channel(nope) succeeded, want ErrUnknown")
	}
	ch, err := h.Channel("echo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Describe(context.Background()); err == nil || !strings.Contains(err.Error(), "not a channel plugin") {
		t.Errorf("Describe on an assistant-only plugin = %v, want a clear error", err)
	}
}

func TestExternalPluginsAreDiscovered(t *testing.T) {
	dir := t.TempDir()
	script := fmt.Sprintf("#!/bin/sh\nexec %q plugin external\n", os.Args[0])
	if err := os.WriteFile(filepath.Join(dir, ExternalPrefix+"ext"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// Not executable, or not named for Conversa: ignored.
	os.WriteFile(filepath.Join(dir, ExternalPrefix+"noexec"), []byte(script), 0o644)
	os.WriteFile(filepath.Join(dir, "other-tool"), []byte(script), 0o755)
	h, _ := newHost(t, dir)
	if got := strings.Join(h.Names(), ","); got != "ext" {
		t.Fatalf("Names() = %s, want ext only", got)
	}
	if got, err := converse(t, h, "ext", "hi"); err != nil || got != "echo: hi" {
		t.Errorf("Converse on the external plugin = %q, %v", got, err)
	}
	if st := h.Statuses()[0]; st.Builtin || st.Path == "" {
		t.Errorf("status = %+v, want an external plugin with its path", st)
	}
}
