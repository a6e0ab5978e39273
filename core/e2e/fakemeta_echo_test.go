package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Send API failure modes of echoGraph, switchable while a test runs.
const (
	graphOK = ""
	// graph500: HTTP 500 with Meta's transient code 2.
	graph500 = "500"
	// graph429: HTTP 429 with Retry-After: 2.
	graph429 = "429"
	// graphRateLimit: HTTP 400 with Meta's rate-limit codes, 4 and 613 in
	// turn.
	graphRateLimit = "ratelimit"
	// graphHang: the request blocks for graphHangFor, past the engine's send
	// deadline; then, in turn, the message did go out (200 to a client that
	// may be gone, and its echo) or it did not (500, no echo). A request cut
	// by a timeout may or may not have reached the user.
	graphHang = "hang"
)

const graphHangFor = 20 * time.Second

// Meta's error bodies (reference SPEC §6.4).
const (
	graphTransientBody = `{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","is_transient":true,"code":2,"fbtrace_id":"x"}}`
	graphAppLimitBody  = `{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","is_transient":true,"code":4,"fbtrace_id":"x"}}`
	graphUserLimitBody = `{"error":{"message":"(#613) Calls to this api have exceeded the rate limit.","type":"OAuthException","code":613,"error_subcode":2534040,"fbtrace_id":"x"}}`
	graph429Body       = `{"error":{"message":"Too many requests","type":"OAuthException","is_transient":true,"code":4,"fbtrace_id":"x"}}`
)

// echoSend is one Send API request as echoGraph saw it.
type echoSend struct {
	At           time.Time // when it arrived
	Recipient    string
	Text         string
	QuickReplies []string
	// Mode is the failure mode in force when it arrived ("" for none).
	Mode string
	// Mid is the message id the fake answered with; "" when the message
	// did not go out.
	Mid string
	// AcceptedAt is when the message went out (after the hang for a
	// delayed one).
	AcceptedAt time.Time
}

// echoCounts is what echoGraph counted for one recipient.
type echoCounts struct {
	Requests int // Send API requests received
	Accepted int // requests whose message went out
	Echoed   int // echoes the server answered 200
}

// echoGraph is Meta's Graph API as a test needs it under stress: it
// records every Send API request, answers an accepted one with a fresh mid
// and then, like Meta, delivers the echo of that message to the server's
// webhook, signed, retrying every echoRetry until it is answered 200 (the
// server may be down or restarting). It can be switched to Meta's failure
// modes while a test runs. Profile lookups answer "consent required".
type echoGraph struct {
	*httptest.Server
	integration string
	secret      string
	business    string

	// base returns the server's current URL: it changes when the server
	// restarts on port 0. Set with deliverTo before the first send.
	base atomic.Pointer[func() string]

	stop chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	mode    string
	hangs   int // hangs so far: even ones deliver, odd ones drop
	limits  int // rate-limit answers so far: code 4 and 613 alternate
	next    int
	sent    []*echoSend
	counts  map[string]*echoCounts
	pending int  // echoes not yet answered 200
	closed  bool // the test is over: no new echoes
}

const echoRetry = 250 * time.Millisecond

// newEchoGraph starts the fake for a Meta integration whose webhook
// checks secret and whose account is business.
func newEchoGraph(t testing.TB, integration, secret, business string) *echoGraph {
	f := &echoGraph{integration: integration, secret: secret, business: business,
		stop: make(chan struct{}), counts: map[string]*echoCounts{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		// Hanging requests and echo retries end here, then the listener.
		f.mu.Lock()
		f.closed = true
		f.mu.Unlock()
		close(f.stop)
		f.wg.Wait()
		f.Server.Close()
	})
	return f
}

// deliverTo tells the fake where the server is now.
func (f *echoGraph) deliverTo(base func() string) { f.base.Store(&base) }

// setMode switches the Send API's answers (graphOK, graph500, ...).
func (f *echoGraph) setMode(mode string) {
	f.mu.Lock()
	f.mode = mode
	f.mu.Unlock()
}

func (f *echoGraph) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodGet {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"User consent is required to access user profile","type":"OAuthException","code":230,"fbtrace_id":"x"}}`)
		return
	}
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/me/messages") {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"message":"Unknown path","type":"OAuthException","code":100}}`)
		return
	}
	var body struct {
		Recipient struct {
			ID string `json:"id"`
		} `json:"recipient"`
		SenderAction string `json:"sender_action"`
		Message      *struct {
			Text         string `json:"text"`
			QuickReplies []struct {
				Title string `json:"title"`
			} `json:"quick_replies"`
			Attachment *json.RawMessage `json:"attachment"`
		} `json:"message"`
	}
	if err := json.Unmarshal(b, &body); err != nil || body.Recipient.ID == "" {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100,"fbtrace_id":"x"}}`)
		return
	}
	if body.Message == nil {
		// A sender action (typing): no message, no echo.
		fmt.Fprintf(w, `{"recipient_id":%q}`, body.Recipient.ID)
		return
	}
	s := &echoSend{At: time.Now(), Recipient: body.Recipient.ID, Text: body.Message.Text}
	for _, q := range body.Message.QuickReplies {
		s.QuickReplies = append(s.QuickReplies, q.Title)
	}
	var attachment json.RawMessage
	if body.Message.Attachment != nil {
		attachment = *body.Message.Attachment
	}

	f.mu.Lock()
	s.Mode = f.mode
	f.sent = append(f.sent, s)
	f.count(s.Recipient).Requests++
	deliver := true
	switch s.Mode {
	case graph500:
		deliver = false
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, graphTransientBody)
	case graph429:
		deliver = false
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, graph429Body)
	case graphRateLimit:
		deliver = false
		body := graphAppLimitBody
		if f.limits%2 == 1 {
			body = graphUserLimitBody
		}
		f.limits++
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, body)
	case graphHang:
		deliver = f.hangs%2 == 0
		f.hangs++
	}
	f.mu.Unlock()
	if s.Mode != graphOK && s.Mode != graphHang {
		return
	}
	if s.Mode == graphHang {
		select {
		case <-time.After(graphHangFor):
		case <-f.stop:
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, graphTransientBody)
			return
		}
		if !deliver {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, graphTransientBody)
			return
		}
	}
	f.mu.Lock()
	f.next++
	s.Mid = fmt.Sprintf("aWdfZAG1_echo_%d", f.next)
	s.AcceptedAt = time.Now()
	f.count(s.Recipient).Accepted++
	f.pending++
	f.mu.Unlock()
	// The client may be gone (a hang past its deadline): the message went
	// out anyway, and its echo tells the server so.
	fmt.Fprintf(w, `{"recipient_id":%q,"message_id":%q}`, s.Recipient, s.Mid)
	f.echo(s, attachment)
}

// count is the recipient's counters; f.mu is held.
func (f *echoGraph) count(recipient string) *echoCounts {
	c := f.counts[recipient]
	if c == nil {
		c = &echoCounts{}
		f.counts[recipient] = c
	}
	return c
}

// echo delivers the webhook Meta sends for a message the business sent
// (reference fixture 16), until the server answers 200 or the test ends.
func (f *echoGraph) echo(s *echoSend, attachment json.RawMessage) {
	msg := map[string]any{"mid": s.Mid, "is_echo": true}
	if s.Text != "" {
		msg["text"] = s.Text
	}
	if len(attachment) > 0 {
		msg["attachments"] = []json.RawMessage{attachment}
	}
	at := s.AcceptedAt.UnixMilli()
	body, _ := json.Marshal(map[string]any{
		"object": "instagram",
		"entry": []any{map[string]any{
			"id": f.business, "time": at,
			"messaging": []any{map[string]any{
				"sender": map[string]string{"id": f.business}, "recipient": map[string]string{"id": s.Recipient},
				"timestamp": at, "message": msg,
			}},
		}},
	})
	signature := sign(f.secret, body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		client := &http.Client{Timeout: 10 * time.Second}
		for {
			if base := f.base.Load(); base != nil {
				if f.post(client, (*base)()+"/webhooks/"+f.integration, body, signature) {
					f.mu.Lock()
					f.count(s.Recipient).Echoed++
					f.pending--
					f.mu.Unlock()
					return
				}
			}
			select {
			case <-f.stop:
				return
			case <-time.After(echoRetry):
			}
		}
	}()
}

func (f *echoGraph) post(client *http.Client, url string, body []byte, signature string) bool {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", signature)
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// sends returns every Send API request so far (copies), in arrival order.
func (f *echoGraph) sends() []echoSend {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]echoSend, len(f.sent))
	for i, s := range f.sent {
		out[i] = *s
	}
	return out
}

// accepted returns the messages that went out, in the order they did.
func (f *echoGraph) accepted() []echoSend {
	var out []echoSend
	for _, s := range f.sends() {
		if s.Mid != "" {
			out = append(out, s)
		}
	}
	// A delayed (hung) message goes out when its hang ends.
	sort.SliceStable(out, func(i, j int) bool { return out[i].AcceptedAt.Before(out[j].AcceptedAt) })
	return out
}

// acceptedBy returns, per recipient, the messages that went out, in order.
func (f *echoGraph) acceptedBy() map[string][]echoSend {
	out := map[string][]echoSend{}
	for _, s := range f.accepted() {
		out[s.Recipient] = append(out[s.Recipient], s)
	}
	return out
}

// countsFor returns the counters of one recipient.
func (f *echoGraph) countsFor(recipient string) echoCounts {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.counts[recipient]; c != nil {
		return *c
	}
	return echoCounts{}
}

// totals sums the counters over every recipient, and says how many echoes
// are still waiting for a 200.
func (f *echoGraph) totals() (sum echoCounts, pendingEchoes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.counts {
		sum.Requests += c.Requests
		sum.Accepted += c.Accepted
		sum.Echoed += c.Echoed
	}
	return sum, f.pending
}
