package events

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Event types.
const (
	Assigned = "assigned"
	Queued   = "queued"
	Message  = "message"
	Status   = "status"
	Ended    = "ended"
	Agent    = "agent"
	// Labels: a conversation's labels changed (data: the conversation).
	Labels = "labels"
)

// Event is one live update.
type Event struct {
	ID           string `json:"-"`
	Type         string `json:"type"`
	Conversation int64  `json:"conversation,omitempty"`
	// Agent is the agent the conversation belongs to (or the agent the event
	// is about); agents receive only their own events, admins all of them.
	Agent string `json:"agent,omitempty"`
	Squad string `json:"squad,omitempty"`
	Data  any    `json:"data,omitempty"`
	seq   uint64
}

// Bus fans events out to subscribers.
type Bus struct {
	mu    sync.Mutex
	epoch string
	seq   uint64
	ring  []Event
	next  int
	full  bool
	subs  map[*Subscription]struct{}
	// shared is set when the bus is backed by a Log (several nodes).
	shared *shared
}

// New returns a bus remembering the last size events.
func New(size int) *Bus {
	return &Bus{epoch: strconv.FormatInt(time.Now().UnixNano(), 36), ring: make([]Event, size), subs: map[*Subscription]struct{}{}}
}

// Subscription receives the events its filter accepts.
type Subscription struct {
	C      <-chan Event
	c      chan Event
	filter func(Event) bool
	bus    *Bus
	once   sync.Once
	// skipTo: events up to this sequence were seen by the client already.
	skipTo uint64
}

// Close stops the subscription.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	s.closeLocked()
}

func (s *Subscription) closeLocked() {
	s.once.Do(func() {
		delete(s.bus.subs, s)
		close(s.c)
	})
}

// Publish assigns the event its id and delivers it. A subscriber too slow to
// keep up is dropped (its channel closed); it reconnects with Last-Event-ID
// and catches up from the ring.
//
// On a shared bus the event is appended to the log and delivered to every
// node's subscribers from there, a moment later.
func (b *Bus) Publish(e Event) {
	if b.shared != nil {
		b.shared.publish(e)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	e.seq = b.seq
	e.ID = fmt.Sprintf("%s-%d", b.epoch, b.seq)
	b.ring[b.next] = e
	b.next = (b.next + 1) % len(b.ring)
	if b.next == 0 {
		b.full = true
	}
	b.deliverLocked(e)
}

// deliverLocked hands e to every subscriber that wants it.
func (b *Bus) deliverLocked(e Event) {
	for s := range b.subs {
		if !s.filter(e) || e.seq <= s.skipTo {
			continue
		}
		select {
		case s.c <- e:
		default:
			s.closeLocked()
		}
	}
}

// Subscribe starts a subscription. With lastID (a client's Last-Event-ID) it
// also returns the matching events published after it; reset is true when
// those cannot be known (another epoch, or fallen out of the ring).
func (b *Bus) Subscribe(filter func(Event) bool, lastID string) (sub *Subscription, missed []Event, reset bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := make(chan Event, 256)
	sub = &Subscription{C: c, c: c, filter: filter, bus: b}
	b.subs[sub] = struct{}{}
	if lastID == "" {
		return sub, nil, false
	}
	if b.shared != nil {
		missed, reset = b.subscribeShared(sub, lastID)
		return sub, missed, reset
	}
	epoch, seqStr, ok := strings.Cut(lastID, "-")
	last, err := strconv.ParseUint(seqStr, 10, 64)
	if !ok || err != nil || epoch != b.epoch || last > b.seq {
		return sub, nil, true
	}
	events := b.ordered()
	if last < b.seq && (len(events) == 0 || events[0].seq > last+1) {
		return sub, nil, true
	}
	for _, e := range events {
		if e.seq > last && filter(e) {
			missed = append(missed, e)
		}
	}
	return sub, missed, false
}

func (b *Bus) ordered() []Event {
	if !b.full {
		return append([]Event(nil), b.ring[:b.next]...)
	}
	return append(append([]Event(nil), b.ring[b.next:]...), b.ring[:b.next]...)
}
