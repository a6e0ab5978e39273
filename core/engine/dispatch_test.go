package engine

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/sqlite"
)

// dispatchRig is a dispatcher with one worker (two slots) over a real
// SQLite inbox; its worker completes each row once the test lets it.
type dispatchRig struct {
	t      *testing.T
	st     store.Store
	d      *dispatcher[store.InboxItem]
	gate   chan struct{} // one receive lets the worker finish one row
	mu     sync.Mutex
	worked []string // partitions, in the order the worker started them
	quit   chan struct{}
	wg     sync.WaitGroup
	q      *pausedLooks
}

// pausedLooks is the inbox's queue with the dispatcher's looks at the line
// (NextDue) held while paused: the moment between a slot freeing and the
// dispatcher's next look, made as long as a test needs.
type pausedLooks struct {
	store.Queue[store.InboxItem]
	paused  atomic.Bool
	entered chan struct{}
	resume  chan struct{}
	done    chan struct{} // closed at cleanup: nothing is held any more
}

func (p *pausedLooks) NextDue(ctx context.Context) (time.Time, error) {
	if p.paused.Load() {
		select {
		case p.entered <- struct{}{}:
			select {
			case <-p.resume:
			case <-p.done:
			}
		case <-p.done:
		}
	}
	return p.Queue.NextDue(ctx)
}

func newDispatchRig(t *testing.T) *dispatchRig {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &dispatchRig{t: t, st: st, gate: make(chan struct{}), quit: make(chan struct{}),
		q: &pausedLooks{Queue: st.Inbox(), entered: make(chan struct{}), resume: make(chan struct{}), done: make(chan struct{})}}
	r.d = newDispatcher("inbox", slog.New(slog.DiscardHandler), "node-1", 1, time.Now, r.q,
		func(ctx context.Context, it store.InboxItem) {
			r.mu.Lock()
			r.worked = append(r.worked, it.Partition)
			r.mu.Unlock()
			<-r.gate
			if err := st.Inbox().Done(ctx, &it, ""); err != nil {
				t.Errorf("Done(%s): %v", it.Partition, err)
			}
		})
	r.d.start(&r.wg, r.quit)
	t.Cleanup(func() {
		close(r.q.done)
		close(r.gate) // let whatever is left finish
		r.stop()
		st.Close()
	})
	return r
}

func (r *dispatchRig) stop() {
	select {
	case <-r.quit:
	default:
		close(r.quit)
	}
	r.wg.Wait()
}

// add stores an event of each partition in one transaction, without
// claiming them (as another node's webhook does), and wakes the
// dispatcher.
func (r *dispatchRig) add(partitions ...string) {
	r.t.Helper()
	err := r.st.Tx(context.Background(), func(tx store.Tx) error {
		for _, p := range partitions {
			ev := &model.Event{Kind: model.EventMessage, Integration: "ig", DedupeKey: fmt.Sprint(p, "-", time.Now().UnixNano()),
				ContactID: p}
			if _, err := tx.Inbox().Add(context.Background(), ev, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	r.d.wakeUp()
}

// claimByName stores an event of the partition and claims its key in the
// same transaction, as the webhook's commit does (claimIngested).
func (r *dispatchRig) claimByName(partition string) store.InboxItem {
	r.t.Helper()
	var it store.InboxItem
	err := r.st.Tx(context.Background(), func(tx store.Tx) error {
		ev := &model.Event{Kind: model.EventMessage, Integration: "ig", DedupeKey: fmt.Sprint(partition, "-", time.Now().UnixNano()),
			ContactID: partition}
		if _, err := tx.Inbox().Add(context.Background(), ev, partition); err != nil {
			return err
		}
		var ok bool
		var err error
		it, ok, err = tx.Inbox().(store.PartitionClaimer).ClaimPartition(context.Background(), "node-1", partition, leaseFor)
		if err == nil && !ok {
			err = fmt.Errorf("%s not claimed", partition)
		}
		return err
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return it
}

func (r *dispatchRig) started() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.worked...)
}

// TestReserveWaitsForTheLine: a row claimed by name (the webhook's commit)
// never passes keys already due in the dispatcher's line. While due keys
// wait for a slot, reserve takes none; once the line is worked off, it
// takes the free slots again, and a row handed over is worked on.
func TestReserveWaitsForTheLine(t *testing.T) {
	r := newDispatchRig(t)
	eventually(t, "the dispatcher caught up at start", func() bool {
		if n := r.d.reserve(1); n == 1 {
			r.d.hand(nil, 1)
			return true
		}
		return false
	})
	// Three contacts: two rows take the two slots (one worked on, one
	// waiting for the worker); the third is due and waits in the line.
	r.add("k1", "k2", "k3")
	eventually(t, "the worker started k1", func() bool { return len(r.started()) == 1 })
	if n := r.d.reserve(1); n != 0 {
		t.Fatalf("reserve with k3 due and no free slot = %d, want 0", n)
	}
	// A slot frees: it goes to k3, the key due longest, never to a reserve
	// made before the dispatcher looked again (its look is held here).
	r.q.paused.Store(true)
	r.gate <- struct{}{}
	<-r.q.entered
	eventually(t, "the worker started k2", func() bool { return len(r.started()) == 2 })
	if n := r.d.slots.available(); n != 1 {
		t.Fatalf("%d free slots with k1 done, want 1", n)
	}
	if n := r.d.reserve(1); n != 0 {
		r.d.hand(nil, n)
		t.Fatalf("reserve while k3 is due = %d, want 0 (a row claimed by name would pass it)", n)
	}
	r.q.paused.Store(false)
	r.q.resume <- struct{}{}
	r.gate <- struct{}{}
	r.gate <- struct{}{}
	eventually(t, "k1, k2, k3 worked on", func() bool { return len(r.started()) == 3 })
	// Nothing left in the line: reserve takes a slot, and the row claimed
	// with it is worked on.
	var n int
	eventually(t, "reserve takes a slot once the line is empty", func() bool { n = r.d.reserve(1); return n == 1 })
	r.d.hand([]store.InboxItem{r.claimByName("k4")}, n)
	eventually(t, "k4 worked on", func() bool { return len(r.started()) == 4 })
	r.gate <- struct{}{}
	if got := r.started(); fmt.Sprint(got) != "[k1 k2 k3 k4]" {
		t.Errorf("worked on %v, want [k1 k2 k3 k4]", got)
	}
}

// TestReserveRefusedForWantOfASlot: an event stored without a slot (every
// slot reserved) is a due key the dispatcher must claim first: reserve
// takes no slot until the dispatcher has looked at the line again.
func TestReserveRefusedForWantOfASlot(t *testing.T) {
	r := newDispatchRig(t)
	var n int
	eventually(t, "the dispatcher caught up at start", func() bool { n = r.d.reserve(2); return n == 2 })
	// (Errorf, not Fatalf: the dispatcher's stop waits for the slots
	// reserved here, handed back below.)
	if got := r.d.reserve(1); got != 0 {
		t.Errorf("reserve with every slot reserved = %d, want 0", got)
		r.d.hand(nil, got)
	}
	r.d.slots.mu.Lock()
	caughtUp := r.d.slots.caughtUp
	r.d.slots.mu.Unlock()
	if caughtUp {
		t.Error("after a reservation refused for want of a slot, the dispatcher still counts as caught up")
	}
	// The event stored without a slot waits in the line; the reserved
	// slots come back unused, and the dispatcher claims it.
	r.add("late")
	r.d.hand(nil, n)
	eventually(t, "the dispatcher claimed the event stored without a slot", func() bool { return len(r.started()) == 1 })
	r.gate <- struct{}{}
}

// TestStopWaitsForReservations: a dispatcher stopping takes no new
// reservation and waits for those under way, whose rows are worked on
// before it gives its keys back: a row claimed in a webhook's commit is
// never stranded under a lease nobody works on.
func TestStopWaitsForReservations(t *testing.T) {
	r := newDispatchRig(t)
	var n int
	eventually(t, "the dispatcher caught up at start", func() bool { n = r.d.reserve(1); return n == 1 })
	stopped := make(chan struct{})
	go func() { r.stop(); close(stopped) }()
	eventually(t, "the dispatcher stopping", func() bool {
		r.d.slots.mu.Lock()
		defer r.d.slots.mu.Unlock()
		return !r.d.slots.running
	})
	if got := r.d.reserve(1); got != 0 {
		t.Fatalf("reserve while stopping = %d, want 0", got)
	}
	select {
	case <-stopped:
		t.Fatal("the dispatcher stopped with a reservation under way")
	case <-time.After(50 * time.Millisecond):
	}
	it := r.claimByName("k1")
	r.d.hand([]store.InboxItem{it}, n)
	eventually(t, "the handed row worked on", func() bool { return len(r.started()) == 1 })
	r.gate <- struct{}{}
	<-stopped
	if n, err := r.st.Inbox().Backlog(context.Background()); err != nil || n != 0 {
		t.Errorf("backlog after stop = %d, %v, want 0 (the handed row was processed)", n, err)
	}
}
