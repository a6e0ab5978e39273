package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conversa/conversa/core/config"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/sqlite"
)

func (r *rig) replies() []model.Message {
	r.t.Helper()
	ctx := context.Background()
	convs, err := r.st.Conversations().List(ctx, store.ConversationFilter{})
	if err != nil {
		r.t.Fatal(err)
	}
	var out []model.Message
	for _, c := range convs {
		msgs, err := r.st.Messages().List(ctx, c.ID)
		if err != nil {
			r.t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Direction == model.DirectionOut {
				out = append(out, m)
			}
		}
	}
	return out
}

// postEcho delivers the provider's echo of a message the business sent
// user, under mid.
func (r *rig) postEcho(user, mid, text string) {
	r.t.Helper()
	r.ch.mu.Lock()
	r.ch.parse = func(*pluginhost.WebhookRequest) *pluginhost.WebhookResponse {
		return &pluginhost.WebhookResponse{Authenticated: true, Events: []*model.Event{{Kind: "echo", DedupeKey: "echo-" + mid,
			MessageID: mid, ContactID: user, Contents: []model.Content{{Type: "text", Text: text}}}}}
	}
	r.ch.mu.Unlock()
	r.post()
}

func (r *rig) outboxEmpty() bool {
	n, err := r.st.Outbox().Backlog(context.Background())
	return err == nil && n == 0
}

// unknownOnce answers the first send with an unknown outcome (a 5xx, a
// timeout), and accepts the rest.
func unknownOnce(ch *fakeChannel) {
	var once sync.Once
	ch.sendFunc = func(*pluginhost.SendRequest) *pluginhost.SendResponse {
		resp := &pluginhost.SendResponse{MessageIDs: []string{fmt.Sprint("mid-", time.Now().UnixNano())}}
		once.Do(func() {
			resp = &pluginhost.SendResponse{Error: &pluginhost.SendError{Code: "http_502", Retryable: true, UnknownOutcome: true}}
		})
		return resp
	}
}

func TestUnknownOutcomeWithoutEchoesIsResentAndMarked(t *testing.T) {
	ch := &fakeChannel{parse: textEvents("u1", "hello")}
	unknownOnce(ch)
	r := startedRig(t, ch, &fakeAssistant{})
	r.post()
	eventually(t, "the reply resent and settled", func() bool { return len(ch.sends()) == 2 && r.outboxEmpty() })
	out := r.replies()
	if len(out) != 1 || out[0].Status != model.StatusSent || !out[0].PossibleDuplicate {
		t.Errorf("replies = %+v, want one, sent, marked as possibly duplicated", out)
	}
}

func TestUnknownOutcomeWithEchoesWaitsThenResends(t *testing.T) {
	ch := &fakeChannel{parse: textEvents("u1", "hello"), echoes: true}
	unknownOnce(ch)
	r := newRigWith(t, "", fakePlugins{ch: ch, as: &fakeAssistant{}}, 300*time.Millisecond)
	t.Cleanup(r.close)
	if err := r.e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r.post()
	eventually(t, "the reply resent after no echo came", func() bool { return len(ch.sends()) == 2 && r.outboxEmpty() })
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Errorf("resent after %v, before the echo wait (300ms) was over", waited)
	}
	out := r.replies()
	if len(out) != 1 || out[0].Status != model.StatusSent || out[0].PossibleDuplicate {
		t.Errorf("replies = %+v, want one, sent, not marked: no echo proves it never went out", out)
	}
}

// TestInFlightSendAfterACrashWaitsForItsEcho stops the engine while a send
// is on the wire (the plugin never answers), as a crash would, and starts a
// new one on the same database: the send is not repeated; its echo settles
// it.
func TestInFlightSendAfterACrashWaitsForItsEcho(t *testing.T) {
	ch := &fakeChannel{parse: textEvents("u1", "hello"), echoes: true}
	release := make(chan struct{})
	var blocked atomic.Bool
	blocked.Store(true)
	ch.sendFunc = func(*pluginhost.SendRequest) *pluginhost.SendResponse {
		if blocked.Load() {
			<-release
			return &pluginhost.SendResponse{Error: &pluginhost.SendError{Code: "cut", Retryable: true, UnknownOutcome: true}}
		}
		return &pluginhost.SendResponse{MessageIDs: []string{"mid-again"}}
	}
	r := newRigWith(t, "", fakePlugins{ch: ch, as: &fakeAssistant{}}, time.Hour)
	if err := r.e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.post()
	eventually(t, "the send on the wire", func() bool { return len(ch.sends()) == 1 })
	blocked.Store(false)
	close(release)
	r.e.Stop()
	r.st.Close()

	r = newRigWith(t, r.path, fakePlugins{ch: ch, as: &fakeAssistant{}}, time.Hour)
	t.Cleanup(r.close)
	if err := r.e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out := r.replies(); len(out) != 1 || out[0].Status != model.StatusInFlight {
		t.Fatalf("after the restart: %+v, want the reply in flight", out)
	}
	r.postEcho("u1", "mid-echo", "echo: hello")
	eventually(t, "the echo settling the send", r.outboxEmpty)
	if n := len(ch.sends()); n != 1 {
		t.Errorf("sends = %d, want 1: the send on the wire at the crash went out and was not repeated", n)
	}
	if out := r.replies(); len(out) != 1 || out[0].Status != model.StatusSent || out[0].ProviderMessageID != "mid-echo" {
		t.Errorf("replies = %+v, want one, sent under the echo's id", out)
	}
}

func TestNothingIsSentWhileTheChannelIsDown(t *testing.T) {
	ch := &fakeChannel{parse: textEvents("u1", "hello")}
	var down atomic.Bool
	// The channel goes down while the assistant thinks: after the webhook
	// was taken, before the reply could go out. Setting it from the test
	// after post() would race the worker, which may legitimately send
	// while the channel still runs.
	as := &fakeAssistant{reply: func(r *pluginhost.ConverseRequest) (*pluginhost.ConverseResponse, error) {
		down.Store(true)
		return &pluginhost.ConverseResponse{Replies: []model.Content{{Type: "text", Text: "echo: " + r.Contents[0].Text}}}, nil
	}}
	r := newRigWith(t, "", fakePlugins{ch: ch, as: as, down: &down}, time.Second)
	t.Cleanup(r.close)
	if err := r.e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The webhook was taken while the channel ran; then it went down.
	ch.mu.Lock()
	ch.sendFunc = func(*pluginhost.SendRequest) *pluginhost.SendResponse {
		t.Error("Send called while the channel is down")
		return &pluginhost.SendResponse{}
	}
	ch.mu.Unlock()
	down.Store(true)
	if _, err := r.e.Webhook(context.Background(), "ig", WebhookRequest{Method: "POST"}); !errors.Is(err, ErrChannelDown) {
		t.Errorf("Webhook while the channel is down = %v, want ErrChannelDown (503: the source retries)", err)
	}
	down.Store(false)
	r.post()
	eventually(t, "the reply queued", func() bool { return len(r.replies()) == 1 })
	time.Sleep(100 * time.Millisecond)
	if out := r.replies(); out[0].Status != model.StatusPending {
		t.Errorf("reply while the channel is down = %s, want pending (nothing attempted)", out[0].Status)
	}
	ch.mu.Lock()
	ch.sendFunc = nil
	ch.mu.Unlock()
	down.Store(false)
	r.e.PluginChanged("fake", "running")
	eventually(t, "the reply sent once the channel is back", func() bool { return len(ch.sends()) == 1 && r.outboxEmpty() })
}

// TestBusyContactDoesNotHoldBackOthers queues a large backlog for one
// contact, then one event for another: the other is answered while most of
// the backlog still waits.
func TestBusyContactDoesNotHoldBackOthers(t *testing.T) {
	const backlog = 2000
	ch := &fakeChannel{}
	as := &fakeAssistant{}
	r := newRig(t, "", ch, as)
	t.Cleanup(r.close)
	var texts []string
	for i := range backlog {
		texts = append(texts, fmt.Sprint("busy-", i))
	}
	ch.parse = textEvents("busy", texts...)
	r.post()
	if err := r.e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the backlog draining", func() bool { return len(ch.sends()) > 10 })
	ch.mu.Lock()
	ch.parse = textEvents("quiet", "hello")
	ch.mu.Unlock()
	r.post()
	var busyBefore int
	eventually(t, "the quiet contact's reply", func() bool {
		for _, s := range ch.sends() {
			if s.Contact.ChannelUserID == "quiet" {
				return true
			}
			busyBefore++
		}
		busyBefore = 0
		return false
	})
	if busyBefore > backlog/2 {
		t.Errorf("the quiet contact was answered after %d of the busy contact's %d replies; want it served between them", busyBefore, backlog)
	}
	t.Logf("quiet contact answered after %d of %d busy replies", busyBefore, backlog)
}

// TestConfigWithAChannelThatIsDown applies a configuration whose channel
// plugin cannot run: nothing fails, the integration is unavailable and
// says why; once the plugin runs, its generated credentials are made, and
// a setting the channel requires but the file lacks is named.
func TestConfigWithAChannelThatIsDown(t *testing.T) {
	ch := &fakeChannel{generated: []string{"verify_token"}, required: []string{"api_token"}}
	var down atomic.Bool
	down.Store(true)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := New(Options{Store: st, Plugins: fakePlugins{ch: ch, as: &fakeAssistant{}, down: &down}, Hooks: plainHooks{}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	ctx := context.Background()
	sixty, on := 60, true
	cfg := []config.Integration{{ID: "ig", Name: "IG", Channel: "fake", Squad: "geral", InactivityMinutes: &sixty, Enabled: &on,
		Settings: map[string]any{"sender": "x"}}}
	if err := e.ApplyConfig(ctx, cfg); err != nil {
		t.Fatalf("ApplyConfig with the channel down = %v, want it applied", err)
	}
	in := e.Integration("ig")
	if ok, why := e.Availability(in); ok || why == "" {
		t.Errorf("Availability while the plugin is down = %v %q, want unavailable with a reason", ok, why)
	}
	if masked := e.MaskedSettings(ctx, in); masked["sender"] == "x" {
		t.Errorf("settings shown while the channel cannot say which are secret = %v, want every text masked", masked)
	}
	down.Store(false)
	e.PluginChanged("fake", "running")
	eventually(t, "the integration provisioned", func() bool { return e.Integration("ig").Setting("verify_token") != "" })
	ok, why := e.Availability(e.Integration("ig"))
	if ok || !strings.Contains(why, "settings.api_token") {
		t.Errorf("Availability once the plugin runs = %v %q, want unavailable naming settings.api_token", ok, why)
	}
	// The operator gives it: available at once.
	fixed := *e.Integration("ig")
	fixed.Settings = map[string]any{"sender": "x", "api_token": "t0k3n"}
	if err := e.Put(ctx, &fixed, true); err != nil {
		t.Fatal(err)
	}
	if ok, why := e.Availability(e.Integration("ig")); !ok {
		t.Errorf("Availability with the required setting given = unavailable (%q), want available", why)
	}
}

// ambiguousCommit is a store whose next durable commit once armed happens
// but reports the database unavailable, as PostgreSQL's does when the
// connection breaks while the commit's answer is on its way.
type ambiguousCommit struct {
	*sqlite.DB
	armed atomic.Bool
}

func (s *ambiguousCommit) Tx(ctx context.Context, fn func(store.Tx) error) error {
	if err := s.DB.Tx(ctx, fn); err != nil {
		return err
	}
	if s.armed.CompareAndSwap(true, false) {
		return fmt.Errorf("commit: connection reset: %w", store.ErrUnavailable)
	}
	return nil
}

// The assistant's turn, with the first reply's send claimed by the worker,
// is committed though the worker is told it may not have been: the retry
// finds the turn done, and the reply still goes out at once (not when the
// worker's claim would have lapsed, a minute later), once.
func TestAReplyIsSentAfterATurnCommitWithAnUnknownOutcome(t *testing.T) {
	ch := &fakeChannel{parse: textEvents("u1", "hello")}
	var st *ambiguousCommit
	as := &fakeAssistant{reply: func(r *pluginhost.ConverseRequest) (*pluginhost.ConverseResponse, error) {
		st.armed.Store(true) // the turn's commit is the next durable one
		return &pluginhost.ConverseResponse{Replies: []model.Content{{Type: "text", Text: "echo: " + r.Contents[0].Text}}}, nil
	}}
	r := newRigOn(t, "", fakePlugins{ch: ch, as: as}, time.Second, func(db *sqlite.DB) store.Store {
		st = &ambiguousCommit{DB: db}
		return st
	})
	t.Cleanup(r.close)
	if err := r.e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.post()
	eventually(t, "the reply sent", func() bool { return len(ch.sends()) == 1 && r.outboxEmpty() })
	if st.armed.Load() {
		t.Fatal("the turn's commit was never the ambiguous one")
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(ch.sends()); n != 1 {
		t.Errorf("%d sends, want 1", n)
	}
	if out := r.replies(); len(out) != 1 || out[0].Status != model.StatusSent {
		t.Errorf("replies = %+v, want one, sent", out)
	}
}

// A webhook's events, claimed for this node's workers in the commit that
// stores them, are committed though the webhook is told they may not have
// been (and answers 503): the keys claimed are given back, so the events
// are processed at once, not held under a lease this node's dispatcher
// would renew with no worker on it, and the source's redelivery is a
// duplicate.
func TestAnEventIsProcessedAfterAWebhookCommitWithAnUnknownOutcome(t *testing.T) {
	ch := &fakeChannel{parse: textEvents("u1", "hello")}
	var st *ambiguousCommit
	r := newRigOn(t, "", fakePlugins{ch: ch, as: &fakeAssistant{}}, time.Second, func(db *sqlite.DB) store.Store {
		st = &ambiguousCommit{DB: db}
		return st
	})
	t.Cleanup(r.close)
	if err := r.e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the inbox's dispatcher caught up", func() bool {
		if n := r.e.inbox.reserve(1); n == 1 {
			r.e.inbox.hand(nil, 1)
			return true
		}
		return false
	})
	st.armed.Store(true) // the webhook's commit is the next durable one
	if _, err := r.e.Webhook(context.Background(), "ig", WebhookRequest{Method: "POST", Body: []byte("{}")}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Webhook with an ambiguous commit = %v, want ErrUnavailable", err)
	}
	eventually(t, "the reply sent", func() bool { return len(ch.sends()) == 1 && r.outboxEmpty() })
	if res := r.post(); res.Stored != 0 || res.Duplicates != 1 {
		t.Errorf("the redelivery = %+v, want a duplicate", res)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(ch.sends()); n != 1 {
		t.Errorf("%d sends, want 1", n)
	}
}
