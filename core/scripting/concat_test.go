package scripting

import (
	"bytes"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// '..' runs through the guarded concatenation and means what it means in
// Lua 5.1: numbers format as Lua formats them, a call or a vararg gives one
// value, runs of strings join from the right, and __concat is honoured.
func TestConcatenationKeepsLuaSemantics(t *testing.T) {
	now := time.Now()
	for _, c := range []struct{ expr, want string }{
		{`"a" .. "b" .. "c"`, `"abc"`},
		{`1 .. 2`, `"12"`},
		{`"x" .. 1.5 .. "/" .. 10 / 2`, `"x1.5/5"`},
		{`"a" .. (function() return "b", "c" end)()`, `"ab"`},
		{`(function(...) return "a" .. ... end)("b", "c")`, `"ab"`},
		{`"a" .. "b", "c"`, `"ab", "c"`},
		{`("x"):rep(3) .. ("y"):upper()`, `"xxxY"`},
		{`setmetatable({}, {__concat = function(a, b) return "T" .. b end}) .. "x"`, `"Tx"`},
		{`"x" .. setmetatable({}, {__concat = function(a, b) return type(a) .. "+" .. type(b) end})`, `"string+table"`},
		// From the right: "b".."c" first, then the table's metamethod, then "a".
		{`"a" .. setmetatable({}, {__concat = function(t, s) return "[" .. s .. "]" end}) .. "b" .. "c"`, `"a[bc]"`},
		{`("a" .. "b") .. ("c" .. "d")`, `"abcd"`},
		{`#("ab" .. "cd")`, `4`},
	} {
		got, err := eval(t, now, nil, c.expr)
		if err != nil || got != c.want {
			t.Errorf("%s = %s (err %v), want %s", c.expr, got, err, c.want)
		}
	}
	for _, c := range []struct{ expr, want string }{
		{`{} .. "x"`, "test.lua:2: cannot perform concat operation between table and string"},
		{`"x" .. nil`, "test.lua:2: cannot perform concat operation between string and nil"},
	} {
		if _, err := eval(t, now, nil, c.expr); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.expr, err, c.want)
		}
	}
}

// No compiled script keeps the VM's own concatenation, which has no size
// check; the detector that refuses such a script does see one.
func TestCompiledScriptsHaveNoUnguardedConcatenation(t *testing.T) {
	src := []byte(`
local t = {k = "a" .. "b"}
function f(...)
  local g = function(x) return x .. "!" end
  for i = 1, #("x" .. "y") do t[i .. ""] = g("a" .. i) end
  while ("a" .. "b") == "c" do end
  repeat until "a" .. "b" ~= ""
  if "a" .. "b" then return (...) .. t.k end
  return not ("a" .. "b"), -#("a" .. "b"), {["a" .. "b"] = 1}, t["a" .. "b"]
end
`)
	proto, err := compile("all.lua", src)
	if err != nil {
		t.Fatal(err)
	}
	if unguardedConcat(proto) {
		t.Error("compile left an OP_CONCAT in the script")
	}
	stmts, err := parse.Parse(bytes.NewReader(src), "raw.lua")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := lua.Compile(stmts, "raw.lua")
	if err != nil {
		t.Fatal(err)
	}
	if !unguardedConcat(raw) {
		t.Error("unguardedConcat does not see the concatenations of a script compiled without the guard")
	}
}
