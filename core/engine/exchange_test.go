package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/store/sqlite"
)

// distinctUsers makes every webhook one text from a new user, and counts
// them.
func distinctUsers(n *atomic.Int64) func(*pluginhost.WebhookRequest) *pluginhost.WebhookResponse {
	return func(*pluginhost.WebhookRequest) *pluginhost.WebhookResponse {
		id := fmt.Sprint("u-", n.Add(1))
		return &pluginhost.WebhookResponse{Authenticated: true, Events: []*model.Event{{Kind: "message", DedupeKey: id,
			MessageID: "mid-" + id, ContactID: id, Timestamp: time.Now(), Contents: []model.Content{{Type: "text", Text: "oi"}}}}}
	}
}

// exchangeCost is what one exchange cost the SQLite writer, on average.
type exchangeCost struct {
	writes, unsynced, commits, synced float64
}

func costOf(before, after sqlite.WriterStats, n int) exchangeCost {
	f := func(a, b int64) float64 { return float64(b-a) / float64(n) }
	return exchangeCost{f(before.Writes, after.Writes), f(before.Unsynced, after.Unsynced),
		f(before.Commits, after.Commits), f(before.Synced, after.Synced)}
}

// TestAnExchangeWaitsForTheDiskOnlyWhereDurabilityNeedsIt counts the
// writer's commits for exchanges one at a time (a new user writes, the
// assistant answers, the reply is sent): the inbound event is stored
// durably before the ack, with its claim for a worker of this node; the
// user, their conversation and message with the assistant's turn and the
// reply's attempt durably before the channel is called (the ids are
// reserved beforehand); the send's outcome after it.
func TestAnExchangeWaitsForTheDiskOnlyWhereDurabilityNeedsIt(t *testing.T) {
	// The first reply's attempt is committed with the turn, and the worker
	// that committed it sends it: the ack, the turn, the outcome, one commit
	// for each of the three things durability asks. Through the outbox's
	// dispatcher, the send's claim and its attempt are commits of their
	// own. On a channel that echoes sends, the outcome is not synced (a
	// lost one is confirmed by the echo).
	t.Run("direct", func(t *testing.T) { testExchangeCommits(t, exchangeCase{}, 3, 3) })
	t.Run("direct-echoing", func(t *testing.T) { testExchangeCommits(t, exchangeCase{echoes: true}, 3, 2) })
	t.Run("dispatched", func(t *testing.T) { testExchangeCommits(t, exchangeCase{noDirectSend: true}, 5, 3) })
	// The event's claim through the inbox's dispatcher: a commit of its own.
	t.Run("claimed-by-the-dispatcher", func(t *testing.T) { testExchangeCommits(t, exchangeCase{noIngestClaim: true}, 4, 3) })
	// A user who writes again, in the conversation the assistant has: the
	// same three.
	t.Run("same-user", func(t *testing.T) { testExchangeCommits(t, exchangeCase{sameUser: true}, 3, 3) })
	t.Run("same-user-echoing", func(t *testing.T) { testExchangeCommits(t, exchangeCase{sameUser: true, echoes: true}, 3, 2) })
	// A stored user who writes after their conversation ended: the new
	// conversation is started in the turn's commit, under the id reserved
	// for it, so the same three again.
	t.Run("returning-after-an-end", func(t *testing.T) {
		testExchangeCommits(t, exchangeCase{sameUser: true, endBetween: true}, 3, 3)
	})
}

// exchangeCase is how testExchangeCommits runs its exchanges.
type exchangeCase struct {
	noDirectSend, noIngestClaim, echoes, sameUser bool
	// endBetween ends the user's conversation before each exchange (the
	// end's own write is not counted).
	endBetween bool
}

// oneUser makes every webhook a new text from the same user.
func oneUser(n *atomic.Int64) func(*pluginhost.WebhookRequest) *pluginhost.WebhookResponse {
	return func(*pluginhost.WebhookRequest) *pluginhost.WebhookResponse {
		id := fmt.Sprint("m-", n.Add(1))
		return &pluginhost.WebhookResponse{Authenticated: true, Events: []*model.Event{{Kind: "message", DedupeKey: id,
			MessageID: id, ContactID: "u1", Timestamp: time.Now(), Contents: []model.Content{{Type: "text", Text: "oi " + id}}}}}
	}
}

func testExchangeCommits(t *testing.T, c exchangeCase, wantWrites, wantSynced int64) {
	var users atomic.Int64
	ch := &fakeChannel{parse: distinctUsers(&users), echoes: c.echoes}
	if c.sameUser {
		ch.parse = oneUser(&users)
	}
	r := newRig(t, "", ch, &fakeAssistant{})
	r.e.o.noDirectSend, r.e.o.noIngestClaim = c.noDirectSend, c.noIngestClaim
	t.Cleanup(r.close)
	if err := r.e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 20
	if c.sameUser {
		r.post()
		eventually(t, "the first reply sent", func() bool { return len(ch.sends()) == 1 && r.outboxEmpty() })
	}
	sentBefore := len(ch.sends())
	before := r.st.WriterStats()
	var ends sqlite.WriterStats // what ending the conversations cost
	for i := range n {
		if c.endBetween {
			open := conversationOfU1(t, r)
			if open.State == model.StateEnded {
				t.Fatalf("exchange %d: the user's latest conversation %d has ended: the previous message started none", i, open.ID)
			}
			s0 := r.st.WriterStats()
			if _, err := r.st.Conversations().End(context.Background(), open.ID, model.EndAgent); err != nil {
				t.Fatal(err)
			}
			s1 := r.st.WriterStats()
			ends.Writes += s1.Writes - s0.Writes
			ends.Unsynced += s1.Unsynced - s0.Unsynced
			ends.Commits += s1.Commits - s0.Commits
			ends.Synced += s1.Synced - s0.Synced
		}
		if res := r.post(); res.Stored != 1 {
			t.Fatalf("webhook %d = %+v, want 1 event stored", i, res)
		}
		eventually(t, "the reply sent", func() bool { return len(ch.sends()) == sentBefore+i+1 && r.outboxEmpty() })
	}
	after := r.st.WriterStats()
	after.Writes -= ends.Writes
	after.Unsynced -= ends.Unsynced
	after.Commits -= ends.Commits
	after.Synced -= ends.Synced
	cost := costOf(before, after, n)
	t.Logf("per exchange: %.2f writes (%.2f unsynced) in %.2f commits, %.2f of them synced",
		cost.writes, cost.unsynced, cost.commits, cost.synced)
	// The ack, the attempt and the outcome, with a little room for the
	// engine's timers (the dispatchers' idle polls are reads).
	const slack = 2
	if synced := after.Synced - before.Synced; synced > wantSynced*n+slack {
		t.Errorf("%d commits for %d exchanges waited for the disk, want at most %d each (the ack, the attempt, the outcome)",
			synced, n, wantSynced)
	}
	if durable := (after.Writes - after.Unsynced) - (before.Writes - before.Unsynced); durable > wantSynced*n+slack {
		t.Errorf("%d durable writes for %d exchanges, want at most %d each", durable, n, wantSynced)
	}
	// Besides: the message (with the profile), the turn (with the send's
	// claim and attempt, when direct), and the event's claim when the
	// dispatcher makes it. On a busy machine a
	// few more unsynced writes show up (a dispatcher can find a key due
	// that the worker sending directly takes first, and its claim is a
	// write that claims nothing): a little more room here, still far less
	// than one more write per exchange would add.
	if writes := after.Writes - before.Writes; writes > wantWrites*n+slack+n/5 {
		t.Errorf("%d writes for %d exchanges, want at most %d each", writes, n, wantWrites)
	}
}

// BenchmarkExchange measures the engine's own cost of whole exchanges, with
// fakes for the plugins (no gRPC, no Lua): b.N new users each send one text
// as a webhook (16 at a time), the fake assistant answers, the fake channel
// accepts the reply. It reports exchanges/s, the time from the webhook to
// the reply at the channel (new users), the SQLite writer's writes,
// commits and synced commits per exchange, and allocations per exchange,
// for the default engine and for variants in the same run: the replies
// sent through the outbox's dispatcher (no direct send), the events
// claimed by the inbox's dispatcher (not in the webhook's commit), 8
// workers per queue; and 200 returning users, whose messages are recorded with the
// assistant's turn, and the same with every message recorded first.
//
//	go test ./core/engine -run XXX -bench 'Exchange$' -benchtime 2000x -benchmem
func BenchmarkExchange(b *testing.B) {
	b.Run("default", func(b *testing.B) { benchExchange(b, Options{}, 0) })
	b.Run("dispatched", func(b *testing.B) { benchExchange(b, Options{noDirectSend: true}, 0) })
	b.Run("claimed-by-the-dispatcher", func(b *testing.B) { benchExchange(b, Options{noIngestClaim: true}, 0) })
	b.Run("workers=8", func(b *testing.B) { benchExchange(b, Options{Workers: 8}, 0) })
	b.Run("returning", func(b *testing.B) { benchExchange(b, Options{}, 200) })
	b.Run("returning-recorded-first", func(b *testing.B) { benchExchange(b, Options{noPendingInbound: true}, 200) })
}

// returningUsers makes every webhook a new text from one of n users, in
// turn.
func returningUsers(seq *atomic.Int64, n int64) func(*pluginhost.WebhookRequest) *pluginhost.WebhookResponse {
	return func(*pluginhost.WebhookRequest) *pluginhost.WebhookResponse {
		i := seq.Add(1)
		id := fmt.Sprint("m-", i)
		return &pluginhost.WebhookResponse{Authenticated: true, Events: []*model.Event{{Kind: "message", DedupeKey: id,
			MessageID: id, ContactID: fmt.Sprint("u-", i%n), Timestamp: time.Now(), Contents: []model.Content{{Type: "text", Text: "oi"}}}}}
	}
}

// benchExchange runs b.N exchanges of new users (users 0), or of users
// returning users who each wrote once before the timer started.
func benchExchange(b *testing.B, o Options, users int) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "c.db"), sqlite.Options{ReclaimLeases: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var seq atomic.Int64
	var sent atomic.Int64
	all := make(chan struct{})
	var once sync.Once
	// For new users: when each webhook was parsed, and how long until the
	// reply reached the channel.
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	var latencies []time.Duration
	parse := distinctUsers(&seq)
	ch := &fakeChannel{parse: func(r *pluginhost.WebhookRequest) *pluginhost.WebhookResponse {
		resp := parse(r)
		mu.Lock()
		arrived[resp.Events[0].ContactID] = time.Now()
		mu.Unlock()
		return resp
	}}
	if users > 0 {
		ch.parse = returningUsers(&seq, int64(users))
	}
	want := int64(b.N + users)
	ch.sendFunc = func(r *pluginhost.SendRequest) *pluginhost.SendResponse {
		if users == 0 {
			mu.Lock()
			if at, ok := arrived[r.Contact.ChannelUserID]; ok {
				latencies = append(latencies, time.Since(at))
			}
			mu.Unlock()
		}
		if sent.Add(1) == want {
			once.Do(func() { close(all) })
		}
		return &pluginhost.SendResponse{MessageIDs: []string{fmt.Sprint("out-", r.IdempotencyKey)}}
	}
	o.Store, o.Plugins, o.Hooks = st, fakePlugins{ch: ch, as: &fakeAssistant{}}, plainHooks{}
	o.Assistants, o.DeliveryLog = []Assistant{{ID: "bot", Backend: "fake"}}, -1
	e, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	in := &model.Integration{ID: "ig", Name: "IG", Channel: "fake", Assistant: "bot", Enabled: true, Source: model.SourceAPI}
	if err := e.Put(ctx, in, false); err != nil {
		b.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer e.Stop()
	for range users {
		if _, err := e.Webhook(ctx, "ig", WebhookRequest{Method: "POST"}); err != nil {
			b.Fatal(err)
		}
	}
	for sent.Load() < int64(users) {
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	before := st.WriterStats()
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := e.Webhook(ctx, "ig", WebhookRequest{Method: "POST"}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-all:
	case <-time.After(5*time.Minute + time.Duration(b.N)*10*time.Millisecond):
		b.Fatalf("%d of %d replies sent in time", sent.Load(), want)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	c := costOf(before, st.WriterStats(), b.N)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "exchanges/s")
	b.ReportMetric(c.writes, "writes/exchange")
	b.ReportMetric(c.commits, "commits/exchange")
	b.ReportMetric(c.synced, "synced/exchange")
	if len(latencies) > 0 {
		slices.Sort(latencies)
		q := func(f float64) float64 {
			return float64(latencies[min(len(latencies)-1, int(f*float64(len(latencies))))].Microseconds()) / 1000
		}
		b.ReportMetric(q(0.5), "reply-p50-ms")
		b.ReportMetric(q(0.99), "reply-p99-ms")
	}
}

// TestTurnCommittedButNotSentIsSentOnceAfterARestart: the assistant's reply
// is committed and its send cannot start (the channel is down); the server
// stops. After the restart the reply goes out once, and the assistant is
// not asked again.
func TestTurnCommittedButNotSentIsSentOnceAfterARestart(t *testing.T) {
	ch := &fakeChannel{parse: textEvents("u1", "hello")}
	var down atomic.Bool
	as := &fakeAssistant{}
	as.reply = func(r *pluginhost.ConverseRequest) (*pluginhost.ConverseResponse, error) {
		down.Store(true) // the reply's send finds the channel down
		return &pluginhost.ConverseResponse{Replies: []model.Content{{Type: "text", Text: "echo: " + r.Contents[0].Text}}}, nil
	}
	plugins := fakePlugins{ch: ch, as: as, down: &down}
	r := newRigWith(t, "", plugins, time.Second)
	if err := r.e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.post()
	eventually(t, "the turn committed", func() bool { return len(r.replies()) == 1 })
	time.Sleep(50 * time.Millisecond)
	if len(ch.sends()) != 0 {
		t.Fatalf("%d sends while the channel was down, want none", len(ch.sends()))
	}
	r.close()

	as.mu.Lock()
	as.reply = nil
	as.mu.Unlock()
	down.Store(false)
	r = newRigWith(t, r.path, plugins, time.Second)
	defer r.close()
	if err := r.e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.e.PluginChanged("fake", "running")
	eventually(t, "the reply sent after the restart", func() bool { return len(ch.sends()) == 1 && r.outboxEmpty() })
	time.Sleep(100 * time.Millisecond)
	if n := len(ch.sends()); n != 1 {
		t.Errorf("the reply was sent %d times, want once", n)
	}
	if heard := as.said(); len(heard) != 1 {
		t.Errorf("the assistant heard %q, want the message once (its turn was committed before the stop)", heard)
	}
	if out := r.replies(); len(out) != 1 || out[0].Status != model.StatusSent {
		t.Errorf("replies after the restart = %+v, want one, sent", out)
	}
}
