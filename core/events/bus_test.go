package events

import (
	"fmt"
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
