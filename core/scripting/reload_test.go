package scripting

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func routeTo(squad string) string {
	return fmt.Sprintf("function route(ev)\n  return {to = \"squad\", squad = %q}\nend\n", squad)
}

// watched starts an engine watching dir and returns a channel that receives
// after each reload the watcher runs.
func watched(t *testing.T, dir string) (*Engine, <-chan struct{}) {
	t.Helper()
	reloads := make(chan struct{}, 100)
	logs := &logBuffer{}
	e, err := New(Options{Dir: dir, Watch: true, Timeout: 2 * time.Second, Logger: logs.logger(), onReload: func() {
		select {
		case reloads <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, reloads
}

// waitFor waits for reloads until cond holds; the deadline only keeps a
// broken watcher from hanging the test.
func waitFor(t *testing.T, reloads <-chan struct{}, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-reloads:
		case <-deadline:
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// A file saved under a running engine takes effect without a restart; a
// broken save keeps the running version and reports the line; a fix clears
// the error; deleting the file brings back the default.
func TestLiveEdit(t *testing.T) {
	dir := t.TempDir()
	writeScripts(t, dir, map[string]string{"routing.lua": routeTo("one")})
	e, reloads := watched(t, dir)
	squad := func() string { return e.Route(t.Context(), event("text", "hi")).Squad }
	if got := squad(); got != "one" {
		t.Fatalf("Route before the edit: squad %q, want one", got)
	}

	writeScripts(t, dir, map[string]string{"routing.lua": routeTo("two")})
	waitFor(t, reloads, "version 2", func() bool { return status(t, e, "routing.lua").Version == 2 })
	if got := squad(); got != "two" {
		t.Errorf("Route after the edit: squad %q, want two", got)
	}

	writeScripts(t, dir, map[string]string{"routing.lua": "function route(ev)\n  local x = 1\n  return {to = = \"squad\"}\nend\n"})
	waitFor(t, reloads, "the compile error", func() bool { return status(t, e, "routing.lua").LastError != "" })
	st := status(t, e, "routing.lua")
	if !strings.HasPrefix(st.LastError, "routing.lua:3: ") || st.Version != 2 || st.Source != SourceFile {
		t.Errorf("status after a broken save = %+v, want version 2 still running and the error at routing.lua:3", st)
	}
	if got := squad(); got != "two" {
		t.Errorf("Route after a broken save: squad %q, want two (the previous version)", got)
	}

	// Editors often save by writing a new file and renaming it over the old.
	tmp := filepath.Join(dir, ".routing.lua.swp")
	if err := os.WriteFile(tmp, []byte(routeTo("three")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "routing.lua")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, reloads, "version 3", func() bool { return status(t, e, "routing.lua").Version == 3 })
	if st := status(t, e, "routing.lua"); st.LastError != "" {
		t.Errorf("LastError after the fix = %q, want none", st.LastError)
	}
	if got := squad(); got != "three" {
		t.Errorf("Route after the fix: squad %q, want three", got)
	}

	if err := os.Remove(filepath.Join(dir, "routing.lua")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, reloads, "the default", func() bool { return status(t, e, "routing.lua").Source == SourceDefault })
	if got := e.Route(t.Context(), event("text", "hi")); !sameRoute(got, Route{}) {
		t.Errorf("Route after the delete = %+v, want the default (the engine decides)", got)
	}
	if st := status(t, e, "routing.lua"); st.Version != 4 {
		t.Errorf("version after the delete = %d, want 4", st.Version)
	}
}

// A scripts dir that appears after start is picked up, and one that goes
// away leaves the defaults.
func TestWatchDirCreatedLater(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "scripts")
	e, reloads := watched(t, dir)
	if got := e.Route(t.Context(), event("text", "hi")); !sameRoute(got, Route{}) {
		t.Fatalf("Route without a dir = %+v, want the default", got)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The file may land before or after the watch on the new dir: either
	// way one of the reloads reads it.
	writeScripts(t, dir, map[string]string{"routing.lua": routeTo("late")})
	waitFor(t, reloads, "the new dir's script", func() bool { return status(t, e, "routing.lua").Source == SourceFile })
	if got := e.Route(t.Context(), event("text", "hi")); got.Squad != "late" {
		t.Errorf("Route = %+v, want squad late", got)
	}
	// Removing the whole dir brings back the defaults.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, reloads, "the default after the dir's removal", func() bool { return status(t, e, "routing.lua").Source == SourceDefault })
	if got := e.Route(t.Context(), event("text", "hi")); !sameRoute(got, Route{}) {
		t.Errorf("Route after removing the dir = %+v, want the default", got)
	}
}

// The dir's parent is followed only while the dir is missing: a watch on
// it hears of every write beside the dir (a database's log, when the
// scripts sit in the data directory). A dir renamed away and replaced is
// followed anew.
func TestWatchFollowsTheParentOnlyWhileTheDirIsMissing(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "scripts")
	mkdir := func() {
		t.Helper()
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mkdir()
	writeScripts(t, dir, map[string]string{"routing.lua": routeTo("first")})
	e, reloads := watched(t, dir)
	watching := func(want ...string) func() bool {
		return func() bool {
			got := e.watch.fw.WatchList()
			slices.Sort(got)
			slices.Sort(want)
			return slices.Equal(got, want)
		}
	}
	if !watching(dir)() {
		t.Fatalf("watching %v at start, want only the dir %s", e.watch.fw.WatchList(), dir)
	}

	// Writes beside the dir wake nothing.
	for i := range 50 {
		if err := os.WriteFile(filepath.Join(parent, "conversa.db-wal"), []byte(fmt.Sprint(i)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-reloads:
		t.Fatal("a write beside the scripts dir reloaded the scripts")
	case <-time.After(3 * debounce):
	}

	// Renamed away and replaced: the new dir's scripts run.
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	mkdir()
	writeScripts(t, dir, map[string]string{"routing.lua": routeTo("second")})
	waitFor(t, reloads, "the replacing dir's script", func() bool {
		return e.Route(t.Context(), event("text", "hi")).Squad == "second" && watching(dir)()
	})

	// Removed: the parent is followed until the dir is back.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, reloads, "the parent followed", watching(parent))
	mkdir()
	writeScripts(t, dir, map[string]string{"routing.lua": routeTo("third")})
	waitFor(t, reloads, "the recreated dir's script", func() bool {
		return e.Route(t.Context(), event("text", "hi")).Squad == "third" && watching(dir)()
	})
}

func TestReloadStatuses(t *testing.T) {
	e, _ := newEngine(t, map[string]string{"routing.lua": routeTo("one")})
	dir := e.dir
	for _, st := range e.Statuses() {
		if st.Version != 1 || st.LastError != "" || st.LoadedAt.IsZero() {
			t.Errorf("initial status %+v, want version 1, loaded, no error", st)
		}
	}
	if got := status(t, e, "routing.lua").Source; got != SourceFile {
		t.Errorf("routing.lua source = %q, want file", got)
	}
	if got := status(t, e, "text_conversion.lua").Source; got != SourceDefault {
		t.Errorf("text_conversion.lua source = %q, want default", got)
	}

	// Nothing changed: no new version.
	e.Reload()
	if got := status(t, e, "routing.lua").Version; got != 1 {
		t.Errorf("version after a reload with no change = %d, want 1", got)
	}

	// A top-level run-time error is a failed load: the old version stays.
	writeScripts(t, dir, map[string]string{"routing.lua": "local x = nil\nlocal y = x.field\nfunction route(ev) end\n"})
	e.Reload()
	st := status(t, e, "routing.lua")
	if st.Version != 1 || !strings.HasPrefix(st.LastError, "routing.lua:2: attempt to index") {
		t.Errorf("status after a failing top level = %+v, want version 1 and routing.lua:2", st)
	}
	if got := e.Route(t.Context(), event("text", "hi")).Squad; got != "one" {
		t.Errorf("squad %q, want one (the previous version)", got)
	}

	// Restoring the running version clears the error without a new version.
	writeScripts(t, dir, map[string]string{"routing.lua": routeTo("one")})
	e.Reload()
	if st := status(t, e, "routing.lua"); st.Version != 1 || st.LastError != "" {
		t.Errorf("status after restoring = %+v, want version 1 and no error", st)
	}

	// A file without the hook function: the default applies, and the status
	// points at the misspelt function.
	writeScripts(t, dir, map[string]string{"routing.lua": "-- routing\n\nfunction Route(ev)\n  return {to = \"none\"}\nend\n"})
	e.Reload()
	st = status(t, e, "routing.lua")
	if st.Source != SourceDefault || st.Version != 2 || !strings.HasPrefix(st.LastError, "routing.lua:3: defines Route, not route") {
		t.Errorf("status with a misspelt function = %+v, want the default, version 2 and routing.lua:3", st)
	}
	if got := e.Route(t.Context(), event("story_mention", "")); !sameRoute(got, Route{To: ToSquad, Squad: "geral"}) {
		t.Errorf("Route = %+v, want the default", got)
	}

	// A script that loads but fails a dry run is installed, and says so.
	writeScripts(t, dir, map[string]string{"routing.lua": "function route(ev)\n  if ev.message.type == \"image\" then\n    return ev.nothing.here\n  end\nend\n"})
	e.Reload()
	st = status(t, e, "routing.lua")
	if st.Source != SourceFile || st.Version != 3 || !strings.HasPrefix(st.LastError, "routing.lua:3: attempt to index") ||
		!strings.Contains(st.LastError, "(dry run with an image)") {
		t.Errorf("status with a dry-run failure = %+v, want version 3 and routing.lua:3 for an image", st)
	}
}

// Calls racing reloads always get an answer of one version or another.
func TestCallsDuringReloads(t *testing.T) {
	e, _ := newEngine(t, map[string]string{"routing.lua": routeTo("v0")})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 100)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				got := e.Route(t.Context(), event("text", "hi"))
				if got.To != ToSquad || !strings.HasPrefix(got.Squad, "v") {
					errs <- fmt.Sprintf("Route = %+v, want a squad of some version", got)
					return
				}
			}
		}()
	}
	for i := 1; i <= 20; i++ {
		writeScripts(t, e.dir, map[string]string{"routing.lua": routeTo(fmt.Sprintf("v%d", i))})
		e.Reload()
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := e.Route(t.Context(), event("text", "hi")).Squad; got != "v20" {
		t.Errorf("squad after the reloads = %q, want v20", got)
	}
	if got := status(t, e, "routing.lua").Version; got != 21 {
		t.Errorf("version = %d, want 21", got)
	}
}

func TestClosedEngineAnswersWithDefaults(t *testing.T) {
	e, _ := newEngine(t, map[string]string{"routing.lua": routeTo("one")})
	e.Close()
	if got := e.Route(t.Context(), event("story_reply", "")); !sameRoute(got, Route{To: ToSquad, Squad: "geral"}) {
		t.Errorf("Route after Close = %+v, want the default", got)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
