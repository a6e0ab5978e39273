package reports

import (
	"fmt"
	"time"

	// Time zones come with the binary: a report in America/Sao_Paulo must
	// not depend on the host having tzdata installed.
	_ "time/tzdata"
)

// MaxDays is the longest range a report covers.
const MaxDays = 366

// DefaultDays is the range when from is not given: the week up to to.
const DefaultDays = 7

const dateLayout = "2006-01-02"

// Range is whole days, From to To inclusive, in a time zone.
type Range struct {
	// From and To are midnight of the first and the last day in Loc.
	From, To time.Time
	Loc      *time.Location
}

// FieldError is a query parameter that cannot be used, named by Field.
type FieldError struct {
	Field, Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// ParseRange reads the from, to and tz parameters of a report. Dates are
// YYYY-MM-DD in tz (an IANA name; empty is UTC). An empty to is today (at
// now, in tz); an empty from is DefaultDays up to to. A *FieldError names
// what is wrong: a date that is not one, from after to, more than MaxDays
// days, an unknown time zone.
func ParseRange(from, to, tz string, now time.Time) (Range, error) {
	loc := time.UTC
	if tz != "" {
		var err error
		// "Local" would be the server's zone, which no one asking knows.
		if loc, err = time.LoadLocation(tz); err != nil || tz == "Local" {
			return Range{}, &FieldError{"tz", fmt.Sprintf("%q is not a time zone; use an IANA name such as America/Sao_Paulo or UTC", tz)}
		}
	}
	r := Range{Loc: loc}
	var err error
	if to == "" {
		y, m, d := now.In(loc).Date()
		r.To = time.Date(y, m, d, 0, 0, 0, 0, loc)
	} else if r.To, err = parseDate(to, loc); err != nil {
		return Range{}, &FieldError{"to", err.Error()}
	}
	if from == "" {
		r.From = r.To.AddDate(0, 0, 1-DefaultDays)
	} else if r.From, err = parseDate(from, loc); err != nil {
		return Range{}, &FieldError{"from", err.Error()}
	}
	if r.From.After(r.To) {
		return Range{}, &FieldError{"from", fmt.Sprintf("from (%s) is after to (%s)", r.From.Format(dateLayout), r.To.Format(dateLayout))}
	}
	if n := r.Days(); n > MaxDays {
		return Range{}, &FieldError{"to", fmt.Sprintf("the range has %d days; a report covers at most %d", n, MaxDays)}
	}
	return r, nil
}

func parseDate(s string, loc *time.Location) (time.Time, error) {
	t, err := time.ParseInLocation(dateLayout, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date; write it as YYYY-MM-DD", s)
	}
	return t, nil
}

// Days is how many days the range covers.
func (r Range) Days() int {
	// Counted on the calendar: a day of a summer-time change is not 24
	// hours long.
	a := time.Date(r.From.Year(), r.From.Month(), r.From.Day(), 0, 0, 0, 0, time.UTC)
	b := time.Date(r.To.Year(), r.To.Month(), r.To.Day(), 0, 0, 0, 0, time.UTC)
	return int(b.Sub(a)/(24*time.Hour)) + 1
}

// Start is the first instant of the range.
func (r Range) Start() time.Time { return r.From }

// End is the first instant after the range: midnight after To.
func (r Range) End() time.Time { return r.day(r.Days()) }

// day is midnight of the range's i-th day (0 is From).
func (r Range) day(i int) time.Time {
	return time.Date(r.From.Year(), r.From.Month(), r.From.Day()+i, 0, 0, 0, 0, r.Loc)
}

// Date is the day of t in the range's time zone, as YYYY-MM-DD.
func (r Range) Date(t time.Time) string { return t.In(r.Loc).Format(dateLayout) }
