package reports

import (
	"cmp"
	"slices"
	"time"

	"github.com/conversa/conversa/core/store"
)

// Percentiles are nearest-rank percentiles of durations in whole seconds;
// nil (JSON null) when there is no sample.
type Percentiles struct {
	P50 *int64 `json:"p50"`
	P90 *int64 `json:"p90"`
}

// Figures are what a report says about a set of conversations.
type Figures struct {
	// Conversations started in the range.
	Conversations int `json:"conversations"`
	// AssistantOnly were never handed to people; HandedOff were.
	AssistantOnly int `json:"assistant_only"`
	HandedOff     int `json:"handed_off"`
	// FirstResponse is from the first hand-off to the first message an
	// agent wrote to the contact, over the handed-off conversations that
	// got one.
	FirstResponse Percentiles `json:"first_response_seconds"`
	// Resolution is from the start to the end, over the conversations
	// that ended.
	Resolution Percentiles `json:"resolution_seconds"`
}

// Agent is the figures of the conversations an agent held last.
type Agent struct {
	Agent string `json:"agent"`
	Figures
}

// Day is the figures of the conversations started on a day.
type Day struct {
	Date string `json:"date"`
	Figures
}

// Report is the body of GET /api/v1/reports.
type Report struct {
	From string `json:"from"`
	To   string `json:"to"`
	TZ   string `json:"tz"`
	Figures
	ByAgent []Agent `json:"by_agent"`
	// ByDay has every day of the range, those without conversations too.
	ByDay []Day `json:"by_day"`
}

// Build computes the report of r from the conversations a store listed for
// it. A row that started outside r is not counted.
func Build(r Range, rows []store.ReportRow) *Report {
	total := &samples{}
	days := make([]samples, r.Days())
	dayOf := make(map[string]int, len(days))
	for i := range days {
		dayOf[r.Date(r.day(i))] = i
	}
	agents := map[string]*samples{}
	for _, row := range rows {
		i, ok := dayOf[r.Date(row.StartedAt)]
		if !ok {
			continue
		}
		total.add(row)
		days[i].add(row)
		if row.Agent != "" {
			a := agents[row.Agent]
			if a == nil {
				a = &samples{}
				agents[row.Agent] = a
			}
			a.add(row)
		}
	}
	rep := &Report{
		From: r.Date(r.From), To: r.Date(r.To), TZ: r.Loc.String(),
		Figures: total.figures(),
		ByAgent: make([]Agent, 0, len(agents)),
		ByDay:   make([]Day, len(days)),
	}
	for login, a := range agents {
		rep.ByAgent = append(rep.ByAgent, Agent{Agent: login, Figures: a.figures()})
	}
	// The busiest first; equals in login order, so the order is stable.
	slices.SortFunc(rep.ByAgent, func(a, b Agent) int {
		return cmp.Or(cmp.Compare(b.Conversations, a.Conversations), cmp.Compare(a.Agent, b.Agent))
	})
	for i := range days {
		rep.ByDay[i] = Day{Date: r.Date(r.day(i)), Figures: days[i].figures()}
	}
	return rep
}

// samples gathers the counts and durations of a set of conversations.
type samples struct {
	conversations, assistantOnly, handedOff int
	firstResponse, resolution               []int64
}

func (s *samples) add(row store.ReportRow) {
	s.conversations++
	if row.QueuedAt == nil {
		s.assistantOnly++
	} else {
		s.handedOff++
		if row.FirstAgentReplyAt != nil {
			s.firstResponse = append(s.firstResponse, seconds(row.FirstAgentReplyAt.Sub(*row.QueuedAt)))
		}
	}
	if row.EndedAt != nil {
		s.resolution = append(s.resolution, seconds(row.EndedAt.Sub(row.StartedAt)))
	}
}

func (s *samples) figures() Figures {
	return Figures{
		Conversations: s.conversations, AssistantOnly: s.assistantOnly, HandedOff: s.handedOff,
		FirstResponse: percentiles(s.firstResponse),
		Resolution:    percentiles(s.resolution),
	}
}

// seconds is a duration in whole seconds, never negative (an agent who
// wrote before the hand-off, an admin taking over, answered at once).
func seconds(d time.Duration) int64 {
	return max(0, int64(d/time.Second))
}

func percentiles(v []int64) Percentiles {
	slices.Sort(v)
	return Percentiles{P50: Percentile(v, 50), P90: Percentile(v, 90)}
}

// Percentile is the nearest-rank p-th percentile (0 < p <= 100) of sorted:
// the smallest value with at least p% of the values at or below it, always
// one of the values. Nil when there are none.
func Percentile(sorted []int64, p int) *int64 {
	n := len(sorted)
	if n == 0 {
		return nil
	}
	// The rank is ⌈p·n/100⌉, in integers: in floating point 7/100·100 is
	// 7.000000000000001, whose ceiling skips a rank.
	rank := (p*n + 99) / 100
	rank = min(max(rank, 1), n)
	v := sorted[rank-1]
	return &v
}
