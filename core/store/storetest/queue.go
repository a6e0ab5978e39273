package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/conversa/conversa/core/store"
)

// queueOps adapts one queue, the inbox or the outbox, to the contracts of
// store.Queue that both keep: the same tests run against each.
type queueOps[T any] struct {
	queue func(store.Aggregates) store.Queue[T]
	// keys prepares n keys (what their rows need: contacts, conversations)
	// and names them.
	keys func(n int) []string
	// add appends a row to key through a (the Store or a Tx) and returns
	// its label, which the claimed row carries.
	add   func(a store.Aggregates, key string) (string, error)
	label func(T) string
	key   func(T) string
	id    func(T) int64
	lease func(T) store.Lease
	// done completes a claimed row: its key passes to the next row.
	done func(a store.Aggregates, it T) error
	// postpone records a failed attempt: the key is due again at at.
	postpone func(a store.Aggregates, it T, at time.Time) error
}

// queueFixture is a store with one queue's operations, stopping the test on
// unexpected errors.
type queueFixture[T any] struct {
	*fixture
	ops *queueOps[T]
}

func (q *queueFixture[T]) q() store.Queue[T] { return q.ops.queue(q.s) }

func (q *queueFixture[T]) add(key string) string {
	q.t.Helper()
	label, err := q.ops.add(q.s, key)
	q.must(err, "add a row to %s", key)
	return label
}

// addMany adds n rows to key in one transaction and returns their labels.
func (q *queueFixture[T]) addMany(key string, n int) []string {
	q.t.Helper()
	var labels []string
	q.tx(func(tx store.Tx) error {
		labels = labels[:0]
		for range n {
			l, err := q.ops.add(tx, key)
			if err != nil {
				return err
			}
			labels = append(labels, l)
		}
		return nil
	})
	return labels
}

func (q *queueFixture[T]) claim(owner string, n int, lease time.Duration) []T {
	q.t.Helper()
	items, err := q.q().Claim(q.ctx, owner, n, lease)
	q.must(err, "Claim(%s, %d)", owner, n)
	if len(items) > n {
		q.t.Errorf("Claim(%s, %d) = %d rows, want at most %d", owner, n, len(items), n)
	}
	seen := map[string]bool{}
	for _, it := range items {
		k := q.ops.key(it)
		if seen[k] {
			q.t.Errorf("Claim(%s, %d) returned two rows of key %s: %v", owner, n, k, q.labels(items))
		}
		seen[k] = true
		if l := q.ops.lease(it); l.Owner != owner {
			q.t.Errorf("Claim(%s) row %s leased to %q, want %s", owner, q.ops.label(it), l.Owner, owner)
		}
	}
	return items
}

func (q *queueFixture[T]) done(it T) {
	q.t.Helper()
	q.must(q.ops.done(q.s, it), "complete %s", q.ops.label(it))
}

func (q *queueFixture[T]) labels(items []T) []string {
	var ls []string
	for _, it := range items {
		ls = append(ls, q.ops.label(it))
	}
	return ls
}

func (q *queueFixture[T]) backlog() int {
	q.t.Helper()
	n, err := q.q().Backlog(q.ctx)
	q.must(err, "Backlog")
	return n
}

func (q *queueFixture[T]) nextDue() time.Time {
	q.t.Helper()
	at, err := q.q().NextDue(q.ctx)
	q.must(err, "NextDue")
	return at
}

// testQueue runs the contracts of store.Queue against one queue.
func testQueue[T any](t *testing.T, open Open, newOps func(*fixture) *queueOps[T]) {
	start := func(t *testing.T, keys int) (*queueFixture[T], []string) {
		f := setup(t, open)
		q := &queueFixture[T]{fixture: f, ops: newOps(f)}
		return q, q.ops.keys(keys)
	}

	t.Run("ClaimHeadRowOfEachKey", func(t *testing.T) {
		q, k := start(t, 3)
		a := []string{q.add(k[0]), q.add(k[0]), q.add(k[0])}
		q.clock.Advance(time.Second)
		b := []string{q.add(k[1]), q.add(k[1])}
		q.clock.Advance(time.Second)
		c := q.add(k[2])
		items := q.claim("w1", 10, time.Minute)
		if got, want := q.labels(items), []string{a[0], b[0], c}; !slices.Equal(got, want) {
			t.Errorf("Claim(w1, 10) = %v, want each key's head row, the longest waiting first: %v", got, want)
		}
		if items := q.claim("w2", 10, time.Minute); len(items) != 0 {
			t.Errorf("Claim(w2) while w1 holds every key = %v, want nothing", q.labels(items))
		}
	})

	t.Run("ClaimAtMostN", func(t *testing.T) {
		q, k := start(t, 3)
		var heads []string
		for _, key := range k {
			heads = append(heads, q.add(key))
			q.clock.Advance(time.Second)
		}
		if got := q.labels(q.claim("w1", 2, time.Minute)); !slices.Equal(got, heads[:2]) {
			t.Errorf("Claim(w1, 2) = %v, want %v", got, heads[:2])
		}
		if got := q.labels(q.claim("w2", 2, time.Minute)); !slices.Equal(got, heads[2:]) {
			t.Errorf("Claim(w2, 2) = %v, want the key left: %v", got, heads[2:])
		}
	})

	t.Run("LeasedKeyWaitsForExpiry", func(t *testing.T) {
		q, k := start(t, 1)
		a1 := q.add(k[0])
		q.add(k[0])
		first := q.claim("w1", 1, time.Minute)
		if len(first) != 1 {
			t.Fatalf("Claim(w1) = %v, want [%s]", q.labels(first), a1)
		}
		q.clock.Advance(30 * time.Second)
		if items := q.claim("w2", 10, time.Minute); len(items) != 0 {
			t.Errorf("Claim(w2) while w1's lease lasts = %v, want nothing", q.labels(items))
		}
		q.clock.Advance(31 * time.Second)
		items := q.claim("w2", 10, time.Minute)
		if got := q.labels(items); !slices.Equal(got, []string{a1}) {
			t.Fatalf("Claim(w2) after w1's lease expired = %v, want the same head row [%s]", got, a1)
		}
		if q.ops.lease(items[0]).Token == q.ops.lease(first[0]).Token {
			t.Errorf("Claim(w2) lease token = %d, the same as w1's: a token changes at every claim", q.ops.lease(items[0]).Token)
		}
	})

	t.Run("DoneHandsKeyToNextRow", func(t *testing.T) {
		q, k := start(t, 2)
		a1, a2 := q.add(k[0]), q.add(k[0])
		q.clock.Advance(time.Second)
		b1 := q.add(k[1])
		items := q.claim("w1", 1, time.Minute)
		if got := q.labels(items); !slices.Equal(got, []string{a1}) {
			t.Fatalf("Claim(w1, 1) = %v, want [%s]", got, a1)
		}
		q.done(items[0])
		items = q.claim("w2", 10, time.Minute)
		if got := q.labels(items); !sameStrings(got, []string{a2, b1}) {
			t.Fatalf("Claim(w2) after %s was done = %v, want [%s %s]", a1, got, a2, b1)
		}
		for _, it := range items {
			q.done(it)
		}
		if items := q.claim("w3", 10, time.Minute); len(items) != 0 {
			t.Errorf("Claim(w3) after every row was done = %v, want nothing", q.labels(items))
		}
	})

	t.Run("PostponeMakesKeyDueAt", func(t *testing.T) {
		q, k := start(t, 2)
		a1 := q.add(k[0])
		q.add(k[0])
		q.add(k[1])
		items := q.claim("w1", 10, time.Minute)
		if len(items) != 2 {
			t.Fatalf("Claim(w1) = %v, want the heads of two keys", q.labels(items))
		}
		at := q.clock.Now().Add(10 * time.Minute)
		for _, it := range items {
			if q.ops.label(it) == a1 {
				q.must(q.ops.postpone(q.s, it, at), "postpone %s", a1)
			} else {
				q.done(it)
			}
		}
		if items := q.claim("w2", 10, time.Minute); len(items) != 0 {
			t.Errorf("Claim(w2) right after the retry = %v, want nothing (the key and its later rows wait)", q.labels(items))
		}
		if got := q.nextDue(); !sameTime(got, at) {
			t.Errorf("NextDue() = %v, want the retry time %v", got, at)
		}
		q.clock.Advance(9 * time.Minute)
		if items := q.claim("w2", 10, time.Minute); len(items) != 0 {
			t.Errorf("Claim(w2) before the retry time = %v, want nothing", q.labels(items))
		}
		q.clock.Advance(time.Minute)
		if got := q.labels(q.claim("w2", 10, time.Minute)); !slices.Equal(got, []string{a1}) {
			t.Errorf("Claim(w2) at the retry time = %v, want [%s] again", got, a1)
		}
	})

	t.Run("NextDue", func(t *testing.T) {
		q, k := start(t, 1)
		if got := q.nextDue(); !got.IsZero() {
			t.Errorf("NextDue() of an empty queue = %v, want zero", got)
		}
		q.add(k[0])
		if got := q.nextDue(); got.IsZero() || got.After(q.clock.Now()) {
			t.Errorf("NextDue() with a new row = %v, want due now (%v)", got, q.clock.Now())
		}
		claimed := q.clock.Advance(time.Second)
		items := q.claim("w1", 1, time.Minute)
		if len(items) != 1 {
			t.Fatalf("Claim(w1) = %v, want one row", q.labels(items))
		}
		if got, want := q.nextDue(), claimed.Add(time.Minute); !sameTime(got, want) {
			t.Errorf("NextDue() while the only key is leased = %v, want its lease expiry %v", got, want)
		}
		q.done(items[0])
		if got := q.nextDue(); !got.IsZero() {
			t.Errorf("NextDue() after the last row was done = %v, want zero", got)
		}
	})

	t.Run("Backlog", func(t *testing.T) {
		q, k := start(t, 2)
		if n := q.backlog(); n != 0 {
			t.Errorf("Backlog() of an empty queue = %d, want 0", n)
		}
		a1 := q.add(k[0])
		q.add(k[0])
		q.add(k[1])
		if n := q.backlog(); n != 3 {
			t.Errorf("Backlog() after three rows = %d, want 3", n)
		}
		items := q.claim("w1", 10, time.Minute)
		if n := q.backlog(); n != 3 {
			t.Errorf("Backlog() with two rows claimed = %d, want 3", n)
		}
		for _, it := range items {
			if q.ops.label(it) == a1 {
				q.done(it)
			} else {
				q.must(q.ops.postpone(q.s, it, q.clock.Now().Add(time.Hour)), "postpone")
			}
		}
		if n := q.backlog(); n != 2 {
			t.Errorf("Backlog() after one row done, one retried = %d, want 2", n)
		}
	})

	t.Run("RoundRobin", func(t *testing.T) {
		q, k := start(t, 3)
		for _, key := range k {
			q.addMany(key, 3)
			q.clock.Advance(time.Second)
		}
		var got []string
		for range 10 {
			items := q.claim("w", 1, time.Minute)
			if len(items) == 0 {
				break
			}
			got = append(got, q.ops.key(items[0]))
			q.done(items[0])
			q.clock.Advance(time.Second)
		}
		want := []string{k[0], k[1], k[2], k[0], k[1], k[2], k[0], k[1], k[2]}
		if !slices.Equal(got, want) {
			t.Errorf("keys served by Claim(1)/done = %v, want %v (each key to the back of the line)", got, want)
		}
	})

	t.Run("Fairness", func(t *testing.T) {
		q, k := start(t, 2)
		big, small := k[0], k[1]
		labels := q.addMany(big, 1000)
		q.clock.Advance(time.Second)
		lone := q.add(small)
		q.clock.Advance(time.Second)
		var order []string
		var lastID int64
		for i := 0; ; i++ {
			items := q.claim("w", 1, time.Minute)
			if len(items) == 0 {
				break
			}
			if i > 1100 {
				t.Fatalf("more claims than rows")
			}
			it := items[0]
			if q.ops.key(it) == big {
				if id := q.ops.id(it); id <= lastID {
					t.Fatalf("claim %d: row %d of %s after row %d: a key's rows come out in id order", i, id, big, lastID)
				}
				lastID = q.ops.id(it)
			}
			order = append(order, q.ops.label(it))
			q.done(it)
			q.clock.Advance(time.Second)
		}
		if len(order) != 1001 {
			t.Fatalf("claimed %d rows, want 1001", len(order))
		}
		if pos := slices.Index(order, lone); pos > 1 {
			t.Errorf("the lone row of %s came out at claim %d, want within the first 2 (behind at most one row of %s)", small, pos+1, big)
		}
		if rest := slices.DeleteFunc(slices.Clone(order), func(l string) bool { return l == lone }); !slices.Equal(rest, labels) {
			t.Errorf("rows of %s did not come out in the order they were added", big)
		}
	})

	t.Run("StaleLeaseIsLost", func(t *testing.T) {
		q, k := start(t, 1)
		a1 := q.add(k[0])
		a2 := q.add(k[0])
		stale := q.claim("w1", 1, time.Minute)
		if len(stale) != 1 {
			t.Fatalf("Claim(w1) = %v, want [%s]", q.labels(stale), a1)
		}
		q.clock.Advance(2 * time.Minute)
		fresh := q.claim("w2", 1, time.Minute)
		if got := q.labels(fresh); !slices.Equal(got, []string{a1}) {
			t.Fatalf("Claim(w2) after w1's lease expired = %v, want [%s]", got, a1)
		}
		err := q.ops.done(q.s, stale[0])
		wantIs(t, "completing with an expired lease another worker claimed", err, store.ErrLeaseLost)
		if n := q.backlog(); n != 2 {
			t.Errorf("Backlog() after a lost lease's completion = %d, want 2 (nothing done)", n)
		}
		if items := q.claim("w3", 1, time.Minute); len(items) != 0 {
			t.Errorf("Claim(w3) after a lost lease's completion = %v, want nothing (w2 holds the key)", q.labels(items))
		}
		q.done(fresh[0])
		if got := q.labels(q.claim("w3", 1, time.Minute)); !slices.Equal(got, []string{a2}) {
			t.Errorf("Claim(w3) after w2 was done = %v, want [%s]", got, a2)
		}
	})

	t.Run("LeaseLostRollsBackTheTx", func(t *testing.T) {
		q, k := start(t, 1)
		q.add(k[0])
		stale := q.claim("w1", 1, time.Minute)
		if len(stale) != 1 {
			t.Fatalf("Claim(w1) = %d rows, want 1", len(stale))
		}
		q.clock.Advance(2 * time.Minute)
		if len(q.claim("w2", 1, time.Minute)) != 1 {
			t.Fatalf("Claim(w2) after w1's lease expired: nothing")
		}
		err := q.s.Tx(q.ctx, func(tx store.Tx) error {
			if _, err := tx.Contacts().Upsert(q.ctx, "igq", "effect-of-w1", store.ContactHints{}, tx.Now()); err != nil {
				return err
			}
			return q.ops.done(tx, stale[0])
		})
		wantIs(t, "Tx(effects, complete with a lost lease)", err, store.ErrLeaseLost)
		_, err = q.s.Contacts().ByUser(q.ctx, "igq", "effect-of-w1")
		wantIs(t, "Contacts().ByUser(the lost worker's effect)", err, store.ErrNotFound)
	})

	t.Run("Renew", func(t *testing.T) {
		q, k := start(t, 2)
		q.add(k[0])
		q.add(k[1])
		if items := q.claim("w1", 10, time.Minute); len(items) != 2 {
			t.Fatalf("Claim(w1) = %v, want two rows", q.labels(items))
		}
		q.clock.Advance(50 * time.Second)
		n, err := q.q().Renew(q.ctx, "w1", time.Minute)
		if err != nil || n != 2 {
			t.Errorf("Renew(w1) = %d, %v, want 2", n, err)
		}
		if n, err := q.q().Renew(q.ctx, "nobody", time.Minute); err != nil || n != 0 {
			t.Errorf("Renew(nobody) = %d, %v, want 0", n, err)
		}
		q.clock.Advance(20 * time.Second) // past the first expiry, before the renewed one
		if items := q.claim("w2", 10, time.Minute); len(items) != 0 {
			t.Errorf("Claim(w2) after w1 renewed = %v, want nothing", q.labels(items))
		}
		q.clock.Advance(time.Minute)
		if items := q.claim("w2", 10, time.Minute); len(items) != 2 {
			t.Errorf("Claim(w2) after the renewed leases expired = %v, want both rows", q.labels(items))
		}
	})

	t.Run("Release", func(t *testing.T) {
		q, k := start(t, 3)
		var heads []string
		for _, key := range k {
			heads = append(heads, q.add(key))
			q.clock.Advance(time.Second)
		}
		held := q.claim("w1", 2, time.Minute)
		if len(held) != 2 {
			t.Fatalf("Claim(w1, 2) = %v, want two rows", q.labels(held))
		}
		q.must(q.q().Release(q.ctx, "w1"), "Release(w1)")
		if got := q.labels(q.claim("w2", 10, time.Minute)); !sameStrings(got, heads) {
			t.Errorf("Claim(w2) right after Release(w1) = %v, want every head %v", got, heads)
		}
		if n := q.backlog(); n != 3 {
			t.Errorf("Backlog() after Release = %d, want 3", n)
		}
		err := q.ops.done(q.s, held[0])
		wantIs(t, "completing a row after Release and another's claim", err, store.ErrLeaseLost)
	})
}

// keyedLabel names the n-th row added to key.
func keyedLabel(key string, n int) string { return fmt.Sprintf("%s/%05d", key, n) }

var errDuplicate = errors.New("storetest: the row was a duplicate")
