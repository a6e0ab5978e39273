package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
)

// The draining contracts: rows are added to a few keys while workers drain
// them, so keys keep going empty and getting a new row, often just as a
// worker completes the key's last one. That race is the one that matters on
// several nodes. A new row must never be stranded with no queue key, and
// must never run before or beside an earlier row of its key.
func testDraining(t *testing.T, open Open) {
	t.Run("Inbox", func(t *testing.T) {
		testAddWhileDraining(t, open, inboxOps, inboxAddLabelled, drainShape{rounds: 12, perRound: 8})
	})
	t.Run("Outbox", func(t *testing.T) {
		testAddWhileDraining(t, open, outboxOps, outboxAddLabelled, drainShape{rounds: 10, perRound: 6})
	})
}

// drainShape is how much testAddWhileDraining adds: in each of rounds, each
// adder adds perRound rows.
type drainShape struct{ rounds, perRound int }

// addLabelled adds a row labelled label to key of the queue of a
// queueOps from inboxOps or outboxOps. Unlike queueOps.add, which numbers
// its labels unguarded, it is safe to call from several goroutines at once.
type addLabelled func(f *fixture, key, label string) error

// inboxAddLabelled adds the event inboxOps.add would, under label.
func inboxAddLabelled(f *fixture, key, label string) error {
	ev := &model.Event{Kind: model.EventMessage, DedupeKey: label, Integration: "igq", ContactID: key,
		MessageID: "mid." + label, Timestamp: Epoch, Contents: text(label)}
	added, err := f.s.Inbox().Add(f.ctx, ev, key)
	if err == nil && !added {
		err = fmt.Errorf("Inbox().Add(%s): %w", label, errDuplicate)
	}
	return err
}

// outboxAddLabelled enqueues the message outboxOps.add would, under label
// (its idempotency key). The key is the conversation's id.
func outboxAddLabelled(f *fixture, key, label string) error {
	conv, err := strconv.ParseInt(key, 10, 64)
	if err != nil {
		return fmt.Errorf("outbox key %q: %w", key, err)
	}
	m := &model.Message{Conversation: conv, Integration: "igq", Direction: model.DirectionOut,
		Author: model.AuthorAssistant, Contents: text(label), Status: model.StatusPending}
	return f.s.Outbox().Enqueue(f.ctx, m, label)
}

// testAddWhileDraining: 4 adders add rows to random keys among 6 (several
// adders may add to one key at once) while 5 workers, each its own owner,
// claim and complete them, putting some rows off to a moment later first
// (the worker then moves the clock past it). The adders work in rounds;
// after each, the queue must drain: every row done, Backlog 0, nothing
// claimable, no key left. A row stranded with no key shows there as rows
// waiting while no key is queued (NextDue zero); a stranded row that later
// got a sibling would be served late, which is why the rounds end often.
// Throughout, no two workers hold one key at once; at the end every row was
// completed exactly once, each key's rows were claimed in id order, each
// adder's rows in the order it added them, and a row came back only after
// it was put off.
//
// One store serves everyone: on PostgreSQL its pool gives concurrent
// transactions, on SQLite the single writer serialises them, and both must
// pass. Leases last an hour and the clock moves only by the milliseconds of
// the put-off rows, so a lease never expires and another worker holding a
// key is never legitimate.
func testAddWhileDraining[T any](t *testing.T, open Open, newOps func(*fixture) *queueOps[T], add addLabelled, shape drainShape) {
	const (
		keys, adders, workers = 6, 4, 5
		batch                 = 2 // rows per Claim
		lease                 = time.Hour
		putOffOneIn           = 6 // a row is put off (at most once) one time in putOffOneIn
		drainWithin           = 15 * time.Second
	)
	f := setup(t, open)
	ops := newOps(f)
	keyNames := ops.keys(keys)
	queue := ops.queue(f.s)
	// Wall time: a queue that stops serving fails instead of hanging.
	deadline := time.Now().Add(time.Duration(shape.rounds) * drainWithin)

	type claim struct {
		id    int64
		label string
	}
	var (
		mu       sync.Mutex
		failures []string
		stopped  atomic.Bool
		holder   = map[string]string{}  // key: the worker holding it now
		claims   = map[string][]claim{} // key: rows in the order they were claimed
		claimKey = map[string]string{}  // label: the key its claims carried
		finished = map[string]bool{}    // label: completion started
		done     = map[string]int{}     // label: completions that succeeded
		putOff   = map[string]int{}     // label: times put off
		added    = map[string]string{}  // label: the key it was added to
		byAdder  = make([]map[string][]string, adders)
	)
	for a := range byAdder {
		byAdder[a] = map[string][]string{}
	}
	fail := func(format string, args ...any) { // with mu held
		failures = append(failures, fmt.Sprintf(format, args...))
		stopped.Store(true)
	}
	report := func(format string, args ...any) {
		mu.Lock()
		fail(format, args...)
		mu.Unlock()
	}
	// pending lists the rows added but not completed, for reports.
	pending := func() string {
		mu.Lock()
		defer mu.Unlock()
		var ls []string
		for l := range added {
			if done[l] == 0 {
				ls = append(ls, l)
			}
		}
		sort.Strings(ls)
		if len(ls) > 10 {
			ls = append(ls[:10], fmt.Sprintf("… %d more", len(ls)-10))
		}
		return strings.Join(ls, " ")
	}

	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("worker-%d", w)
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for !stopped.Load() {
				if time.Now().After(deadline) {
					report("%s: the test ran out of time", owner)
					return
				}
				items, err := queue.Claim(f.ctx, owner, batch, lease)
				if err != nil {
					report("%s: Claim = %v", owner, err)
					return
				}
				if len(items) == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				mu.Lock()
				if len(items) > batch {
					fail("%s: Claim(%d) = %d rows", owner, batch, len(items))
				}
				for _, it := range items {
					k, label := ops.key(it), ops.label(it)
					if h, held := holder[k]; held {
						fail("%s claimed key %s (row %s) while %s held it", owner, k, label, h)
					}
					holder[k] = owner
					if finished[label] {
						fail("%s claimed row %s of key %s again after it was completed", owner, label, k)
					}
					claimKey[label] = k
					// The order of claims, not of completions: once a completion
					// commits, the next row may be claimed and recorded before
					// this worker records anything more.
					claims[k] = append(claims[k], claim{ops.id(it), label})
				}
				mu.Unlock()
				for _, it := range items {
					k, label := ops.key(it), ops.label(it)
					mu.Lock()
					later := putOff[label] == 0 && rng.IntN(putOffOneIn) == 0
					// Let go before completing: once that commits, another
					// worker may rightly claim the key.
					if holder[k] == owner {
						delete(holder, k)
					}
					if later {
						putOff[label]++
					} else {
						finished[label] = true
					}
					mu.Unlock()
					if later {
						// A moment later, and the clock moved past it: due again
						// at once, behind the keys already due.
						at := f.clock.Now().Add(time.Millisecond)
						err := ops.postpone(f.s, it, at)
						f.clock.Advance(time.Millisecond)
						if err != nil {
							report("%s: putting off %s = %v", owner, label, err)
						}
						continue
					}
					if err := ops.done(f.s, it); err != nil {
						report("%s: completing %s = %v", owner, label, err)
						continue
					}
					mu.Lock()
					done[label]++
					mu.Unlock()
				}
			}
		}()
	}

	// drained waits, the adders being idle, until the workers have done
	// every row, then checks that nothing is left. A row with no key cannot
	// be claimed until a sibling is added, so with no add under way,
	// NextDue zero and then rows waiting mean rows stranded for good.
	drained := func(round int) bool {
		until := time.Now().Add(drainWithin)
		for !stopped.Load() {
			next, err := queue.NextDue(f.ctx)
			if err != nil {
				report("round %d: NextDue = %v", round, err)
				return false
			}
			n, err := queue.Backlog(f.ctx)
			if err != nil {
				report("round %d: Backlog = %v", round, err)
				return false
			}
			if n == 0 {
				if items, err := queue.Claim(f.ctx, "inspector", 10, lease); err != nil || len(items) != 0 {
					report("round %d: Claim(inspector) with Backlog 0 = %d rows, %v, want nothing claimable", round, len(items), err)
					return false
				}
				if next, err := queue.NextDue(f.ctx); err != nil || !next.IsZero() {
					report("round %d: NextDue() with Backlog 0 = %v, %v, want zero (no key left)", round, next, err)
					return false
				}
				return true
			}
			if next.IsZero() {
				report("round %d: Backlog() = %d after the adds, while no key is queued (NextDue zero): rows stranded with no queue key: %s",
					round, n, pending())
				return false
			}
			if time.Now().After(until) {
				report("round %d: the queue was not drained within %v: Backlog %d, NextDue %v, rows left: %s",
					round, drainWithin, n, next, pending())
				return false
			}
			time.Sleep(time.Millisecond)
		}
		return false
	}

	for round := 0; round < shape.rounds && !stopped.Load(); round++ {
		var aw sync.WaitGroup
		for a := range adders {
			aw.Add(1)
			go func() {
				defer aw.Done()
				rng := rand.New(rand.NewPCG(uint64(a), uint64(round)))
				for i := range shape.perRound {
					if stopped.Load() {
						return
					}
					key := keyNames[rng.IntN(len(keyNames))]
					label := fmt.Sprintf("%s/r%02d-a%d-%02d", key, round, a, i)
					err := add(f, key, label)
					mu.Lock()
					if err != nil {
						fail("adder %d: adding %s = %v", a, label, err)
					} else {
						added[label] = key
						byAdder[a][key] = append(byAdder[a][key], label)
					}
					mu.Unlock()
					// Up to about a worker's time for a row, so keys go empty
					// between adds as often as not.
					time.Sleep(time.Duration(rng.IntN(1500)) * time.Microsecond)
				}
			}()
		}
		aw.Wait()
		if !drained(round) {
			break
		}
	}
	stopped.Store(true)
	wg.Wait()
	for _, msg := range failures {
		t.Error(msg)
	}
	if len(failures) > 0 {
		return // what follows would only repeat them
	}

	for label, key := range added {
		if done[label] != 1 {
			t.Errorf("row %s completed %d times, want 1", label, done[label])
		}
		if k, ok := claimKey[label]; ok && k != key {
			t.Errorf("row %s added to key %s was claimed under key %s", label, key, k)
		}
	}
	for key, cs := range claims {
		var ids []int64
		var labels []string
		times := map[string]int{}
		for i, c := range cs {
			if _, ok := added[c.label]; !ok {
				t.Errorf("key %s: claimed row %s, which was never added", key, c.label)
			}
			times[c.label]++
			if i > 0 && c.label == cs[i-1].label {
				continue // claimed again after it was put off
			}
			ids = append(ids, c.id)
			labels = append(labels, c.label)
		}
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Errorf("key %s: row %s (id %d) claimed after row %s (id %d), want a key's rows in id order, each claimed until done before the next",
					key, labels[i], ids[i], labels[i-1], ids[i-1])
				break
			}
		}
		for label, n := range times {
			if want := putOff[label] + 1; n != want {
				t.Errorf("row %s claimed %d times, want %d (once, and once more each time it was put off)", label, n, want)
			}
		}
		pos := map[string]int{}
		for i, l := range labels {
			pos[l] = i
		}
		for a := range byAdder {
			mine := byAdder[a][key]
			if !slices.IsSortedFunc(mine, func(x, y string) int { return pos[x] - pos[y] }) {
				got := slices.Clone(mine)
				slices.SortFunc(got, func(x, y string) int { return pos[x] - pos[y] })
				t.Errorf("key %s: adder %d's rows claimed in the order %v, want the order they were added: %v", key, a, got, mine)
			}
		}
	}
	if n, err := queue.Backlog(f.ctx); err != nil || n != 0 {
		t.Errorf("Backlog() after the workers stopped = %d, %v, want 0", n, err)
	}
	if items, err := queue.Claim(f.ctx, "last", 10, lease); err != nil || len(items) != 0 {
		t.Errorf("Claim(last) after the workers stopped = %d rows, %v, want nothing", len(items), err)
	}
	if next, err := queue.NextDue(f.ctx); err != nil || !next.IsZero() {
		t.Errorf("NextDue() after the workers stopped = %v, %v, want zero", next, err)
	}
}
