package events

import (
	"fmt"
	"strings"
	"testing"
)

func all(Event) bool { return true }

func TestResumeFromLastEventID(t *testing.T) {
	b := New(8)
	sub, _, _ := b.Subscribe(all, "")
	for i := range 3 {
		b.Publish(Event{Type: Message, Conversation: int64(i)})
	}
	first := <-sub.C
	sub.Close()
	b.Publish(Event{Type: Ended, Conversation: 9})
	_, missed, reset := b.Subscribe(all, first.ID)
	if reset || len(missed) != 3 {
		t.Fatalf("Subscribe(%s) = %d missed, reset %v; want 3, false", first.ID, len(missed), reset)
	}
	if missed[2].Type != Ended {
		t.Errorf("last missed = %+v, want the ended event", missed[2])
	}
}

func TestResetWhenTooOldOrOtherEpoch(t *testing.T) {
	b := New(4)
	sub, _, _ := b.Subscribe(all, "")
	b.Publish(Event{Type: Message})
	first := <-sub.C
	for range 10 {
		b.Publish(Event{Type: Message})
	}
	if _, _, reset := b.Subscribe(all, first.ID); !reset {
		t.Error("resume from an id that fell out of the ring: reset = false, want true")
	}
	if _, _, reset := b.Subscribe(all, "otherepoch-1"); !reset {
		t.Error("resume from another epoch: reset = false, want true")
	}
}

func TestFilterAndSlowSubscriberDropped(t *testing.T) {
	b := New(4)
	mine, _, _ := b.Subscribe(func(e Event) bool { return e.Agent == "ana" }, "")
	b.Publish(Event{Type: Assigned, Agent: "bob"})
	b.Publish(Event{Type: Assigned, Agent: "ana"})
	if e := <-mine.C; e.Agent != "ana" {
		t.Errorf("got %+v, want ana's event only", e)
	}
	for i := range 300 {
		b.Publish(Event{Type: Message, Agent: "ana", Data: fmt.Sprint(i)})
	}
	n := 0
	for range mine.C {
		n++
	}
	if n == 0 || n > 256 {
		t.Errorf("slow subscriber received %d events before being dropped, want 1..256", n)
	}
}

func TestFeedFramesInOrderEncodedOnce(t *testing.T) {
	b := New(64)
	one, _, _ := b.SubscribeFeed(all, "", FeedOptions{})
	two, _, _ := b.SubscribeFeed(func(e Event) bool { return e.Agent == "ana" }, "", FeedOptions{})
	for i := range 10 {
		b.Publish(Event{Type: Message, Conversation: int64(i + 1), Agent: []string{"ana", "bob"}[i%2], Data: map[string]int{"n": i}})
	}
	<-one.Ready()
	frames, ok := one.Take(nil)
	if !ok || len(frames) != 10 {
		t.Fatalf("Take = %d frames, %v; want 10, true", len(frames), ok)
	}
	for i, f := range frames {
		id, rest, _ := strings.Cut(strings.TrimPrefix(string(f), "id: "), "\n")
		want := fmt.Sprintf(`event: message
data: {"type":"message","conversation":%d,"agent":"%s","data":{"n":%d}}

`, i+1, []string{"ana", "bob"}[i%2], i)
		if !strings.HasSuffix(id, fmt.Sprintf("-%d", i+1)) || rest != want {
			t.Errorf("frame %d = %q, want id …-%d and %q", i, f, i+1, want)
		}
	}
	<-two.Ready()
	anas, _ := two.Take(nil)
	if len(anas) != 5 {
		t.Fatalf("ana's feed took %d frames, want 5", len(anas))
	}
	// The same bytes, not an encoding per stream.
	if &anas[1][0] != &frames[2][0] {
		t.Error("the two feeds got separate encodings of one event")
	}
	// Nothing queued: Take returns nothing, still open.
	if again, ok := one.Take(frames); !ok || len(again) != 0 {
		t.Errorf("Take on an empty feed = %d frames, %v; want 0, true", len(again), ok)
	}
}

func TestFeedDroppedAtItsLimitAlone(t *testing.T) {
	b := New(64)
	drops := 0
	slow, _, _ := b.SubscribeFeed(all, "", FeedOptions{Limit: 5, OnDrop: func() { drops++ }})
	fast, _, _ := b.SubscribeFeed(all, "", FeedOptions{Limit: 5})
	var lastSeen string
	for i := range 12 {
		b.Publish(Event{Type: Message, Conversation: int64(i)})
		if i == 2 {
			frames, _ := slow.Take(nil)
			lastSeen = strings.TrimPrefix(strings.SplitN(string(frames[len(frames)-1]), "\n", 2)[0], "id: ")
		}
		frames, ok := fast.Take(nil)
		if !ok || len(frames) != 1 {
			t.Fatalf("event %d: the fast feed took %d frames, %v; want 1, true", i, len(frames), ok)
		}
	}
	if drops != 1 {
		t.Errorf("OnDrop ran %d times, want once", drops)
	}
	select {
	case <-slow.Ready():
	default:
		t.Error("a dropped feed is not ready (its writer would never learn)")
	}
	if frames, ok := slow.Take(nil); ok || frames != nil {
		t.Errorf("Take on a dropped feed = %d frames, %v; want none, false", len(frames), ok)
	}
	// It resumes from the ring, where it stopped.
	_, missed, reset := b.SubscribeFeed(all, lastSeen, FeedOptions{})
	if reset || len(missed) != 9 || missed[0].Conversation != 3 {
		t.Errorf("resuming after %s: %d missed (first %+v), reset %v; want 9 from conversation 3", lastSeen, len(missed), missed, reset)
	}
	slow.Close() // closing a dropped feed is harmless
}

func TestFrameOfDataThatCannotBeEncoded(t *testing.T) {
	b := New(4)
	feed, _, _ := b.SubscribeFeed(all, "", FeedOptions{})
	b.Publish(Event{Type: Status, Conversation: 7, Data: make(chan int)})
	frames, _ := feed.Take(nil)
	if len(frames) != 1 || !strings.Contains(string(frames[0]), `data: {"type":"status","conversation":7}`) {
		t.Errorf("frames = %q, want the event without its data", frames)
	}
}
