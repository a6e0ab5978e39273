package scripting

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/scripts"
)

// DefaultTimeout is the time limit of one hook call (scripts.timeout_ms).
const DefaultTimeout = 50 * time.Millisecond

// Options configure an Engine.
type Options struct {
	Dir      string        // operator scripts dir; may not exist (then every hook is the default)
	Timeout  time.Duration // per hook call (config scripts.timeout_ms, default 50 ms)
	Logger   *slog.Logger
	PoolSize int  // Lua states per generation (default GOMAXPROCS*2)
	Watch    bool // hot reload from Dir
	Now      func() time.Time
	// ObserveHook, when set, is told how long each hook call took (route,
	// convert or reply), its fallbacks included (core/metrics).
	ObserveHook func(hook string, d time.Duration)

	onReload func() // tests: runs after each reload the watcher triggers
}

// Status is a hook script's state, as GET /api/v1/scripts shows it.
type Status struct {
	Name      string    `json:"name"`       // "routing.lua"
	Version   int       `json:"version"`    // increments on every successful (re)load of that file
	LoadedAt  time.Time `json:"loaded_at"`  // when that version was loaded
	LastError string    `json:"last_error"` // "routing.lua:12: ..." of the last failed load or run-time error, "" when fine
	Source    string    `json:"source"`     // "file" or "default"
}

// Engine runs the operator's hook scripts. Its methods are safe for
// concurrent use, and the hooks never fail: whatever goes wrong in a script,
// the caller gets the built-in default's answer.
type Engine struct {
	dir      string
	timeout  time.Duration
	poolSize int
	log      *slog.Logger
	now      func() time.Time
	defaults [numHooks]*script

	// gen is what calls use: the active scripts and their pool of states.
	// A reload that changes anything publishes a whole new generation.
	gen    atomic.Pointer[generation]
	closed atomic.Bool

	reloadMu sync.Mutex
	seen     [numHooks][]byte // file contents the last reload examined; guarded by reloadMu

	mu     sync.Mutex
	status [numHooks]Status

	watch    *watcher
	onReload func()
	observe  func(hook string, d time.Duration)
}

type generation struct {
	scripts [numHooks]*script
	pool    *pool
}

// New loads the scripts in o.Dir and, with o.Watch, follows their changes.
// A broken script is not an error: it is logged, reported by Statuses, and
// its hook uses the built-in default.
func New(o Options) (*Engine, error) {
	e := &Engine{dir: o.Dir, timeout: o.Timeout, poolSize: o.PoolSize, log: o.Logger, now: o.Now, onReload: o.onReload,
		observe: o.ObserveHook}
	if e.timeout <= 0 {
		e.timeout = DefaultTimeout
	}
	if e.poolSize <= 0 {
		e.poolSize = runtime.GOMAXPROCS(0) * 2
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	for h := range numHooks {
		src, err := scripts.FS.ReadFile(h.file())
		if err != nil {
			return nil, fmt.Errorf("built-in %s: %w", h.file(), err)
		}
		chunk := h.file() + " (built-in)"
		proto, err := compile(chunk, src)
		if err != nil {
			return nil, fmt.Errorf("built-in %s: %w", h.file(), err)
		}
		e.defaults[h] = &script{hook: h, name: h.file(), chunk: chunk, source: SourceDefault, src: src, proto: proto}
	}
	e.Reload()
	if o.Watch && o.Dir != "" {
		w, err := e.startWatch()
		if err != nil {
			e.log.Error("scripts will not reload on change", "dir", o.Dir, "err", err)
		} else {
			e.watch = w
		}
	}
	return e, nil
}

// Close stops the watcher and closes the Lua states. Hooks called afterwards
// answer with the built-in defaults.
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	if e.watch != nil {
		e.watch.stop()
	}
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	if g := e.gen.Swap(nil); g != nil {
		g.pool.close()
	}
	return nil
}

// Statuses reports each hook script: routing, text conversion, unsupported
// media.
func (e *Engine) Statuses() []Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Status(nil), e.status[:]...)
}

// Reload reads the scripts dir again now. The watcher calls it after a
// change; a console that saves a script may call it to apply the change
// without waiting for the watcher.
func (e *Engine) Reload() {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	if e.closed.Load() {
		return
	}
	cur := e.gen.Load()
	var next generation
	changed := cur == nil
	var lastErr [numHooks]*string
	for h := range numHooks {
		var prev *script
		if cur != nil {
			prev = cur.scripts[h]
		}
		next.scripts[h], lastErr[h] = e.loadHook(h, prev)
		changed = changed || next.scripts[h] != prev
	}
	if changed {
		next.pool = newPool(e.poolSize, func() (*sandbox, error) { return newSandbox(e.now, e.log) })
		next.pool.warm(2)
		if old := e.gen.Swap(&next); old != nil {
			old.pool.close()
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for h := range numHooks {
		sc, st := next.scripts[h], &e.status[h]
		st.Name, st.Version, st.LoadedAt, st.Source = sc.name, sc.version, sc.loadedAt, sc.source
		if lastErr[h] != nil {
			st.LastError = *lastErr[h]
		}
	}
}

// loadHook decides the script of hook h given the one running (prev, nil at
// start). It returns the script to run and the LastError to report (nil:
// leave it as it is).
func (e *Engine) loadHook(h hook, prev *script) (*script, *string) {
	none := ""
	var src []byte
	err := fs.ErrNotExist
	if e.dir != "" {
		src, err = readScript(filepath.Join(e.dir, h.file()))
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		had := e.seen[h] != nil
		e.seen[h] = nil
		if prev != nil && prev.source == SourceDefault {
			if had {
				return prev, &none
			}
			return prev, nil
		}
		if prev != nil {
			e.log.Info("script removed; the built-in default applies", "script", h.file())
		}
		return e.revision(e.defaults[h], prev), &none
	case err != nil:
		e.seen[h] = nil
		msg := fmt.Sprintf("%s: %v", h.file(), err)
		e.log.Error("cannot read script; the running version stays", "script", h.file(), "err", err)
		return e.keep(h, prev), &msg
	}
	if prev != nil && e.seen[h] != nil && bytes.Equal(e.seen[h], src) {
		return prev, nil // seen already; the outcome stands
	}
	e.seen[h] = src
	if prev != nil && prev.source == SourceFile && bytes.Equal(prev.src, src) {
		return prev, &none // back to what is running
	}
	sc := &script{hook: h, name: h.file(), chunk: h.file(), source: SourceFile, src: src}
	proto, err := compile(sc.chunk, src)
	if err != nil {
		ce := asError(sc.chunk, err)
		e.log.Warn("script does not compile; the running version stays", "script", sc.name, "line", ce.Line, "err", ce.Message)
		msg := ce.Error()
		return e.keep(h, prev), &msg
	}
	sc.proto = proto
	// The dry run's conversa.log lines would only be noise in the log.
	fatal, missing, problems := probe(sc, e.timeout, e.now, slog.New(slog.DiscardHandler))
	switch {
	case fatal != nil:
		e.log.Warn("script fails to load; the running version stays", "script", sc.name, "line", fatal.Line, "err", fatal.Message)
		msg := fatal.Error()
		return e.keep(h, prev), &msg
	case missing != nil:
		e.log.Warn("script has no hook function; the built-in default applies", "script", sc.name, "line", missing.Line, "err", missing.Message)
		msg := missing.Error()
		if prev != nil && prev.source == SourceDefault {
			return prev, &msg
		}
		return e.revision(e.defaults[h], prev), &msg
	}
	sc = e.revision(sc, prev)
	e.log.Info("script loaded", "script", sc.name, "version", sc.version)
	msg := ""
	for _, p := range problems {
		e.log.Warn("script fails a dry run; the built-in default will answer such messages", "script", sc.name, "line", p.Line, "err", p.Message)
	}
	if len(problems) > 0 {
		msg = problems[0].Error()
		if len(problems) > 1 {
			msg += fmt.Sprintf(" (and %d more problems)", len(problems)-1)
		}
	}
	return sc, &msg
}

// revision is sc as the next version of its hook after prev.
func (e *Engine) revision(sc, prev *script) *script {
	next := *sc
	next.version = 1
	if prev != nil {
		next.version = prev.version + 1
	}
	next.loadedAt = e.now().UTC()
	return &next
}

// keep is what a failed load leaves running: prev, or the default at start.
func (e *Engine) keep(h hook, prev *script) *script {
	if prev != nil {
		return prev
	}
	return e.revision(e.defaults[h], nil)
}

// Route runs routing.lua's route(ev).
func (e *Engine) Route(ctx context.Context, ev *Event) Route {
	if ev == nil {
		return Route{}
	}
	now := ev.Now
	if now.IsZero() {
		now = e.now()
	}
	var out Route
	e.invoke(ctx, hookRoute,
		func(s *sandbox) []lua.LValue { s.callNow = now; return []lua.LValue{s.eventValue(ev, now)} },
		func(s *sandbox, v lua.LValue) (bool, error) {
			r, isNil, err := s.decodeRoute(v, ev)
			out = r
			return isNil, err
		},
		func() { out = defaultRoute(ev) })
	return out
}

// Convert runs text_conversion.lua's convert(component, channel).
func (e *Engine) Convert(ctx context.Context, c model.Content, channel string) string {
	var out string
	now := e.now()
	e.invoke(ctx, hookConvert,
		func(s *sandbox) []lua.LValue {
			s.callNow = now
			return []lua.LValue{s.componentValue(&c), lua.LString(clip(channel))}
		},
		func(s *sandbox, v lua.LValue) (bool, error) {
			t, isNil, err := decodeConvert(v, &c)
			out = t
			return isNil, err
		},
		func() { out = defaultConvert(&c) })
	return out
}

// Reply runs unsupported_media.lua's reply(ev).
func (e *Engine) Reply(ctx context.Context, ev *Event) []string {
	if ev == nil {
		return nil
	}
	now := ev.Now
	if now.IsZero() {
		now = e.now()
	}
	var out []string
	e.invoke(ctx, hookReply,
		func(s *sandbox) []lua.LValue { s.callNow = now; return []lua.LValue{s.eventValue(ev, now)} },
		func(s *sandbox, v lua.LValue) (bool, error) {
			r, isNil, err := s.decodeReply(v)
			out = r
			return isNil, err
		},
		func() { out = defaultReply(ev) })
	return out
}

// invoke runs hook h: the operator's script, then on failure (or a nil
// result) the built-in script, then as a last resort the same default in Go.
// decode stores a successful result where the caller reads it.
func (e *Engine) invoke(ctx context.Context, h hook,
	args func(*sandbox) []lua.LValue,
	decode func(*sandbox, lua.LValue) (isNil bool, err error),
	fallback func()) {
	if e.observe != nil {
		start := time.Now()
		defer func() { e.observe(h.fn(), time.Since(start)) }()
	}
	g := e.gen.Load()
	if g == nil {
		fallback()
		return
	}
	sc := g.scripts[h]
	isNil, err := e.attempt(ctx, g, sc, args, decode)
	if err == nil && !isNil {
		return
	}
	if err != nil {
		e.report(ctx, sc, err)
	}
	if sc.source == SourceFile {
		isNil, err = e.attempt(ctx, g, e.defaults[h], args, decode)
		if err == nil && !isNil {
			return
		}
		if err != nil {
			e.report(ctx, e.defaults[h], err)
		}
	}
	fallback()
}

// busyError is a call that found no Lua state to run on: not the script's
// fault.
type busyError struct{ err error }

func (b *busyError) Error() string { return b.err.Error() }
func (b *busyError) Unwrap() error { return b.err }

// attempt runs sc once on a state of generation g.
func (e *Engine) attempt(ctx context.Context, g *generation, sc *script,
	args func(*sandbox) []lua.LValue,
	decode func(*sandbox, lua.LValue) (bool, error)) (isNil bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	s, err := g.pool.get(ctx)
	for errors.Is(err, errPoolClosed) {
		// A reload retired g meanwhile; sc runs as well on the states of
		// the generation that replaced it.
		if g = e.gen.Load(); g == nil {
			break
		}
		s, err = g.pool.get(ctx)
	}
	if err != nil {
		return false, &busyError{err}
	}
	reuse := false
	defer func() {
		if r := recover(); r != nil {
			reuse = false
			err = &Error{Script: sc.chunk, Message: fmt.Sprintf("internal error: %v", r)}
		}
		g.pool.put(s, reuse)
	}()
	ret, line, err := s.call(ctx, sc, sc.hook.fn(), args(s)...)
	if err != nil {
		return false, err
	}
	reuse = true
	isNil, err = decode(s, ret)
	if err != nil {
		return false, &Error{Script: sc.chunk, Line: line, Message: err.Error()}
	}
	return isNil, nil
}

// report logs a failed hook call and, when the script is to blame and still
// the running version, records it for Statuses.
func (e *Engine) report(ctx context.Context, sc *script, err error) {
	if ctx.Err() != nil {
		e.log.Debug("hook call abandoned by its caller", "script", sc.name, "err", err)
		return
	}
	var busy *busyError
	switch {
	case errors.Is(err, errPoolClosed):
		e.log.Debug("hook called while the engine closes", "script", sc.name)
		return
	case errors.As(err, &busy):
		e.log.Warn("no Lua state free within the time limit; the built-in default answers", "script", sc.name, "err", err)
		return
	}
	se := asError(sc.chunk, err)
	if se.Timeout {
		se.Message = fmt.Sprintf("time limit of %s exceeded", e.timeout)
	}
	if sc.source == SourceDefault {
		e.log.Error("built-in script failed", "script", sc.chunk, "line", se.Line, "err", se.Message)
		return
	}
	e.log.Warn("script failed; the built-in default answers", "script", sc.name, "line", se.Line, "err", se.Message)
	e.mu.Lock()
	defer e.mu.Unlock()
	if st := &e.status[sc.hook]; st.Version == sc.version && st.Source == SourceFile {
		st.LastError = strings.TrimSpace(se.Error())
	}
}

// Dir is the operator's scripts directory ("" when there is none).
func (e *Engine) Dir() string { return e.dir }

// Timeout is the time limit of one hook call.
func (e *Engine) Timeout() time.Duration { return e.timeout }
