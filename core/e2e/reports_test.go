package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the test's own time zones, whatever the host has

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// Reports (S9): conversations driven through the real binary, then the
// figures the admins' report gives for them, to the second.

// reportPercentiles and reportBody decode GET /api/v1/reports.
type reportPercentiles struct {
	P50 *int64 `json:"p50"`
	P90 *int64 `json:"p90"`
}

type reportFigures struct {
	Conversations int               `json:"conversations"`
	AssistantOnly int               `json:"assistant_only"`
	HandedOff     int               `json:"handed_off"`
	FirstResponse reportPercentiles `json:"first_response_seconds"`
	Resolution    reportPercentiles `json:"resolution_seconds"`
}

type reportBody struct {
	From string `json:"from"`
	To   string `json:"to"`
	TZ   string `json:"tz"`
	reportFigures
	ByAgent []struct {
		Agent string `json:"agent"`
		reportFigures
	} `json:"by_agent"`
	ByDay []struct {
		Date string `json:"date"`
		reportFigures
	} `json:"by_day"`
}

// transcript is a conversation with the times a report is computed from.
type transcript struct {
	ID        int64      `json:"id"`
	Squad     string     `json:"squad"`
	Agent     string     `json:"agent"`
	StartedAt time.Time  `json:"started_at"`
	QueuedAt  *time.Time `json:"queued_at"`
	EndedAt   *time.Time `json:"ended_at"`
	Messages  []struct {
		Author    string    `json:"author"`
		Status    string    `json:"status"`
		CreatedAt time.Time `json:"created_at"`
	} `json:"messages"`
}

// firstAgentReply is when an agent first wrote to the contact.
func (c transcript) firstAgentReply() *time.Time {
	for _, m := range c.Messages {
		if strings.HasPrefix(m.Author, "agent:") && m.Status != "internal" {
			return &m.CreatedAt
		}
	}
	return nil
}

// reportScenario is three conversations of one day, each started a few
// minutes of the server's clock after the other:
//   - assistant: the assistant alone; "bye" two minutes after "hi" ends it;
//   - answered: handed to Ana, who answers 90 s later and ends it 10
//     minutes after that;
//   - waiting: handed off while nobody is available; it waits.
type reportScenario struct {
	srv                          *server
	admin, ana                   string
	offset                       time.Duration
	assistant, answered, waiting transcript
}

// now is the server's clock.
func (sc *reportScenario) now() time.Time { return time.Now().Add(sc.offset) }

func (sc *reportScenario) forward(d time.Duration) {
	sc.srv.clockForward(d)
	sc.offset += d
}

func (sc *reportScenario) conversationOf(user string) transcript {
	sc.srv.t.Helper()
	eventually(sc.srv.t, "the contact searchable", sc.srv.searchable)
	list := sc.srv.conversations(sc.admin, "?q="+user)
	if len(list) != 1 {
		sc.srv.t.Fatalf("conversations of %s: %d, want 1", user, len(list))
	}
	var c transcript
	if status := sc.srv.api("GET", fmt.Sprintf("/api/v1/conversations/%d", list[0].ID), sc.admin, nil, &c); status != 200 {
		sc.srv.t.Fatalf("GET conversation %d = %d", list[0].ID, status)
	}
	return c
}

func (sc *reportScenario) write(user, mid, text string) {
	sc.srv.t.Helper()
	if status, b := sc.srv.postMeta("ig-meta", metaSecret, metaText(user, mid, text, sc.now())); status != 200 {
		sc.srv.t.Fatalf("POST /webhooks/ig-meta = %d %s, want 200", status, b)
	}
}

func (sc *reportScenario) stateOf(user string) string {
	list := sc.srv.conversations(sc.admin, "?q="+user)
	if len(list) != 1 {
		return ""
	}
	return list[0].State
}

// newReportScenario runs the scenario on srv (started with agentAna) as
// admin, moving its clock.
func newReportScenario(t *testing.T, srv *server, admin string) *reportScenario {
	t.Helper()
	sc := &reportScenario{srv: srv, admin: admin, ana: srv.bearer(agentAna.Login, agentAna.Password)}
	// Ana's console stays open: with the clock moved minutes ahead, an
	// agent without one would lapse offline and her chat go back to the
	// queue.
	live := srv.events(sc.ana, "")
	go func() {
		for range live.events {
		}
	}()
	t.Cleanup(live.close)

	sc.write("7001", "rep-a1", "hi")
	eventually(t, "the assistant's conversation", func() bool { return sc.stateOf("7001") == "bot" })
	srv.settle()
	sc.forward(2 * time.Minute)
	sc.write("7001", "rep-a2", "bye")
	eventually(t, "the assistant to end its conversation", func() bool { return sc.stateOf("7001") == "ended" })
	srv.settle()

	if status := srv.api("PUT", "/api/v1/me/status", sc.ana, map[string]string{"status": "available"}, nil); status != 200 {
		t.Fatalf("PUT me/status available = %d", status)
	}
	sc.write("7002", "rep-b1", handoffText)
	eventually(t, "the hand-off to Ana", func() bool { return sc.stateOf("7002") == "assigned" })
	srv.settle()
	sc.forward(90 * time.Second)
	id := sc.conversationOf("7002").ID
	if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", id), sc.ana,
		map[string]any{"contents": []map[string]string{{"type": "text", "text": "Hi, Ana here. How can I help?"}}}, nil); status != 202 {
		t.Fatalf("Ana's reply = %d, want 202", status)
	}
	srv.settle()
	sc.forward(10 * time.Minute)
	if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/end", id), sc.ana, nil, nil); status != 200 {
		t.Fatalf("Ana ending the conversation = %d, want 200", status)
	}

	if status := srv.api("PUT", "/api/v1/me/status", sc.ana, map[string]string{"status": "paused"}, nil); status != 200 {
		t.Fatalf("PUT me/status paused = %d", status)
	}
	sc.forward(time.Minute)
	sc.write("7003", "rep-c1", handoffText)
	eventually(t, "the third conversation queued", func() bool { return sc.stateOf("7003") == "queued" })
	srv.settle()

	sc.assistant, sc.answered, sc.waiting = sc.conversationOf("7001"), sc.conversationOf("7002"), sc.conversationOf("7003")
	return sc
}

// want is what the report must say, in whole seconds, as the
// conversations' own times give it: 90 s to the first answer, 2 and 11.5
// minutes to the end (and nothing more than what the test itself took).
func (sc *reportScenario) want(t *testing.T) (firstResponse, resolvedAlone, resolvedByAna int64) {
	t.Helper()
	a, b := sc.assistant, sc.answered
	if a.EndedAt == nil || b.EndedAt == nil || b.QueuedAt == nil || b.firstAgentReply() == nil || b.Agent != agentAna.Login ||
		sc.waiting.QueuedAt == nil || sc.waiting.Agent != "" || a.QueuedAt != nil {
		t.Fatalf("the scenario did not go as planned: %+v %+v %+v", a, b, sc.waiting)
	}
	firstResponse = int64(b.firstAgentReply().Sub(*b.QueuedAt) / time.Second)
	resolvedAlone = int64(a.EndedAt.Sub(a.StartedAt) / time.Second)
	resolvedByAna = int64(b.EndedAt.Sub(b.StartedAt) / time.Second)
	// The clock's jumps, plus the little real time the steps took.
	within := func(what string, got, jump int64) {
		if got < jump || got > jump+20 {
			t.Fatalf("%s = %d s in the transcript, want %d s and a few", what, got, jump)
		}
	}
	within("first response", firstResponse, 90)
	within("the assistant's conversation", resolvedAlone, 120)
	within("Ana's conversation", resolvedByAna, 690)
	return
}

func i64(v int64) *int64 { return &v }

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func dateIn(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006-01-02") }

// rawGet is a GET with a bearer token, answering the whole response.
func (s *server) rawGet(path, token string) (*http.Response, string) {
	s.t.Helper()
	req, err := http.NewRequest("GET", s.URL+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestReports(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newConsoleServer(t, metaConfig(graph.URL, ""), nil, adminOlga, agentAna)
	admin := srv.bearer(adminOlga.Login, adminOlga.Password)
	sc := newReportScenario(t, srv, admin)
	fr, alone, byAna := sc.want(t)

	// Three days around the scenario's, in UTC: every day listed, the
	// empty ones with zeros.
	day := sc.now().UTC()
	from, to := dateIn(day.AddDate(0, 0, -1), time.UTC), dateIn(day.AddDate(0, 0, 1), time.UTC)
	get := func(q string) reportBody {
		t.Helper()
		var rep reportBody
		if status := srv.api("GET", "/api/v1/reports?"+q, admin, nil, &rep); status != 200 {
			t.Fatalf("GET /api/v1/reports?%s = %d, want 200", q, status)
		}
		return rep
	}
	rep := get("from=" + from + "&to=" + to)
	wantTotals := reportFigures{Conversations: 3, AssistantOnly: 1, HandedOff: 2,
		FirstResponse: reportPercentiles{P50: i64(fr), P90: i64(fr)},
		// Two ended: nearest rank, p50 is the shorter, p90 the longer.
		Resolution: reportPercentiles{P50: i64(alone), P90: i64(byAna)}}
	if !reflect.DeepEqual(rep.reportFigures, wantTotals) {
		t.Errorf("report totals = %s, want %s", jsonOf(rep.reportFigures), jsonOf(wantTotals))
	}
	if rep.From != from || rep.To != to || rep.TZ != "UTC" {
		t.Errorf("report range = %s to %s in %s, want %s to %s in UTC", rep.From, rep.To, rep.TZ, from, to)
	}
	wantAna := reportFigures{Conversations: 1, HandedOff: 1,
		FirstResponse: reportPercentiles{P50: i64(fr), P90: i64(fr)},
		Resolution:    reportPercentiles{P50: i64(byAna), P90: i64(byAna)}}
	if len(rep.ByAgent) != 1 || rep.ByAgent[0].Agent != agentAna.Login || !reflect.DeepEqual(rep.ByAgent[0].reportFigures, wantAna) {
		t.Errorf("by_agent = %s, want only ana with %s (the waiting conversation has no agent)", jsonOf(rep.ByAgent), jsonOf(wantAna))
	}
	checkDays := func(rep reportBody, loc *time.Location, dates ...string) {
		t.Helper()
		perDay := map[string]int{}
		for _, c := range []transcript{sc.assistant, sc.answered, sc.waiting} {
			perDay[dateIn(c.StartedAt, loc)]++
		}
		var got, want []string
		for _, d := range rep.ByDay {
			got = append(got, fmt.Sprintf("%s:%d", d.Date, d.Conversations))
		}
		for _, d := range dates {
			want = append(want, fmt.Sprintf("%s:%d", d, perDay[d]))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("by_day in %s = %v, want %v", loc, got, want)
		}
	}
	checkDays(rep, time.UTC, from, dateIn(day, time.UTC), to)

	// Days in the caller's time zone.
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	dt := sc.now().In(tokyo)
	tf, tt := dateIn(dt.AddDate(0, 0, -1), tokyo), dateIn(dt.AddDate(0, 0, 1), tokyo)
	inTokyo := get("from=" + tf + "&to=" + tt + "&tz=Asia/Tokyo")
	if inTokyo.TZ != "Asia/Tokyo" || inTokyo.Conversations != 3 {
		t.Errorf("report in Tokyo = %d conversations in %s, want 3 in Asia/Tokyo", inTokyo.Conversations, inTokyo.TZ)
	}
	checkDays(inTokyo, tokyo, tf, dateIn(dt, tokyo), tt)

	// Filters: the squad (all three are geral's), the agent who held it.
	if r := get("from=" + from + "&to=" + to + "&squad=geral"); r.Conversations != 3 {
		t.Errorf("squad=geral: %d conversations, want 3", r.Conversations)
	}
	if r := get("from=" + from + "&to=" + to + "&squad=vendas"); r.Conversations != 0 || len(r.ByDay) != 3 ||
		r.FirstResponse.P50 != nil || r.Resolution.P90 != nil || len(r.ByAgent) != 0 {
		t.Errorf("squad=vendas = %s, want no conversations, null times, the three days", jsonOf(r))
	}
	if r := get("from=" + from + "&to=" + to + "&agent=ana"); !reflect.DeepEqual(r.reportFigures, wantAna) {
		t.Errorf("agent=ana totals = %s, want %s", jsonOf(r.reportFigures), jsonOf(wantAna))
	}
	// No dates: the week up to today.
	if r := get(""); r.To != dateIn(sc.now(), time.UTC) || len(r.ByDay) != 7 || r.Conversations != 3 {
		t.Errorf("report without dates = %s to %s, %d days, %d conversations; want the 7 days to today with 3",
			r.From, r.To, len(r.ByDay), r.Conversations)
	}

	// The CSV: one row a day, the total, one row per agent.
	resp, body := srv.rawGet("/api/v1/reports?format=csv&from="+from+"&to="+to, admin)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV = %d %s, want 200 text/csv: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if cd, want := resp.Header.Get("Content-Disposition"), fmt.Sprintf(`attachment; filename="conversa-report-%s-to-%s.csv"`, from, to); cd != want {
		t.Errorf("Content-Disposition = %q, want %q", cd, want)
	}
	var wantCSV strings.Builder
	wantCSV.WriteString("row,date,agent,conversations,assistant_only,handed_off,first_response_p50_seconds,first_response_p90_seconds,resolution_p50_seconds,resolution_p90_seconds\n")
	for _, d := range rep.ByDay {
		cell := func(v *int64) string {
			if v == nil {
				return ""
			}
			return fmt.Sprint(*v)
		}
		fmt.Fprintf(&wantCSV, "day,%s,,%d,%d,%d,%s,%s,%s,%s\n", d.Date, d.Conversations, d.AssistantOnly, d.HandedOff,
			cell(d.FirstResponse.P50), cell(d.FirstResponse.P90), cell(d.Resolution.P50), cell(d.Resolution.P90))
	}
	fmt.Fprintf(&wantCSV, "total,,,3,1,2,%d,%d,%d,%d\n", fr, fr, alone, byAna)
	fmt.Fprintf(&wantCSV, "agent,,ana,1,0,1,%d,%d,%d,%d\n", fr, fr, byAna, byAna)
	if body != wantCSV.String() {
		t.Errorf("CSV =\n%s\nwant\n%s", body, wantCSV.String())
	}
	if n := strings.Count(body, "\nday,"); n != 3 {
		t.Errorf("CSV has %d day rows, want 3", n)
	}

	// An agent may not read reports.
	var refusal struct {
		Error struct{ Code, Message, Field string } `json:"error"`
	}
	if status := srv.api("GET", "/api/v1/reports?from="+from+"&to="+to, sc.ana, nil, &refusal); status != 403 || refusal.Error.Code != "forbidden" {
		t.Errorf("GET reports as an agent = %d %+v, want 403 forbidden", status, refusal)
	}
	if resp, _ := srv.rawGet("/api/v1/reports?format=csv", sc.ana); resp.StatusCode != 403 {
		t.Errorf("GET reports CSV as an agent = %d, want 403", resp.StatusCode)
	}

	// Bad input names its field.
	for _, c := range []struct{ query, field string }{
		{"from=2025-02-30&to=2025-03-01", "from"},
		{"from=14/03/2025", "from"},
		{"from=2025-03-01&to=soon", "to"},
		{"from=2025-03-02&to=2025-03-01", "from"},
		{"from=2024-01-01&to=2025-01-01", "to"}, // 367 days
		{"tz=Mars/Olympus_Mons", "tz"},
		{"format=xlsx", "format"},
	} {
		var e struct {
			Error struct{ Code, Message, Field string } `json:"error"`
		}
		status := srv.api("GET", "/api/v1/reports?"+c.query, admin, nil, &e)
		if status != 400 || e.Error.Field != c.field || e.Error.Message == "" {
			t.Errorf("GET reports?%s = %d %+v, want 400 naming %s", c.query, status, e.Error, c.field)
		}
	}
	if r := get("from=2024-01-01&to=2024-12-31"); len(r.ByDay) != 366 {
		t.Errorf("a 366-day report has %d days, want 366", len(r.ByDay))
	}
}

// The Reports page of a real browser in São Paulo's time zone: the bar of
// the scenario's day says 3 conversations, the response-time chart and the
// agents' table show the API's numbers.
func TestConsoleReportsPage(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newConsoleServer(t, metaConfig(graph.URL, ""), nil, adminOlga, agentAna)
	ctx := newBrowser(t)
	admin := srv.bearer(adminOlga.Login, adminOlga.Password)
	sc := newReportScenario(t, srv, admin)
	fr, alone, byAna := sc.want(t)

	act(t, ctx, "setting the browser's time zone", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "America/Sao_Paulo"})
		return err
	}))
	browserSignIn(t, ctx, srv, adminOlga.Login, adminOlga.Password)
	act(t, ctx, "opening Reports", chromedp.Click(chromedp.CSS(`#mainnav a[data-section="reports"]`)))
	waitFor(t, ctx, "the report's charts", `document.querySelector('.chart-days .chart-bar')`)

	sp, err := time.LoadLocation("America/Sao_Paulo")
	if err != nil {
		t.Fatal(err)
	}
	// The default range: the last 7 days, in the browser's zone.
	today := time.Now().In(sp)
	if got, want := evalJS[string](t, ctx, `document.querySelector('#report-from').value + ' ' + document.querySelector('#report-to').value`),
		dateIn(today.AddDate(0, 0, -6), sp)+" "+dateIn(today, sp); got != want {
		t.Errorf("default range = %s, want %s", got, want)
	}
	// The scenario's days, whatever the real clock says.
	first, last := dateIn(sc.assistant.StartedAt, sp), dateIn(sc.waiting.StartedAt, sp)
	from := dateIn(sc.assistant.StartedAt.In(sp).AddDate(0, 0, -2), sp)
	act(t, ctx, "choosing the range",
		chromedp.SetValue(chromedp.CSS("#report-from"), from),
		chromedp.SetValue(chromedp.CSS("#report-to"), last),
		chromedp.Click(chromedp.CSS(".report-form button[type=submit]")))
	waitFor(t, ctx, "the chart of the chosen range", fmt.Sprintf(`document.querySelector('.chart-days .chart-bar[data-date=%q]') && document.querySelector('.chart-days .chart-bar[data-date=%q]')`, from, last))

	perDay := map[string]int{}
	for _, c := range []transcript{sc.assistant, sc.answered, sc.waiting} {
		perDay[dateIn(c.StartedAt, sp)]++
	}
	for _, d := range []string{from, first, last} {
		sel := fmt.Sprintf(`.chart-days .chart-bar[data-date=%q]`, d)
		label := evalJS[string](t, ctx, fmt.Sprintf(`document.querySelector(%s).getAttribute('aria-label')`, jsString(sel)))
		want := fmt.Sprintf(": %d conversation", perDay[d])
		if !strings.Contains(label, want) {
			t.Errorf("bar of %s is labelled %q, want %q in it", d, label, want)
		}
		if perDay[d] > 0 {
			if got := textOf(t, ctx, sel+" .chart-value"); got != fmt.Sprint(perDay[d]) {
				t.Errorf("bar of %s shows %q, want %d", d, got, perDay[d])
			}
		}
	}
	if first == last {
		label := evalJS[string](t, ctx, fmt.Sprintf(`document.querySelector('.chart-days .chart-bar[data-date=%q]').getAttribute('aria-label')`, first))
		if !strings.Contains(label, "3 conversations, 1 with the assistant only, 2 handed off") {
			t.Errorf("bar of the scenario's day is labelled %q, want 3 conversations, 1 with the assistant only, 2 handed off", label)
		}
	}

	// The response-time chart carries the API's seconds.
	for measure, want := range map[string]int64{
		"first_response_p50": fr, "first_response_p90": fr, "resolution_p50": alone, "resolution_p90": byAna,
	} {
		got := evalJS[string](t, ctx, fmt.Sprintf(`document.querySelector('.chart-times [data-measure=%q]').getAttribute('aria-label')`, measure))
		if !strings.Contains(got, fmt.Sprintf("(%d seconds)", want)) {
			t.Errorf("%s bar is labelled %q, want %d seconds", measure, got, want)
		}
	}
	if got := textOf(t, ctx, `.report-agents tr[data-agent="ana"] td.num`); got != "1" {
		t.Errorf("Ana's conversations in the table = %q, want 1", got)
	}
	if href := evalJS[string](t, ctx, `document.querySelector('#report-csv').getAttribute('href')`); !strings.Contains(href, "format=csv") ||
		!strings.Contains(href, "from="+from) || !strings.Contains(href, "tz=America%2FSao_Paulo") {
		t.Errorf("Download CSV link = %q, want the CSV of the range in America/Sao_Paulo", href)
	}
	// The link downloads the CSV with the console's own session.
	tctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	csv, err := chromedp.Run(tctx, chromedp.Evaluate[string](`fetch(document.querySelector('#report-csv').href).then(r => r.text())`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("fetching the CSV link: %v", err)
	}
	if want := fmt.Sprintf("\nday,%s,,%d,", last, perDay[last]); !strings.HasPrefix(csv, "row,date,agent,") || !strings.Contains(csv, want) {
		t.Errorf("the CSV link's file =\n%s\nwant the day rows of the range (%q)", csv, want)
	}

	// The whole page in the picture.
	act(t, ctx, "a viewport as tall as the page", chromedp.EmulateViewport(1280, 1500))
	screenshot(t, ctx, screenshotDir(t), "reports")

	// A report's address keeps its filters: Ana's conversations only.
	act(t, ctx, "opening a filtered report's address", chromedp.Navigate(fmt.Sprintf("%s/reports?from=%s&to=%s&agent=ana", srv.URL, from, last)))
	waitFor(t, ctx, "Ana's report", `document.querySelector('#report-agent')?.value === 'ana' &&
		document.querySelector('.report-tiles dd')?.textContent === '1'`)
}
