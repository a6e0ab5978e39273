package events

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// Log is the event log nodes sharing one database write to and read from,
// so an event reaches every node's subscribers and Last-Event-ID resumes on
// any node (PostgreSQL: core/store/postgres). Ids grow in the order events
// become visible: a reader that has seen id n has seen every id below n.
type Log interface {
	// Append stores events in order, giving each its id, and tells the
	// other nodes (who then call the bus's Poll).
	Append(ctx context.Context, evs []Event) error
	// After returns up to limit events with ids above after, oldest first.
	// complete is false when the events right after after are gone (fallen
	// out of the log's retention): the reader missed some.
	After(ctx context.Context, after int64, limit int) (evs []Event, complete bool, err error)
	// Last is the newest event's id (0: none).
	Last(ctx context.Context) (int64, error)
}

// SharedOptions configures a bus over a Log.
type SharedOptions struct {
	Logger *slog.Logger
	// PollEvery is how often the log is read when no notification came
	// (a missed notification costs at most this long; default 1 s).
	PollEvery time.Duration
}

// maxMissed bounds what a reconnecting client is sent; beyond it, it reloads.
const maxMissed = 2000

// NewShared returns a bus whose events go through log: Publish appends
// (asynchronously, in batches), and every node's subscribers receive
// events from the log in id order, whichever node published them. Start
// it with Run.
func NewShared(log Log, o SharedOptions) *Bus {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PollEvery <= 0 {
		o.PollEvery = time.Second
	}
	return &Bus{subs: map[*Subscription]struct{}{}, shared: &shared{log: log, o: o,
		logger: o.Logger.With("component", "events"), appendWake: make(chan struct{}, 1), pollWake: make(chan struct{}, 1)}}
}

// shared is a bus's state when it is backed by a Log.
type shared struct {
	log    Log
	o      SharedOptions
	logger *slog.Logger

	pendMu  sync.Mutex
	pending []Event

	appendWake chan struct{}
	pollWake   chan struct{}
	// cursor is the id of the last event delivered (under Bus.mu).
	cursor int64
}

// Run appends published events and delivers the log's events until ctx
// ends. It first positions the bus at the log's newest event: only events
// after the start are delivered live.
func (b *Bus) Run(ctx context.Context) {
	sh := b.shared
	if sh == nil {
		return
	}
	for {
		last, err := sh.log.Last(ctx)
		if err == nil {
			b.mu.Lock()
			sh.cursor = last
			b.mu.Unlock()
			break
		}
		sh.logger.Error("reading the event log", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	done := make(chan struct{})
	go func() { defer close(done); b.appender(ctx) }()
	tick := time.NewTicker(sh.o.PollEvery)
	defer tick.Stop()
	for {
		b.poll(ctx)
		select {
		case <-ctx.Done():
			<-done
			return
		case <-tick.C:
		case <-sh.pollWake:
		}
	}
}

// Poll makes the bus read the log now (another node appended).
func (b *Bus) Poll() {
	if b.shared == nil {
		return
	}
	select {
	case b.shared.pollWake <- struct{}{}:
	default:
	}
}

// appender writes published events to the log in batches. A log that is
// briefly unavailable is retried; the events wait in memory meanwhile.
// When ctx ends, what is still waiting gets one last try.
func (b *Bus) appender(ctx context.Context) {
	sh := b.shared
	defer func() {
		sh.pendMu.Lock()
		batch := sh.pending
		sh.pending = nil
		sh.pendMu.Unlock()
		if len(batch) == 0 {
			return
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := sh.log.Append(fctx, batch); err != nil {
			sh.logger.Error("live events lost at shutdown", "events", len(batch), "err", err)
		}
	}()
	pause := 100 * time.Millisecond
	for {
		sh.pendMu.Lock()
		batch := sh.pending
		sh.pending = nil
		sh.pendMu.Unlock()
		if len(batch) > 0 {
			if err := sh.log.Append(ctx, batch); err != nil {
				if ctx.Err() != nil {
					return
				}
				sh.logger.Error("appending live events (will retry)", "events", len(batch), "err", err)
				sh.pendMu.Lock()
				sh.pending = append(batch, sh.pending...)
				sh.pendMu.Unlock()
				select {
				case <-ctx.Done():
					return
				case <-time.After(pause):
				}
				pause = min(2*pause, 5*time.Second)
				continue
			}
			pause = 100 * time.Millisecond
			b.Poll()
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-sh.appendWake:
		}
	}
}

// maxPending bounds the events waiting for a log that is down: beyond it
// the oldest are dropped (live updates; the database keeps the facts).
const maxPending = 100_000

func (sh *shared) publish(e Event) {
	sh.pendMu.Lock()
	sh.pending = append(sh.pending, e)
	if n := len(sh.pending) - maxPending; n > 0 {
		sh.pending = append([]Event(nil), sh.pending[n:]...)
		sh.logger.Error("event log unavailable: dropped live events", "dropped", n)
	}
	sh.pendMu.Unlock()
	select {
	case sh.appendWake <- struct{}{}:
	default:
	}
}

// poll delivers the log's events after the cursor.
func (b *Bus) poll(ctx context.Context) {
	sh := b.shared
	for {
		b.mu.Lock()
		after := sh.cursor
		b.mu.Unlock()
		evs, _, err := sh.log.After(ctx, after, 500)
		if err != nil {
			if ctx.Err() == nil {
				sh.logger.Error("reading the event log", "err", err)
			}
			return
		}
		if len(evs) == 0 {
			return
		}
		// Encoded once, before the lock, for every stream they go to.
		for i := range evs {
			evs[i].frame = evs[i].Frame()
		}
		b.mu.Lock()
		for _, e := range evs {
			if int64(e.seq) <= sh.cursor {
				continue // delivered meanwhile (another poll)
			}
			sh.cursor = int64(e.seq)
			b.deliverLocked(e)
		}
		b.mu.Unlock()
		if len(evs) < 500 {
			return
		}
	}
}

// subscribeShared returns what a client resuming after lastID missed, from
// the log, up to what was delivered live (later events come live).
//
// It runs under the bus's lock (live delivery waits meanwhile, so nothing
// falls between what is read here and what comes live), bounded in time:
// a log that does not answer makes the client reload instead.
func (b *Bus) subscribeShared(sub *Subscription, lastID string) (missed []Event, reset bool) {
	sh := b.shared
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	last, err := strconv.ParseInt(lastID, 10, 64)
	if err != nil || last < 0 {
		return nil, true
	}
	if last >= sh.cursor {
		if last > sh.cursor {
			// The client saw events this node has not delivered yet: skip
			// them when they come, unless the id is from another database.
			newest, err := sh.log.Last(ctx)
			if err != nil || last > newest {
				return nil, true
			}
			sub.skipTo = uint64(last)
		}
		return nil, false
	}
	evs, complete, err := sh.log.After(ctx, last, maxMissed+1)
	if err != nil || !complete {
		return nil, true
	}
	for _, e := range evs {
		if int64(e.seq) > sh.cursor {
			break
		}
		if sub.filter(e) {
			missed = append(missed, e)
		}
	}
	if len(evs) > maxMissed && int64(evs[len(evs)-1].seq) <= sh.cursor {
		return nil, true
	}
	return missed, false
}

// FromLog makes an event read from a log: its id is seq.
func FromLog(e Event, seq int64) Event {
	e.seq = uint64(seq)
	e.ID = strconv.FormatInt(seq, 10)
	return e
}
