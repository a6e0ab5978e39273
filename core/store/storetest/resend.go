package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// testResend: a person sends a failed message again (Retry). It is the one
// way out of failed, it queues like a new send (behind what the
// conversation already has queued, after the worker holding the
// conversation lets go) and it refuses anything but a settled failure.
func testResend(t *testing.T, open Open) {
	// sendClaimed begins and completes a claimed send.
	sendClaimed := func(f *fixture, it store.OutboxItem) {
		f.t.Helper()
		f.must(f.s.Outbox().Begin(f.ctx, &it, false), "Begin(%d)", it.MessageID)
		f.must(f.s.Outbox().Sent(f.ctx, &it, []string{"p-" + it.IdempotencyKey}), "Sent(%d)", it.MessageID)
	}

	t.Run("PendingAgainBehindTheQueuedSends", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		failed := f.failSend(c, "token expired")
		if failed.Error == "" {
			t.Fatalf("failSend left no error text")
		}
		queued := f.enqueue(c, "written after the failure")
		f.clock.Advance(time.Minute)
		f.must(f.s.Outbox().Resend(f.ctx, failed.ID, "resend-1"), "Resend(failed)")
		got := f.wantStatus(failed.ID, model.StatusPending)
		if got.Error != "" {
			t.Errorf("Error after Resend = %q, want it cleared", got.Error)
		}
		if n, _ := f.s.Outbox().Backlog(f.ctx); n != 2 {
			t.Errorf("Backlog() after Resend = %d, want 2 (the queued send and the resent one)", n)
		}
		first := f.claimOnly("w")
		if first.MessageID != queued.ID {
			t.Fatalf("Claim() after Resend = message %d, want %d first: it was queued before the retry", first.MessageID, queued.ID)
		}
		sendClaimed(f, first)
		again := f.claimOnly("w")
		if again.MessageID != failed.ID || again.IdempotencyKey != "resend-1" || again.State != model.StatusPending ||
			again.Attempts != 0 || !sameTime(again.CreatedAt, f.clock.Now()) {
			t.Errorf("Claim() of the resent message = %+v, want message %d, key resend-1, pending, 0 attempts, created %v",
				again, failed.ID, f.clock.Now())
		}
		sendClaimed(f, again)
		f.wantStatus(failed.ID, model.StatusSent)
		if n, _ := f.s.Outbox().Backlog(f.ctx); n != 0 {
			t.Errorf("Backlog() after both went = %d, want 0", n)
		}
	})

	t.Run("WaitsForTheWorkerHoldingTheConversation", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		failed := f.failSend(c, "rejected")
		later := f.enqueue(c, "in flight")
		held := f.claimOnly("w1")
		f.must(f.s.Outbox().Begin(f.ctx, &held, false), "Begin")
		f.must(f.s.Outbox().Resend(f.ctx, failed.ID, "resend-1"), "Resend while w1 holds the conversation")
		f.wantNoClaim("w2", "while w1 holds the conversation")
		f.must(f.s.Outbox().Sent(f.ctx, &held, []string{"p-later"}), "Sent(%d)", later.ID)
		if got := f.claimOnly("w2"); got.MessageID != failed.ID {
			t.Errorf("Claim() after w1's send = message %d, want the resent %d", got.MessageID, failed.ID)
		}
	})

	t.Run("OnlyASettledFailure", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		sent := f.send(c, "went out")
		in := f.inbound(c, "from the user")
		pending := f.enqueue(c, "not tried yet")
		cases := []struct {
			name string
			id   int64
			from string
		}{
			{"pending", pending.ID, model.StatusPending},
			{"sent", sent.ID, model.StatusSent},
			{"inbound", in.ID, model.StatusReceived},
		}
		for _, tc := range cases {
			err := f.s.Outbox().Resend(f.ctx, tc.id, "resend-"+tc.name)
			wantTransition(t, "Resend("+tc.name+")", err, tc.from, model.StatusPending)
		}
		wantIs(t, "Resend(no such message)", f.s.Outbox().Resend(f.ctx, 999999, "resend-none"), store.ErrNotFound)
		if n, _ := f.s.Outbox().Backlog(f.ctx); n != 1 {
			t.Errorf("Backlog() after refused Resends = %d, want 1 (the pending send)", n)
		}
	})

	t.Run("TwiceIsRefused", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		failed := f.failSend(c, "rejected")
		f.must(f.s.Outbox().Resend(f.ctx, failed.ID, "resend-1"), "Resend")
		err := f.s.Outbox().Resend(f.ctx, failed.ID, "resend-2")
		wantTransition(t, "Resend again", err, model.StatusPending, model.StatusPending)
		if n, _ := f.s.Outbox().Backlog(f.ctx); n != 1 {
			t.Errorf("Backlog() after Resend twice = %d, want 1", n)
		}
	})

	t.Run("UsedKeyIsConflict", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		failed := f.failSend(c, "rejected")
		other := f.conversation("ig1")
		f.must(f.s.Outbox().Enqueue(f.ctx, outbound(other, "elsewhere"), "taken"), "Enqueue(taken)")
		err := f.s.Outbox().Resend(f.ctx, failed.ID, "taken")
		wantIs(t, "Resend(a used key)", err, store.ErrConflict)
		if got := f.wantStatus(failed.ID, model.StatusFailed); got.Error != "rejected" {
			t.Errorf("Error after a refused Resend = %q, want the reason kept", got.Error)
		}
		if n, _ := f.s.Outbox().Backlog(f.ctx); n != 1 {
			t.Errorf("Backlog() after a refused Resend = %d, want 1", n)
		}
	})

	// A refusal inside a transaction leaves nothing behind (no queue key
	// with no row) and the transaction usable.
	t.Run("RefusedInATxLeavesItUsable", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		sent := f.send(c, "went out")
		other := f.conversation("ig1")
		f.tx(func(tx store.Tx) error {
			err := tx.Outbox().Resend(f.ctx, sent.ID, "resend-1")
			wantTransition(t, "Resend(sent) in a Tx", err, model.StatusSent, model.StatusPending)
			return tx.Outbox().Enqueue(f.ctx, outbound(other, "after the refusal"), "after")
		})
		if got := f.claimOnly("w"); got.Conversation != other.ID {
			t.Errorf("Claim() = conversation %d, want %d (the send made after the refusal)", got.Conversation, other.ID)
		}
	})

	// A provider may report a send failed while its attempt is still in
	// flight: the attempt settles first.
	t.Run("NotWhileAnAttemptIsOpen", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		m := f.enqueue(c, "reported failed early")
		it := f.claimOnly("w")
		f.must(f.s.Outbox().Begin(f.ctx, &it, false), "Begin")
		f.setStatus(m.ID, model.StatusFailed)
		err := f.s.Outbox().Resend(f.ctx, m.ID, "resend-1")
		wantTransition(t, "Resend while its attempt is in flight", err, model.StatusFailed, model.StatusPending)
		f.must(f.s.Outbox().Sent(f.ctx, &it, []string{"p-1"}), "Sent")
		f.wantStatus(m.ID, model.StatusFailed)
		f.must(f.s.Outbox().Resend(f.ctx, m.ID, "resend-2"), "Resend once the attempt settled")
		f.wantStatus(m.ID, model.StatusPending)
	})

	// An echo confirms the resent attempt, not the failed one before it.
	t.Run("EchoConfirmsTheNewAttempt", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		failed := f.failSend(c, "timeout")
		f.must(f.s.Outbox().Resend(f.ctx, failed.ID, "resend-1"), "Resend")
		it := f.claimOnly("w")
		f.must(f.s.Outbox().Begin(f.ctx, &it, false), "Begin")
		f.must(f.s.Outbox().Defer(f.ctx, &it, f.clock.Now().Add(time.Hour), "timeout"), "Defer")
		f.must(f.s.Outbox().Confirm(f.ctx, failed.ID, "echo-1"), "Confirm")
		f.wantStatus(failed.ID, model.StatusSent)
		if n, _ := f.s.Outbox().Backlog(f.ctx); n != 0 {
			t.Errorf("Backlog() after the echo = %d, want 0: the resent row is done", n)
		}
	})

	// The race of several nodes: the person's Resend lands just as the
	// worker completes the conversation's last open row, which removes the
	// key when it finds nothing left. The resent row must never be
	// stranded with no key.
	t.Run("WhileTheConversationDrains", func(t *testing.T) {
		f, c := outboxFixture(t, open)
		for round := range 20 {
			failed := f.failSend(c, "rejected")
			f.enqueue(c, "the last open row")
			it := f.claimOnly("w")
			f.must(f.s.Outbox().Begin(f.ctx, &it, false), "Begin")
			var wg sync.WaitGroup
			var sentErr, resendErr error
			wg.Add(2)
			go func() { defer wg.Done(); sentErr = f.s.Outbox().Sent(f.ctx, &it, []string{"p-" + it.IdempotencyKey}) }()
			go func() {
				defer wg.Done()
				resendErr = f.s.Outbox().Resend(f.ctx, failed.ID, "resend-"+it.IdempotencyKey)
			}()
			wg.Wait()
			f.must(sentErr, "round %d: Sent", round)
			f.must(resendErr, "round %d: Resend", round)
			items, err := f.s.Outbox().Claim(f.ctx, "w", 10, time.Minute)
			f.must(err, "round %d: Claim", round)
			if len(items) != 1 || items[0].MessageID != failed.ID {
				t.Fatalf("round %d: Claim() after Sent and Resend raced = messages %v, want the resent %d (stranded?)",
					round, outboxIDs(items), failed.ID)
			}
			sendClaimed(f, items[0])
		}
	})
}
