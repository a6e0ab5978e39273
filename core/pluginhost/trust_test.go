package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
)

// pins is an operator's pins, as the database would hold them.
type pins struct {
	mu  sync.Mutex
	sum map[string]string
	err error
}

func (p *pins) pin(_ context.Context, name string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sum[name], p.err
}

// trust pins the executable of name in dir as it is now.
func (p *pins) trust(t *testing.T, dir, name string) string {
	t.Helper()
	sum, err := Sum(filepath.Join(dir, ExternalPrefix+name))
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sum[name] = hex.EncodeToString(sum)
	return p.sum[name]
}

func (p *pins) untrust(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.sum, name)
}

func fastTrust(p *policy) { p.trustEvery = 50 * time.Millisecond }

func TestUntrustedPluginIsNotStartedUntilTrusted(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "ext", serving("ext"), 0o755)
	ps := &pins{sum: map[string]string{}}
	hs := newHarness(t, Options{Dir: dir, Pin: ps.pin}, fastTrust)

	// Found but never used: shown untrusted at once, with its digest.
	st := hs.status(t, "ext")
	file, _ := Sum(filepath.Join(dir, ExternalPrefix+"ext"))
	if st.State != StateUntrusted || st.LastError != NotTrustedReason("ext") || st.SHA256 != hex.EncodeToString(file) {
		t.Errorf("status of a plugin never trusted = %+v, want untrusted, %q, sha256 %x", st, NotTrustedReason("ext"), file)
	}

	err := hs.Start(context.Background(), "ext")
	var down *DownError
	if !errors.As(err, &down) || down.State != StateUntrusted || !notAttempted(err) {
		t.Fatalf("Start(untrusted) = %v, want a *DownError in state untrusted", err)
	}
	if want := `plugin "ext" is untrusted: not trusted: run conversa plugins trust ext`; err.Error() != want {
		t.Errorf("Start(untrusted) = %q, want %q", err, want)
	}
	if ok, why := hs.Availability("ext"); ok || !strings.Contains(why, NotTrustedReason("ext")) {
		t.Errorf("Availability(untrusted) = %v, %q", ok, why)
	}
	if _, err := converse(t, hs.Host, "ext", "hi"); !notAttempted(err) || !errors.As(err, &down) || down.State != StateUntrusted {
		t.Errorf("Converse on an untrusted plugin = %v, want a *DownError, not attempted", err)
	}
	if st := hs.status(t, "ext"); st.PID != 0 || st.Restarts != 0 {
		t.Errorf("status = %+v, want no process ever started", st)
	}

	// Trusted: started by the background check, with no call needed.
	ps.trust(t, dir, "ext")
	waitFor(t, "the trusted plugin running", func() bool { return hs.status(t, "ext").State == StateRunning })
	if got, err := converse(t, hs.Host, "ext", "hi"); err != nil || got != "echo: hi" {
		t.Errorf("Converse once trusted = %q, %v", got, err)
	}
	if st := hs.status(t, "ext"); st.Restarts != 0 || st.LastError != "" && st.State != StateRunning {
		t.Errorf("status once trusted = %+v, want the first start", st)
	}
}

func TestChangedExecutableIsStoppedAndNotStartedAgain(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "ext", serving("ext"), 0o755)
	ps := &pins{sum: map[string]string{}}
	trusted := ps.trust(t, dir, "ext")
	hs := newHarness(t, Options{Dir: dir, Pin: ps.pin}, fastTrust)
	if err := hs.Start(context.Background(), "ext"); err != nil {
		t.Fatal(err)
	}
	pid := hs.status(t, "ext").PID

	// An operator's deploy replaces the executable: one byte more.
	writeScript(t, dir, "ext", serving("ext")+" ", 0o755)
	waitFor(t, "the changed plugin untrusted", func() bool { return hs.status(t, "ext").State == StateUntrusted })
	st := hs.status(t, "ext")
	now, _ := Sum(filepath.Join(dir, ExternalPrefix+"ext"))
	if !strings.HasPrefix(st.LastError, "changed since it was trusted (sha256 "+hex.EncodeToString(now)[:12]+", trusted "+trusted[:12]+")") ||
		!strings.HasSuffix(st.LastError, "run conversa plugins trust ext to trust this executable") {
		t.Errorf("reason = %q, want the change, both digests and the command", st.LastError)
	}
	if st.PID != 0 || st.SHA256 != hex.EncodeToString(now) {
		t.Errorf("status = %+v, want no process and the new executable's digest", st)
	}
	waitFor(t, "the old process gone", func() bool { return !alive(pid) })
	if _, err := converse(t, hs.Host, "ext", "hi"); !notAttempted(err) {
		t.Errorf("Converse on a changed plugin = %v, want not attempted", err)
	}
	// Still refused later: it is checked again, not started.
	time.Sleep(200 * time.Millisecond)
	if st := hs.status(t, "ext"); st.State != StateUntrusted || st.PID != 0 {
		t.Errorf("status a while later = %+v, want still untrusted", st)
	}

	// The new executable trusted: started in its place.
	ps.trust(t, dir, "ext")
	waitFor(t, "the new executable running", func() bool { return hs.status(t, "ext").State == StateRunning })
	if got, err := converse(t, hs.Host, "ext", "again"); err != nil || got != "echo: again" {
		t.Errorf("Converse once the new executable is trusted = %q, %v", got, err)
	}

	// Untrusted: stopped.
	ps.untrust("ext")
	waitFor(t, "the plugin untrusted", func() bool { return hs.status(t, "ext").State == StateUntrusted })
	if st := hs.status(t, "ext"); st.LastError != NotTrustedReason("ext") || st.PID != 0 {
		t.Errorf("status after untrust = %+v", st)
	}
	want := []string{StateRunning, StateUntrusted, StateRunning, StateUntrusted}
	if got := hs.changesOf("ext"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("OnChange calls = %v, want %v", got, want)
	}
}

func TestNewTrustedExecutableReplacesTheRunningOne(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "ext", serving("ext"), 0o755)
	ps := &pins{sum: map[string]string{}}
	ps.trust(t, dir, "ext")
	// Checked rarely: the replacement and the new pin land between two
	// checks, as with an operator who deploys and trusts at once.
	hs := newHarness(t, Options{Dir: dir, Pin: ps.pin}, func(p *policy) { p.trustEvery = 500 * time.Millisecond })
	if err := hs.Start(context.Background(), "ext"); err != nil {
		t.Fatal(err)
	}
	pid := hs.status(t, "ext").PID
	writeScript(t, dir, "ext", serving("ext")+" ", 0o755)
	ps.trust(t, dir, "ext")
	waitFor(t, "the new executable running", func() bool {
		st := hs.status(t, "ext")
		return st.State == StateRunning && st.PID != pid
	})
	for _, c := range hs.changesOf("ext") {
		if c == StateUntrusted {
			t.Errorf("OnChange calls = %v: the trusted replacement was never untrusted", hs.changesOf("ext"))
		}
	}
}

func TestNoPinsMeansNoThirdPartyPlugin(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "ext", serving("ext"), 0o755)
	h, err := New(Options{Dir: dir, Self: os.Args[0], Builtins: []string{"echo"}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Start(context.Background(), "ext"); err == nil || !strings.Contains(err.Error(), NotTrustedReason("ext")) {
		t.Errorf("Start(ext) without pins = %v, want not trusted", err)
	}
	// Built-ins are part of the binary: trusted with it.
	if got, err := converse(t, h, "echo", "hi"); err != nil || got != "echo: hi" {
		t.Errorf("Converse on a built-in = %q, %v", got, err)
	}
}

func TestUnreadablePinsFailTheStart(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "ext", serving("ext"), 0o755)
	ps := &pins{sum: map[string]string{}, err: errors.New("database unavailable")}
	hs := newHarness(t, Options{Dir: dir, Pin: ps.pin}, fastTrust)
	err := hs.Start(context.Background(), "ext")
	var down *DownError
	if !errors.As(err, &down) || down.State != StateRestarting || !strings.Contains(err.Error(), "checking whether the plugin is trusted: database unavailable") {
		t.Errorf("Start while the pins cannot be read = %v, want a failed start (retried), saying why", err)
	}
	ps.mu.Lock()
	ps.err = nil
	ps.mu.Unlock()
	ps.trust(t, dir, "ext")
	waitFor(t, "the plugin running once the pins are readable", func() bool { return hs.status(t, "ext").State == StateRunning })
}

// The last check is go-plugin's SecureConfig, on the path executed, right
// before the fork: bytes changed after verify are never run.
func TestSecureConfigIsCheckedBeforeTheFork(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	writeScript(t, dir, "ext", "touch "+marker, 0o755)
	h, err := New(Options{Self: os.Args[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	path := filepath.Join(dir, ExternalPrefix+"ext")
	other := sha256.Sum256([]byte("the executable that was trusted"))
	r, err := newProcRunner(h, exec.Command(path))
	if err != nil {
		t.Fatal(err)
	}
	r.secure, r.name = &plugin.SecureConfig{Checksum: other[:], Hash: sha256.New()}, "ext"
	err = r.Start(context.Background())
	var ue *untrustedError
	if !errors.As(err, &ue) || !strings.HasPrefix(ue.reason, "changed since it was trusted") {
		t.Fatalf("Start with a mismatching checksum = %v, want refused as changed", err)
	}
	if r.pid() != 0 {
		t.Errorf("a process was started (pid %d)", r.pid())
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Error("the executable ran")
	}

	// The matching checksum runs it.
	sum, _ := Sum(path)
	r, _ = newProcRunner(h, exec.Command(path))
	r.secure, r.name = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}, "ext"
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Wait(context.Background())
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the trusted executable did not run: %v", err)
	}
}

// alive: the process exists and was not reaped yet.
func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }
