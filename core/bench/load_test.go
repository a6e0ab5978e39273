package bench

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// holdingServer answers nothing until released, and counts what arrived.
type holdingServer struct {
	*httptest.Server
	arrived  atomic.Int64
	release  chan struct{}
	once     sync.Once
	inFlight atomic.Int64
	peak     atomic.Int64
}

func newHoldingServer(t *testing.T, hold bool) *holdingServer {
	h := &holdingServer{release: make(chan struct{})}
	if !hold {
		h.free()
	}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		h.arrived.Add(1)
		n := h.inFlight.Add(1)
		for p := h.peak.Load(); n > p && !h.peak.CompareAndSwap(p, n); p = h.peak.Load() {
		}
		<-h.release
		h.inFlight.Add(-1)
	}))
	t.Cleanup(func() { h.free(); h.Close() })
	return h
}

func (h *holdingServer) free() { h.once.Do(func() { close(h.release) }) }

// waitFor polls cond until it holds or a generous deadline passes (which
// means the property is broken, not that the machine is slow).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func metaHooks() *Webhooks { return &Webhooks{Channel: "meta", Secret: "s3cret", Run: "0000beef"} }

// A server that answers nothing does not hold the schedule back: every
// webhook due is sent, each on its own connection, before any is answered.
func TestOpenLoopDoesNotWaitForAnswers(t *testing.T) {
	srv := newHoldingServer(t, true)
	rec := NewRecorder(NewClock())
	l := &Load{URL: srv.URL + "/webhooks/x", Webhooks: metaHooks(), Rate: 400, Duration: 100 * time.Millisecond, Connections: 100}
	done := make(chan Window, 1)
	go func() { done <- l.Run(context.Background(), rec) }()
	waitFor(t, "all 40 webhooks to reach a server that answers none", func() bool { return srv.arrived.Load() == 40 })
	if n := rec.acked.Load(); n != 0 {
		t.Fatalf("%d webhooks acknowledged while the server held every answer", n)
	}
	srv.free()
	w := <-done
	r := Collect(rec, w, false)
	if w.Scheduled != 40 || r.Offered != 40 || r.Acked != 40 || len(r.Errors) != 0 {
		t.Errorf("scheduled %d, offered %d, acked %d, errors %v; want 40, 40, 40, none", w.Scheduled, r.Offered, r.Acked, r.Errors)
	}
}

// With fewer connections than webhooks in flight, the schedule still runs
// on: the webhooks queue for a connection, and that wait counts in their
// latency rather than lowering the offered rate.
func TestOpenLoopQueuesBehindBusyConnections(t *testing.T) {
	srv := newHoldingServer(t, true)
	rec := NewRecorder(NewClock())
	l := &Load{URL: srv.URL + "/webhooks/x", Webhooks: metaHooks(), Rate: 400, Duration: 100 * time.Millisecond, Connections: 2}
	done := make(chan Window, 1)
	go func() { done <- l.Run(context.Background(), rec) }()
	// Every webhook is scheduled (has its slot and due time) though only
	// two can be on the wire and none is answered.
	waitFor(t, "the scheduler to issue all 40 webhooks", func() bool { return rec.slots.len() == 40 })
	waitFor(t, "two webhooks at the server", func() bool { return srv.arrived.Load() == 2 })
	time.Sleep(20 * time.Millisecond)
	if n := srv.arrived.Load(); n != 2 {
		t.Errorf("%d webhooks reached the server over 2 connections", n)
	}
	srv.free()
	w := <-done
	r := Collect(rec, w, false)
	if r.Acked != 40 {
		t.Fatalf("acked %d of 40", r.Acked)
	}
	if p := srv.peak.Load(); p > 2 {
		t.Errorf("the server saw %d concurrent requests over 2 connections", p)
	}
	// The queued webhooks' latency includes their wait: the slowest ack
	// is at least the 20 ms the server held every answer.
	if r.Ack.Max < 20*time.Millisecond || r.Wait.Max < 20*time.Millisecond {
		t.Errorf("ack max %s, wait max %s: the time spent queued for a connection is not counted", r.Ack.Max, r.Wait.Max)
	}
	for i := range 40 {
		s := rec.slots.lookup(i)
		if s.due == 0 || s.sent < s.due || s.acked < s.sent {
			t.Errorf("webhook %d: due %d, sent %d, acked %d: not in order", i, s.due, s.sent, s.acked)
		}
	}
}

// The warm-up's webhooks are sent but left out of the figures.
func TestWarmupIsLeftOut(t *testing.T) {
	srv := newHoldingServer(t, false)
	rec := NewRecorder(NewClock())
	l := &Load{URL: srv.URL, Webhooks: metaHooks(), Rate: 200, Warmup: 50 * time.Millisecond, Duration: 100 * time.Millisecond, Connections: 8}
	w := l.Run(context.Background(), rec)
	r := Collect(rec, w, false)
	if w.Scheduled != 30 || w.FirstMeasured != 10 || r.Offered != 20 || srv.arrived.Load() != 30 {
		t.Errorf("scheduled %d (first measured %d), offered %d, arrived %d; want 30 (10), 20, 30", w.Scheduled, w.FirstMeasured, r.Offered, srv.arrived.Load())
	}
}

// At saturation each connection posts as soon as its previous webhook is
// answered, never more than Connections at once.
func TestSaturationKeepsConnectionsBusy(t *testing.T) {
	srv := newHoldingServer(t, false)
	rec := NewRecorder(NewClock())
	l := &Load{URL: srv.URL, Webhooks: metaHooks(), Duration: 200 * time.Millisecond, Connections: 4}
	w := l.Run(context.Background(), rec)
	r := Collect(rec, w, false)
	if r.Offered == 0 || r.Acked != r.Offered || len(r.Errors) != 0 || r.Throughput <= 0 {
		t.Errorf("offered %d, acked %d, errors %v, throughput %.1f", r.Offered, r.Acked, r.Errors, r.Throughput)
	}
	if p := srv.peak.Load(); p > 4 {
		t.Errorf("the server saw %d concurrent requests from 4 connections", p)
	}
	if int64(w.Scheduled) != srv.arrived.Load() {
		t.Errorf("scheduled %d, the server received %d", w.Scheduled, srv.arrived.Load())
	}
}

// Errors are counted by status.
func TestErrorsByStatus(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	rec := NewRecorder(NewClock())
	l := &Load{URL: srv.URL, Webhooks: metaHooks(), Rate: 200, Duration: 100 * time.Millisecond, Connections: 1}
	r := Collect(rec, l.Run(context.Background(), rec), false)
	if r.Acked != 10 || r.Errors["503"] != 10 || r.ErrorText() != "503×10" {
		t.Errorf("acked %d, errors %v (%s); want 10 and 503×10", r.Acked, r.Errors, r.ErrorText())
	}
}

func TestMetaWebhookIsSignedAndUnique(t *testing.T) {
	h := metaHooks()
	now := time.UnixMilli(1_700_000_000_000)
	hdr := http.Header{}
	b1 := h.Request(1, now, hdr.Set)
	b2 := h.Request(2, now, func(string, string) {})
	m := hmac.New(sha256.New, []byte(h.Secret))
	m.Write(b1)
	if got, want := hdr.Get("X-Hub-Signature-256"), "sha256="+hex.EncodeToString(m.Sum(nil)); got != want {
		t.Errorf("signature = %q, want %q", got, want)
	}
	var ev struct {
		Object string `json:"object"`
		Entry  []struct {
			ID        string `json:"id"`
			Messaging []struct {
				Sender    struct{ ID string } `json:"sender"`
				Timestamp int64               `json:"timestamp"`
				Message   struct {
					Mid  string `json:"mid"`
					Text string `json:"text"`
				} `json:"message"`
			} `json:"messaging"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(b1, &ev); err != nil {
		t.Fatalf("body %s: %v", b1, err)
	}
	if ev.Object != "instagram" || len(ev.Entry) != 1 || ev.Entry[0].ID != BusinessID || len(ev.Entry[0].Messaging) != 1 {
		t.Fatalf("body %s is not one Instagram messaging event for the business", b1)
	}
	msg := ev.Entry[0].Messaging[0]
	if msg.Sender.ID != User(1) || msg.Message.Text != Text || msg.Timestamp != now.UnixMilli() || msg.Message.Mid == "" {
		t.Errorf("messaging %+v, want a text %q from %s at %d", msg, Text, User(1), now.UnixMilli())
	}
	var ev2 struct {
		Entry []struct {
			Messaging []struct {
				Message struct{ Mid string } `json:"message"`
			} `json:"messaging"`
		} `json:"entry"`
	}
	json.Unmarshal(b2, &ev2)
	if ev2.Entry[0].Messaging[0].Message.Mid == msg.Message.Mid {
		t.Errorf("webhooks 1 and 2 share the mid %q", msg.Message.Mid)
	}
}

func TestZenviaWebhookCarriesCredentials(t *testing.T) {
	h := &Webhooks{Channel: "zenvia", Username: "u", Token: "tok", Run: "0000beef"}
	hdr := http.Header{}
	b := h.Request(5, time.Now(), hdr.Set)
	if hdr.Get("Username") != "u" || hdr.Get("AuthenticationToken") != "tok" {
		t.Errorf("headers %v lack the webhook credentials", hdr)
	}
	var ev struct {
		ID, Type string
		Message  struct {
			ID, From, To string
			Contents     []struct{ Type, Text string }
		}
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	if ev.Type != "MESSAGE" || ev.ID == "" || ev.Message.ID == "" || ev.ID == ev.Message.ID || ev.Message.From != User(5) ||
		ev.Message.To != ZenviaSender || len(ev.Message.Contents) != 1 || ev.Message.Contents[0].Text != Text {
		t.Errorf("event %+v is not a text %q from %s to %s with distinct ids", ev, Text, User(5), ZenviaSender)
	}
	b6 := h.Request(6, time.Now(), func(string, string) {})
	var ev6 struct{ ID string }
	json.Unmarshal(b6, &ev6)
	if ev6.ID == ev.ID {
		t.Errorf("webhooks 5 and 6 share the event id %q", ev.ID)
	}
}

// The measured window is cut into spans by due time: a server that slows
// down during the run shows it in the later spans' latency, and every
// measured webhook is in exactly one span.
func TestSpansFollowTheRun(t *testing.T) {
	start := time.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if time.Since(start) > 220*time.Millisecond {
			time.Sleep(30 * time.Millisecond)
		}
	}))
	defer srv.Close()
	rec := NewRecorder(NewClock())
	l := &Load{URL: srv.URL, Webhooks: metaHooks(), Rate: 200, Duration: 300 * time.Millisecond, Connections: 64}
	r := Collect(rec, l.Run(context.Background(), rec), false)
	if len(r.Spans) != spanCount {
		t.Fatalf("%d spans, want %d", len(r.Spans), spanCount)
	}
	n := 0
	for _, s := range r.Spans {
		n += s.Ack.N
	}
	if n != r.Acked || r.Acked != 60 {
		t.Errorf("spans hold %d acks, the run %d (want 60)", n, r.Acked)
	}
	first, last := r.Spans[0].Ack, r.Spans[spanCount-1].Ack
	if last.P99 < 30*time.Millisecond || first.P99 >= last.P99 {
		t.Errorf("first span p99 %s, last %s: the slowdown at the end of the run does not show", first.P99, last.P99)
	}
	if got := r.SpanText(false); !strings.HasPrefix(got, "ack p99 by 50ms of the run: ") || len(strings.Fields(got)) != 7+spanCount {
		t.Errorf("SpanText = %q", got)
	}
}
