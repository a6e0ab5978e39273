package scripting

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
)

// logBuffer collects an engine's log so tests can look for a line.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// writeScripts writes name → source into dir.
func writeScripts(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// newEngine starts an engine on a fresh dir holding files, without a
// watcher unless opts ask for one. The time limit is generous: tests that
// are not about it must not fail on a busy machine.
func newEngine(t *testing.T, files map[string]string, opts ...func(*Options)) (*Engine, *logBuffer) {
	t.Helper()
	dir := t.TempDir()
	writeScripts(t, dir, files)
	logs := &logBuffer{}
	o := Options{Dir: dir, Logger: logs.logger(), PoolSize: 2, Timeout: 2 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	e, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e, logs
}

// event is a message of the given type in a new direct conversation of an
// integration with an assistant and the squad "geral".
func event(typ, text string) *Event {
	return &Event{
		Integration: EventIntegration{ID: "ig", Name: "Instagram", Channel: "zenvia", Squad: "geral", Assistant: "demo",
			UnsupportedMediaMessages: []string{"Sorry, text only.", "Try again?"}},
		Contact:      EventContact{ID: "17841400000000001", Username: "maria.silva", Name: "Maria Silva"},
		Conversation: EventConversation{ID: 42, State: model.StateBot, Origin: model.OriginDirect, New: true},
		Message:      EventMessage{Type: typ, Text: text},
		Now:          time.Date(2026, 3, 4, 13, 0, 0, 0, time.UTC), // a Wednesday
	}
}

func status(t *testing.T, e *Engine, name string) Status {
	t.Helper()
	for _, s := range e.Statuses() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no status for %s in %+v", name, e.Statuses())
	return Status{}
}

func options(titles ...string) []model.Option {
	var out []model.Option
	for _, t := range titles {
		out = append(out, model.Option{Title: t, Payload: strings.ToUpper(t)})
	}
	return out
}

func contextCanceled(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx, cancel
}

func writeFile(dir, name, src string) error {
	return os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644)
}

// sameRoute compares routes, their replies element by element.
func sameRoute(a, b Route) bool {
	return a.To == b.To && a.Squad == b.Squad && a.Priority == b.Priority && a.Agent == b.Agent &&
		slices.Equal(a.Reply, b.Reply)
}
