package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/conversa/conversa/plugins/sdk"
)

// ExternalPrefix is how third-party plugin executables are named in the
// plugins directory: conversa-plugin-NAME.
const ExternalPrefix = "conversa-plugin-"

// Plugin states.
const (
	StateStopped    = "stopped"
	StateRunning    = "running"
	StateRestarting = "restarting"
	// Crashing: restarted several times within the last ten minutes; still
	// retried, at the longest backoff.
	StateCrashing = "crashing"
)

// ErrUnknown is returned for a plugin name nobody provides.
var ErrUnknown = errors.New("unknown plugin")

// Options configures a Host.
type Options struct {
	Logger *slog.Logger
	// Self is the conversa executable; built-ins run as `Self plugin NAME`.
	Self string
	// Builtins are the names `conversa plugin NAME` serves.
	Builtins []string
	// Dir holds third-party plugins (conversa-plugin-NAME); may not exist.
	Dir string
	// StartTimeout bounds a plugin's handshake (default 10 s).
	StartTimeout time.Duration
	// HealthEvery is how often running plugins are pinged (default 30 s).
	HealthEvery time.Duration
}

// Host owns every plugin process.
type Host struct {
	o       Options
	log     *slog.Logger
	plugins map[string]*supervisor
	launch  chan func()
	stop    chan struct{}
	wg      sync.WaitGroup
	closing sync.Once
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
		o.HealthEvery = 30 * time.Second
	}
	h := &Host{
		o:       o,
		log:     o.Logger.With("component", "pluginhost"),
		plugins: map[string]*supervisor{},
		launch:  make(chan func()),
		stop:    make(chan struct{}),
	}
	for _, name := range o.Builtins {
		h.plugins[name] = h.newSupervisor(spec{name: name, path: o.Self, args: []string{"plugin", name}, builtin: true})
	}
	if o.Dir != "" {
		externals, err := discover(o.Dir)
		if err != nil {
			return nil, err
		}
		for name, path := range externals {
			if _, ok := h.plugins[name]; ok {
				h.log.Warn("a plugin in the plugins directory has a built-in's name; the built-in is used", "plugin", name, "path", path)
				continue
			}
			h.plugins[name] = h.newSupervisor(spec{name: name, path: path})
		}
	}
	h.wg.Add(1)
	go h.launcher()
	return h, nil
}

// discover lists conversa-plugin-NAME executables in dir.
func discover(dir string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("plugins directory: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), ExternalPrefix)
		if !ok || name == "" || e.IsDir() {
			continue
		}
		name = strings.TrimSuffix(name, ".exe")
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			continue
		}
		out[name] = filepath.Join(abs, e.Name())
	}
	return out, nil
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
	names := make([]string, 0, len(h.plugins))
	for n := range h.plugins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Has reports whether a plugin of that name exists (started or not).
func (h *Host) Has(name string) bool { _, ok := h.plugins[name]; return ok }

func (h *Host) get(name string) (*supervisor, error) {
	s, ok := h.plugins[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknown, name)
	}
	return s, nil
}

// Start launches the named plugins now rather than on first use, so a
// missing or broken plugin shows at start-up.
func (h *Host) Start(ctx context.Context, names ...string) error {
	var errs []error
	for _, n := range names {
		s, err := h.get(n)
		if err == nil {
			_, err = s.running(ctx)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Channel returns the named channel plugin, starting it if needed.
func (h *Host) Channel(name string) (sdk.Channel, error) {
	s, err := h.get(name)
	if err != nil {
		return nil, err
	}
	return channelCaller{s}, nil
}

// Assistant returns the named assistant plugin, starting it if needed.
func (h *Host) Assistant(name string) (sdk.Assistant, error) {
	s, err := h.get(name)
	if err != nil {
		return nil, err
	}
	return assistantCaller{s}, nil
}

// Status is what the admin API shows of a plugin.
type Status struct {
	Name      string   `json:"name"`
	Kinds     []string `json:"kinds"`
	Kind      string   `json:"kind"`
	Version   string   `json:"version"`
	State     string   `json:"state"`
	Restarts  int      `json:"restarts"`
	Builtin   bool     `json:"builtin"`
	Path      string   `json:"path,omitempty"`
	LastError string   `json:"last_error,omitempty"`
	PID       int      `json:"pid,omitempty"`
}

// Statuses reports every plugin, by name.
func (h *Host) Statuses() []Status {
	var out []Status
	for _, n := range h.Names() {
		out = append(out, h.plugins[n].status())
	}
	return out
}

// Close stops every plugin and waits for the processes to exit.
func (h *Host) Close() {
	h.closing.Do(func() {
		// Plugins first: the launcher's thread must outlive them, or its
		// exit delivers the parent-death signal before they stop cleanly.
		var wg sync.WaitGroup
		for _, s := range h.plugins {
			wg.Add(1)
			go func() { defer wg.Done(); s.shutdown() }()
		}
		wg.Wait()
		close(h.stop)
		h.wg.Wait()
	})
}

func (h *Host) clientConfig(sp spec, stderr *tail) *plugin.ClientConfig {
	cmd := exec.Command(sp.path, sp.args...)
	cmd.SysProcAttr = sysProcAttr()
	// Plugins get a minimal environment: never the host's secrets.
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ", "LANG", "LC_ALL", "GORACE"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	return &plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          sdk.PluginSet(nil, nil, nil),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           newHCLog(h.o.Logger, sp.name),
		Stderr:           stderr,
		// Whatever the plugin writes to os.Stdout/os.Stderr after the
		// handshake arrives here: keep it in the log rather than lose it.
		SyncStdout:   lineLogger(h.o.Logger, sp.name, "stdout"),
		SyncStderr:   lineLogger(h.o.Logger, sp.name, "stderr"),
		StartTimeout: h.o.StartTimeout,
		AutoMTLS:     true,
		SkipHostEnv:  true,
	}
}
