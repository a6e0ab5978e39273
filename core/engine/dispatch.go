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
}

func newDispatcher[T any](name string, log *slog.Logger, owner string, workers int, now func() time.Time,
	q store.Queue[T], handle func(context.Context, T)) *dispatcher[T] {
	return &dispatcher[T]{name: name, log: log.With("queue", name), owner: owner, workers: workers, now: now, q: q,
		handle: handle, wake: make(chan struct{}, 1)}
}

func (d *dispatcher[T]) wakeUp() {
	select {
	case d.wake <- struct{}{}:
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
	slots := 2 * d.workers // being worked on, or waiting for a worker
	jobs := make(chan T, slots)
	freed := make(chan struct{}, slots)
	var workers sync.WaitGroup
	for range d.workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for j := range jobs {
				d.handle(ctx, j)
				freed <- struct{}{}
			}
		}()
	}
	defer func() {
		close(jobs)
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
	free := slots
	failures := 0
	claim := d.claim
	if claim == nil {
		claim = d.q.Claim
	}
	for {
		// A claim is a write (it leases keys); whether anything is due is a
		// read. Claiming only when a key is due keeps a worker that frees,
		// or a wake-up with nothing new, from costing a commit.
		var next time.Time
		nextErr := errors.New("not looked")
		if free > 0 {
			next, nextErr = d.q.NextDue(ctx)
		}
		if free > 0 && (nextErr != nil || (!next.IsZero() && !next.After(d.now()))) {
			asked := free
			rows, err := claim(ctx, d.owner, free, leaseFor)
			if err != nil {
				failures++
				d.log.Error("claiming queued rows", "err", err, "failures", failures)
			} else {
				failures = 0
			}
			for _, r := range rows {
				jobs <- r // never blocks: at most free rows were claimed
				free--
			}
			if err == nil && len(rows) == asked && free > 0 {
				continue // there may be more due keys
			}
			if free > 0 {
				next, nextErr = d.q.NextDue(ctx)
			}
		}
		wait := pollEvery
		if failures > 0 {
			// The database is unavailable: back off, up to ten seconds.
			wait = min(time.Duration(failures)*pollEvery, 10*time.Second)
		} else if free > 0 && nextErr == nil && !next.IsZero() {
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
		case <-freed:
			free++
		drain:
			for {
				select {
				case <-freed:
					free++
				default:
					break drain
				}
			}
		case <-d.wake:
		case <-timer.C:
		case <-renew.C:
			if _, err := d.q.Renew(ctx, d.owner, leaseFor); err != nil {
				d.log.Error("renewing queue leases", "err", err)
			}
		}
	}
}
