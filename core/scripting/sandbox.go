package scripting

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Limits of one Lua state. The call stack bounds recursion; the registry
// (gopher-lua's value stack) bounds unpack and string.byte of huge ranges. It
// grows in large steps because each growth copies it whole.
const (
	callStackSize    = 200
	registrySize     = 4 << 10
	registryGrowStep = 4 << 10
	registryMaxSize  = 64 << 10

	// maxArrayIndex bounds the array part of a Lua table: gopher-lua fills
	// the gap up to an index with nils in one step, so t[60000000] = 1
	// would allocate a gigabyte in a single instruction. Higher indexes still
	// work (they go to the hash part).
	maxArrayIndex = 1 << 18
)

// arrayLimit lowers gopher-lua's MaxArrayIndex, a package variable of the
// library, before the first state exists; scripting is its only user in the
// binary.
var arrayLimit sync.Once

// A sandbox is one Lua state with Conversa's safe library, ready to run any
// hook script. Scripts never see the state's real globals: each call runs in
// a fresh environment whose misses fall through to a read-only set of safe
// globals, so nothing a call sets or replaces survives it.
type sandbox struct {
	L       *lua.LState
	envMeta *lua.LTable    // every environment's: __index is the safe globals
	marker  *lua.LUserData // tags the metatables of read-only proxies

	roNewIndex *lua.LFunction
	roLen      *lua.LFunction
	next       *lua.LFunction
	inext      *lua.LFunction

	now      func() time.Time
	callNow  time.Time // the time the running hook call is about (ev.now); zero: now()
	log      *slog.Logger
	script   string    // the script running, for conversa.log
	started  time.Time // when the running call began, for os.clock
	logLines int       // lines the running call logged
	spent    int       // bytes of strings the running call built (see charge)
}

func newSandbox(now func() time.Time, log *slog.Logger) (*sandbox, error) {
	arrayLimit.Do(func() { lua.MaxArrayIndex = maxArrayIndex })
	L := lua.NewState(lua.Options{
		SkipOpenLibs:     true,
		CallStackSize:    callStackSize,
		RegistrySize:     registrySize,
		RegistryGrowStep: registryGrowStep,
		RegistryMaxSize:  registryMaxSize,
	})
	s := &sandbox{L: L, now: now, log: log, marker: L.NewUserData()}
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(lib.open), Protect: true}, lua.LString(lib.name)); err != nil {
			L.Close()
			return nil, fmt.Errorf("opening the Lua %q library: %w", lib.name, err)
		}
	}
	s.build()
	return s, nil
}

func (s *sandbox) close() { s.L.Close() }

// build assembles the safe globals from the libraries just opened, then
// empties the real global table so nothing outside the whitelist remains in
// the state.
func (s *sandbox) build() {
	L := s.L
	real := L.G.Global
	lib := func(name string) *lua.LTable { return real.RawGetString(name).(*lua.LTable) }
	gfn := func(t *lua.LTable, name string) lua.LGFunction {
		return t.RawGetString(name).(*lua.LFunction).GFunction
	}
	fn := L.NewFunction

	s.roNewIndex = fn(func(L *lua.LState) int {
		L.RaiseError("attempt to modify a read-only table")
		return 0
	})
	s.roLen = fn(func(L *lua.LState) int {
		L.Push(lua.LNumber(s.resolve(L.CheckTable(1)).Len()))
		return 1
	})
	s.next = fn(s.baseNext)
	s.inext = fn(s.ipairsNext)

	g := L.NewTable()
	for _, name := range []string{"assert", "error", "pcall", "select", "tonumber", "tostring", "type", "xpcall"} {
		g.RawSetString(name, real.RawGetString(name))
	}
	g.RawSetString("_VERSION", lua.LString(lua.LuaVersion))
	g.RawSetString("next", s.next)
	g.RawSetString("pairs", fn(s.pairs))
	g.RawSetString("ipairs", fn(s.ipairs))
	unpack := gfn(real, "unpack")
	g.RawSetString("unpack", fn(func(L *lua.LState) int {
		L.Replace(1, s.resolve(L.CheckTable(1)))
		return unpack(L)
	}))
	g.RawSetString("getmetatable", fn(getMetatable))
	g.RawSetString("setmetatable", fn(setMetatable))
	g.RawSetString("print", fn(s.print))
	g.RawSetString(concatGlobal, fn(s.concat))

	str := lib(lua.StringLibName)
	strCopy := L.NewTable()
	for _, name := range []string{"byte", "len", "sub"} {
		strCopy.RawSetString(name, str.RawGetString(name))
	}
	// What builds a new string counts against the call's budget.
	for _, name := range []string{"char", "lower", "reverse", "upper"} {
		strCopy.RawSetString(name, fn(s.charged(gfn(str, name))))
	}
	strCopy.RawSetString("rep", fn(s.charged(strRep(gfn(str, "rep")))))
	strCopy.RawSetString("format", fn(s.charged(strFormat(gfn(str, "format")))))
	strCopy.RawSetString("find", fn(strFind(true)))
	strCopy.RawSetString("match", fn(strFind(false)))
	strCopy.RawSetString("gmatch", fn(strGmatch))
	strCopy.RawSetString("gsub", fn(s.charged(strGsub)))
	// Methods on strings ("x"):rep(3) resolve through the string metatable;
	// it points at the guarded copy, and the library table gopher-lua
	// installed there (which names itself as __index) becomes unreachable.
	strMeta := L.NewTable()
	strMeta.RawSetString("__index", strCopy)
	strMeta.RawSetString("__metatable", lua.LString("locked"))
	L.SetMetatable(lua.LString(""), strMeta)
	g.RawSetString("string", s.readOnly(strCopy))

	tab := lib(lua.TabLibName)
	tabCopy := L.NewTable()
	tabCopy.RawSetString("concat", fn(s.tableConcat))
	for _, name := range []string{"insert", "remove", "sort"} {
		orig := gfn(tab, name)
		tabCopy.RawSetString(name, fn(func(L *lua.LState) int {
			if s.isReadOnly(L.CheckTable(1)) {
				L.RaiseError("attempt to modify a read-only table")
			}
			return orig(L)
		}))
	}
	for _, name := range []string{"getn", "maxn"} {
		orig := gfn(tab, name)
		tabCopy.RawSetString(name, fn(func(L *lua.LState) int {
			L.Replace(1, s.resolve(L.CheckTable(1)))
			return orig(L)
		}))
	}
	g.RawSetString("table", s.readOnly(tabCopy))

	math := lib(lua.MathLibName)
	mathCopy := L.NewTable()
	math.ForEach(func(k, v lua.LValue) {
		if k.String() != "randomseed" { // reseeds the process-wide generator
			mathCopy.RawSet(k, v)
		}
	})
	g.RawSetString("math", s.readOnly(mathCopy))

	g.RawSetString("os", s.readOnly(s.osLib()))
	conversa := L.NewTable()
	conversa.RawSetString("log", fn(s.logFn))
	conversa.RawSetString("clock", fn(s.clockFn))
	conversa.RawSetString("in_hours", fn(s.inHoursFn))
	g.RawSetString("conversa", s.readOnly(conversa))

	s.envMeta = L.NewTable()
	s.envMeta.RawSetString("__index", g)
	s.envMeta.RawSetString("__metatable", lua.LString("locked"))

	var keys []lua.LValue
	real.ForEach(func(k, _ lua.LValue) { keys = append(keys, k) })
	for _, k := range keys {
		real.RawSet(k, lua.LNil)
	}
}

// newEnv is a call's global table: empty, with the safe globals behind it.
func (s *sandbox) newEnv() *lua.LTable {
	env := s.L.CreateTable(0, 4)
	env.Metatable = s.envMeta
	env.RawSetString("_G", env)
	return env
}

// readOnly wraps t in a proxy that reads through to it and refuses writes.
// The proxy's metatable is locked, and pairs, ipairs, next, unpack and the
// table library see through proxies, so scripts use them as plain tables.
func (s *sandbox) readOnly(t *lua.LTable) *lua.LTable {
	mt := s.L.CreateTable(0, 5)
	mt.RawSetString("__index", t)
	mt.RawSetString("__newindex", s.roNewIndex)
	mt.RawSetString("__len", s.roLen)
	mt.RawSetString("__metatable", lua.LString("locked"))
	mt.RawSetString("__readonly", s.marker)
	p := s.L.CreateTable(0, 0)
	p.Metatable = mt
	return p
}

func (s *sandbox) isReadOnly(t *lua.LTable) bool {
	mt, ok := t.Metatable.(*lua.LTable)
	return ok && mt.RawGetString("__readonly") == s.marker
}

// resolve returns the table behind a read-only proxy, or t itself.
func (s *sandbox) resolve(t *lua.LTable) *lua.LTable {
	if s.isReadOnly(t) {
		return t.Metatable.(*lua.LTable).RawGetString("__index").(*lua.LTable)
	}
	return t
}

func (s *sandbox) baseNext(L *lua.LState) int {
	t := s.resolve(L.CheckTable(1))
	k, v := t.Next(L.Get(2))
	if k == lua.LNil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(k)
	L.Push(v)
	return 2
}

func (s *sandbox) pairs(L *lua.LState) int {
	t := L.CheckTable(1)
	L.Push(s.next)
	L.Push(t)
	L.Push(lua.LNil)
	return 3
}

func (s *sandbox) ipairs(L *lua.LState) int {
	t := L.CheckTable(1)
	L.Push(s.inext)
	L.Push(t)
	L.Push(lua.LNumber(0))
	return 3
}

func (s *sandbox) ipairsNext(L *lua.LState) int {
	t := s.resolve(L.CheckTable(1))
	i := L.CheckInt(2) + 1
	v := t.RawGetInt(i)
	if v == lua.LNil {
		return 0
	}
	L.Push(lua.LNumber(i))
	L.Push(v)
	return 2
}

// getMetatable only reveals metatables of tables, and honours __metatable:
// the string metatable and those of host tables stay out of reach.
func getMetatable(L *lua.LState) int {
	t, ok := L.CheckAny(1).(*lua.LTable)
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	mt, ok := t.Metatable.(*lua.LTable)
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	if p := mt.RawGetString("__metatable"); p != lua.LNil {
		L.Push(p)
		return 1
	}
	L.Push(mt)
	return 1
}

// setMetatable works on the script's own tables only: gopher-lua's would set
// the metatable shared by every string of the state.
func setMetatable(L *lua.LState) int {
	t := L.CheckTable(1)
	L.CheckTypes(2, lua.LTNil, lua.LTTable)
	if mt, ok := t.Metatable.(*lua.LTable); ok && mt.RawGetString("__metatable") != lua.LNil {
		L.RaiseError("cannot change a protected metatable")
	}
	t.Metatable = L.Get(2)
	L.SetTop(1)
	return 1
}

func (s *sandbox) tableConcat(L *lua.LState) int {
	t := s.resolve(L.CheckTable(1))
	sep := L.OptString(2, "")
	i := L.OptInt(3, 1)
	j := L.OptInt(4, t.Len())
	var b strings.Builder
	for k := i; k <= j; k++ {
		v := t.RawGetInt(k)
		if !lua.LVCanConvToString(v) {
			L.RaiseError("invalid value (at index %d) in table for 'concat'", k)
		}
		piece := lua.LVAsString(v)
		if b.Len()+len(piece)+len(sep) > maxString {
			tooLarge(L, "table.concat")
		}
		b.WriteString(piece)
		if k < j {
			b.WriteString(sep)
		}
	}
	s.charge(L, b.Len())
	L.Push(lua.LString(b.String()))
	return 1
}

// A script's log lines are capped, in size and per call, so that a loop
// around conversa.log cannot flood the log before its time limit.
const (
	maxLogMessage = 4 << 10
	maxLogLines   = 50
)

func (s *sandbox) logFn(L *lua.LState) int {
	s.logMessage(L, lua.LVAsString(L.ToStringMeta(L.CheckAny(1))))
	return 0
}

// print goes to the log too: the process's standard output is not the
// operator's, and under a plugin host it would corrupt a protocol.
func (s *sandbox) print(L *lua.LState) int {
	parts := make([]string, L.GetTop())
	for i := range parts {
		parts[i] = lua.LVAsString(L.ToStringMeta(L.Get(i + 1)))
	}
	s.logMessage(L, strings.Join(parts, "\t"))
	return 0
}

func (s *sandbox) logMessage(L *lua.LState, msg string) {
	s.logLines++
	switch {
	case s.logLines == maxLogLines+1:
		msg = fmt.Sprintf("more than %d log lines in one call; the rest of this call's are dropped", maxLogLines)
	case s.logLines > maxLogLines:
		return
	}
	if len(msg) > maxLogMessage {
		msg = msg[:maxLogMessage] + "…"
	}
	line := 0
	if dbg, ok := L.GetStack(1); ok {
		if _, err := L.GetInfo("l", dbg, lua.LNil); err == nil {
			line = dbg.CurrentLine
		}
	}
	s.log.Info(msg, "script", s.script, "line", line)
}

// load runs sc's chunk in a fresh environment and returns the environment,
// now holding the script's globals (its hook function among them).
func (s *sandbox) load(ctx context.Context, sc *script) (env *lua.LTable, err error) {
	// One run of a script, its chunk and then its hook function, has one
	// budget for the strings it builds.
	s.spent = 0
	err = s.protect(ctx, sc, func() error {
		env = s.newEnv()
		chunk := s.L.NewFunctionFromProto(sc.proto)
		chunk.Env = env
		s.L.Push(chunk)
		return s.L.PCall(0, 0, nil)
	})
	return env, err
}

// invoke calls fn with args and returns its first result.
func (s *sandbox) invoke(ctx context.Context, sc *script, fn *lua.LFunction, args ...lua.LValue) (ret lua.LValue, err error) {
	err = s.protect(ctx, sc, func() error {
		s.L.Push(fn)
		for _, a := range args {
			s.L.Push(a)
		}
		if err := s.L.PCall(len(args), 1, nil); err != nil {
			return err
		}
		ret = s.L.Get(-1)
		s.L.Pop(1)
		return nil
	})
	return ret, err
}

// call loads sc and calls its global function hook with args: one hook
// call, every global of it gone afterwards. It returns the function's first
// result and the line the function was defined on, for shape errors.
func (s *sandbox) call(ctx context.Context, sc *script, hook string, args ...lua.LValue) (lua.LValue, int, error) {
	env, err := s.load(ctx, sc)
	if err != nil {
		return nil, 0, err
	}
	fn, ok := env.RawGetString(hook).(*lua.LFunction)
	if !ok {
		return nil, 0, missingFunction(sc, env, hook)
	}
	line := 0
	if fn.Proto != nil {
		line = fn.Proto.LineDefined
	}
	ret, err := s.invoke(ctx, sc, fn, args...)
	return ret, line, err
}

// protect runs f under ctx's deadline with sc named as the running script,
// and turns whatever f raises or panics with into an *Error.
func (s *sandbox) protect(ctx context.Context, sc *script, f func() error) (err error) {
	L := s.L
	s.script, s.started, s.logLines = sc.name, time.Now(), 0
	L.SetContext(ctx)
	defer func() {
		if r := recover(); r != nil {
			err = &Error{Script: sc.chunk, Message: fmt.Sprintf("internal error: %v", r)}
		}
		L.RemoveContext()
		s.script = ""
	}()
	if err := f(); err != nil {
		return runError(sc, err, ctx)
	}
	return nil
}

// missingFunction reports a script that does not define its hook, pointing
// at a global function whose name differs only in case when there is one.
func missingFunction(sc *script, env *lua.LTable, hook string) *Error {
	e := &Error{Script: sc.chunk, Line: 1, Message: fmt.Sprintf("defines no function %s; the built-in default applies", hook)}
	env.ForEach(func(k, v lua.LValue) {
		fn, ok := v.(*lua.LFunction)
		if name, isStr := k.(lua.LString); ok && isStr && fn.Proto != nil && strings.EqualFold(string(name), hook) {
			e.Line = fn.Proto.LineDefined
			e.Message = fmt.Sprintf("defines %s, not %s (names are case-sensitive); the built-in default applies", name, hook)
		}
	})
	return e
}
