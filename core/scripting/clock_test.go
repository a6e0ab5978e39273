package scripting

import (
	"strings"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
)

func instant(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// conversa.clock reads the call's time in the zone asked for, daylight
// saving time included.
func TestClockInZones(t *testing.T) {
	cases := []struct {
		at, tz, want string
	}{
		// Wednesday 4 March 2026, 13:00 UTC.
		{"2026-03-04T13:00:00Z", "", "2026 3 4 13 0 4"},
		{"2026-03-04T13:00:00Z", "UTC", "2026 3 4 13 0 4"},
		{"2026-03-04T13:00:00Z", "America/Sao_Paulo", "2026 3 4 10 0 4"},
		{"2026-03-04T13:00:00Z", "Europe/Lisbon", "2026 3 4 13 0 4"},
		// Lisbon moves to summer time at 01:00 UTC on Sunday 29 March.
		{"2026-03-29T00:59:00Z", "Europe/Lisbon", "2026 3 29 0 59 1"},
		{"2026-03-29T01:00:00Z", "Europe/Lisbon", "2026 3 29 2 0 1"},
		{"2026-03-29T01:00:00Z", "America/Sao_Paulo", "2026 3 28 22 0 7"},
		// Past midnight in UTC, still the day before in São Paulo.
		{"2026-01-01T02:30:00Z", "America/Sao_Paulo", "2025 12 31 23 30 4"},
	}
	for _, c := range cases {
		arg := ""
		if c.tz != "" {
			arg = `"` + c.tz + `"`
		}
		expr := "(function() local c = conversa.clock(" + arg + ") return table.concat({c.year, c.month, c.day, c.hour, c.min, c.wday}, ' ') end)()"
		got, err := eval(t, instant(t, c.at), nil, expr)
		if err != nil {
			t.Errorf("clock(%q) at %s: %v", c.tz, c.at, err)
			continue
		}
		if got != `"`+c.want+`"` {
			t.Errorf("clock(%q) at %s = %s, want %s", c.tz, c.at, got, c.want)
		}
	}
}

// in_hours at fixed instants in two zones: the same instant is in hours in
// one and not the other, and Lisbon's change to summer time moves the hours
// by one UTC hour.
func TestInHours(t *testing.T) {
	const office = "mon-fri 09:00-18:00; sat 09:00-13:00"
	cases := []struct {
		at, spec, tz string
		want         bool
	}{
		{"2026-03-04T13:00:00Z", office, "America/Sao_Paulo", true},  // Wed 10:00
		{"2026-03-04T11:59:00Z", office, "America/Sao_Paulo", false}, // Wed 08:59
		{"2026-03-04T12:00:00Z", office, "America/Sao_Paulo", true},  // Wed 09:00: the start is in
		{"2026-03-04T20:59:00Z", office, "America/Sao_Paulo", true},  // Wed 17:59
		{"2026-03-04T21:00:00Z", office, "America/Sao_Paulo", false}, // Wed 18:00: the end is out
		{"2026-03-07T15:59:00Z", office, "America/Sao_Paulo", true},  // Sat 12:59
		{"2026-03-07T16:00:00Z", office, "America/Sao_Paulo", false}, // Sat 13:00
		{"2026-03-08T13:00:00Z", office, "America/Sao_Paulo", false}, // Sunday
		{"2026-03-04T19:00:00Z", office, "Europe/Lisbon", false},     // Wed 19:00 in Lisbon, 16:00 in São Paulo
		{"2026-03-04T19:00:00Z", office, "America/Sao_Paulo", true},
		// The same UTC time on two Mondays, either side of Lisbon's change.
		{"2026-03-23T08:30:00Z", office, "Europe/Lisbon", false}, // 08:30 WET
		{"2026-03-30T08:30:00Z", office, "Europe/Lisbon", true},  // 09:30 WEST
		{"2026-03-23T17:30:00Z", office, "Europe/Lisbon", true},  // 17:30 WET
		{"2026-03-30T17:30:00Z", office, "Europe/Lisbon", false}, // 18:30 WEST
		// Back to winter time on 25 October.
		{"2026-10-26T08:30:00Z", office, "Europe/Lisbon", false}, // Mon 08:30 WET
		{"2026-10-23T08:30:00Z", office, "Europe/Lisbon", true},  // Fri 09:30 WEST
		// Omitted zone: UTC.
		{"2026-03-04T08:30:00Z", office, "", false},
		{"2026-03-04T09:00:00Z", office, "", true},
		// Past midnight: the range belongs to the day it starts on.
		{"2026-03-06T23:30:00Z", "fri 22:00-02:00", "", true},  // Fri 23:30
		{"2026-03-07T01:59:00Z", "fri 22:00-02:00", "", true},  // Sat 01:59, Friday's night
		{"2026-03-07T02:00:00Z", "fri 22:00-02:00", "", false}, // Sat 02:00
		{"2026-03-06T01:00:00Z", "fri 22:00-02:00", "", false}, // Fri 01:00 belongs to Thursday
		// Wrapping day ranges, lists, 24:00, several ranges, days alone.
		{"2026-03-08T12:00:00Z", "fri-mon 10:00-14:00", "", true},  // Sunday
		{"2026-03-04T12:00:00Z", "fri-mon 10:00-14:00", "", false}, // Wednesday
		{"2026-03-04T12:00:00Z", "mon,wed 10:00-14:00", "", true},
		{"2026-03-05T12:00:00Z", "mon,wed 10:00-14:00", "", false},
		{"2026-03-04T23:59:00Z", "wed 20:00-24:00", "", true},
		{"2026-03-05T00:00:00Z", "wed 20:00-24:00", "", false},
		{"2026-03-04T12:30:00Z", "Mon-Fri 09:00-12:00,13:00-18:00", "", false},
		{"2026-03-04T13:30:00Z", "Mon-Fri 09:00-12:00,13:00-18:00", "", true},
		{"2026-03-08T03:00:00Z", "sat,sun", "", true},
		{"2026-03-06T03:00:00Z", "sat,sun", "", false},
		{"2026-03-06T03:00:00Z", "  mon-fri 09:00-18:00 ; ", "", false},
	}
	for _, c := range cases {
		expr := `conversa.in_hours("` + c.spec + `"`
		if c.tz != "" {
			expr += `, "` + c.tz + `"`
		}
		expr += ")"
		got, err := eval(t, instant(t, c.at), nil, expr)
		if err != nil {
			t.Errorf("%s at %s: %v", expr, c.at, err)
			continue
		}
		if want := map[bool]string{true: "true", false: "false"}[c.want]; got != want {
			t.Errorf("%s at %s = %s, want %s", expr, c.at, got, want)
		}
	}
}

// A bad spec or zone is a Lua error that names it.
func TestInHoursErrors(t *testing.T) {
	cases := []struct{ expr, want string }{
		{`conversa.in_hours("mon-fry 09:00-18:00")`, `bad hours "mon-fry 09:00-18:00": unknown day "fry"`},
		{`conversa.in_hours("09:00-18:00")`, `"09:00" is a time where days were expected`},
		{`conversa.in_hours("mon-fri 9:00-18:00")`, `"9:00" is not a time; write HH:MM`},
		{`conversa.in_hours("mon-fri 09:00-25:00")`, `"25:00" is not a time of day`},
		{`conversa.in_hours("mon-fri 09:60-10:00")`, `"09:60" is not a time of day`},
		{`conversa.in_hours("mon 24:00-02:00")`, `24:00 can only end a range`},
		{`conversa.in_hours("mon 09:00-09:00")`, `"09:00-09:00" is an empty range`},
		{`conversa.in_hours("mon 09:00")`, `"09:00" is not a time range`},
		{`conversa.in_hours("mon 09:00-12:00 13:00-18:00")`, `has more than days and times`},
		{`conversa.in_hours("")`, `bad hours "": no days`},
		{`conversa.in_hours(" ; ")`, `no days`},
		{`conversa.in_hours("mon-")`, `a day is missing`},
		{`conversa.in_hours(string.rep("mon ", 400))`, `longer than 1024 bytes`},
		{`conversa.in_hours("mon-fri 09:00-18:00", "America/Sao_Paolo")`, `conversa.in_hours: unknown time zone "America/Sao_Paolo"`},
		{`conversa.in_hours("mon-fri 09:00-18:00", 3)`, `the time zone must be a string`},
		{`conversa.in_hours()`, `bad argument #1`},
		{`conversa.clock("Mars/Olympus")`, `conversa.clock: unknown time zone "Mars/Olympus"`},
		{`conversa.clock("Local")`, `unknown time zone "Local"`},
		{`conversa.clock("../../../etc/passwd")`, `unknown time zone`},
		{`conversa.clock(string.rep("x", 100))`, `unknown time zone "xxxx`},
	}
	for _, c := range cases {
		got, err := eval(t, instant(t, "2026-03-04T13:00:00Z"), nil, c.expr)
		if err == nil {
			t.Errorf("%s = %s, want the error %q", c.expr, got, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q, want it to contain %q", c.expr, err, c.want)
		}
		if !strings.Contains(err.Error(), "test.lua:2:") {
			t.Errorf("%s: error %q does not name the script's line", c.expr, err)
		}
	}
}

// The hooks see the call's time: ev.now for route and reply, the engine's
// clock for convert. A script error in either falls back to the default and
// shows in last_error.
func TestClockInHooks(t *testing.T) {
	engineNow := instant(t, "2026-03-07T12:00:00Z") // a Saturday
	e, _ := newEngine(t, map[string]string{
		"routing.lua": `function route(ev)
  if ev.message.text == "bad" then
    return {to = "squad", squad = tostring(conversa.in_hours("mon-fri 9-18", "America/Sao_Paulo"))}
  end
  local c = conversa.clock("America/Sao_Paulo")
  return {to = "squad", squad = c.wday .. " " .. c.hour}
end`,
		"text_conversion.lua": `function convert(component, channel)
  return conversa.clock("Europe/Lisbon").wday .. " " .. tostring(conversa.in_hours("sat 10:00-14:00", "Europe/Lisbon"))
end`,
	}, func(o *Options) { o.Now = func() time.Time { return engineNow } })
	if st := status(t, e, "routing.lua"); st.LastError != "" {
		t.Fatalf("routing.lua status %+v", st)
	}
	ev := event("text", "oi") // ev.now: Wednesday 13:00 UTC
	if got := e.Route(t.Context(), ev); got.Squad != "4 10" {
		t.Errorf("route at ev.now = %+v, want the squad \"4 10\" (Wednesday 10:00 in São Paulo)", got)
	}
	ev.Now = time.Time{} // no ev.now: the engine's clock
	if got := e.Route(t.Context(), ev); got.Squad != "7 9" {
		t.Errorf("route without ev.now = %+v, want the squad \"7 9\"", got)
	}
	if got := e.Convert(t.Context(), componentFor("Pick"), "zenvia"); got != "7 true" {
		t.Errorf("convert = %q, want %q", got, "7 true")
	}
	bad := event("text", "bad")
	if got := e.Route(t.Context(), bad); !sameRoute(got, Route{}) {
		t.Errorf("route with a bad spec = %+v, want the default", got)
	}
	st := status(t, e, "routing.lua")
	if !strings.Contains(st.LastError, `routing.lua:3: conversa.in_hours: bad hours "mon-fri 9-18"`) {
		t.Errorf("last_error = %q, want the bad spec named with its line", st.LastError)
	}
}

func componentFor(text string) model.Content {
	return model.Content{Type: model.QuickReplies, Text: text, Options: options("A", "B")}
}

// The spec cache stays bounded however many specs a script builds.
func TestSpecCacheBounded(t *testing.T) {
	for i := range 3 * maxCachedSpecs {
		if _, err := parseHoursCached("mon 00:00-" + time.Duration(i%1439+1).String()); err == nil {
			t.Fatal("a spec with a duration for a time parsed")
		}
	}
	specCache.Lock()
	n := len(specCache.m)
	specCache.Unlock()
	if n > maxCachedSpecs {
		t.Errorf("the spec cache holds %d entries, more than %d", n, maxCachedSpecs)
	}
	if _, err := parseHoursCached("mon-fri 09:00-18:00"); err != nil {
		t.Errorf("a good spec after the churn: %v", err)
	}
}
