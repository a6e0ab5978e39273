package bench

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Result is one run's figures, over its measured webhooks.
type Result struct {
	// Offered is how many webhooks were measured; OfferedRate how many a
	// second the generator actually started (open-loop).
	Offered     int
	OfferedRate float64
	// Acked is how many were answered 200; Throughput is Acked a second,
	// over the measured window or until the last of them was acked if
	// later.
	Acked      int
	Throughput float64
	Ack        Dist
	// Errors counts the other answers by status ("503", "transport").
	Errors map[string]int
	// Replies and Expected: replies received for measured webhooks, and
	// how many were owed (one per acknowledged webhook); ReplyRate is
	// replies a second, counted like Throughput.
	Replies, Expected int
	ReplyRate         float64
	Reply             Dist
	// Wait is how long webhooks waited for a free connection (open-loop).
	Wait Dist
	// Extra and Unknown are replies beyond the first to a user and
	// replies to users the load never wrote as (over the whole run).
	Extra, Unknown int64
	// LateIssues: measured webhooks the generator started late.
	LateIssues  int
	MaxIssueLag time.Duration
	Window      time.Duration
	// Spans are the measured window cut into equal parts by due time, in
	// order: whether latency holds through the run or climbs (a backlog,
	// a store that slows as it grows) shows here, not in the run's p99.
	Spans []Span
}

// Span is the figures of the webhooks due in one part of the measured
// window.
type Span struct {
	Length     time.Duration
	Ack, Reply Dist
}

// spanCount is how many parts the measured window is cut into.
const spanCount = 6

// Collect computes the figures of a finished run. replies says whether a
// reply was owed for each acknowledged webhook.
func Collect(rec *Recorder, w Window, replies bool) Result {
	r := Result{Errors: map[string]int{}, Window: time.Duration(w.To - w.From),
		Extra: rec.extra.Load(), Unknown: rec.unknown.Load(), LateIssues: w.LateIssues, MaxIssueLag: w.MaxIssueLag}
	var acks, waits, reps []time.Duration
	var lastAck, lastReply int64
	spanLen := (w.To - w.From) / spanCount
	var spanAcks, spanReps [spanCount][]time.Duration
	span := func(due int64) int {
		if spanLen <= 0 {
			return 0
		}
		return int(min(max((due-w.From)/spanLen, 0), spanCount-1))
	}
	for i := range w.Scheduled {
		s := rec.slots.lookup(i)
		if s == nil || s.due == 0 {
			continue
		}
		if w.Open && i < w.FirstMeasured || !w.Open && (s.due < w.From || s.due >= w.To) {
			continue
		}
		r.Offered++
		if s.sent != 0 {
			waits = append(waits, time.Duration(s.sent-s.due))
		}
		switch {
		case s.status == 200 && s.acked != 0:
			r.Acked++
			acks = append(acks, time.Duration(s.acked-s.due))
			spanAcks[span(s.due)] = append(spanAcks[span(s.due)], time.Duration(s.acked-s.due))
			lastAck = max(lastAck, s.acked)
		case s.status <= 0:
			r.Errors["transport"]++
		default:
			r.Errors[fmt.Sprint(s.status)]++
		}
		if !replies {
			continue
		}
		if s.status == 200 {
			r.Expected++
		}
		if at := s.reply.Load(); at != 0 {
			r.Replies++
			reps = append(reps, time.Duration(at-s.due))
			spanReps[span(s.due)] = append(spanReps[span(s.due)], time.Duration(at-s.due))
			lastReply = max(lastReply, at)
		}
	}
	r.Ack, r.Reply, r.Wait = Distribution(acks), Distribution(reps), Distribution(waits)
	if spanLen > 0 {
		for i := range spanCount {
			r.Spans = append(r.Spans, Span{Length: time.Duration(spanLen),
				Ack: Distribution(spanAcks[i]), Reply: Distribution(spanReps[i])})
		}
	}
	r.Throughput = perSecond(r.Acked, w.From, max(w.To, lastAck))
	r.ReplyRate = perSecond(r.Replies, w.From, max(w.To, lastReply))
	if w.LastIssue > w.FirstIssue && r.Offered > 1 {
		r.OfferedRate = float64(r.Offered-1) / time.Duration(w.LastIssue-w.FirstIssue).Seconds()
	} else if r.Window > 0 {
		r.OfferedRate = float64(r.Offered) / r.Window.Seconds()
	}
	return r
}

// SpanText is the p99 of each span, in order, of the replies (or of the
// acknowledgements when replies is false): "" when the run had no spans.
func (r Result) SpanText(replies bool) string {
	if len(r.Spans) == 0 {
		return ""
	}
	what := "reply"
	if !replies {
		what = "ack"
	}
	parts := make([]string, len(r.Spans))
	for i, s := range r.Spans {
		d := s.Reply
		if !replies {
			d = s.Ack
		}
		parts[i] = "n/a"
		if d.N > 0 {
			parts[i] = ms(d.P99)
		}
	}
	return fmt.Sprintf("%s p99 by %s of the run: %s", what, r.Spans[0].Length.Round(time.Millisecond), strings.Join(parts, " "))
}

func perSecond(n int, from, to int64) float64 {
	if to <= from {
		return 0
	}
	return float64(n) / time.Duration(to-from).Seconds()
}

// SustainRule is the rule Sustained applies, for the report; without
// replies, the rule for the acks alone.
func SustainRule(bound time.Duration, replies bool) string {
	if !replies {
		return fmt.Sprintf("sustained = the generator started >= 99%% of the rate; >= 99%% of the webhooks were acknowledged 200; "+
			"ack p99 <= %s (a backlog that grows through the run breaks the p99 bound)", bound)
	}
	return fmt.Sprintf("sustained = the generator started >= 99%% of the rate; >= 99%% of the webhooks were acknowledged 200; "+
		">= 99%% of those were answered at the provider before the drain ended; ack p99 and reply p99 <= %s (a backlog that grows "+
		"through the run breaks the p99 bound)", bound)
}

// Sustained applies SustainRule to an open-loop run at rate, with the
// reason when it fails.
func (r Result) Sustained(rate float64, bound time.Duration, replies bool) (bool, string) {
	switch {
	case r.Offered == 0:
		return false, "nothing was offered"
	case r.OfferedRate < 0.99*rate:
		return false, fmt.Sprintf("the generator started only %.1f/s of %.0f/s (the machine is too busy to offer the load)", r.OfferedRate, rate)
	case float64(r.Acked) < 0.99*float64(r.Offered):
		return false, fmt.Sprintf("only %d of %d webhooks acknowledged", r.Acked, r.Offered)
	case r.Ack.P99 > bound:
		return false, fmt.Sprintf("ack p99 %s over %s", ms(r.Ack.P99), bound)
	case replies && float64(r.Replies) < 0.99*float64(r.Expected):
		return false, fmt.Sprintf("only %d of %d replies arrived", r.Replies, r.Expected)
	case replies && r.Reply.P99 > bound:
		return false, fmt.Sprintf("reply p99 %s over %s", ms(r.Reply.P99), bound)
	}
	return true, ""
}

// ErrorText lists the errors by status, "none" when there are none.
func (r Result) ErrorText() string {
	if len(r.Errors) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, r.Errors[k]))
	}
	return strings.Join(parts, " ")
}

// Drain waits until every acknowledged webhook of rec has its reply, or
// until d has passed or ctx ended.
func Drain(ctx context.Context, rec *Recorder, d time.Duration) {
	deadline := time.Now().Add(d)
	for rec.replied.Load() < rec.acked.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
}

// Pending is how many acknowledged webhooks still wait for a reply.
func (rec *Recorder) Pending() int64 { return max(0, rec.acked.Load()-rec.replied.Load()) }
