package storetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// inboxOps keys the inbox by contact (the partition), in integration igq.
func inboxOps(f *fixture) *queueOps[store.InboxItem] {
	f.integration("igq")
	n := 0
	return &queueOps[store.InboxItem]{
		queue: func(a store.Aggregates) store.Queue[store.InboxItem] { return a.Inbox() },
		keys: func(k int) []string {
			var keys []string
			for i := range k {
				keys = append(keys, fmt.Sprintf("contact-%d", i))
			}
			return keys
		},
		add: func(a store.Aggregates, key string) (string, error) {
			n++
			label := keyedLabel(key, n)
			ev := &model.Event{Kind: model.EventMessage, DedupeKey: label, Integration: "igq", ContactID: key,
				MessageID: "mid." + label, Timestamp: Epoch, Contents: text(label)}
			added, err := a.Inbox().Add(f.ctx, ev, key)
			if err == nil && !added {
				err = fmt.Errorf("Inbox().Add(%s): %w", label, errDuplicate)
			}
			return label, err
		},
		label: func(it store.InboxItem) string { return it.Event.DedupeKey },
		key:   func(it store.InboxItem) string { return it.Partition },
		id:    func(it store.InboxItem) int64 { return it.ID },
		lease: func(it store.InboxItem) store.Lease { return it.Lease },
		done: func(a store.Aggregates, it store.InboxItem) error {
			return a.Inbox().Done(f.ctx, &it, "")
		},
		postpone: func(a store.Aggregates, it store.InboxItem, at time.Time) error {
			return a.Inbox().Retry(f.ctx, &it, at, "engine busy")
		},
	}
}

func testInbox(t *testing.T, open Open) {
	t.Run("Queue", func(t *testing.T) { testQueue(t, open, inboxOps) })

	t.Run("AddIsDeduplicated", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		f.integration("ig2")
		ev := func(integration string) *model.Event {
			return &model.Event{Kind: model.EventMessage, DedupeKey: "evt-1", Integration: integration, ContactID: "u1"}
		}
		added, err := f.s.Inbox().Add(f.ctx, ev("ig1"), "u1")
		if err != nil || !added {
			t.Fatalf("Add(evt-1) = %v, %v, want true", added, err)
		}
		added, err = f.s.Inbox().Add(f.ctx, ev("ig1"), "u1")
		if err != nil || added {
			t.Errorf("Add(evt-1) again = %v, %v, want false (a redelivery)", added, err)
		}
		if n, _ := f.s.Inbox().Backlog(f.ctx); n != 1 {
			t.Errorf("Backlog() after a duplicate Add = %d, want 1", n)
		}
		added, err = f.s.Inbox().Add(f.ctx, ev("ig2"), "u1")
		if err != nil || !added {
			t.Errorf("Add(evt-1) of another integration = %v, %v, want true", added, err)
		}
		// Still a duplicate once the first was processed.
		items, err := f.s.Inbox().Claim(f.ctx, "w", 10, time.Minute)
		f.must(err, "Claim")
		for _, it := range items {
			f.must(f.s.Inbox().Done(f.ctx, &it, "ok"), "Done")
		}
		added, err = f.s.Inbox().Add(f.ctx, ev("ig1"), "u1")
		if err != nil || added {
			t.Errorf("Add(evt-1) after it was processed = %v, %v, want false", added, err)
		}
	})

	t.Run("ItemRoundTrip", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		ev := model.Event{
			Kind: model.EventMessage, DedupeKey: "evt-1", Integration: "ig1", ContactID: "u1", ContactName: "Ana",
			ContactUsername: "ana.s", MessageID: "mid.1", Timestamp: Epoch.Add(-time.Minute), ReplyTo: "mid.0",
			Contents: []model.Content{{Type: model.Text, Text: "oi"}},
		}
		at := f.clock.Advance(time.Minute)
		in := ev
		if _, err := f.s.Inbox().Add(f.ctx, &in, "part-u1"); err != nil {
			t.Fatalf("Add = %v", err)
		}
		items, err := f.s.Inbox().Claim(f.ctx, "w", 10, time.Minute)
		f.must(err, "Claim")
		if len(items) != 1 {
			t.Fatalf("Claim() = %d items, want 1", len(items))
		}
		it := items[0]
		if it.ID == 0 || it.Partition != "part-u1" || it.Attempts != 0 || !sameTime(it.ReceivedAt, at) {
			t.Errorf("Claim() = id %d partition %q attempts %d received %v, want an id, part-u1, 0, %v",
				it.ID, it.Partition, it.Attempts, it.ReceivedAt, at)
		}
		got := it.Event
		if got.Kind != ev.Kind || got.DedupeKey != ev.DedupeKey || got.Integration != ev.Integration ||
			got.ContactID != ev.ContactID || got.ContactName != ev.ContactName || got.ContactUsername != ev.ContactUsername ||
			got.MessageID != ev.MessageID || got.ReplyTo != ev.ReplyTo || !sameTime(got.Timestamp, ev.Timestamp) ||
			!reflect.DeepEqual(got.Contents, ev.Contents) {
			t.Errorf("Claim().Event = %+v, want %+v", got, ev)
		}
	})

	t.Run("RetryCountsAttempts", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		if _, err := f.s.Inbox().Add(f.ctx, &model.Event{Kind: model.EventMessage, DedupeKey: "e", Integration: "ig1"}, "u1"); err != nil {
			t.Fatalf("Add = %v", err)
		}
		items, err := f.s.Inbox().Claim(f.ctx, "w", 1, time.Minute)
		f.must(err, "Claim")
		if len(items) != 1 {
			t.Fatalf("Claim() = %d items, want 1", len(items))
		}
		before := items[0].Attempts
		at := f.clock.Now().Add(time.Minute)
		f.must(f.s.Inbox().Retry(f.ctx, &items[0], at, "no engine"), "Retry")
		f.clock.Advance(time.Minute)
		items, err = f.s.Inbox().Claim(f.ctx, "w", 1, time.Minute)
		f.must(err, "Claim")
		if len(items) != 1 || items[0].Attempts <= before {
			t.Errorf("Claim() after Retry = %+v, want the row with more than %d attempts", items, before)
		}
	})

	t.Run("PruneForgetsOnlyOldProcessedEvents", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		add := func(key string) {
			t.Helper()
			if added, err := f.s.Inbox().Add(f.ctx, &model.Event{Kind: model.EventMessage, DedupeKey: key, Integration: "ig1"}, key); err != nil || !added {
				t.Fatalf("Add(%s) = %v, %v", key, added, err)
			}
		}
		done := func() {
			t.Helper()
			items, err := f.s.Inbox().Claim(f.ctx, "w", 10, time.Minute)
			f.must(err, "Claim")
			for i := range items {
				f.must(f.s.Inbox().Done(f.ctx, &items[i], ""), "Done")
			}
		}
		// Old: two processed, one still waiting (left alone however old).
		add("old-1")
		add("old-2")
		done()
		add("old-waiting")
		items, err := f.s.Inbox().Claim(f.ctx, "w", 1, time.Minute)
		f.must(err, "Claim")
		f.must(f.s.Inbox().Defer(f.ctx, &items[0], f.clock.Now().Add(100*time.Hour), "plugin down"), "Defer")
		f.clock.Advance(48 * time.Hour)
		cutoff := f.clock.Now().Add(-24 * time.Hour)
		// New: processed after the cutoff, kept.
		add("new-1")
		done()
		// One event at a time: each call looks at one and says where to go on.
		var removed, after int64
		for calls := 0; ; calls++ {
			n, next, err := f.s.Inbox().Prune(f.ctx, cutoff, after, 1)
			f.must(err, "Prune")
			removed += n
			if next == 0 {
				break
			}
			if next <= after || calls > 10 {
				t.Fatalf("Prune(after %d) = next %d: does not move on", after, next)
			}
			after = next
		}
		if removed != 2 {
			t.Errorf("Prune removed %d events, want 2 (the old processed ones)", removed)
		}
		// What is left: the waiting event (still claimable when due) and
		// the new one, which is still deduplicated.
		if added, err := f.s.Inbox().Add(f.ctx, &model.Event{Kind: model.EventMessage, DedupeKey: "new-1", Integration: "ig1"}, "new-1"); err != nil || added {
			t.Errorf("Add(new-1) again = %v, %v; want a duplicate: it was kept", added, err)
		}
		backlog, err := f.s.Inbox().Backlog(f.ctx)
		f.must(err, "Backlog")
		if backlog != 1 {
			t.Errorf("Backlog() = %d after Prune, want 1: the waiting event is never removed", backlog)
		}
		n, next, err := f.s.Inbox().Prune(f.ctx, cutoff, 0, 100)
		f.must(err, "Prune again")
		if n != 0 || next != 0 {
			t.Errorf("Prune again = %d removed, next %d; want 0, 0", n, next)
		}
	})
}
