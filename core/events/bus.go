package events

import (
	"encoding/json"
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
	// frame is the event encoded once as a Server-Sent Events frame, shared
	// by every stream it goes to (nil until encoded).
	frame []byte
}

// Frame is the event as a Server-Sent Events frame: id, event and data
// lines and the blank line that ends it. It is encoded once, when the event
// is published; an event that was not (read back from a log) is encoded now.
func (e Event) Frame() []byte {
	if e.frame != nil {
		return e.frame
	}
	return encodeFrame(e.ID, e.Type, encodeData(e))
}

// encodeData is the event's data line: the event as JSON (its id is apart).
func encodeData(e Event) []byte {
	b, err := json.Marshal(e)
	if err != nil {
		// A value that cannot be encoded is a bug where it was published;
		// the stream still gets the event, without its data, rather than
		// breaking every stream that would carry it.
		e.Data = nil
		b, _ = json.Marshal(e)
	}
	return b
}

func encodeFrame(id, typ string, data []byte) []byte {
	f := make([]byte, 0, len(id)+len(typ)+len(data)+24)
	f = append(f, "id: "...)
	f = append(f, id...)
	f = append(f, "\nevent: "...)
	f = append(f, typ...)
	f = append(f, "\ndata: "...)
	f = append(f, data...)
	return append(f, "\n\n"...)
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

// Subscription receives the events its filter accepts: on C, or, made by
// SubscribeFeed, as encoded frames queued for a stream writer.
type Subscription struct {
	C      <-chan Event
	c      chan Event
	filter func(Event) bool
	bus    *Bus
	once   sync.Once
	// skipTo: events up to this sequence were seen by the client already.
	skipTo uint64

	// A feed's queue: frames waiting to be written, at most limit. wake
	// holds a signal when the queue has something; it is closed when the
	// subscription ends (sends and the close happen under the bus's lock).
	qmu    sync.Mutex
	queue  [][]byte
	limit  int
	wake   chan struct{}
	ended  bool
	onDrop func()
}

// Ready signals that a feed has frames to Take, or has ended.
func (s *Subscription) Ready() <-chan struct{} { return s.wake }

// Take returns the frames queued for a feed, oldest first, and empties the
// queue. The caller hands back the slice it got last time (or nil) as
// spare, so that a busy stream allocates nothing. ok is false once the
// subscription ended: closed, or dropped for falling limit frames behind.
func (s *Subscription) Take(spare [][]byte) (frames [][]byte, ok bool) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.ended {
		return nil, false
	}
	frames, s.queue = s.queue, spare[:0]
	return frames, true
}

// enqueue adds a frame to a feed (under the bus's lock). A feed at its
// limit is dropped: publishing never waits for a stream, and memory stays
// bounded; the client reconnects and resumes with its Last-Event-ID.
func (s *Subscription) enqueue(frame []byte) {
	s.qmu.Lock()
	n := len(s.queue)
	full := n >= s.limit
	if !full {
		s.queue = append(s.queue, frame)
	}
	s.qmu.Unlock()
	if full {
		s.closeLocked()
		if s.onDrop != nil {
			s.onDrop()
		}
		return
	}
	if n > 0 {
		// Signalled with the first frame, and not taken since.
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
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
		if s.wake != nil {
			s.qmu.Lock()
			s.ended, s.queue = true, nil
			s.qmu.Unlock()
			close(s.wake)
			return
		}
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
	// Encoded once, outside the lock, for every stream it goes to.
	data := encodeData(e)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	e.seq = b.seq
	e.ID = b.epoch + "-" + strconv.FormatUint(b.seq, 10)
	e.frame = encodeFrame(e.ID, e.Type, data)
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
		if s.wake != nil {
			if e.frame == nil {
				e.frame = e.Frame()
			}
			s.enqueue(e.frame)
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
	c := make(chan Event, 256)
	return b.subscribe(&Subscription{C: c, c: c, filter: filter, bus: b}, lastID)
}

// FeedOptions configures SubscribeFeed.
type FeedOptions struct {
	// Limit is how many frames may wait for the writer before the feed is
	// dropped (default 1024).
	Limit int
	// OnDrop, if set, runs when the feed is dropped for falling behind,
	// under the bus's lock: it must not block (a stream writer stuck in a
	// write to a client that stopped reading is unblocked from here).
	OnDrop func()
}

// SubscribeFeed is Subscribe for a stream writer: the events its filter
// accepts are queued as their encoded frames (shared with every other
// stream), Ready signals when there are some, and Take gets them all at
// once, to be written in one go. Publishing never waits for a feed.
func (b *Bus) SubscribeFeed(filter func(Event) bool, lastID string, o FeedOptions) (sub *Subscription, missed []Event, reset bool) {
	if o.Limit <= 0 {
		o.Limit = 1024
	}
	return b.subscribe(&Subscription{filter: filter, bus: b, limit: o.Limit, wake: make(chan struct{}, 1), onDrop: o.OnDrop}, lastID)
}

func (b *Bus) subscribe(sub *Subscription, lastID string) (_ *Subscription, missed []Event, reset bool) {
	filter := sub.filter
	b.mu.Lock()
	defer b.mu.Unlock()
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
