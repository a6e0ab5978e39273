package pluginhost

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// policy is how plugins are supervised (see the package doc). Tests shorten
// it; nothing else changes it.
type policy struct {
	poll         time.Duration // how often a running process is checked for exit
	stableAfter  time.Duration // a process up this long was running stably: restart it at once
	minBackoff   time.Duration // the wait after the first quick crash or failed start...
	maxBackoff   time.Duration // ...doubling up to this
	failingAfter int           // consecutive quick crashes or failed starts that make a plugin "failing"
	pingFailures int           // consecutive failed health checks after which the process is killed
	killGrace    time.Duration // how long a stopping process may take before it is killed
	rescanEvery  time.Duration // the plugins directory is read at most this often
	trustEvery   time.Duration // how often a third-party plugin's pin and executable are checked again
}

func defaultPolicy() policy {
	return policy{
		poll:         100 * time.Millisecond,
		stableAfter:  2 * time.Second,
		minBackoff:   250 * time.Millisecond,
		maxBackoff:   30 * time.Second,
		failingAfter: 3,
		pingFailures: 2,
		killGrace:    3 * time.Second,
		rescanEvery:  time.Second,
		trustEvery:   2 * time.Second,
	}
}

// backoff is the wait before the next start after n consecutive quick
// crashes or failed starts.
func (p policy) backoff(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := p.minBackoff
	for i := 1; i < n && d < p.maxBackoff; i++ {
		d *= 2
	}
	return min(d, p.maxBackoff)
}

// supervisor owns one plugin's process across restarts. One goroutine, run,
// starts, watches and restarts the process; it is started by the first use
// of the plugin and runs until the host closes. Callers only read what it
// publishes under mu, which is never held across I/O.
type supervisor struct {
	h       *Host
	name    string
	builtin bool
	log     *slog.Logger
	// poke tells run that an RPC found the process gone, so it need not
	// wait for its next poll.
	poke chan struct{}

	mu      sync.Mutex
	state   string
	since   time.Time
	closed  bool          // the host is closing
	looping bool          // run has been started
	attempt chan struct{} // non-nil while a start is under way; closed when it ends
	tried   bool          // a start has ended, well or not
	proc    *process      // the running process; nil while down
	pending *procRunner   // the process being started, so Close can kill it
	info    *proto.PluginInfo
	path    string // a third-party plugin's executable, as last resolved
	sum     []byte // its digest, as last checked
	// restarts counts the starts after the first; quick the consecutive
	// quick crashes and failed starts; backoff is the wait chosen after the
	// last one.
	restarts int
	quick    int
	backoff  time.Duration
	lastErr  string
}

func (h *Host) newSupervisor(name, path string, builtin bool) *supervisor {
	return &supervisor{h: h, name: name, builtin: builtin, path: path, log: h.log.With("plugin", name),
		poke: make(chan struct{}, 1), state: StateStopped, since: time.Now()}
}

// setStateLocked records a state change and queues its OnChange call; the
// queue is appended to under mu, so one plugin's calls keep their order.
func (s *supervisor) setStateLocked(state string) {
	if state == s.state {
		return
	}
	s.state, s.since = state, time.Now()
	s.h.notify.post(s.name, state)
}

// troubledLocked is the state of a plugin that is down but being retried.
func (s *supervisor) troubledLocked() string {
	if s.quick >= s.h.pol.failingAfter {
		return StateFailing
	}
	return StateRestarting
}

// ensureLocked starts run, once, unless the host is closing.
func (s *supervisor) ensureLocked() {
	if s.looping || s.closed {
		return
	}
	s.looping = true
	s.attempt = make(chan struct{})
	s.h.loops.Add(1)
	go s.run()
}

func (s *supervisor) kick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureLocked()
}

func (s *supervisor) pokeWatch() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// acquire returns the running process, starting the plugin if it never
// ran. A caller that finds a start under way waits for it (within ctx),
// except for a failing plugin; one that finds the plugin down gets a
// *DownError at once.
func (s *supervisor) acquire(ctx context.Context) (*process, error) {
	waited := false
	for {
		s.mu.Lock()
		if s.closed {
			err := s.downLocked()
			s.mu.Unlock()
			return nil, err
		}
		if p := s.proc; p != nil {
			s.mu.Unlock()
			if p.client.Exited() {
				s.pokeWatch()
				return nil, &DownError{Plugin: s.name, State: StateRestarting, Reason: p.exitReason(), Err: ErrDown}
			}
			return p, nil
		}
		s.ensureLocked()
		wait := s.attempt
		if wait == nil || waited || s.state == StateFailing || s.state == StateUntrusted {
			err := s.downLocked()
			s.mu.Unlock()
			return nil, err
		}
		s.mu.Unlock()
		select {
		case <-wait:
			waited = true
		case <-ctx.Done():
			s.mu.Lock()
			state := s.state
			s.mu.Unlock()
			return nil, &DownError{Plugin: s.name, State: state, Reason: "still starting",
				Err: fmt.Errorf("%w: %w", ErrDown, ctx.Err())}
		}
	}
}

func (s *supervisor) downLocked() *DownError {
	e := &DownError{Plugin: s.name, State: s.state, Reason: s.lastErr, Err: ErrDown}
	switch {
	case s.closed:
		e.State, e.Reason = StateStopped, errClosing.Error()
	case e.Reason == "":
		e.Reason = "not running"
	}
	return e
}

// run is the plugin's life: start, watch, and after a crash or a failed
// start, start again after the backoff, until the host closes.
func (s *supervisor) run() {
	defer s.h.loops.Done()
	ctx := s.h.ctx
	for {
		if !s.builtin && !s.awaitTrust(ctx) {
			s.halt()
			return
		}
		s.beginAttempt()
		p, err := s.start(ctx)
		if ctx.Err() != nil {
			s.halt()
			if p != nil {
				p.stop(s.h.pol.killGrace)
			}
			return
		}
		var wait time.Duration
		var untrusted *untrustedError
		switch {
		case errors.As(err, &untrusted):
			// Changed between the check and the fork: awaitTrust waits.
			s.distrust(untrusted.reason)
			continue
		case err != nil:
			wait = s.startFailed(err)
		default:
			s.up(p)
			why, wedged, distrusted := s.watch(ctx, p)
			if why == "" {
				s.halt()
				p.stop(s.h.pol.killGrace)
				return
			}
			if distrusted {
				// Marked untrusted before the process is stopped: no caller
				// is handed it meanwhile.
				s.distrust(why)
				p.stop(s.h.pol.killGrace)
				continue
			}
			// Marked down before the process is stopped: no caller is
			// handed a dying process meanwhile.
			wait = s.down(p, why)
			grace := s.h.pol.killGrace
			if wedged {
				grace = 0
			}
			p.stop(grace)
		}
		if !sleep(ctx, wait) {
			s.halt()
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *supervisor) beginAttempt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attempt == nil {
		s.attempt = make(chan struct{})
	}
	if s.tried {
		s.restarts++
	}
}

func (s *supervisor) endAttemptLocked() {
	if s.attempt != nil {
		close(s.attempt)
		s.attempt = nil
	}
	s.pending = nil
	s.tried = true
}

// start launches the process and asks it what it serves. It holds no lock:
// what it finds is published by up or startFailed.
func (s *supervisor) start(ctx context.Context) (*process, error) {
	path, args := s.h.o.Self, []string{"plugin", s.name}
	var secure *plugin.SecureConfig
	var running []byte
	if !s.builtin {
		// Resolved at every attempt: the executable may have been added,
		// replaced or fixed since the last one.
		p, err := s.h.resolve(s.name)
		if err != nil {
			return nil, err
		}
		pin, sum, err := s.h.verify(ctx, s.name, p)
		s.mu.Lock()
		s.path, s.sum = p, sum
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		path, args = p, nil
		secure = &plugin.SecureConfig{Checksum: pin, Hash: sha256.New()}
		running = sum
	}
	stderr := &tail{max: 20}
	var r *procRunner
	cfg := s.h.clientConfig(s.name, s.builtin, stderr)
	cfg.RunnerFunc = func(_ hclog.Logger, spec *exec.Cmd, socketDir string) (runner.Runner, error) {
		cmd := exec.Command(path, args...)
		cmd.SysProcAttr = sysProcAttr()
		// spec carries what go-plugin tells the plugin (cookie, protocol
		// versions, mTLS certificate, socket directory).
		cmd.Env = append(s.h.pluginEnv(s.builtin), spec.Env...)
		var err error
		if r, err = newProcRunner(s.h, cmd); err != nil {
			_ = os.RemoveAll(socketDir)
			return nil, err
		}
		r.secure, r.name = secure, s.name
		s.mu.Lock()
		s.pending = r
		closed := s.closed
		s.mu.Unlock()
		if closed {
			_ = r.Kill(ctx)
		}
		return r, nil
	}
	client := plugin.NewClient(cfg)
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, startError(err, r, stderr)
	}
	g, ok := rpc.(*plugin.GRPCClient)
	if !ok {
		stopProcess(client, r, 0)
		return nil, fmt.Errorf("start-up: the plugin does not speak gRPC")
	}
	p := &process{client: client, runner: r, conn: g.Conn, pid: r.pid(), path: path, sum: running}
	failed := func(err error) (*process, error) {
		p.stop(0)
		return nil, err
	}
	raw, err := rpc.Dispense(sdk.KindInfo)
	if err != nil {
		return failed(fmt.Errorf("start-up: %w", err))
	}
	dctx, cancel := context.WithTimeout(ctx, s.h.o.StartTimeout)
	defer cancel()
	if p.info, err = raw.(sdk.InfoClient).Describe(dctx); err != nil {
		return failed(fmt.Errorf("start-up: describe: %w", err))
	}
	for _, k := range p.info.Kinds {
		v, err := rpc.Dispense(k)
		if err != nil {
			return failed(fmt.Errorf("start-up: dispense %s: %w", k, err))
		}
		switch k {
		case sdk.KindChannel:
			p.channel = v.(sdk.Channel)
		case sdk.KindAssistant:
			p.assistant = v.(sdk.Assistant)
		}
	}
	p.started = time.Now()
	return p, nil
}

// startError says why a start failed, in an operator's words, with what the
// plugin wrote to stderr.
func startError(err error, r *procRunner, stderr *tail) error {
	var fe forkError
	var ue *untrustedError
	switch {
	case errors.Is(err, errClosing), errors.As(err, &ue):
		return err
	case errors.As(err, &fe):
		err = fmt.Errorf("cannot run: %w", fe.err)
	case r != nil && exitedOnItsOwn(r.exit()):
		err = fmt.Errorf("exited during start-up (%s)", r.exit())
	default:
		err = fmt.Errorf("start-up: %w", err)
	}
	if t := stderr.String(); t != "" {
		err = fmt.Errorf("%w; plugin said:\n%s", err, t)
	}
	return err
}

// exitedOnItsOwn: go-plugin kills a process that fails its handshake, so
// only SIGKILL may have come from the host.
func exitedOnItsOwn(st *os.ProcessState) bool {
	if st == nil {
		return false
	}
	ws, ok := st.Sys().(syscall.WaitStatus)
	return st.Exited() || !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL
}

func (s *supervisor) up(p *process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.proc, s.info = p, p.info
	s.endAttemptLocked()
	s.setStateLocked(StateRunning)
	s.log.Info("plugin started", "version", p.info.Version, "kinds", p.info.Kinds, "pid", p.pid, "restarts", s.restarts)
}

// startFailed records a failed start and returns the wait before the next.
func (s *supervisor) startFailed(err error) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quick++
	s.backoff = s.h.pol.backoff(s.quick)
	s.lastErr = err.Error()
	s.endAttemptLocked()
	s.setStateLocked(s.troubledLocked())
	s.log.Error("plugin failed to start", "err", err, "in_a_row", s.quick, "retry_in", s.backoff)
	return s.backoff
}

// down records that the running process is gone and returns the wait
// before the next start: none after a stable run, a growing backoff for
// crashes in quick succession.
func (s *supervisor) down(p *process, why string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	uptime := time.Since(p.started)
	if uptime >= s.h.pol.stableAfter {
		s.quick = 0
	} else {
		s.quick++
	}
	s.backoff = s.h.pol.backoff(s.quick)
	s.proc = nil
	s.lastErr = why
	s.setStateLocked(s.troubledLocked())
	s.log.Error("plugin down", "reason", why, "pid", p.pid, "uptime", uptime.Round(time.Millisecond), "retry_in", s.backoff)
	return s.backoff
}

// halt records that the host is closing.
func (s *supervisor) halt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.proc = nil
	s.endAttemptLocked()
	s.setStateLocked(StateStopped)
}

// watch returns when the process exits, stops answering health checks
// (wedged), is no longer trusted (distrusted, with the reason), or the host
// closes (an empty reason).
func (s *supervisor) watch(ctx context.Context, p *process) (why string, wedged, distrusted bool) {
	poll := time.NewTicker(s.h.pol.poll)
	defer poll.Stop()
	health := time.NewTicker(s.h.o.HealthEvery)
	defer health.Stop()
	var trust <-chan time.Time
	if !s.builtin {
		t := time.NewTicker(s.h.pol.trustEvery)
		defer t.Stop()
		trust = t.C
	}
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return "", false, false
		case <-s.poke:
		case <-poll.C:
		case <-trust:
			if why, replaced := s.stillTrusted(ctx, p); why != "" {
				return why, false, !replaced
			}
		case <-health.C:
			err := p.ping(ctx, s.h.o.HealthTimeout)
			switch {
			case err == nil:
				failures = 0
				continue
			case ctx.Err() != nil:
				return "", false, false
			case p.client.Exited():
			default:
				failures++
				s.log.Warn("plugin health check failed", "err", err, "in_a_row", failures)
				if failures >= s.h.pol.pingFailures {
					return fmt.Sprintf("stopped answering health checks (%d in a row failed, the last: %v)", failures, err), true, false
				}
				continue
			}
		}
		if p.client.Exited() {
			return p.exitReason(), false, false
		}
	}
}

// stillTrusted checks a running third-party plugin against its pin and its
// executable. It returns why the process must stop: its pin was removed, or
// the executable no longer matches the pin (untrusted); or a new
// executable, trusted since, replaces it (replaced: a restart). What
// cannot be read now (the database is down) leaves it running.
func (s *supervisor) stillTrusted(ctx context.Context, p *process) (why string, replaced bool) {
	_, sum, err := s.h.verify(ctx, s.name, p.path)
	if sum != nil {
		s.mu.Lock()
		s.sum = sum
		s.mu.Unlock()
	}
	var ue *untrustedError
	switch {
	case errors.As(err, &ue):
		return ue.reason, false
	case err != nil:
		return "", false
	case !bytes.Equal(sum, p.sum):
		return "a new executable was trusted (sha256 " + short(sum) + ")", true
	}
	return "", false
}

// awaitTrust returns once the plugin's executable matches its pin, or
// cannot be checked (the start then fails, and says why); meanwhile the
// plugin shows untrusted. It returns false when the host closes.
func (s *supervisor) awaitTrust(ctx context.Context) bool {
	for {
		path, err := s.h.resolve(s.name)
		if err != nil {
			return true
		}
		_, sum, err := s.h.verify(ctx, s.name, path)
		var ue *untrustedError
		if !errors.As(err, &ue) {
			return true
		}
		s.mu.Lock()
		s.path, s.sum = path, sum
		s.mu.Unlock()
		s.distrust(ue.reason)
		if !sleep(ctx, s.h.pol.trustEvery) {
			return false
		}
	}
}

// distrust records that the plugin is not started because its executable
// is not trusted. Callers waiting for a start are told at once.
func (s *supervisor) distrust(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.proc = nil
	s.quick, s.backoff = 0, 0
	if s.attempt != nil {
		close(s.attempt)
		s.attempt = nil
	}
	s.pending = nil
	if s.state != StateUntrusted || s.lastErr != reason {
		s.log.Warn("plugin not started: its executable is not trusted", "reason", reason, "path", s.path)
	}
	s.lastErr = reason
	s.setStateLocked(StateUntrusted)
}

// close marks the supervisor closing and aborts a start under way; run
// then stops the process and returns.
func (s *supervisor) close() {
	s.mu.Lock()
	s.closed = true
	r := s.pending
	s.mu.Unlock()
	if r != nil {
		_ = r.Kill(context.Background())
	}
}

// status is what the API shows; fresh: the plugin was never started, nor
// is it being started.
func (s *supervisor) status() (st Status, fresh bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st = Status{Name: s.name, Kinds: []string{}, State: s.state, Since: s.since, Restarts: s.restarts,
		Builtin: s.builtin, LastError: s.lastErr}
	if !s.builtin {
		st.Path = s.path
		if s.sum != nil {
			st.SHA256 = hex.EncodeToString(s.sum)
		}
	}
	if s.proc != nil {
		st.PID = s.proc.pid
	}
	if s.info != nil {
		st.Kinds, st.Version = s.info.Kinds, s.info.Version
		if len(st.Kinds) > 0 {
			st.Kind = st.Kinds[0]
		}
	}
	return st, !s.looping && !s.tried && s.state == StateStopped
}

func (s *supervisor) availability() (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed && (s.proc != nil || (s.state == StateStopped && !s.tried)) {
		return true, ""
	}
	return false, s.downLocked().Error()
}

// failed wraps the error of an RPC that was made. An unavailable plugin
// whose process is gone is reported to run at once rather than at its next
// poll.
func (s *supervisor) failed(p *process, err error) error {
	if status.Code(err) == codes.Unavailable && p.client.Exited() {
		s.pokeWatch()
	}
	return fmt.Errorf("plugin %s: %w", s.name, err)
}
