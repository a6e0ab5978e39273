package events

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// memLog is an event log in memory, as two nodes sharing a database see it.
type memLog struct {
	mu  sync.Mutex
	evs []Event
}

func (l *memLog) Append(_ context.Context, evs []Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range evs {
		l.evs = append(l.evs, FromLog(e, int64(len(l.evs)+1)))
	}
	return nil
}

func (l *memLog) After(_ context.Context, after int64, limit int) ([]Event, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if int(after) >= len(l.evs) {
		return nil, true, nil
	}
	evs := l.evs[after:]
	if len(evs) > limit {
		evs = evs[:limit]
	}
	// What a database returns: events without their encoding.
	out := make([]Event, len(evs))
	for i, e := range evs {
		e.frame = nil
		out[i] = e
	}
	return out, true, nil
}

func (l *memLog) Last(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.evs)), nil
}

// On a shared bus, feeds get the log's events as frames with the log's ids,
// whichever node published them, and resume from the log.
func TestFeedOnSharedBus(t *testing.T) {
	log := &memLog{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := NewShared(log, SharedOptions{PollEvery: 10 * time.Millisecond}), NewShared(log, SharedOptions{PollEvery: 10 * time.Millisecond})
	go a.Run(ctx)
	go b.Run(ctx)
	time.Sleep(50 * time.Millisecond) // positioned at the log's end
	feed, _, _ := b.SubscribeFeed(func(e Event) bool { return e.Agent == "ana" }, "", FeedOptions{})
	for i := range 6 {
		a.Publish(Event{Type: Message, Conversation: int64(i + 1), Agent: []string{"ana", "bob"}[i%2]})
	}
	var got []string
	deadline := time.After(5 * time.Second)
	for len(got) < 3 {
		select {
		case <-feed.Ready():
			frames, ok := feed.Take(nil)
			if !ok {
				t.Fatal("feed dropped")
			}
			for _, f := range frames {
				got = append(got, string(f))
			}
		case <-deadline:
			t.Fatalf("node B's feed got %d of ana's 3 events", len(got))
		}
	}
	for i, f := range got {
		want := fmt.Sprintf("id: %d\nevent: message\ndata: {\"type\":\"message\",\"conversation\":%d,\"agent\":\"ana\"}\n\n", 2*i+1, 2*i+1)
		if f != want {
			t.Errorf("frame %d = %q, want %q", i, f, want)
		}
	}
	feed.Close()
	// Node A resumes a client from the log once it has read the log itself.
	var missed []Event
	var reset bool
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		var sub *Subscription
		sub, missed, reset = a.SubscribeFeed(all, "2", FeedOptions{})
		sub.Close()
		if len(missed) == 4 || reset {
			break
		}
	}
	if reset || len(missed) != 4 || !strings.HasPrefix(string(missed[0].Frame()), "id: 3\n") {
		t.Errorf("resuming after 2 on node A: %d missed, reset %v; want 4 from id 3", len(missed), reset)
	}
}
