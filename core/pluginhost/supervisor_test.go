//go:build unix

package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gone reports whether a process has exited and been reaped.
func gone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

func TestKilledPluginRestartsInTheBackground(t *testing.T) {
	for _, tc := range []struct {
		name        string
		stableAfter time.Duration
		wantBackoff time.Duration
	}{
		{"after a stable run at once", 0, 0},
		{"in quick succession after a backoff", time.Hour, defaultPolicy().minBackoff},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := newHarness(t, Options{Builtins: []string{"echo"}}, func(p *policy) { p.stableAfter = tc.stableAfter })
			if err := hs.Start(context.Background(), "echo"); err != nil {
				t.Fatal(err)
			}
			before := hs.status(t, "echo").PID
			if err := syscall.Kill(before, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// Nothing calls the plugin: its supervisor brings it back alone.
			waitFor(t, "the plugin running again in a new process", func() bool {
				st := hs.status(t, "echo")
				return st.State == StateRunning && st.PID != 0 && st.PID != before
			})
			st := hs.status(t, "echo")
			if st.Restarts != 1 || !strings.Contains(st.LastError, "signal: killed") {
				t.Errorf("status = %+v, want one restart, after the kill", st)
			}
			if got := lastBackoff(hs.Host, "echo"); got != tc.wantBackoff {
				t.Errorf("backoff before the restart = %v, want %v", got, tc.wantBackoff)
			}
			if got, err := converse(t, hs.Host, "echo", "hi"); err != nil || got != "echo: hi" {
				t.Errorf("Converse after the restart = %q, %v", got, err)
			}
			want := []string{StateRunning, StateRestarting, StateRunning}
			if got := hs.changesOf("echo"); !slices.Equal(got, want) {
				t.Errorf("OnChange calls = %v, want %v", got, want)
			}
		})
	}
}

func TestWedgedPluginIsKilledAndRestarted(t *testing.T) {
	hs := newHarness(t, Options{Builtins: []string{"echo"}, HealthEvery: 100 * time.Millisecond, HealthTimeout: 500 * time.Millisecond}, nil)
	if err := hs.Start(context.Background(), "echo"); err != nil {
		t.Fatal(err)
	}
	wedged := hs.status(t, "echo").PID
	// Alive, but answering nothing.
	if err := syscall.Kill(wedged, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(wedged, syscall.SIGKILL) })
	waitFor(t, "the plugin running again in a new process", func() bool {
		st := hs.status(t, "echo")
		return st.State == StateRunning && st.PID != 0 && st.PID != wedged
	})
	if st := hs.status(t, "echo"); !strings.Contains(st.LastError, "stopped answering health checks") {
		t.Errorf("last_error = %q, want the failed health checks", st.LastError)
	}
	if !gone(wedged) {
		t.Errorf("the wedged process %d is still there", wedged)
	}
	if got, err := converse(t, hs.Host, "echo", "hi"); err != nil || got != "echo: hi" {
		t.Errorf("Converse after the restart = %q, %v", got, err)
	}
}

func TestSlowStartBlocksNobody(t *testing.T) {
	dir, tmp := t.TempDir(), t.TempDir()
	started, gate := filepath.Join(tmp, "started"), filepath.Join(tmp, "gate")
	writeScript(t, dir, "slow", serving("slow", started, gate), 0o755)
	hs := newHarness(t, Options{Dir: dir, Builtins: []string{"echo"}, StartTimeout: time.Minute}, nil)

	// Two callers of the slow plugin: both wait for the one start.
	results := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := converseWithin(hs.Host, 40*time.Second, "slow", "hi")
			results <- err
		}()
	}
	waitFor(t, "the slow plugin's process", func() bool { _, err := os.Stat(started); return err == nil })

	statuses := make(chan []Status, 1)
	go func() { statuses <- hs.Statuses() }()
	select {
	case <-statuses:
	case <-time.After(10 * time.Second):
		t.Fatal("Statuses() waits for a plugin's start")
	}
	if st := hs.status(t, "slow"); st.State != StateStopped || st.PID != 0 {
		t.Errorf("status while starting = %+v, want stopped, no pid yet", st)
	}
	if ok, why := hs.Availability("slow"); !ok {
		t.Errorf("Availability while starting = false, %q; want true: a call would wait for the start", why)
	}
	// Another plugin starts and answers meanwhile.
	if got, err := converseWithin(hs.Host, 20*time.Second, "echo", "hi"); err != nil || got != "echo: hi" {
		t.Errorf("Converse on echo while slow starts = %q, %v", got, err)
	}
	// A caller that gives up waiting learns that nothing was sent.
	_, err := converseWithin(hs.Host, 100*time.Millisecond, "slow", "hi")
	if !notAttempted(err) || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrDown) {
		t.Errorf("Converse that gave up waiting = %v, want a deadline, not attempted", err)
	}

	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-results; err != nil {
			t.Errorf("Converse on slow = %v", err)
		}
	}
	data, _ := os.ReadFile(started)
	if n := len(strings.Fields(string(data))); n != 1 {
		t.Errorf("%d processes started for concurrent callers, want 1", n)
	}
}

func TestBrokenPluginFailsThenRecoversByItself(t *testing.T) {
	for _, tc := range []struct {
		name   string
		broken func(t *testing.T, dir string) // after the host found the plugin
		reason string
	}{
		{"exits at start-up", func(*testing.T, string) {}, "exited during start-up (exit status 1); plugin said:\nbroken on purpose"},
		{"not executable", func(t *testing.T, dir string) {
			os.Chmod(filepath.Join(dir, ExternalPrefix+"broken"), 0o644)
		}, "is not an executable file"},
		{"removed", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, ExternalPrefix+"broken"))
		}, "no executable conversa-plugin-broken in "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeScript(t, dir, "broken", "echo 'broken on purpose' >&2\nexit 1", 0o755)
			hs := newHarness(t, Options{Dir: dir}, nil)
			tc.broken(t, dir)

			if err := hs.Start(context.Background(), "broken"); err == nil || !notAttempted(err) {
				t.Errorf("Start = %v, want the start's error, not attempted", err)
			}
			waitFor(t, "the plugin failing", func() bool { return hs.status(t, "broken").State == StateFailing })
			if st := hs.status(t, "broken"); st.Restarts != 2 {
				t.Errorf("restarts = %d when it became failing, want 2 (3 attempts)", st.Restarts)
			}
			ok, why := hs.Availability("broken")
			if ok || !strings.HasPrefix(why, `plugin "broken" is failing: `) || !strings.Contains(why, tc.reason) {
				t.Errorf("Availability = %v, %q; want failing, with %q", ok, why, tc.reason)
			}
			_, err := converse(t, hs.Host, "broken", "hi")
			var down *DownError
			if !notAttempted(err) || !errors.Is(err, ErrDown) || !errors.As(err, &down) || down.State != StateFailing {
				t.Errorf("Converse on a failing plugin = %v, want a *DownError, not attempted", err)
			}

			writeScript(t, dir, "broken", serving("broken"), 0o755)
			// Nothing calls it: the background retries pick up the fix.
			waitFor(t, "the fixed plugin running", func() bool { return hs.status(t, "broken").State == StateRunning })
			if got, err := converse(t, hs.Host, "broken", "hi"); err != nil || got != "echo: hi" {
				t.Errorf("Converse once fixed = %q, %v", got, err)
			}
			if ok, why := hs.Availability("broken"); !ok {
				t.Errorf("Availability once fixed = false, %q", why)
			}
			want := []string{StateRestarting, StateFailing, StateRunning}
			if got := hs.changesOf("broken"); !slices.Equal(got, want) {
				t.Errorf("OnChange calls = %v, want %v", got, want)
			}
		})
	}
}

func TestUnknownPluginIsFoundLater(t *testing.T) {
	dir := t.TempDir()
	hs := newHarness(t, Options{Dir: dir}, nil)
	ok, why := hs.Availability("late")
	if want := fmt.Sprintf(`no plugin named "late" (looked in %s for conversa-plugin-late)`, dir); ok || why != want {
		t.Errorf("Availability(late) = %v, %q; want false, %q", ok, why, want)
	}
	if _, err := hs.Assistant("late"); !errors.Is(err, ErrUnknown) || !notAttempted(err) {
		t.Errorf("Assistant(late) = %v, want ErrUnknown, not attempted", err)
	}
	writeScript(t, dir, "late", serving("late"), 0o755)
	waitFor(t, "the new executable found", func() bool { return hs.Has("late") })
	if ok, why := hs.Availability("late"); !ok {
		t.Errorf("Availability(late) once installed = false, %q", why)
	}
	if got, err := converse(t, hs.Host, "late", "hi"); err != nil || got != "echo: hi" {
		t.Errorf("Converse = %q, %v", got, err)
	}
	want := []string{StateStopped, StateRunning}
	if got := hs.changesOf("late"); !slices.Equal(got, want) {
		t.Errorf("OnChange calls = %v, want %v (found, then started)", got, want)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	baseline := runtime.NumGoroutine()
	dir, tmp := t.TempDir(), t.TempDir()
	started := filepath.Join(tmp, "started")
	writeScript(t, dir, "slow", serving("slow", started, filepath.Join(tmp, "never")), 0o755)
	writeScript(t, dir, "broken", "exit 1", 0o755)
	hs := newHarness(t, Options{Dir: dir, Builtins: []string{"echo"}, StartTimeout: time.Minute}, nil)

	if err := hs.Start(context.Background(), "echo"); err != nil {
		t.Fatal(err)
	}
	echo := hs.status(t, "echo").PID
	hs.Start(context.Background(), "broken") // fails, then retried in the background
	stuck := make(chan error, 1)
	go func() {
		_, err := converseWithin(hs.Host, time.Minute, "slow", "hi")
		stuck <- err
	}()
	waitFor(t, "the slow plugin's process", func() bool { _, err := os.Stat(started); return err == nil })
	data, _ := os.ReadFile(started)
	slow, _ := strconv.Atoi(strings.TrimSpace(string(data)))

	closed := make(chan struct{})
	go func() { hs.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return")
	}
	if err := <-stuck; !notAttempted(err) {
		t.Errorf("the call waiting for a start = %v, want not attempted", err)
	}
	for _, pid := range []int{echo, slow} {
		if !gone(pid) {
			t.Errorf("process %d outlived Close", pid)
		}
	}
	for _, st := range hs.Statuses() {
		if st.State != StateStopped || st.PID != 0 {
			t.Errorf("after Close: %+v, want stopped", st)
		}
	}
	if got := hs.changesOf("echo"); !slices.Equal(got, []string{StateRunning, StateStopped}) {
		t.Errorf("OnChange calls for echo = %v, want running, stopped", got)
	}
	if ok, why := hs.Availability("echo"); ok || !strings.Contains(why, "closing") {
		t.Errorf("Availability after Close = %v, %q", ok, why)
	}
	if _, err := converseWithin(hs.Host, time.Second, "echo", "hi"); !notAttempted(err) {
		t.Errorf("Converse after Close = %v, want not attempted", err)
	}
	if err := hs.Start(context.Background(), "echo"); err == nil {
		t.Error("Start after Close succeeded")
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > baseline {
		var b strings.Builder
		pprof.Lookup("goroutine").WriteTo(&b, 1)
		t.Errorf("%d goroutines after Close, %d before:\n%s", n, baseline, b.String())
	}
}
