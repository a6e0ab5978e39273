package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/conversa/conversa/core/store"
)

// Dispatch timings.
const (
	// leaseFor is how long a claimed key stays with this process without a
	// renewal: a process that dies gives its keys back after it.
	leaseFor = 60 * time.Second
	// renewEvery renews the leases of the keys being worked on.
	renewEvery = leaseFor / 3
	// pollEvery bounds how long the dispatcher sleeps with free workers: it
	// also picks up keys whose lease another process let expire.
	pollEvery = time.Second
)

// dispatcher feeds a leased queue's rows to a fixed set of workers. It
// keeps at most one row per worker waiting besides the rows being worked on
// (claiming while the workers work hides the claim's commit), so handing a
// row over never blocks; it claims again when a worker frees, when new rows
// are announced (wakeUp), when the earliest deferred key falls due, or every
// pollEvery. The store serves keys round-robin and each key's rows in order,
// so one busy contact or conversation never holds back the others.
//
// Rows can also be claimed elsewhere, in the transaction that stored them
// (reserve, hand): the webhook that stores a new contact's event hands it
// to a worker without a claim of its own. Every row held, claimed either
// way, takes one of the 2×workers slots, so the workers' channel never
// fills.
type dispatcher[T any] struct {
	name    string
	log     *slog.Logger
	owner   string
	workers int
	now     func() time.Time
	q       store.Queue[T]
	// claim claims rows (nil: q.Claim, each claim a durable commit).
	claim func(ctx context.Context, owner string, n int, lease time.Duration) ([]T, error)
	// beforeRelease, when set, runs before the keys are given back at stop
	// (rows of this queue that other goroutines work on, under this owner).
	beforeRelease func()
	handle        func(context.Context, T)
	wake          chan struct{}
	jobs          chan T        // rows for the workers, one slot each
	freed         chan struct{} // a worker finished a row
	slots         slots
}

// slots counts the rows a dispatcher may still take on, and the slots taken
// by reserve and not yet handed back.
type slots struct {
	mu       sync.Mutex
	free     int
	reserved int
	// caughtUp: the dispatcher's last look found no due key it did not
	// claim, and no row was stored since without a slot for it, so a row
	// claimed through reserve passes none waiting in the line.
	caughtUp bool
	// missed counts the reservations refused for want of a free slot: a
	// look begun before one cannot vouch that nothing is due.
	missed  uint64
	running bool
	idle    *sync.Cond // reserved fell to 0
}

func newDispatcher[T any](name string, log *slog.Logger, owner string, workers int, now func() time.Time,
	q store.Queue[T], handle func(context.Context, T)) *dispatcher[T] {
	d := &dispatcher[T]{name: name, log: log.With("queue", name), owner: owner, workers: workers, now: now, q: q,
		handle: handle, wake: make(chan struct{}, 1), jobs: make(chan T, 2*workers), freed: make(chan struct{}, 1)}
	d.slots.idle = sync.NewCond(&d.slots.mu)
	return d
}

func (d *dispatcher[T]) wakeUp() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// reserve takes up to n free slots for rows the caller claims itself, and
// reports how many it took: none while the dispatcher is not running, or
// while due keys may be waiting that it has not claimed (a row claimed by
// name would pass them in the line). Rows the caller stores without a slot
// are due keys the dispatcher claims (wakeUp); until it has looked again,
// reserve takes no slot. Every slot taken goes back through hand.
func (d *dispatcher[T]) reserve(n int) int {
	s := &d.slots
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running || !s.caughtUp {
		return 0
	}
	got := min(n, s.free)
	s.free -= got
	s.reserved += got
	if got < n {
		s.missed++
		s.caughtUp = false
	}
	return got
}

// hand gives rows claimed with reserved slots (reserve) to the workers, and
// gives back the slots left unused. It never blocks.
func (d *dispatcher[T]) hand(rows []T, reserved int) {
	if len(rows) > reserved {
		panic("dispatcher: more rows handed than slots reserved")
	}
	for _, r := range rows {
		d.jobs <- r
	}
	s := &d.slots
	s.mu.Lock()
	s.free += reserved - len(rows)
	s.reserved -= reserved
	if s.reserved == 0 {
		s.idle.Broadcast()
	}
	s.mu.Unlock()
	if reserved > len(rows) {
		d.signalFreed()
	}
}

// look begins a look at the line (NextDue, a claim), for settle.
func (s *slots) look() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.missed
}

// settle records what the look begun at gen found (caughtUp: no due key
// left unclaimed) and gives n slots back.
func (s *slots) settle(gen uint64, caughtUp bool, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.free += n
	s.caughtUp = caughtUp && s.missed == gen
}

// take takes every free slot, for a claim of the dispatcher's own.
func (s *slots) take() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.free
	s.free = 0
	return n
}

// give gives back the slot of a row a worker finished.
func (s *slots) give() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.free++
}

func (s *slots) available() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.free
}

func (d *dispatcher[T]) signalFreed() {
	select {
	case d.freed <- struct{}{}:
	default:
	}
}

func (d *dispatcher[T]) start(wg *sync.WaitGroup, stop <-chan struct{}) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.run(stop)
	}()
}

func (d *dispatcher[T]) run(stop <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.slots.mu.Lock()
	d.slots.free, d.slots.running, d.slots.caughtUp = 2*d.workers, true, false
	d.slots.mu.Unlock()
	var workers sync.WaitGroup
	for range d.workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for j := range d.jobs {
				d.handle(ctx, j)
				d.slots.give()
				d.signalFreed()
			}
		}()
	}
	defer func() {
		// No more reservations; the rows of those under way are handed
		// over, and worked on with the others.
		d.slots.mu.Lock()
		d.slots.running = false
		for d.slots.reserved > 0 {
			d.slots.idle.Wait()
		}
		d.slots.mu.Unlock()
		close(d.jobs)
		// Let the rows in progress finish: their writes are short, and what
		// is cut here resumes on the next start anyway.
		done := make(chan struct{})
		go func() { workers.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cancel()
			<-done
		}
		if d.beforeRelease != nil {
			d.beforeRelease()
		}
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer rcancel()
		if err := d.q.Release(rctx, d.owner); err != nil {
			d.log.Warn("releasing queue leases", "err", err)
		}
	}()

	renew := time.NewTicker(renewEvery)
	defer renew.Stop()
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	claim := d.claim
	if claim == nil {
		claim = d.q.Claim
	}
	due := func(next time.Time, err error) bool {
		return err != nil || (!next.IsZero() && !next.After(d.now()))
	}
	for {
		// A claim is a write (it leases keys); whether anything is due is a
		// read. Claiming only when a key is due keeps a worker that frees,
		// or a wake-up with nothing new, from costing a commit.
		var next time.Time
		nextErr := errors.New("not looked")
		gen := d.slots.look()
		looked := d.slots.available() > 0
		if looked {
			next, nextErr = d.q.NextDue(ctx)
		}
		switch {
		case !looked:
			// Keys may fall due while no slot is free: until the next look,
			// rows claimed by name could pass them.
			d.slots.settle(gen, false, 0)
		case !due(next, nextErr):
			d.slots.settle(gen, true, 0)
		default:
			if asked := d.slots.take(); asked == 0 {
				d.slots.settle(gen, false, 0)
			} else {
				rows, err := claim(ctx, d.owner, asked, leaseFor)
				if err != nil {
					failures++
					d.log.Error("claiming queued rows", "err", err, "failures", failures)
				} else {
					failures = 0
				}
				for _, r := range rows {
					d.jobs <- r // never blocks: at most the free slots were claimed
				}
				// Fewer rows than asked: no due key was left behind.
				d.slots.settle(gen, err == nil && len(rows) < asked, asked-len(rows))
				if err == nil && len(rows) == asked && d.slots.available() > 0 {
					continue // there may be more due keys
				}
				if d.slots.available() > 0 {
					next, nextErr = d.q.NextDue(ctx)
				}
			}
		}
		wait := pollEvery
		if failures > 0 {
			// The database is unavailable: back off, up to ten seconds.
			wait = min(time.Duration(failures)*pollEvery, 10*time.Second)
		} else if d.slots.available() > 0 && nextErr == nil && !next.IsZero() {
			wait = min(max(next.Sub(d.now()), time.Millisecond), pollEvery)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
		select {
		case <-stop:
			return
		case <-d.freed:
		case <-d.wake:
		case <-timer.C:
		case <-renew.C:
			if _, err := d.q.Renew(ctx, d.owner, leaseFor); err != nil {
				d.log.Error("renewing queue leases", "err", err)
			}
		}
	}
}
