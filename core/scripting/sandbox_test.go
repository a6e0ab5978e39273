package scripting

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// eval runs `return <expr>` in a fresh sandbox and renders the results
// separated by commas (strings quoted).
func eval(t *testing.T, now time.Time, logs *logBuffer, expr string) (string, error) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if logs != nil {
		log = logs.logger()
	}
	s, err := newSandbox(func() time.Time { return now }, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	src := "function f()\n  return " + expr + "\nend\n"
	proto, err := compile("test.lua", []byte(src))
	if err != nil {
		t.Fatalf("compile %q: %v", expr, err)
	}
	sc := &script{name: "test.lua", chunk: "test.lua", proto: proto}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	env, err := s.load(ctx, sc)
	if err != nil {
		return "", err
	}
	fn := env.RawGetString("f").(*lua.LFunction)
	top := s.L.GetTop()
	err = s.protect(ctx, sc, func() error {
		s.L.Push(fn)
		return s.L.PCall(0, lua.MultRet, nil)
	})
	if err != nil {
		return "", err
	}
	var parts []string
	for i := top + 1; i <= s.L.GetTop(); i++ {
		v := s.L.Get(i)
		if str, ok := v.(lua.LString); ok {
			parts = append(parts, fmt.Sprintf("%q", string(str)))
		} else {
			parts = append(parts, v.String())
		}
	}
	return strings.Join(parts, ", "), nil
}

// Patterns follow Lua 5.1 (the expected values are what lua5.1 prints).
func TestPatterns(t *testing.T) {
	cases := []struct{ expr, want string }{
		{`string.find("hello world", "o w")`, `5, 7`},
		{`string.find("hello", "l+")`, `3, 4`},
		{`string.find("hello", "(l)(l)")`, `3, 4, "l", "l"`},
		{`string.find("a.b", ".", 1, true)`, `2, 2`},
		{`string.find("abc", "b", -1)`, `nil`},
		{`string.find("abc", "", 10)`, `4, 3`},
		{`string.find("abc", "c", -1)`, `3, 3`},
		{`string.match("key = value", "(%w+)%s*=%s*(%w+)")`, `"key", "value"`},
		{`string.match("  trim me  ", "^%s*(.-)%s*$")`, `"trim me"`},
		{`string.match("f(a(b)c)", "%b()")`, `"(a(b)c)"`},
		{`string.match("THE (quick) fox", "%f[%a]%a+", 5)`, `"quick"`},
		{`string.match("2026-03-04", "(%d+)-(%d+)-(%d+)")`, `"2026", "03", "04"`},
		{`string.match("hello", "()ll()")`, `3, 5`},
		{`string.match("aaa", "a-b")`, `nil`},
		{`string.match("a]b", "[]]")`, `"]"`},
		{`string.match("a-b", "[a%-]+")`, `"a-"`},
		{`string.match("x9_", "[%w_]+")`, `"x9_"`},
		{`string.match("hello hello", "(h%w+) %1")`, `"hello"`},
		{`string.match("abc", "^b")`, `nil`},
		{`string.match("a$", "a$")`, `nil`},
		{`string.match("a$b", "a$b")`, `"a$b"`},
		{`string.match("Olá, mundo", "%a+")`, `"Ol"`},
		{`string.gsub("hello world", "o", "0")`, `"hell0 w0rld", 2`},
		{`string.gsub("hello", "", "-")`, `"-h-e-l-l-o-", 6`},
		{`string.gsub("abc", "%w", "%0%0")`, `"aabbcc", 3`},
		{`string.gsub("hello world", "(%w+)", "<%1>")`, `"<hello> <world>", 2`},
		{`string.gsub("50%", "%%", " percent")`, `"50 percent", 1`},
		{`string.gsub("$name is $age", "%$(%w+)", {name = "Ana", age = 30})`, `"Ana is 30", 2`},
		{`string.gsub("abc", "%w", function(c) return c:upper() .. "." end)`, `"A.B.C.", 3`},
		{`string.gsub("abc", "b", function() return false end)`, `"abc", 1`},
		{`string.gsub("hello world", "l+", "L", 1)`, `"heLo world", 1`},
		{`string.gsub("abc", "^a", "x")`, `"xbc", 1`},
		{`string.gsub("abc", "x*", "-")`, `"-a-b-c-", 4`},
		{`("x y"):gsub("%s", "")`, `"xy", 1`},
		{`(function() local t = {} for k, v in string.gmatch("a=1, b=2", "(%w+)=(%w+)") do t[#t+1] = k .. v end return table.concat(t, ";") end)()`, `"a1;b2"`},
		{`(function() local n = 0 for w in ("one two  three"):gmatch("%a+") do n = n + 1 end return n end)()`, `3`},
		{`string.rep("ab", 3)`, `"ababab"`},
		{`string.format("%5.1f|%-3d|%s|%q", 3.14159, 7, "x", "a\"b")`, `"  3.1|7  |x|\"a\\\"b\""`},
		{`table.concat({1, "two", 3}, ", ")`, `"1, two, 3"`},
		{`table.concat({"a", "b", "c"}, "-", 2, 3)`, `"b-c"`},
		{`("Mixed Case"):lower() .. ("x"):upper() .. #("four")`, `"mixed caseX4"`},
	}
	for _, c := range cases {
		got, err := eval(t, time.Now(), nil, c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s = %s, want %s", c.expr, got, c.want)
		}
	}
}

func TestPatternErrors(t *testing.T) {
	cases := []struct{ expr, want string }{
		{`string.find("a", "[a")`, "malformed pattern (missing ']')"},
		{`string.find("a", "%")`, "malformed pattern (ends with '%')"},
		{`string.match("abc", "(a")`, "unfinished capture"},
		{`string.match("a", "%1")`, "invalid capture index"},
		{`string.match("a", "a)")`, "invalid pattern capture"},
		{`string.gsub("abc", "a", true)`, "string/function/table expected, got boolean"},
		{`string.gsub("abc", "a", function() return {} end)`, "invalid replacement value (a table)"},
		{`string.match("a", "%f")`, "missing '[' after '%f' in pattern"},
		{`string.match(string.rep("a", 300), string.rep("a?", 300))`, "pattern too complex"},
		{`table.concat({1, {}, 3})`, "invalid value (at index 2) in table for 'concat'"},
		{`string.format("%5", 1)`, "invalid option '%' to 'format'"},
	}
	for _, c := range cases {
		_, err := eval(t, time.Now(), nil, c.expr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.expr, err, c.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "test.lua:2: ") {
			t.Errorf("%s: error %q, want it located at test.lua:2", c.expr, err)
		}
	}
}

func TestOSTime(t *testing.T) {
	now := time.Date(2026, 3, 4, 13, 5, 9, 0, time.UTC) // a Wednesday
	cases := []struct{ expr, want string }{
		{`os.time()`, fmt.Sprint(now.Unix())},
		{`os.date("!%Y-%m-%d %H:%M:%S")`, `"2026-03-04 13:05:09"`},
		{`os.date("!%A %a %B %b %j %p %I %y %w %u %e %D %F %T %R %%")`, `"Wednesday Wed March Mar 063 PM 01 26 3 3  4 03/04/26 2026-03-04 13:05:09 13:05 %"`},
		{`os.date("!%c", 0)`, `"Thu Jan  1 00:00:00 1970"`},
		{`os.date("!%U %W %V %G", 1767225600)`, `"00 00 01 2026"`}, // Thursday 2026-01-01
		{`os.date("!%H:%M", os.time() - 3 * 3600)`, `"10:05"`},
		{`os.date("!*t").wday .. " " .. os.date("!*t").yday .. " " .. os.date("!*t").hour`, `"4 63 13"`},
		{`os.time(os.date("*t", 1767225600)) == 1767225600`, `true`},
		{`os.difftime(10, 4)`, `6`},
		{`type(os.clock())`, `"number"`},
		{`tostring(os.execute) .. tostring(os.getenv) .. tostring(os.exit) .. tostring(os.remove)`, `"nilnilnilnil"`},
		{`tostring(io) .. tostring(debug) .. tostring(package) .. tostring(coroutine) .. tostring(channel)`, `"nilnilnilnilnil"`},
		{`tostring(math.randomseed) .. type(math.floor) .. type(string.dump)`, `"nilfunctionnil"`},
	}
	for _, c := range cases {
		got, err := eval(t, now, nil, c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s = %s, want %s", c.expr, got, c.want)
		}
	}
	for _, expr := range []string{`os.date("%Q")`, `os.date("%")`, `os.time({year = 2026})`} {
		if _, err := eval(t, now, nil, expr); err == nil {
			t.Errorf("%s: no error", expr)
		}
	}
}

func TestLogging(t *testing.T) {
	logs := &logBuffer{}
	if _, err := eval(t, time.Now(), logs, `conversa.log("routed " .. 3), print("a", 1, nil)`); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`msg="routed 3" script=test.lua line=2`, "msg=\"a\\t1\\tnil\" script=test.lua line=2"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}

func TestLogFloodIsCapped(t *testing.T) {
	logs := &logBuffer{}
	if _, err := eval(t, time.Now(), logs, `(function() for i = 1, 1000 do conversa.log("line " .. i) end end)()`); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(logs.String(), "\n"); got != maxLogLines+1 {
		t.Errorf("%d log lines, want %d and a note", got, maxLogLines)
	}
	if !strings.Contains(logs.String(), "the rest of this call's are dropped") {
		t.Errorf("no note of the dropped lines:\n%s", logs)
	}
}
