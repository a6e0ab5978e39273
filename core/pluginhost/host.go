package pluginhost

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/conversa/conversa/plugins/sdk"
)

// ExternalPrefix is how third-party plugin executables are named in the
// plugins directory: conversa-plugin-NAME.
const ExternalPrefix = "conversa-plugin-"

// Plugin states (Status.State, Options.OnChange).
const (
	// StateStopped: not started yet, or the host is closing.
	StateStopped = "stopped"
	StateRunning = "running"
	// StateRestarting: down after a crash or a failed start; being started
	// again.
	StateRestarting = "restarting"
	// StateFailing: crashing repeatedly (3 or more quick crashes or failed
	// starts in a row); still retried, at a growing backoff.
	StateFailing = "failing"
	// StateUntrusted: a third-party executable without a pin, or that does
	// not match its pin: it is not started (see trust.go).
	StateUntrusted = "untrusted"
)

var errClosing = errors.New("the plugin host is closing")

// Options configures a Host.
type Options struct {
	Logger *slog.Logger
	// Self is the conversa executable; built-ins run as `Self plugin NAME`.
	Self string
	// Builtins are the names `conversa plugin NAME` serves.
	Builtins []string
	// Dir holds third-party plugins (conversa-plugin-NAME); may not exist.
	Dir string
	// StartTimeout bounds a plugin's handshake, and then its first Describe
	// (default 10 s).
	StartTimeout time.Duration
	// HealthEvery is how often running plugins are health-checked
	// (default 5 s).
	HealthEvery time.Duration
	// HealthTimeout bounds one health check (default 2 s). A process that
	// fails two in a row is killed and restarted.
	HealthTimeout time.Duration
	// OnChange, when set, is called after every state change of a plugin
	// (and once, with StateStopped, for a plugin found in Dir after
	// start-up). Calls come from one goroutine, in order, with no lock
	// held: OnChange may call the Host, but not Close, which waits for it.
	OnChange func(name, state string)
	// ObserveCall, when set, is told the duration of every RPC made to a
	// plugin (core/metrics).
	ObserveCall func(plugin, method string, d time.Duration)
	// Pin returns the SHA-256 (lowercase hex) an operator trusted for a
	// third-party plugin's executable, or "" when there is none. A
	// third-party plugin starts only when its executable matches. Nil: no
	// third-party plugin is trusted.
	Pin func(ctx context.Context, name string) (string, error)
}

// Host owns every plugin process.
type Host struct {
	o      Options
	pol    policy
	tr     transport
	log    *slog.Logger
	dir    string // o.Dir, absolute
	notify *notifier

	// ctx is cancelled by Close; the supervisors run under it.
	ctx    context.Context
	cancel context.CancelFunc
	loops  sync.WaitGroup // the supervisors' goroutines

	launch chan func()
	stop   chan struct{}  // stops the launcher and the notifier, after the supervisors
	wg     sync.WaitGroup // the launcher and the notifier

	mu       sync.RWMutex
	plugins  map[string]*supervisor
	closed   bool
	scanned  time.Time       // the last read of dir
	shadowed map[string]bool // third-party names hidden by a built-in, warned about once

	closing sync.Once

	sums sumCache // digests of third-party executables
}

// New finds the plugins (built-ins and the executables in o.Dir) without
// starting any.
func New(o Options) (*Host, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 10 * time.Second
	}
	if o.HealthEvery == 0 {
		o.HealthEvery = 5 * time.Second
	}
	if o.HealthTimeout == 0 {
		o.HealthTimeout = 2 * time.Second
	}
	h := &Host{
		o:        o,
		pol:      defaultPolicy(),
		tr:       defaultTransport(),
		log:      o.Logger.With("component", "pluginhost"),
		notify:   newNotifier(o.OnChange),
		plugins:  map[string]*supervisor{},
		shadowed: map[string]bool{},
		launch:   make(chan func()),
		stop:     make(chan struct{}),
	}
	for _, name := range o.Builtins {
		h.plugins[name] = h.newSupervisor(name, o.Self, true)
	}
	if o.Dir != "" {
		abs, err := filepath.Abs(o.Dir)
		if err != nil {
			return nil, fmt.Errorf("plugins directory: %w", err)
		}
		h.dir = abs
		externals, err := discover(abs)
		if err != nil {
			return nil, err
		}
		h.scanned = time.Now()
		h.addLocked(externals, false)
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.wg.Add(2)
	go h.launcher()
	go func() { defer h.wg.Done(); h.notify.run(h.stop) }()
	return h, nil
}

// addLocked adds the third-party plugins not known yet.
func (h *Host) addLocked(externals map[string]string, announce bool) {
	for name, path := range externals {
		if s, ok := h.plugins[name]; ok {
			if s.builtin && !h.shadowed[name] {
				h.shadowed[name] = true
				h.log.Warn("a plugin in the plugins directory has a built-in's name; the built-in is used", "plugin", name, "path", path)
			}
			continue
		}
		h.plugins[name] = h.newSupervisor(name, path, false)
		if announce {
			h.log.Info("plugin found", "plugin", name, "path", path)
			h.notify.post(name, StateStopped)
		}
	}
}

// discover lists conversa-plugin-NAME executables in dir.
func discover(dir string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("plugins directory: %w", err)
	}
	out := map[string]string{}
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), ExternalPrefix)
		if !ok || name == "" {
			continue
		}
		name = strings.TrimSuffix(name, ".exe")
		path := filepath.Join(dir, e.Name())
		// Stat, not the entry's own mode: a symlink to an executable is one.
		if fi, err := os.Stat(path); err == nil && executable(fi) {
			out[name] = path
		}
	}
	return out, nil
}

func executable(fi fs.FileInfo) bool {
	// Windows has no execute bits: an .exe is what can run.
	return fi.Mode().IsRegular() && (runtime.GOOS == "windows" || fi.Mode().Perm()&0o111 != 0)
}

// resolve finds a third-party plugin's executable now.
func (h *Host) resolve(name string) (string, error) { return Executable(h.dir, name) }

// Executable finds the executable of the third-party plugin name in dir
// (conversa-plugin-NAME), as the host would run it.
func Executable(dir, name string) (string, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return "", fmt.Errorf("%q is not a plugin name", name)
	}
	for _, file := range []string{ExternalPrefix + name, ExternalPrefix + name + ".exe"} {
		path := filepath.Join(dir, file)
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("cannot run: %w", err)
		}
		if !executable(fi) {
			return "", fmt.Errorf("%s is not an executable file", path)
		}
		return path, nil
	}
	return "", fmt.Errorf("no executable %s%s in %s", ExternalPrefix, name, dir)
}

// Discover lists the third-party plugins in dir: name → executable.
func Discover(dir string) (map[string]string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return discover(abs)
}

// rescan reads the plugins directory again, at most once per rescanEvery,
// and reports whether it did.
func (h *Host) rescan() bool {
	h.mu.Lock()
	if h.dir == "" || h.closed || time.Since(h.scanned) < h.pol.rescanEvery {
		h.mu.Unlock()
		return false
	}
	h.scanned = time.Now()
	h.mu.Unlock()
	externals, err := discover(h.dir)
	if err != nil {
		h.log.Warn("plugins directory unreadable", "err", err)
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.addLocked(externals, true)
	return true
}

// lookup finds a plugin, reading the plugins directory again for a name it
// does not know: an executable may have been added since.
func (h *Host) lookup(name string) (*supervisor, error) {
	for _, again := range []bool{false, true} {
		if again && !h.rescan() {
			break
		}
		h.mu.RLock()
		s := h.plugins[name]
		h.mu.RUnlock()
		if s != nil {
			return s, nil
		}
	}
	return nil, h.unknown(name)
}

func (h *Host) unknown(name string) *DownError {
	where := "no plugins directory is configured"
	if h.dir != "" {
		where = fmt.Sprintf("looked in %s for %s%s", h.dir, ExternalPrefix, name)
	}
	return &DownError{Plugin: name, Reason: fmt.Sprintf("no plugin named %q (%s)", name, where), Err: ErrUnknown}
}

// launcher starts plugin processes from one OS thread that never exits:
// Linux's parent-death signal is tied to the thread that forked, and a Go
// thread may otherwise exit and take the plugin with it.
func (h *Host) launcher() {
	defer h.wg.Done()
	runtime.LockOSThread()
	for {
		select {
		case f := <-h.launch:
			f()
		case <-h.stop:
			return
		}
	}
}

// onLauncher runs f on the launcher thread and waits for it.
func (h *Host) onLauncher(f func()) error {
	done := make(chan struct{})
	select {
	case h.launch <- func() { f(); close(done) }:
	case <-h.stop:
		return errors.New("plugin host stopped")
	}
	<-done
	return nil
}

// Names lists every known plugin.
func (h *Host) Names() []string {
	h.mu.RLock()
	names := make([]string, 0, len(h.plugins))
	for n := range h.plugins {
		names = append(names, n)
	}
	h.mu.RUnlock()
	sort.Strings(names)
	return names
}

// Has reports whether a plugin of that name exists (started or not).
func (h *Host) Has(name string) bool {
	_, err := h.lookup(name)
	return err == nil
}

// Start launches the named plugins now rather than on first use, so a
// missing or broken plugin shows at start-up, and waits for them (within
// ctx). It returns their errors joined; it is not fatal: a plugin that
// failed to start is retried in the background, so callers log the error
// and go on.
func (h *Host) Start(ctx context.Context, names ...string) error {
	var errs []error
	var started []*supervisor
	for _, n := range names {
		s, err := h.lookup(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.kick() // all at once, then wait for each
		started = append(started, s)
	}
	for _, s := range started {
		if _, err := s.acquire(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Channel returns the named channel plugin. Its calls start the process if
// it never ran; while it is down they fail at once with a *DownError. An
// unknown name is an error wrapping ErrUnknown (a *DownError too).
func (h *Host) Channel(name string) (Channel, error) {
	s, err := h.lookup(name)
	if err != nil {
		return nil, err
	}
	return channelCaller{s}, nil
}

// Assistant returns the named assistant plugin, like Channel.
func (h *Host) Assistant(name string) (Assistant, error) {
	s, err := h.lookup(name)
	if err != nil {
		return nil, err
	}
	return assistantCaller{s}, nil
}

// Availability reports whether the named plugin can take a call now: it is
// running, or it never ran and would be started by the call. Otherwise
// reason says why not, for an operator (`plugin "x" is failing: ...`, `no
// plugin named "x" (...)`). It never waits for a plugin.
func (h *Host) Availability(name string) (ok bool, reason string) {
	s, err := h.lookup(name)
	if err != nil {
		return false, err.Error()
	}
	return s.availability()
}

// Status is what the admin API shows of a plugin.
type Status struct {
	Name    string   `json:"name"`
	Kinds   []string `json:"kinds"`
	Kind    string   `json:"kind"`
	Version string   `json:"version"`
	State   string   `json:"state"`
	// Since is when the plugin entered State.
	Since     time.Time `json:"since"`
	Restarts  int       `json:"restarts"`
	Builtin   bool      `json:"builtin"`
	Path      string    `json:"path,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	PID       int       `json:"pid,omitempty"`
	// SHA256 is a third-party executable's digest (lowercase hex) as last
	// checked: the running one's while it runs.
	SHA256 string `json:"sha256,omitempty"`
}

// Statuses reports every plugin, by name. It never waits for a plugin. A
// third-party plugin that was never started is checked against its pin, so
// one dropped in the plugins directory shows untrusted at once.
func (h *Host) Statuses() []Status {
	var out []Status
	for _, n := range h.Names() {
		h.mu.RLock()
		s := h.plugins[n]
		h.mu.RUnlock()
		st, fresh := s.status()
		if fresh && !st.Builtin && st.Path != "" {
			// Bounded: a database that does not answer leaves it "stopped".
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, sum, err := h.verify(ctx, n, st.Path)
			cancel()
			if sum != nil {
				st.SHA256 = hex.EncodeToString(sum)
			}
			if ue := (*untrustedError)(nil); errors.As(err, &ue) {
				st.State, st.LastError = StateUntrusted, ue.reason
			}
		}
		out = append(out, st)
	}
	return out
}

// Close stops every plugin and waits for the processes to exit, for the
// supervisors, and for the last OnChange calls.
func (h *Host) Close() {
	h.closing.Do(func() {
		h.mu.Lock()
		h.closed = true
		sups := make([]*supervisor, 0, len(h.plugins))
		for _, s := range h.plugins {
			sups = append(sups, s)
		}
		h.mu.Unlock()
		for _, s := range sups {
			s.close()
		}
		h.cancel()
		// Plugins first: the launcher's thread must outlive them, or its
		// exit delivers the parent-death signal before they stop cleanly.
		h.loops.Wait()
		close(h.stop)
		h.wg.Wait()
	})
}

// pluginEnv is a plugin's environment: a minimal one, never the host's
// secrets.
func (h *Host) pluginEnv(builtin bool) []string {
	var env []string
	if builtin && h.tr.gogc != "" {
		env = append(env, "GOGC="+h.tr.gogc)
	}
	if builtin && h.tr.procs > 0 {
		env = append(env, fmt.Sprintf("GOMAXPROCS=%d", h.tr.procs))
	}
	if v := os.Getenv(sdk.ProfileEnv); builtin && v != "" {
		env = append(env, sdk.ProfileEnv+"="+v) // conversa bench --cpuprofile
	}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ", "LANG", "LC_ALL", "GORACE"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// transport is how the host reaches its plugin processes. Tests vary it
// to measure each part (hop_bench_test.go); nothing else changes it.
type transport struct {
	// mtlsBuiltins turns go-plugin's AutoMTLS on for built-in plugins too.
	// It is off by default: a built-in is the host's own executable,
	// reached on a unix socket in a directory only the host's user can
	// enter (go-plugin makes it with os.MkdirTemp, mode 0700), and a
	// process of that user could read the host's memory and database
	// anyway; TLS there only costs CPU on every call. Third-party plugins
	// always get it: the pin proves their executable, mTLS the peer.
	mtlsBuiltins bool
	// windows fixes gRPC's flow-control windows instead of letting grpc-go
	// estimate them: the estimator pings on every data frame it sees, a
	// frame each way per small call for nothing on a local socket.
	windows bool
	// gogc, when set, is the GOGC of built-in plugin processes: they hold
	// little but allocate per call, so a collector that runs half as often
	// costs a few MB and saves CPU on every webhook. (400 saved twice as
	// much CPU again, for 12 MB more per busy plugin: too much for the
	// footprint budget with several plugins.)
	gogc string
	// procs, when not zero, is the GOMAXPROCS of built-in plugin
	// processes (pluginProcs).
	procs int
	// unary makes each call a gRPC call of its own, never on the
	// plugin's call streams (HandleWebhooks, Calls, Converses).
	unary bool
}

func defaultTransport() transport {
	return transport{windows: true, gogc: "200", procs: pluginProcs(runtime.GOMAXPROCS(0))}
}

// pluginProcs is how many threads a built-in plugin process runs Go code
// on, of the host's procs: a quarter, at least one. A plugin's share of
// the work is far smaller than the server's (at 1,000 exchanges a second
// the Meta plugin uses a fifth of the CPU, the demo assistant a
// twentieth), and with as many threads as the machine has cores, each of
// the three processes wakes a second thread for every call that arrives
// while one runs: on 2 cores, with one thread each, the plugins' CPU per
// exchange fell by 12 % and the reply p99 at 1,000 exchanges a second in
// six of seven interleaved runs (README, Sizing).
func pluginProcs(host int) int { return max(1, host/4) }

// window is the flow-control window of both ends of a plugin connection
// when it is fixed: above the largest webhook body or reply, so that a
// call never waits for a window update.
const window = 4 << 20

// pluginSet is the host's side of every plugin kind.
func (h *Host) pluginSet() plugin.PluginSet {
	set := sdk.PluginSet(nil, nil, nil)
	set[sdk.KindChannel] = &sdk.ChannelPlugin{Unary: h.tr.unary}
	set[sdk.KindAssistant] = &sdk.AssistantPlugin{Unary: h.tr.unary}
	return set
}

// clientConfig is the go-plugin configuration of one start, without its
// RunnerFunc.
func (h *Host) clientConfig(name string, builtin bool, stderr io.Writer) *plugin.ClientConfig {
	var dial []grpc.DialOption
	if h.tr.windows {
		dial = append(dial, grpc.WithInitialWindowSize(window), grpc.WithInitialConnWindowSize(window))
	}
	return &plugin.ClientConfig{
		GRPCDialOptions:  dial,
		HandshakeConfig:  sdk.Handshake,
		Plugins:          h.pluginSet(),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           newHCLog(h.o.Logger, name),
		Stderr:           stderr,
		// Whatever the plugin writes to os.Stdout/os.Stderr after the
		// handshake arrives here: keep it in the log rather than lose it.
		SyncStdout:   lineLogger(h.o.Logger, name, "stdout"),
		SyncStderr:   lineLogger(h.o.Logger, name, "stderr"),
		StartTimeout: h.o.StartTimeout,
		AutoMTLS:     !builtin || h.tr.mtlsBuiltins,
		SkipHostEnv:  true,
	}
}
