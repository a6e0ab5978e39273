package scripting

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Each hostile routing.lua must leave the engine answering: the call falls
// back to the built-in default (a story mention goes to the integration's
// squad), the error is recorded with the line, and later calls still work.
func TestHostileScripts(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	cases := []struct {
		name string
		body string // the statement(s) on line 3 of route
		want string // in LastError, after "routing.lua:3: "
	}{
		{"infinite loop", `while true do end`, "time limit of 100ms exceeded"},
		{"string.rep bomb", `local s = string.rep("x", 1e9)`, "string.rep: result too large"},
		{"string.rep bomb as a method", `local s = ("x"):rep(1e9)`, "string.rep: result too large"},
		{"deep recursion", `local function f(n) return 1 + f(n + 1) end f(1)`, "stack overflow"},
		{"os.execute", `os.execute("touch ` + marker + `")`, "attempt to call a non-function object"},
		{"io.open", `local f = io.open("/etc/passwd")`, "attempt to index a non-table object(nil) with key 'open'"},
		{"require", `local os = require("os")`, "attempt to call a non-function object"},
		{"load", `load("return 1")()`, "attempt to call a non-function object"},
		{"loadstring", `loadstring("return 1")()`, "attempt to call a non-function object"},
		{"dofile", `dofile("/etc/passwd")`, "attempt to call a non-function object"},
		{"setfenv", `setfenv(1, {})`, "attempt to call a non-function object"},
		{"collectgarbage", `collectgarbage()`, "attempt to call a non-function object"},
		{"rawset on the event", `rawset(ev, "message", {})`, "attempt to call a non-function object"},
		{"writing the event", `ev.message.type = "text"`, "attempt to modify a read-only table"},
		{"writing a library", `string.format = function() return "x" end`, "attempt to modify a read-only table"},
		{"table.insert into the event", `table.insert(ev.integration.unsupported_media_messages, "x")`, "attempt to modify a read-only table"},
		{"setmetatable on a string", `setmetatable("", {__index = {}})`, "bad argument #1 to setmetatable (table expected, got string)"},
		{"string.format width", `local s = string.format("%999999d", 1)`, "invalid format (width or precision too long)"},
		{"string.format size", `local s = string.rep("x", 2^19) local t = string.format("%s%s%s", s, s, s)`, "string.format: result too large"},
		{"string.gsub bomb", `local s = ("x"):rep(2^20) s = s:gsub("", s)`, "string.gsub: result too large"},
		{"table.concat bomb", `local s = ("x"):rep(2^19) local t = {s, s, s} local r = table.concat(t)`, "table.concat: result too large"},
		{"catastrophic pattern", `local s = ("a"):rep(3000) s:find(".-.-.-.-b")`, "time limit of 100ms exceeded"},
		{"unpack of a huge range", `local a = unpack({}, 1, 1e7)`, "registry overflow"},
		{"error with a table", `error({code = 1})`, "error object is a table value"},
		{"pcall swallowing the time limit", `while true do pcall(function() while true do end end) end`, "time limit of 100ms exceeded"},
		{"coroutine", `coroutine.wrap(function() end)()`, "attempt to index a non-table object(nil) with key 'wrap'"},
		{"a huge sparse array", `local t = {} t[60000000] = 1 t[#t + 1] = 1 local s = t .. ""`, "cannot perform concat operation between table and string"},
		{"tail-call loop", `local function f() return f() end f()`, "time limit of 100ms exceeded"},
		// One '..' joins all its operands in one VM instruction, which no
		// deadline interrupts: every result is checked before it is built.
		{"concatenation bomb", `local s = string.rep("x", 2^20) local t = s..s..s..s..s..s..s..s`, "concatenation (..): result too large"},
		{"doubling concatenation", `local s = ("x"):rep(2^20) for i = 1, 4 do s = s .. s end`, "concatenation (..): result too large"},
		// Strings under the size limit each, but many of them in one call.
		{"loop of concatenations", `local s, t = ("x"):rep(2^19), {} for i = 1, 64 do t[i] = s .. i end`, "memory limit exceeded"},
		{"loop of string.rep", `local t = {} for i = 1, 64 do t[i] = ("x"):rep(2^20) end`, "memory limit exceeded"},
		{"loop of table.concat", `local s, t = ("x"):rep(2^19), {} for i = 1, 64 do t[i] = table.concat({s, i}) end`, "memory limit exceeded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, logs := newEngine(t, map[string]string{"routing.lua": "function route(ev)\n" +
				"  if ev.message.type == \"text\" then return {to = \"none\"} end\n" +
				"  " + c.body + "\n" +
				"  return {to = \"agent\", agent = \"evil\"}\n" +
				"end\n"}, func(o *Options) { o.Timeout = 100 * time.Millisecond })
			for i := 0; i < 3; i++ {
				got := e.Route(t.Context(), event("story_mention", ""))
				if want := (Route{To: ToSquad, Squad: "geral"}); !sameRoute(got, want) {
					t.Fatalf("call %d: Route = %+v, want the default %+v", i, got, want)
				}
			}
			st := status(t, e, "routing.lua")
			if want := "routing.lua:3: " + c.want; !strings.HasPrefix(st.LastError, want) {
				t.Errorf("LastError = %q, want it to start with %q", st.LastError, want)
			}
			if !strings.Contains(logs.String(), "script=routing.lua line=3") {
				t.Errorf("the log does not name the script and line:\n%s", logs)
			}
			// The script still answers where it works, and the other hooks too.
			if got := e.Route(t.Context(), event("text", "hi")); got.To != ToNone {
				t.Errorf("Route(text) = %+v, want to none from the script", got)
			}
			if got := e.Reply(t.Context(), event("image", "")); len(got) != 2 {
				t.Errorf("Reply = %q, want the integration's two messages", got)
			}
		})
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("os.execute ran: %s exists", marker)
	}
}

// Globals one call sets are gone in the next, on the same Lua state.
func TestGlobalsDoNotLeakBetweenCalls(t *testing.T) {
	e, _ := newEngine(t, map[string]string{"routing.lua": `
local calls = 0
function route(ev)
  calls = calls + 1
  if leaked ~= nil or calls ~= 1 then
    return {to = "agent", agent = "leak:" .. tostring(leaked) .. ":" .. calls}
  end
  leaked = "from an earlier call"
  _G.also_leaked = true
  return {to = "none"}
end
`}, func(o *Options) { o.PoolSize = 1 })
	for i := 0; i < 5; i++ {
		if got := e.Route(t.Context(), event("text", "hi")); got.To != ToNone {
			t.Fatalf("call %d: Route = %+v, want to none (no global survives a call)", i, got)
		}
	}
}

// Patching the string library, by any path a script can reach, never sticks:
// the next call on the same state sees the real string.format.
func TestLibraryPatchesDoNotStick(t *testing.T) {
	e, _ := newEngine(t, map[string]string{"routing.lua": `
local function pwned() return "pwned" end
function route(ev)
  if ev.message.text == "patch" then
    pcall(function() string.format = pwned end)
    pcall(function() getmetatable("").__index.format = pwned end)
    pcall(function() ("").__index.format = pwned end)
    pcall(function() getmetatable(string).__index.format = pwned end)
    pcall(function() setmetatable("", {__index = {format = pwned}}) end)
    pcall(function() table.concat = pwned end)
    string = {format = pwned}   -- this call's global only
    return {to = "agent", agent = string.format()}
  end
  return {to = "agent", agent = string.format("%s-%s", "ok", ("%d"):format(7)) .. table.concat({"!"})}
end
`}, func(o *Options) { o.PoolSize = 1 })
	if got := e.Route(t.Context(), event("text", "patch")); got.Agent != "pwned" {
		t.Fatalf("Route(patch) = %+v, want the call's own global string to be used", got)
	}
	for i := 0; i < 3; i++ {
		if got := e.Route(t.Context(), event("text", "check")); got.Agent != "ok-7!" {
			t.Fatalf("Route(check) = %+v, want agent ok-7! (the patch must not stick)", got)
		}
	}
}

// The event is read-only all the way down, and still reads like a table.
func TestEventIsReadOnlyButIterable(t *testing.T) {
	e, _ := newEngine(t, map[string]string{"routing.lua": `
function route(ev)
  local n = 0
  for k, v in pairs(ev.message) do n = n + 1 end
  local msgs = {}
  for i, m in ipairs(ev.integration.unsupported_media_messages) do msgs[#msgs + 1] = m end
  local ok = pcall(function() ev.contact.username = "x" end)
  local ok2 = pcall(function() ev.new_field = 1 end)
  local first = unpack(ev.integration.unsupported_media_messages)
  local f, state = pairs(ev)
  local ok3 = pcall(function() state.message = 1 end)
  return {to = "agent", agent = table.concat({
    n, #ev.integration.unsupported_media_messages, table.concat(msgs, "+"),
    tostring(ok), tostring(ok2), tostring(ok3), first, ev.contact.username,
    tostring(ev.conversation.new), ev.conversation.id, type(ev.now), tostring(getmetatable(ev)),
  }, "|")}
end
`})
	got := e.Route(t.Context(), event("text", "hi"))
	want := "5|2|Sorry, text only.+Try again?|false|false|false|Sorry, text only.|maria.silva|true|42|number|locked"
	if got.Agent != want {
		t.Errorf("Route = %q, want %q", got.Agent, want)
	}
}
