package scripting

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// osLib is the time-only os table: time, date, clock and difftime. The clock
// behind os.time() and os.date() is the engine's, so tests can move it.
func (s *sandbox) osLib() *lua.LTable {
	t := s.L.NewTable()
	t.RawSetString("time", s.L.NewFunction(s.osTime))
	t.RawSetString("date", s.L.NewFunction(s.osDate))
	t.RawSetString("clock", s.L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LNumber(time.Since(s.started).Seconds()))
		return 1
	}))
	t.RawSetString("difftime", s.L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LNumber(L.CheckNumber(1) - L.OptNumber(2, 0)))
		return 1
	}))
	return t
}

// osTime is os.time([t]): now, or the date in the table t (year, month and
// day required; hour defaults to 12) read in the server's time zone, as Lua.
func (s *sandbox) osTime(L *lua.LState) int {
	if L.Get(1) == lua.LNil {
		L.Push(lua.LNumber(s.now().Unix()))
		return 1
	}
	t := s.resolve(L.CheckTable(1))
	field := func(name string, def int) int {
		switch v := t.RawGetString(name).(type) {
		case lua.LNumber:
			return int(v)
		case lua.LString:
			if n, err := strconv.Atoi(strings.TrimSpace(string(v))); err == nil {
				return n
			}
		case *lua.LNilType:
			if def >= 0 {
				return def
			}
			L.RaiseError("os.time: field '%s' missing in date table", name)
		}
		L.RaiseError("os.time: field '%s' is not a number", name)
		return 0
	}
	d := time.Date(field("year", -1), time.Month(field("month", -1)), field("day", -1),
		field("hour", 12), field("min", 0), field("sec", 0), 0, time.Local)
	L.Push(lua.LNumber(d.Unix()))
	return 1
}

// osDate is os.date([format [, t]]): strftime conversions in the C locale.
// A format starting with "!" is in UTC, else in the server's time zone;
// "*t" returns a table of the fields.
func (s *sandbox) osDate(L *lua.LState) int {
	format := L.OptString(1, "%c")
	when := s.now()
	if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
		when = time.Unix(int64(L.CheckNumber(2)), 0)
	}
	when = when.In(time.Local)
	if rest, ok := strings.CutPrefix(format, "!"); ok {
		format, when = rest, when.UTC()
	}
	if strings.HasPrefix(format, "*t") {
		t := L.CreateTable(0, 9)
		for _, f := range []struct {
			name  string
			value int
		}{
			{"year", when.Year()}, {"month", int(when.Month())}, {"day", when.Day()},
			{"hour", when.Hour()}, {"min", when.Minute()}, {"sec", when.Second()},
			{"wday", int(when.Weekday()) + 1}, {"yday", when.YearDay()},
		} {
			t.RawSetString(f.name, lua.LNumber(f.value))
		}
		t.RawSetString("isdst", lua.LBool(when.IsDST()))
		L.Push(t)
		return 1
	}
	out, err := strftime(when, format)
	if err != nil {
		L.RaiseError("os.date: %s", err.Error())
	}
	L.Push(lua.LString(out))
	return 1
}

func strftime(t time.Time, format string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if b.Len() > maxString {
			return "", fmt.Errorf("result too large (the limit is %d bytes)", maxString)
		}
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(format) {
			return "", fmt.Errorf("invalid conversion specifier '%%' at the end of the format")
		}
		switch c := format[i]; c {
		case 'a':
			b.WriteString(t.Format("Mon"))
		case 'A':
			b.WriteString(t.Format("Monday"))
		case 'b', 'h':
			b.WriteString(t.Format("Jan"))
		case 'B':
			b.WriteString(t.Format("January"))
		case 'c':
			b.WriteString(t.Format("Mon Jan _2 15:04:05 2006"))
		case 'C':
			fmt.Fprintf(&b, "%02d", t.Year()/100)
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'D', 'x':
			b.WriteString(t.Format("01/02/06"))
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'F':
			b.WriteString(t.Format("2006-01-02"))
		case 'g':
			y, _ := t.ISOWeek()
			fmt.Fprintf(&b, "%02d", y%100)
		case 'G':
			y, _ := t.ISOWeek()
			fmt.Fprintf(&b, "%d", y)
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'I':
			fmt.Fprintf(&b, "%02d", (t.Hour()+11)%12+1)
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'n':
			b.WriteByte('\n')
		case 'p':
			b.WriteString(t.Format("PM"))
		case 'r':
			b.WriteString(t.Format("03:04:05 PM"))
		case 'R':
			b.WriteString(t.Format("15:04"))
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 't':
			b.WriteByte('\t')
		case 'T', 'X':
			b.WriteString(t.Format("15:04:05"))
		case 'u':
			fmt.Fprintf(&b, "%d", (int(t.Weekday())+6)%7+1)
		case 'U':
			fmt.Fprintf(&b, "%02d", (t.YearDay()+6-int(t.Weekday()))/7)
		case 'V':
			_, w := t.ISOWeek()
			fmt.Fprintf(&b, "%02d", w)
		case 'w':
			fmt.Fprintf(&b, "%d", int(t.Weekday()))
		case 'W':
			fmt.Fprintf(&b, "%02d", (t.YearDay()+6-(int(t.Weekday())+6)%7)/7)
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'Y':
			fmt.Fprintf(&b, "%d", t.Year())
		case 'z':
			b.WriteString(t.Format("-0700"))
		case 'Z':
			b.WriteString(t.Format("MST"))
		case '%':
			b.WriteByte('%')
		default:
			return "", fmt.Errorf("invalid conversion specifier '%%%c'", c)
		}
	}
	return b.String(), nil
}
