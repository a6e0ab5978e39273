package scripting

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// maxString bounds every string the string and table libraries build for a
// script. A context deadline cannot stop a single Go builtin, so builtins that
// allocate in proportion to their arguments refuse to go past it instead.
const maxString = 1 << 20

func tooLarge(L *lua.LState, fn string) {
	L.RaiseError("%s: result too large (the limit is %d bytes)", fn, maxString)
}

// posrelat turns a Lua string position (negative counts from the end) into
// a 1-based one.
func posrelat(pos, n int) int {
	if pos < 0 {
		return n + pos + 1
	}
	return pos
}

func strRep(orig lua.LGFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		s := L.CheckString(1)
		n := L.CheckInt(2)
		if n > 0 && len(s) > 0 && n > maxString/len(s) {
			tooLarge(L, "string.rep")
		}
		return orig(L)
	}
}

// strFormat guards string.format: Lua 5.1 allows at most two digits of width
// and precision, and the result is bounded before it is built.
func strFormat(orig lua.LGFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		f := L.CheckString(1)
		size := len(f)
		arg := 1
		for i := 0; i < len(f); i++ {
			if f[i] != '%' {
				continue
			}
			i++
			if i < len(f) && f[i] == '%' {
				continue
			}
			start := i
			for i < len(f) && strings.IndexByte("-+ #0", f[i]) >= 0 {
				i++
			}
			if i-start > 5 {
				L.RaiseError("invalid format (repeated flags)")
			}
			width := 0
			for d := 0; i < len(f) && isDigit(f[i]); d++ {
				if d == 2 {
					L.RaiseError("invalid format (width or precision too long)")
				}
				width = width*10 + int(f[i]-'0')
				i++
			}
			if i < len(f) && f[i] == '.' {
				i++
				prec := 0
				for d := 0; i < len(f) && isDigit(f[i]); d++ {
					if d == 2 {
						L.RaiseError("invalid format (width or precision too long)")
					}
					prec = prec*10 + int(f[i]-'0')
					i++
				}
				width += prec
			}
			if i >= len(f) {
				L.RaiseError("%s", "invalid option '%' to 'format'")
			}
			arg++
			n := 32
			if f[i] == 's' || f[i] == 'q' {
				n = max(n, 2*len(lua.LVAsString(L.Get(arg)))+2)
			}
			size += width + n
			if size > maxString {
				tooLarge(L, "string.format")
			}
		}
		return orig(L)
	}
}

// strFind is string.find and string.match (find set).
func strFind(find bool) lua.LGFunction {
	return func(L *lua.LState) int {
		s := L.CheckString(1)
		p := L.CheckString(2)
		init := posrelat(L.OptInt(3, 1), len(s)) - 1
		if init < 0 {
			init = 0
		} else if init > len(s) {
			init = len(s)
		}
		if find && (lua.LVAsBool(L.Get(4)) || !strings.ContainsAny(p, patternSpecials)) {
			if i := strings.Index(s[init:], p); i >= 0 {
				L.Push(lua.LNumber(init + i + 1))
				L.Push(lua.LNumber(init + i + len(p)))
				return 2
			}
			L.Push(lua.LNil)
			return 1
		}
		m := newMatcher(L, s, p)
		anchor := len(p) > 0 && p[0] == '^'
		pstart := 0
		if anchor {
			pstart = 1
		}
		for s1 := init; ; s1++ {
			m.reset()
			if e := m.match(s1, pstart); e != -1 {
				if find {
					L.Push(lua.LNumber(s1 + 1))
					L.Push(lua.LNumber(e))
					return m.pushCaptures(-1, -1, false) + 2
				}
				return m.pushCaptures(s1, e, true)
			}
			if s1 >= len(s) || anchor {
				break
			}
		}
		L.Push(lua.LNil)
		return 1
	}
}

func strGmatch(L *lua.LState) int {
	s := L.CheckString(1)
	p := L.CheckString(2)
	pos := 0
	L.Push(L.NewFunction(func(L *lua.LState) int {
		m := newMatcher(L, s, p)
		for src := pos; src <= len(s); src++ {
			m.reset()
			if e := m.match(src, 0); e != -1 {
				pos = e
				if e == src {
					pos++
				}
				return m.pushCaptures(src, e, true)
			}
		}
		pos = len(s) + 1
		return 0
	}))
	return 1
}

// strGsub builds its result in one pass (gopher-lua's copies the whole string
// once per match) and stops at maxString.
func strGsub(L *lua.LState) int {
	src := L.CheckString(1)
	p := L.CheckString(2)
	repl := L.Get(3)
	switch repl.Type() {
	case lua.LTNumber, lua.LTString, lua.LTTable, lua.LTFunction:
	default:
		L.ArgError(3, "string/function/table expected, got "+repl.Type().String())
	}
	maxN := L.OptInt(4, len(src)+1)
	anchor := len(p) > 0 && p[0] == '^'
	pstart := 0
	if anchor {
		pstart = 1
	}
	m := newMatcher(L, src, p)
	var b strings.Builder
	write := func(s string) {
		if b.Len()+len(s) > maxString {
			tooLarge(L, "string.gsub")
		}
		b.WriteString(s)
	}
	n, s := 0, 0
	for n < maxN {
		m.reset()
		e := m.match(s, pstart)
		if e != -1 {
			n++
			gsubValue(L, m, repl, s, e, write)
		}
		switch {
		case e != -1 && e > s:
			s = e
		case s < len(src):
			write(src[s : s+1])
			s++
		default:
			s = len(src) + 1
		}
		if s > len(src) || anchor {
			break
		}
	}
	if s < len(src) {
		write(src[s:])
	}
	L.Push(lua.LString(b.String()))
	L.Push(lua.LNumber(n))
	return 2
}

func gsubValue(L *lua.LState, m *matcher, repl lua.LValue, s, e int, write func(string)) {
	var v lua.LValue
	switch r := repl.(type) {
	case lua.LString, lua.LNumber:
		t := lua.LVAsString(r)
		for i := 0; i < len(t); i++ {
			j := strings.IndexByte(t[i:], '%')
			if j < 0 || i+j+1 == len(t) {
				write(t[i:])
				return
			}
			write(t[i : i+j])
			i += j + 1
			switch d := t[i]; {
			case d == '0':
				write(m.src[s:e])
			case isDigit(d):
				write(lua.LVAsString(m.captureValue(int(d-'1'), s, e)))
			default:
				write(t[i : i+1])
			}
		}
		return
	case *lua.LTable:
		v = L.GetTable(r, m.captureValue(0, s, e))
	case *lua.LFunction:
		L.Push(r)
		n := m.pushCaptures(s, e, true)
		L.Call(n, 1)
		v = L.Get(-1)
		L.Pop(1)
	}
	switch v.Type() {
	case lua.LTNil:
		write(m.src[s:e])
	case lua.LTBool:
		if v == lua.LFalse {
			write(m.src[s:e])
			return
		}
		L.RaiseError("invalid replacement value (a boolean)")
	case lua.LTString, lua.LTNumber:
		write(lua.LVAsString(v))
	default:
		L.RaiseError("invalid replacement value (a %s)", v.Type().String())
	}
}
