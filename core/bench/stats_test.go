package bench

import (
	"testing"
	"time"
)

func TestDistributionIsNearestRank(t *testing.T) {
	var ds []time.Duration
	// 100..1 ms, out of order: Distribution sorts.
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	d := Distribution(ds)
	if d.N != 100 || d.P50 != 50*time.Millisecond || d.P99 != 99*time.Millisecond || d.Max != 100*time.Millisecond {
		t.Errorf("Distribution(1..100 ms) = %+v, want N 100, p50 50ms, p99 99ms, max 100ms", d)
	}
	// With fewer than 100 samples p99 is the largest.
	small := Distribution([]time.Duration{3, 1, 2})
	if small.P50 != 2 || small.P99 != 3 || small.Max != 3 {
		t.Errorf("Distribution(1,2,3) = %+v, want p50 2, p99 3, max 3", small)
	}
	one := Distribution([]time.Duration{7})
	if one.P50 != 7 || one.P99 != 7 || one.Max != 7 {
		t.Errorf("Distribution(7) = %+v, want 7 everywhere", one)
	}
	if empty := Distribution(nil); empty.N != 0 || empty.String() != "p50 n/a p99 n/a max n/a" {
		t.Errorf("Distribution(nil) = %+v (%s), want zero and n/a", empty, empty)
	}
	// 1000 samples: p99 is the 990th.
	var k []time.Duration
	for i := 1; i <= 1000; i++ {
		k = append(k, time.Duration(i))
	}
	if got := Distribution(k).P99; got != 990 {
		t.Errorf("p99 of 1..1000 = %d, want 990", got)
	}
}

func TestSlotsSpanChunks(t *testing.T) {
	var s slots
	if s.lookup(0) != nil {
		t.Errorf("lookup on an empty table found a slot")
	}
	a := s.at(chunkSize - 1)
	b := s.at(chunkSize)
	if a == nil || b == nil || a == b {
		t.Fatalf("at across a chunk boundary = %p, %p", a, b)
	}
	a.due, b.due = 1, 2
	if s.lookup(chunkSize-1).due != 1 || s.lookup(chunkSize).due != 2 {
		t.Errorf("lookup does not find what at handed out")
	}
	if s.len() != chunkSize+1 {
		t.Errorf("len = %d, want %d", s.len(), chunkSize+1)
	}
	if s.lookup(chunkSize+1) != nil {
		t.Errorf("lookup past the last slot handed out found one")
	}
	if s.at(maxChunks*chunkSize) != nil || s.at(-1) != nil {
		t.Errorf("at past the table's end did not return nil")
	}
}

func TestUserIndexRoundTrips(t *testing.T) {
	for _, i := range []int{0, 1, 999, 123456789} {
		id := User(i)
		got, ok := UserIndex(id)
		if !ok || got != i {
			t.Errorf("UserIndex(User(%d) = %q) = %d, %v", i, id, got, ok)
		}
		for _, c := range id {
			if c < '0' || c > '9' {
				t.Errorf("User(%d) = %q is not all digits, as Instagram ids are", i, id)
			}
		}
	}
	for _, bad := range []string{"", "17841400000000001", "7abc", "u0001"} {
		if _, ok := UserIndex(bad); ok {
			t.Errorf("UserIndex(%q) accepted an id the load never uses", bad)
		}
	}
}

func TestSustainedNamesTheFailingRule(t *testing.T) {
	ok := Result{Offered: 1000, OfferedRate: 100, Acked: 1000, Ack: Dist{N: 1000, P99: time.Millisecond},
		Replies: 995, Expected: 1000, Reply: Dist{N: 995, P99: 20 * time.Millisecond}}
	if s, why := ok.Sustained(100, time.Second, true); !s {
		t.Errorf("a run within every bound is not sustained: %s", why)
	}
	cases := map[string]func(r *Result){
		"generator": func(r *Result) { r.OfferedRate = 90 },
		"acked":     func(r *Result) { r.Acked = 980 },
		"ack p99":   func(r *Result) { r.Ack.P99 = 2 * time.Second },
		"replies":   func(r *Result) { r.Replies = 900 },
		"reply p99": func(r *Result) { r.Reply.P99 = 3 * time.Second },
	}
	for name, edit := range cases {
		r := ok
		edit(&r)
		if s, why := r.Sustained(100, time.Second, true); s || why == "" {
			t.Errorf("%s: sustained = %v (%q), want false with a reason", name, s, why)
		}
	}
	// Without replies owed (the baseline), the reply rules do not apply.
	r := ok
	r.Replies, r.Reply = 0, Dist{}
	if s, why := r.Sustained(100, time.Second, false); !s {
		t.Errorf("baseline-like run not sustained: %s", why)
	}
}
