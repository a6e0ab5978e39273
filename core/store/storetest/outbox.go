package storetest

import (
	"strconv"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// outboxOps keys the outbox by conversation, in integration igq. A row is
// done when sent (Begin, Sent) and postponed after a definite failure
// (Begin, Retry).
func outboxOps(f *fixture) *queueOps[store.OutboxItem] {
	f.integration("igq")
	n := 0
	convs := map[string]int64{}
	return &queueOps[store.OutboxItem]{
		queue: func(a store.Aggregates) store.Queue[store.OutboxItem] { return a.Outbox() },
		keys: func(k int) []string {
			var keys []string
			for range k {
				c := f.conversation("igq")
				key := strconv.FormatInt(c.ID, 10)
				convs[key] = c.ID
				keys = append(keys, key)
			}
			return keys
		},
		add: func(a store.Aggregates, key string) (string, error) {
			n++
			label := keyedLabel("conv-"+key, n)
			m := &model.Message{Conversation: convs[key], Integration: "igq", Direction: model.DirectionOut,
				Author: model.AuthorAssistant, Contents: text(label), Status: model.StatusPending}
			return label, a.Outbox().Enqueue(f.ctx, m, label)
		},
		label: func(it store.OutboxItem) string { return it.IdempotencyKey },
		key:   func(it store.OutboxItem) string { return strconv.FormatInt(it.Conversation, 10) },
		id:    func(it store.OutboxItem) int64 { return it.ID },
		lease: func(it store.OutboxItem) store.Lease { return it.Lease },
		done: func(a store.Aggregates, it store.OutboxItem) error {
			if err := a.Outbox().Begin(f.ctx, &it, false); err != nil {
				return err
			}
			return a.Outbox().Sent(f.ctx, &it, []string{"p-" + it.IdempotencyKey})
		},
		postpone: func(a store.Aggregates, it store.OutboxItem, at time.Time) error {
			if err := a.Outbox().Begin(f.ctx, &it, false); err != nil {
				return err
			}
			return a.Outbox().Retry(f.ctx, &it, at, "503 from the provider")
		},
	}
}

func testOutbox(t *testing.T, open Open) {
	t.Run("Queue", func(t *testing.T) { testQueue(t, open, outboxOps) })
	t.Run("Enqueue", func(t *testing.T) { testEnqueue(t, open) })
	t.Run("Attempts", func(t *testing.T) { testSendAttempts(t, open) })
	t.Run("Echoes", func(t *testing.T) { testEchoes(t, open) })
	t.Run("Resend", func(t *testing.T) { testResend(t, open) })
}

// outboxFixture is a store with one conversation to send to.
func outboxFixture(t *testing.T, open Open) (*fixture, *model.Conversation) {
	f := setup(t, open)
	f.integration("ig1")
	return f, f.conversation("ig1")
}

func (f *fixture) wantStatus(id int64, want string) *model.Message {
	f.t.Helper()
	m := f.getMessage(id)
	if m.Status != want {
		f.t.Errorf("message %d status = %s, want %s", id, m.Status, want)
	}
	return m
}

func (f *fixture) wantNoClaim(owner, why string) {
	f.t.Helper()
	items, err := f.s.Outbox().Claim(f.ctx, owner, 10, time.Minute)
	f.must(err, "Claim(%s)", owner)
	if len(items) != 0 {
		f.t.Errorf("Claim(%s) %s = messages %v, want nothing", owner, why, outboxIDs(items))
	}
}

func testEnqueue(t *testing.T, open Open) {
	t.Run("PendingAndClaimable", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		m := outbound(c, "olá")
		m.Status = ""
		f.must(f.s.Outbox().Enqueue(f.ctx, m, "idem-1"), "Enqueue")
		if m.ID == 0 {
			t.Fatalf("Enqueue left m.ID 0")
		}
		got := f.wantStatus(m.ID, model.StatusPending)
		if got.Direction != model.DirectionOut || got.Conversation != c.ID || got.Author != m.Author {
			t.Errorf("Get(enqueued) = %+v, want an outbound message of conversation %d by %s", got, c.ID, m.Author)
		}
		it := f.claimOnly("w")
		if it.ID == 0 || it.MessageID != m.ID || it.Integration != "ig1" || it.Conversation != c.ID ||
			it.IdempotencyKey != "idem-1" || it.State != model.StatusPending || it.Attempts != 0 || !sameTime(it.CreatedAt, Epoch) {
			t.Errorf("Claim() = %+v, want message %d of ig1, conversation %d, idem-1, pending, 0 attempts, created %v",
				it, m.ID, c.ID, Epoch)
		}
	})

	t.Run("DuplicateIdempotencyKeyIsConflict", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		f.must(f.s.Outbox().Enqueue(f.ctx, outbound(c, "once"), "idem-1"), "Enqueue")
		err := f.s.Outbox().Enqueue(f.ctx, outbound(c, "twice"), "idem-1")
		wantIs(t, "Enqueue(idem-1) again", err, store.ErrConflict)
		list, err := f.s.Messages().List(f.ctx, c.ID)
		f.must(err, "List")
		if len(list) != 1 {
			t.Errorf("Messages().List() after a refused Enqueue = %d messages, want 1", len(list))
		}
		if n, _ := f.s.Outbox().Backlog(f.ctx); n != 1 {
			t.Errorf("Backlog() after a refused Enqueue = %d, want 1", n)
		}
	})
}

func testSendAttempts(t *testing.T, open Open) {
	t.Run("BeginCommitsAnAttempt", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		m := f.enqueue(c, "hi")
		it := f.claimOnly("w")
		began := f.clock.Advance(time.Second)
		f.must(f.s.Outbox().Begin(f.ctx, &it, false), "Begin")
		f.wantStatus(m.ID, model.StatusInFlight)
		f.must(f.s.Outbox().Defer(f.ctx, &it, began.Add(time.Minute), "timeout"), "Defer")
		f.clock.Advance(time.Minute)
		again := f.claimOnly("w")
		if again.MessageID != m.ID || again.State != model.StatusInFlight || again.Attempts != 1 || !sameTime(again.AttemptAt, began) {
			t.Errorf("Claim() after Begin, Defer = message %d %s, %d attempts at %v, want %d in_flight, 1 attempt at %v",
				again.MessageID, again.State, again.Attempts, again.AttemptAt, m.ID, began)
		}
		second := f.clock.Advance(time.Second)
		f.must(f.s.Outbox().Begin(f.ctx, &again, false), "Begin again (in_flight -> in_flight)")
		f.must(f.s.Outbox().Defer(f.ctx, &again, second.Add(time.Minute), "timeout"), "Defer")
		f.clock.Advance(time.Minute)
		third := f.claimOnly("w")
		if third.Attempts != 2 || !sameTime(third.AttemptAt, second) {
			t.Errorf("Claim() after a second Begin = %d attempts at %v, want 2 at %v", third.Attempts, third.AttemptAt, second)
		}
	})

	t.Run("PossibleDuplicate", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		for _, dup := range []bool{false, true} {
			m := f.enqueue(c, "maybe twice")
			it := f.claimOnly("w")
			f.must(f.s.Outbox().Begin(f.ctx, &it, dup), "Begin(%v)", dup)
			if got := f.getMessage(m.ID); got.PossibleDuplicate != dup {
				t.Errorf("Begin(possibleDuplicate %v): message PossibleDuplicate = %v", dup, got.PossibleDuplicate)
			}
			f.must(f.s.Outbox().Sent(f.ctx, &it, []string{"p-" + strconv.FormatInt(m.ID, 10)}), "Sent")
		}
	})

	t.Run("RetryIsPendingAgain", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		m := f.enqueue(c, "hi")
		it := f.claimOnly("w")
		f.must(f.s.Outbox().Begin(f.ctx, &it, false), "Begin")
		at := f.clock.Now().Add(5 * time.Minute)
		f.must(f.s.Outbox().Retry(f.ctx, &it, at, "400: try again"), "Retry")
		f.wantStatus(m.ID, model.StatusPending)
		f.wantNoClaim("w2", "before the retry time")
		if got, _ := f.s.Outbox().NextDue(f.ctx); !sameTime(got, at) {
			t.Errorf("NextDue() after Retry = %v, want %v", got, at)
		}
		f.clock.Advance(5 * time.Minute)
		again := f.claimOnly("w2")
		if again.MessageID != m.ID || again.State != model.StatusPending || again.Attempts != 1 {
			t.Errorf("Claim() at the retry time = message %d %s, %d attempts, want %d pending, 1", again.MessageID, again.State, again.Attempts, m.ID)
		}
	})

	t.Run("DeferKeepsInFlight", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		m := f.enqueue(c, "hi")
		next := f.enqueue(c, "after")
		it := f.claimOnly("w")
		f.must(f.s.Outbox().Begin(f.ctx, &it, false), "Begin")
		at := f.clock.Now().Add(30 * time.Second)
		f.must(f.s.Outbox().Defer(f.ctx, &it, at, "timeout: outcome unknown"), "Defer")
		f.wantStatus(m.ID, model.StatusInFlight)
		f.wantStatus(next.ID, model.StatusPending)
		f.wantNoClaim("w2", "while the conversation's sends are held")
		if got, _ := f.s.Outbox().NextDue(f.ctx); !sameTime(got, at) {
			t.Errorf("NextDue() after Defer = %v, want %v", got, at)
		}
		f.clock.Advance(30 * time.Second)
		again := f.claimOnly("w2")
		if again.MessageID != m.ID || again.State != model.StatusInFlight {
			t.Errorf("Claim() after the deferral = message %d %s, want %d in_flight", again.MessageID, again.State, m.ID)
		}
	})

	t.Run("SentRecordsProviderIDs", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		m := f.enqueue(c, "a long text in two parts")
		next := f.enqueue(c, "next")
		it := f.claimOnly("w")
		f.must(f.s.Outbox().Begin(f.ctx, &it, false), "Begin")
		f.must(f.s.Outbox().Sent(f.ctx, &it, []string{"p1", "p2"}), "Sent")
		got := f.wantStatus(m.ID, model.StatusSent)
		if got.ProviderMessageID != "p1" {
			t.Errorf("ProviderMessageID after Sent(p1, p2) = %q, want p1", got.ProviderMessageID)
		}
		for _, pid := range []string{"p1", "p2"} {
			if got, err := f.s.Messages().ByProviderID(f.ctx, "ig1", pid); err != nil || got.ID != m.ID {
				t.Errorf("Messages().ByProviderID(%s) = %v, %v, want message %d", pid, got, err, m.ID)
			}
		}
		if got := f.claimOnly("w2"); got.MessageID != next.ID {
			t.Errorf("Claim() after Sent = message %d, want the next %d", got.MessageID, next.ID)
		}
	})

	for _, begun := range []bool{false, true} {
		name := "FailFromPending"
		if begun {
			name = "FailFromInFlight"
		}
		t.Run(name, func(t *testing.T) {
			f, c := outboxFixture(t, open)
			m := f.enqueue(c, "to a blocked user")
			next := f.enqueue(c, "next")
			it := f.claimOnly("w")
			if begun {
				f.must(f.s.Outbox().Begin(f.ctx, &it, false), "Begin")
			}
			f.must(f.s.Outbox().Fail(f.ctx, &it, "user blocked the account"), "Fail")
			got := f.wantStatus(m.ID, model.StatusFailed)
			if got.Error != "user blocked the account" {
				t.Errorf("message Error after Fail = %q, want the reason", got.Error)
			}
			if n, _ := f.s.Outbox().Backlog(f.ctx); n != 1 {
				t.Errorf("Backlog() after Fail = %d, want 1", n)
			}
			if got := f.claimOnly("w2"); got.MessageID != next.ID {
				t.Errorf("Claim() after Fail = message %d, want the next %d", got.MessageID, next.ID)
			}
		})
	}

	// Sent is the exception: the provider has the message whatever
	// happened to the lease, so it is recorded; only the key's hand-off
	// needs the lease, and the worker holding the key now finds it done.
	t.Run("SentIsRecordedDespiteALostLease", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		m := f.enqueue(c, "hi")
		next := f.enqueue(c, "next")
		stale := f.claimOnly("w1")
		f.must(f.s.Outbox().Begin(f.ctx, &stale, false), "Begin")
		f.clock.Advance(2 * time.Minute)
		holder := f.claimOnly("w2")
		f.must(f.s.Outbox().Sent(f.ctx, &stale, []string{"late"}), "Sent with a lost lease")
		got := f.wantStatus(m.ID, model.StatusSent)
		if got.ProviderMessageID != "late" {
			t.Errorf("ProviderMessageID after Sent = %q, want late", got.ProviderMessageID)
		}
		if got, err := f.s.Outbox().Claim(f.ctx, "w3", 10, time.Minute); err != nil || len(got) != 0 {
			t.Errorf("Claim() while w2 holds the key = %+v, %v; want nothing: the lease is w2's", got, err)
		}
		// The holder, about to resend, finds the row settled and hands the
		// key to the next one.
		f.must(f.s.Outbox().Defer(f.ctx, &holder, f.clock.Now().Add(time.Hour), ""), "Defer by the holder")
		if got := f.claimOnly("w2"); got.MessageID != next.ID {
			t.Errorf("Claim() after the holder let go = message %d, want the next %d", got.MessageID, next.ID)
		}
	})

	t.Run("LostLeaseRefusesEveryOtherOutcome", func(t *testing.T) {
		outcomes := map[string]func(f *fixture, it *store.OutboxItem) error{
			"Begin": func(f *fixture, it *store.OutboxItem) error { return f.s.Outbox().Begin(f.ctx, it, false) },
			"Retry": func(f *fixture, it *store.OutboxItem) error { return f.s.Outbox().Retry(f.ctx, it, f.clock.Now(), "x") },
			"Defer": func(f *fixture, it *store.OutboxItem) error { return f.s.Outbox().Defer(f.ctx, it, f.clock.Now(), "x") },
			"Fail":  func(f *fixture, it *store.OutboxItem) error { return f.s.Outbox().Fail(f.ctx, it, "x") },
		}
		for name, do := range outcomes {
			t.Run(name, func(t *testing.T) {
				f, c := outboxFixture(t, open)
				m := f.enqueue(c, "hi")
				stale := f.claimOnly("w1")
				f.must(f.s.Outbox().Begin(f.ctx, &stale, false), "Begin")
				f.clock.Advance(2 * time.Minute)
				f.claimOnly("w2")
				wantIs(t, name+" with a lost lease", do(f, &stale), store.ErrLeaseLost)
				got := f.wantStatus(m.ID, model.StatusInFlight)
				if got.ProviderMessageID != "" {
					t.Errorf("ProviderMessageID after a refused %s = %q, want none", name, got.ProviderMessageID)
				}
				if n, _ := f.s.Outbox().Backlog(f.ctx); n != 1 {
					t.Errorf("Backlog() after a refused %s = %d, want 1", name, n)
				}
			})
		}
	})
}

func testEchoes(t *testing.T, open Open) {
	// begin claims the conversation's head send and commits an attempt.
	begin := func(f *fixture, owner string) store.OutboxItem {
		f.t.Helper()
		it := f.claimOnly(owner)
		f.must(f.s.Outbox().Begin(f.ctx, &it, false), "Begin")
		return it
	}

	t.Run("InFlight", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		other := f.conversation("ig1")
		sentEarly := f.send(c, "sent at the start")
		f.clock.Advance(10 * time.Minute)
		inFlight := f.enqueue(c, "outcome unknown")
		it := begin(f, "w")
		f.must(f.s.Outbox().Defer(f.ctx, &it, f.clock.Now().Add(time.Hour), "timeout"), "Defer")
		f.enqueue(c, "waiting behind it")
		elsewhere := f.enqueue(other, "another conversation")
		it = begin(f, "w")
		f.must(f.s.Outbox().Defer(f.ctx, &it, f.clock.Now().Add(time.Hour), "timeout"), "Defer")

		cases := []struct {
			conv  int64
			since time.Time
			want  []int64
		}{
			{c.ID, Epoch.Add(-time.Minute), []int64{sentEarly.ID, inFlight.ID}},
			{c.ID, Epoch.Add(5 * time.Minute), []int64{inFlight.ID}},
			{other.ID, Epoch.Add(-time.Minute), []int64{elsewhere.ID}},
		}
		for _, tc := range cases {
			got, err := f.s.Outbox().InFlight(f.ctx, tc.conv, tc.since)
			f.must(err, "InFlight")
			if ids := messageIDs(got); !equalIDs(ids, tc.want) {
				t.Errorf("InFlight(%d, since %v) = %v, want %v (oldest first)", tc.conv, tc.since, ids, tc.want)
			}
		}
	})

	t.Run("InFlightSinceCountsFromConfirmation", func(t *testing.T) {
		// since is when a send was confirmed: one created long before and
		// sent after since may still echo.
		f, c := outboxFixture(t, open)
		m := f.enqueue(c, "created early")
		f.clock.Advance(10 * time.Minute)
		it := begin(f, "w")
		f.must(f.s.Outbox().Sent(f.ctx, &it, []string{"p1"}), "Sent")
		got, err := f.s.Outbox().InFlight(f.ctx, c.ID, Epoch.Add(5*time.Minute))
		f.must(err, "InFlight")
		if ids := messageIDs(got); !equalIDs(ids, []int64{m.ID}) {
			t.Errorf("InFlight(since after its creation, before it was sent) = %v, want [%d]", ids, m.ID)
		}
	})

	t.Run("ConfirmUnleasedFreesTheConversation", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		m := f.enqueue(c, "outcome unknown")
		next := f.enqueue(c, "next")
		it := begin(f, "w1")
		f.must(f.s.Outbox().Defer(f.ctx, &it, f.clock.Now().Add(time.Hour), "timeout"), "Defer")
		f.wantNoClaim("w2", "while deferred")
		f.must(f.s.Outbox().Confirm(f.ctx, m.ID, "echo-1"), "Confirm")
		got := f.wantStatus(m.ID, model.StatusSent)
		if got.ProviderMessageID != "echo-1" {
			t.Errorf("ProviderMessageID after Confirm = %q, want echo-1", got.ProviderMessageID)
		}
		if got, err := f.s.Messages().ByProviderID(f.ctx, "ig1", "echo-1"); err != nil || got.ID != m.ID {
			t.Errorf("ByProviderID(echo-1) = %v, %v, want message %d", got, err, m.ID)
		}
		if got := f.claimOnly("w2"); got.MessageID != next.ID {
			t.Errorf("Claim() after Confirm = message %d, want the next %d", got.MessageID, next.ID)
		}
		if n, _ := f.s.Outbox().Backlog(f.ctx); n != 1 {
			t.Errorf("Backlog() after Confirm = %d, want 1", n)
		}
	})

	t.Run("ConfirmLeasedThenSent", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		m := f.enqueue(c, "echo came first")
		next := f.enqueue(c, "next")
		it := begin(f, "w1")
		f.must(f.s.Outbox().Confirm(f.ctx, m.ID, "echo-1"), "Confirm")
		f.wantStatus(m.ID, model.StatusSent)
		f.wantNoClaim("w2", "while w1 holds the conversation")
		if err := f.s.Outbox().Sent(f.ctx, &it, []string{"p-1"}); err != nil {
			t.Errorf("Sent after Confirm = %v, want nil (it only adds the ids)", err)
		}
		got := f.wantStatus(m.ID, model.StatusSent)
		if got.ProviderMessageID != "echo-1" {
			t.Errorf("ProviderMessageID after Confirm(echo-1), Sent(p-1) = %q, want echo-1", got.ProviderMessageID)
		}
		if got, err := f.s.Messages().ByProviderID(f.ctx, "ig1", "p-1"); err != nil || got.ID != m.ID {
			t.Errorf("ByProviderID(p-1) = %v, %v, want message %d", got, err, m.ID)
		}
		if got := f.claimOnly("w2"); got.MessageID != next.ID {
			t.Errorf("Claim() after Sent = message %d, want the next %d", got.MessageID, next.ID)
		}
	})

	t.Run("ConfirmLeasedThenFail", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		m := f.enqueue(c, "echo came first")
		next := f.enqueue(c, "next")
		it := begin(f, "w1")
		f.must(f.s.Outbox().Confirm(f.ctx, m.ID, "echo-1"), "Confirm")
		f.wantNoClaim("w2", "while w1 holds the conversation")
		if err := f.s.Outbox().Fail(f.ctx, &it, "timeout"); err != nil {
			t.Errorf("Fail after Confirm = %v, want nil (the lease holder completes the row)", err)
		}
		if got := f.claimOnly("w2"); got.MessageID != next.ID {
			t.Errorf("Claim() after Fail = message %d, want the next %d", got.MessageID, next.ID)
		}
	})

	for _, status := range []string{model.StatusSent, model.StatusDelivered} {
		t.Run("ConfirmAlready"+status, func(t *testing.T) {
			f, c := outboxFixture(t, open)
			m := f.send(c, "done already")
			if status != model.StatusSent {
				f.setStatus(m.ID, status)
			}
			f.must(f.s.Outbox().Confirm(f.ctx, m.ID, "echo-2"), "Confirm(%s)", status)
			got := f.wantStatus(m.ID, status)
			if want := "p-" + strconv.FormatInt(m.ID, 10); got.ProviderMessageID != want {
				t.Errorf("ProviderMessageID after Confirm of a %s message = %q, want %q kept", status, got.ProviderMessageID, want)
			}
			if got, err := f.s.Messages().ByProviderID(f.ctx, "ig1", "echo-2"); err != nil || got.ID != m.ID {
				t.Errorf("ByProviderID(echo-2) = %v, %v, want message %d", got, err, m.ID)
			}
		})
	}
}

// equalIDs compares ids in order.
func equalIDs(got, want []int64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
