package engine

import (
	"context"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"
)

// job is one queued row as the dispatcher sees it.
type job[T any] struct {
	id  int64
	key string // rows with the same key run one at a time, in id order
	due time.Time
	row T
}

// dispatcher feeds pending rows to workers, keeping rows of one key (a
// contact, a conversation) in order: only the oldest pending row of a key may
// run, and only when due, so a row waiting for its retry holds back the rows
// behind it. Keys hash onto a fixed set of workers.
type dispatcher[T any] struct {
	name    string
	log     *slog.Logger
	now     func() time.Time
	list    func(context.Context) ([]job[T], error)
	handle  func(context.Context, T)
	workers []chan job[T]
	wake    chan struct{}

	mu       sync.Mutex
	inflight map[int64]bool
}

func newDispatcher[T any](name string, log *slog.Logger, workers int, now func() time.Time,
	list func(context.Context) ([]job[T], error), handle func(context.Context, T)) *dispatcher[T] {
	d := &dispatcher[T]{name: name, log: log, now: now, list: list, handle: handle, wake: make(chan struct{}, 1),
		inflight: map[int64]bool{}}
	for range workers {
		d.workers = append(d.workers, make(chan job[T], 64))
	}
	return d
}

func (d *dispatcher[T]) wakeUp() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher[T]) start(wg *sync.WaitGroup, stop <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	var workers sync.WaitGroup
	for _, ch := range d.workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for j := range ch {
				d.handle(ctx, j.row)
				d.mu.Lock()
				delete(d.inflight, j.id)
				d.mu.Unlock()
				d.wakeUp()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			for _, ch := range d.workers {
				close(ch)
			}
			// Let the rows in progress finish: their writes are short, and
			// what is cut here resumes on the next start anyway.
			done := make(chan struct{})
			go func() { workers.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cancel()
				<-done
			}
			cancel()
		}()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			d.dispatch(ctx, stop)
			select {
			case <-stop:
				return
			case <-d.wake:
			case <-tick.C:
			}
		}
	}()
}

func (d *dispatcher[T]) dispatch(ctx context.Context, stop <-chan struct{}) {
	jobs, err := d.list(ctx)
	if err != nil {
		d.log.Error("queue listing failed", "queue", d.name, "err", err)
		return
	}
	now := d.now()
	blocked := map[string]bool{}
	for _, j := range jobs {
		if blocked[j.key] {
			continue
		}
		blocked[j.key] = true
		d.mu.Lock()
		busy := d.inflight[j.id]
		if !busy && !j.due.After(now) {
			d.inflight[j.id] = true
		}
		d.mu.Unlock()
		if busy || j.due.After(now) {
			continue
		}
		select {
		case d.workers[shard(j.key, len(d.workers))] <- j:
		case <-stop:
			return
		}
	}
}

func shard(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}
