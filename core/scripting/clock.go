package scripting

import (
	"fmt"
	"strings"
	"sync"
	"time"

	// The zone database travels in the binary: conversa.clock must know
	// "America/Sao_Paulo" on a minimal machine without /usr/share/zoneinfo.
	_ "time/tzdata"

	lua "github.com/yuin/gopher-lua"
)

// conversa.clock and conversa.in_hours read the time of the hook call (ev.now,
// or for convert the moment of the call), never the wall clock on their own:
// a test that fixes ev.now, or the test clock that moves the engine's, fixes
// what they answer.

// maxZoneName bounds a zone name before it reaches the zone database; the
// longest IANA name is about 30 bytes.
const maxZoneName = 64

// zones caches the loaded locations. Only zones that exist are kept, and
// there are a few hundred of them, so the cache needs no bound.
var zones sync.Map // string → *time.Location

// zone is the IANA zone named tz; "" is UTC.
func zone(tz string) (*time.Location, error) {
	if tz == "" {
		return time.UTC, nil
	}
	if loc, ok := zones.Load(tz); ok {
		return loc.(*time.Location), nil
	}
	// "Local" would be the server's zone, which differs between machines:
	// scripts name the zone they mean.
	if len(tz) > maxZoneName || tz == "Local" {
		return nil, fmt.Errorf("unknown time zone %q", clipName(tz))
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", tz)
	}
	zones.Store(tz, loc)
	return loc, nil
}

func clipName(s string) string {
	if len(s) > maxZoneName {
		return clip(s[:maxZoneName]) + "…"
	}
	return s
}

// callTime is the time the running hook call is about.
func (s *sandbox) callTime() time.Time {
	if !s.callNow.IsZero() {
		return s.callNow
	}
	return s.now()
}

// optZone reads the optional zone argument at n.
func optZone(L *lua.LState, fn string, n int) *time.Location {
	var tz string
	switch v := L.Get(n).(type) {
	case *lua.LNilType:
	case lua.LString:
		tz = string(v)
	default:
		L.RaiseError("%s: the time zone must be a string such as \"America/Sao_Paulo\", not a %s", fn, typeName(v))
	}
	loc, err := zone(tz)
	if err != nil {
		L.RaiseError("%s: %v", fn, err)
	}
	return loc
}

// clockFn is conversa.clock([tz]): the call's time in zone tz (UTC when
// omitted) as {year, month, day, hour, min, sec, wday}, wday 1 = Sunday as
// in os.date("*t").
func (s *sandbox) clockFn(L *lua.LState) int {
	t := s.callTime().In(optZone(L, "conversa.clock", 1))
	out := L.CreateTable(0, 7)
	for _, f := range []struct {
		name  string
		value int
	}{
		{"year", t.Year()}, {"month", int(t.Month())}, {"day", t.Day()},
		{"hour", t.Hour()}, {"min", t.Minute()}, {"sec", t.Second()}, {"wday", int(t.Weekday()) + 1},
	} {
		out.RawSetString(f.name, lua.LNumber(f.value))
	}
	L.Push(out)
	return 1
}

// inHoursFn is conversa.in_hours(spec [, tz]).
func (s *sandbox) inHoursFn(L *lua.LState) int {
	spec := L.CheckString(1)
	sched, err := parseHoursCached(spec)
	if err != nil {
		L.RaiseError("conversa.in_hours: %v", err)
	}
	loc := optZone(L, "conversa.in_hours", 2)
	L.Push(lua.LBool(sched.contains(s.callTime().In(loc))))
	return 1
}

// A schedule is a parsed hours spec: for each weekday (time.Weekday order),
// the spans that start on it. A span may end past midnight, on the next day.
type schedule [7][]span

// span is [start, end) in minutes from the day's midnight; end may exceed
// 1440 when the span runs into the next day.
type span struct{ start, end int }

func (sc *schedule) contains(t time.Time) bool {
	day, m := int(t.Weekday()), t.Hour()*60+t.Minute()
	for _, sp := range sc[day] {
		if m >= sp.start && m < sp.end {
			return true
		}
	}
	// Yesterday's spans that ran past midnight.
	for _, sp := range sc[(day+6)%7] {
		if sp.end > 24*60 && m < sp.end-24*60 {
			return true
		}
	}
	return false
}

// Parsed specs are cached by their text: a script calls in_hours with the
// same literal on every message. The cache is bounded because a script could
// build specs from input; when full it starts over.
const maxCachedSpecs = 256

var specCache struct {
	sync.Mutex
	m map[string]specEntry
}

type specEntry struct {
	sched *schedule
	err   error
}

func parseHoursCached(spec string) (*schedule, error) {
	specCache.Lock()
	e, ok := specCache.m[spec]
	specCache.Unlock()
	if ok {
		return e.sched, e.err
	}
	sched, err := parseHours(spec)
	specCache.Lock()
	defer specCache.Unlock()
	if specCache.m == nil || len(specCache.m) >= maxCachedSpecs {
		specCache.m = make(map[string]specEntry, maxCachedSpecs)
	}
	specCache.m[spec] = specEntry{sched, err}
	return sched, err
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// maxSpec bounds a spec's text: a week fits in far less.
const maxSpec = 1 << 10

// parseHours reads a spec such as "mon-fri 09:00-18:00; sat 09:00-13:00".
//
//	spec    = segment { ";" segment }
//	segment = days [ times ]               days alone: the whole day
//	days    = day [ "-" day ] { "," day [ "-" day ] }      mon-fri, fri-mon, mon,wed
//	times   = HH:MM "-" HH:MM { "," HH:MM "-" HH:MM }      24:00 only as an end
//
// A time range whose end is before its start runs past midnight and belongs
// to the day it starts on. Day names are case-insensitive.
func parseHours(spec string) (*schedule, error) {
	if len(spec) > maxSpec {
		return nil, fmt.Errorf("bad hours %q: longer than %d bytes", clip(spec[:64])+"…", maxSpec)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("bad hours %q: %s", spec, fmt.Sprintf(format, args...))
	}
	var sc schedule
	segments := 0
	for _, seg := range strings.Split(spec, ";") {
		fields := strings.Fields(seg)
		if len(fields) == 0 {
			continue // "a; b;" and blank segments are harmless
		}
		segments++
		if len(fields) > 2 {
			return nil, bad("%q has more than days and times; write days then times, as \"mon-fri 09:00-18:00\"", strings.TrimSpace(seg))
		}
		days, err := parseDays(fields[0])
		if err != nil {
			return nil, bad("%v", err)
		}
		spans := []span{{0, 24 * 60}}
		if len(fields) == 2 {
			if spans, err = parseTimes(fields[1]); err != nil {
				return nil, bad("%v", err)
			}
		}
		for _, d := range days {
			sc[d] = append(sc[d], spans...)
		}
	}
	if segments == 0 {
		return nil, bad("no days; write for example \"mon-fri 09:00-18:00\"")
	}
	return &sc, nil
}

func parseDays(s string) ([]time.Weekday, error) {
	var out []time.Weekday
	seen := [7]bool{}
	for _, item := range strings.Split(strings.ToLower(s), ",") {
		from, to, isRange := strings.Cut(item, "-")
		a, ok := dayNames[from]
		if !ok {
			return nil, unknownDay(from)
		}
		b := a
		if isRange {
			if b, ok = dayNames[to]; !ok {
				return nil, unknownDay(to)
			}
		}
		// fri-mon wraps through the weekend.
		for d := a; ; d = (d + 1) % 7 {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
			if d == b {
				break
			}
		}
	}
	return out, nil
}

func unknownDay(s string) error {
	if s == "" {
		return fmt.Errorf("a day is missing; days are mon, tue, wed, thu, fri, sat and sun")
	}
	if strings.Contains(s, ":") {
		return fmt.Errorf("%q is a time where days were expected; write days first, as \"mon-fri 09:00-18:00\"", s)
	}
	return fmt.Errorf("unknown day %q; days are mon, tue, wed, thu, fri, sat and sun", s)
}

func parseTimes(s string) ([]span, error) {
	var out []span
	for _, item := range strings.Split(s, ",") {
		from, to, ok := strings.Cut(item, "-")
		if !ok {
			return nil, fmt.Errorf("%q is not a time range; write HH:MM-HH:MM", item)
		}
		start, err := parseClock(from, false)
		if err != nil {
			return nil, err
		}
		end, err := parseClock(to, true)
		if err != nil {
			return nil, err
		}
		switch {
		case end == start:
			return nil, fmt.Errorf("%q is an empty range", item)
		case end < start:
			end += 24 * 60 // past midnight, into the next day
		}
		out = append(out, span{start, end})
	}
	return out, nil
}

// parseClock reads HH:MM as minutes after midnight; 24:00 only as an end.
func parseClock(s string, isEnd bool) (int, error) {
	if len(s) != 5 || s[2] != ':' || !digits(s[:2]) || !digits(s[3:]) {
		return 0, fmt.Errorf("%q is not a time; write HH:MM, as 09:00", s)
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	switch {
	case h == 24 && m == 0 && isEnd:
		return 24 * 60, nil
	case h == 24 && m == 0:
		return 0, fmt.Errorf("24:00 can only end a range; a day starts at 00:00")
	case h > 23 || m > 59:
		return 0, fmt.Errorf("%q is not a time of day", s)
	}
	return h*60 + m, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
