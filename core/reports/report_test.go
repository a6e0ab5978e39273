package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/conversa/conversa/core/store"
)

func fmtPtr(v *int64) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprint(*v)
}

func TestPercentile(t *testing.T) {
	seq := func(n int) []int64 {
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(i + 1)
		}
		return v
	}
	cases := []struct {
		sorted   []int64
		p50, p90 string
	}{
		{nil, "nil", "nil"},
		{[]int64{42}, "42", "42"},
		{[]int64{120, 690}, "120", "690"},
		{[]int64{1, 2, 3}, "2", "3"},
		{[]int64{10, 20, 30, 40}, "20", "40"},
		// ⌈0.9·10⌉ = 9: the 9th value, not the 10th.
		{seq(10), "5", "9"},
		{seq(11), "6", "10"},
		{seq(20), "10", "18"},
		{seq(100), "50", "90"},
		{seq(101), "51", "91"},
		{[]int64{0, 0, 0, 7}, "0", "7"},
	}
	for _, c := range cases {
		if got := fmtPtr(Percentile(c.sorted, 50)); got != c.p50 {
			t.Errorf("Percentile(%v, 50) = %s, want %s", c.sorted, got, c.p50)
		}
		if got := fmtPtr(Percentile(c.sorted, 90)); got != c.p90 {
			t.Errorf("Percentile(%v, 90) = %s, want %s", c.sorted, got, c.p90)
		}
	}
	if got := fmtPtr(Percentile(seq(7), 100)); got != "7" {
		t.Errorf("Percentile(1..7, 100) = %s, want 7", got)
	}
	// ⌈7/100·100⌉ is 7, though 7/100·100 is 7.000000000000001 in floating
	// point.
	if got := fmtPtr(Percentile(seq(100), 7)); got != "7" {
		t.Errorf("Percentile(1..100, 7) = %s, want 7", got)
	}
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestParseRange(t *testing.T) {
	now := time.Date(2025, time.March, 14, 1, 30, 0, 0, time.UTC) // 13 March, 22:30 in São Paulo
	sp := mustLoad(t, "America/Sao_Paulo")
	ok := []struct {
		from, to, tz string
		wantFrom     time.Time
		wantTo       time.Time
		days         int
	}{
		{"", "", "", time.Date(2025, 3, 8, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC), 7},
		{"", "", "America/Sao_Paulo", time.Date(2025, 3, 7, 0, 0, 0, 0, sp), time.Date(2025, 3, 13, 0, 0, 0, 0, sp), 7},
		{"2025-03-01", "2025-03-01", "UTC", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), 1},
		{"", "2025-01-03", "", time.Date(2024, 12, 28, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 3, 0, 0, 0, 0, time.UTC), 7},
		{"2024-01-01", "2024-12-31", "", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC), 366},
		{"2025-03-10", "", "", time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC), 5},
	}
	for _, c := range ok {
		r, err := ParseRange(c.from, c.to, c.tz, now)
		if err != nil {
			t.Errorf("ParseRange(%q, %q, %q) = %v", c.from, c.to, c.tz, err)
			continue
		}
		if !r.From.Equal(c.wantFrom) || !r.To.Equal(c.wantTo) || r.Days() != c.days {
			t.Errorf("ParseRange(%q, %q, %q) = %v to %v (%d days), want %v to %v (%d days)",
				c.from, c.to, c.tz, r.From, r.To, r.Days(), c.wantFrom, c.wantTo, c.days)
		}
		if want := c.wantTo.AddDate(0, 0, 1); !r.End().Equal(want) {
			t.Errorf("ParseRange(%q, %q, %q).End() = %v, want %v", c.from, c.to, c.tz, r.End(), want)
		}
	}

	bad := []struct {
		from, to, tz, field string
	}{
		{"2025-02-30", "2025-03-01", "", "from"},
		{"14/03/2025", "", "", "from"},
		{"2025-3-1", "2025-03-02", "", "from"},
		{"2025-03-01", "tomorrow", "", "to"},
		{"2025-03-01", "2025-03-01T00:00:00Z", "", "to"},
		{"2025-03-02", "2025-03-01", "", "from"},
		{"2024-01-01", "2025-01-01", "", "to"}, // 367 days
		{"", "", "Mars/Olympus_Mons", "tz"},
		{"", "", "Local", "tz"},
		{"", "", "../../etc/passwd", "tz"},
	}
	for _, c := range bad {
		_, err := ParseRange(c.from, c.to, c.tz, now)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("ParseRange(%q, %q, %q) = %v, want an error about %s", c.from, c.to, c.tz, err, c.field)
		}
	}
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ptr(s string) *time.Time { t := at(s); return &t }

// The figures of a week in São Paulo (UTC-3): each definition, days
// without conversations, and days taken in the report's time zone.
func TestBuild(t *testing.T) {
	r, err := ParseRange("2025-03-10", "2025-03-13", "America/Sao_Paulo", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rows := []store.ReportRow{
		// 10 March: the assistant alone, ended after 2 minutes.
		{ID: 1, StartedAt: at("2025-03-10T12:00:00Z"), EndedAt: ptr("2025-03-10T12:02:00Z")},
		// 10 March: the assistant alone, still open.
		{ID: 2, StartedAt: at("2025-03-10T13:00:00Z")},
		// 10 March: handed off after a minute, ana answered 90.9 s later
		// (whole seconds: 90), ended 11 minutes 30 after the start.
		{ID: 3, Squad: "geral", Agent: "ana", StartedAt: at("2025-03-10T14:00:00Z"), QueuedAt: ptr("2025-03-10T14:01:00Z"),
			FirstAgentReplyAt: ptr("2025-03-10T14:02:30.900Z"), EndedAt: ptr("2025-03-10T14:11:30Z")},
		// 12 March 23:30 in São Paulo (13 March in UTC): bia answered
		// after 30 s, not ended.
		{ID: 4, Squad: "geral", Agent: "bia", StartedAt: at("2025-03-13T02:30:00Z"), QueuedAt: ptr("2025-03-13T02:30:00Z"),
			FirstAgentReplyAt: ptr("2025-03-13T02:30:30Z")},
		// 13 March: handed off, no one answered, ended in the queue after
		// 20 minutes; no agent.
		{ID: 5, Squad: "vendas", StartedAt: at("2025-03-13T15:00:00Z"), QueuedAt: ptr("2025-03-13T15:00:00Z"),
			EndedAt: ptr("2025-03-13T15:20:00Z")},
		// 13 March: ana again, answered in 10 s, ended after an hour.
		{ID: 6, Squad: "geral", Agent: "ana", StartedAt: at("2025-03-13T16:00:00Z"), QueuedAt: ptr("2025-03-13T16:00:00Z"),
			FirstAgentReplyAt: ptr("2025-03-13T16:00:10Z"), EndedAt: ptr("2025-03-13T17:00:00Z")},
		// 14 March 01:00 in São Paulo: outside the range.
		{ID: 7, StartedAt: at("2025-03-14T04:00:00Z")},
		// 9 March 23:59:59 in São Paulo: outside the range.
		{ID: 8, StartedAt: at("2025-03-10T02:59:59Z")},
	}
	got := Build(r, rows)
	want := `{"from":"2025-03-10","to":"2025-03-13","tz":"America/Sao_Paulo",
		"conversations":6,"assistant_only":2,"handed_off":4,
		"first_response_seconds":{"p50":30,"p90":90},
		"resolution_seconds":{"p50":690,"p90":3600},
		"by_agent":[
			{"agent":"ana","conversations":2,"assistant_only":0,"handed_off":2,
			 "first_response_seconds":{"p50":10,"p90":90},"resolution_seconds":{"p50":690,"p90":3600}},
			{"agent":"bia","conversations":1,"assistant_only":0,"handed_off":1,
			 "first_response_seconds":{"p50":30,"p90":30},"resolution_seconds":{"p50":null,"p90":null}}],
		"by_day":[
			{"date":"2025-03-10","conversations":3,"assistant_only":2,"handed_off":1,
			 "first_response_seconds":{"p50":90,"p90":90},"resolution_seconds":{"p50":120,"p90":690}},
			{"date":"2025-03-11","conversations":0,"assistant_only":0,"handed_off":0,
			 "first_response_seconds":{"p50":null,"p90":null},"resolution_seconds":{"p50":null,"p90":null}},
			{"date":"2025-03-12","conversations":1,"assistant_only":0,"handed_off":1,
			 "first_response_seconds":{"p50":30,"p90":30},"resolution_seconds":{"p50":null,"p90":null}},
			{"date":"2025-03-13","conversations":2,"assistant_only":0,"handed_off":2,
			 "first_response_seconds":{"p50":10,"p90":10},"resolution_seconds":{"p50":1200,"p90":3600}}]}`
	gotJSON, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(want)); err != nil {
		t.Fatal(err)
	}
	if string(gotJSON) != compact.String() {
		t.Errorf("Build() =\n%s\nwant\n%s", gotJSON, compact.String())
	}

	var csv bytes.Buffer
	if err := got.WriteCSV(&csv); err != nil {
		t.Fatal(err)
	}
	wantCSV := "row,date,agent,conversations,assistant_only,handed_off,first_response_p50_seconds,first_response_p90_seconds,resolution_p50_seconds,resolution_p90_seconds\n" +
		"day,2025-03-10,,3,2,1,90,90,120,690\n" +
		"day,2025-03-11,,0,0,0,,,,\n" +
		"day,2025-03-12,,1,0,1,30,30,,\n" +
		"day,2025-03-13,,2,0,2,10,10,1200,3600\n" +
		"total,,,6,2,4,30,90,690,3600\n" +
		"agent,,ana,2,0,2,10,90,690,3600\n" +
		"agent,,bia,1,0,1,30,30,,\n"
	if csv.String() != wantCSV {
		t.Errorf("WriteCSV() =\n%s\nwant\n%s", csv.String(), wantCSV)
	}
	if got.Filename() != "conversa-report-2025-03-10-to-2025-03-13.csv" {
		t.Errorf("Filename() = %q", got.Filename())
	}
}

// No conversations: zeros, nulls, every day, and empty lists that are
// lists (JSON [], not null).
func TestBuildEmpty(t *testing.T) {
	r, err := ParseRange("2025-03-01", "2025-03-03", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(Build(r, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"from":"2025-03-01","to":"2025-03-03","tz":"UTC","conversations":0,"assistant_only":0,"handed_off":0,` +
		`"first_response_seconds":{"p50":null,"p90":null},"resolution_seconds":{"p50":null,"p90":null},"by_agent":[],"by_day":[` +
		`{"date":"2025-03-01","conversations":0,"assistant_only":0,"handed_off":0,"first_response_seconds":{"p50":null,"p90":null},"resolution_seconds":{"p50":null,"p90":null}},` +
		`{"date":"2025-03-02","conversations":0,"assistant_only":0,"handed_off":0,"first_response_seconds":{"p50":null,"p90":null},"resolution_seconds":{"p50":null,"p90":null}},` +
		`{"date":"2025-03-03","conversations":0,"assistant_only":0,"handed_off":0,"first_response_seconds":{"p50":null,"p90":null},"resolution_seconds":{"p50":null,"p90":null}}]}`
	if string(b) != want {
		t.Errorf("Build(no rows) =\n%s\nwant\n%s", b, want)
	}
}

// Days follow the calendar of the time zone across a summer-time change:
// Lisbon's 30 March 2025 has 23 hours, its 26 October 25.
func TestBuildAcrossSummerTime(t *testing.T) {
	lisbon := mustLoad(t, "Europe/Lisbon")
	for _, c := range []struct {
		from, to string
		late     time.Time // 23:30 local on the day of the change
		day      string
	}{
		{"2025-03-29", "2025-03-31", time.Date(2025, 3, 30, 23, 30, 0, 0, lisbon), "2025-03-30"},
		{"2025-10-25", "2025-10-27", time.Date(2025, 10, 26, 23, 30, 0, 0, lisbon), "2025-10-26"},
	} {
		r, err := ParseRange(c.from, c.to, "Europe/Lisbon", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if r.Days() != 3 {
			t.Errorf("%s to %s: Days() = %d, want 3", c.from, c.to, r.Days())
		}
		rep := Build(r, []store.ReportRow{{ID: 1, StartedAt: c.late}})
		for _, d := range rep.ByDay {
			want := 0
			if d.Date == c.day {
				want = 1
			}
			if d.Conversations != want {
				t.Errorf("%s to %s: day %s has %d conversations, want %d (one at %v)", c.from, c.to, d.Date, d.Conversations, want, c.late)
			}
		}
		if len(rep.ByDay) != 3 || rep.ByDay[0].Date != c.from || rep.ByDay[2].Date != c.to {
			t.Errorf("%s to %s: by_day = %+v, want the three days", c.from, c.to, rep.ByDay)
		}
	}
}
