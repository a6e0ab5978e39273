package bench

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Provider is the provider's API as the channel plugin calls it, in the
// bench's process: Meta's Graph API (Send API and user profiles) or
// Zenvia's messages API. It accepts every message, answers with a fresh
// message id as the real one does, and tells the recorder when each reply
// arrived, by recipient.
type Provider struct {
	URL string

	channel string
	rec     atomic.Pointer[Recorder]
	srv     *http.Server
	ln      net.Listener
	next    atomic.Int64

	// echo, when set, delivers Meta's echo of each message sent.
	echo atomic.Pointer[echoer]

	// Counters for the report.
	Sends, Profiles, Actions, Refused atomic.Int64
}

// StartProvider listens on loopback for channel ("meta" or "zenvia") and
// records replies into rec.
func StartProvider(channel string, rec *Recorder) (*Provider, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fake provider: %w", err)
	}
	p := &Provider{URL: "http://" + ln.Addr().String(), channel: channel, ln: ln}
	p.rec.Store(rec)
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

// Close stops the provider (and its echoes).
func (p *Provider) Close() error {
	if e := p.echo.Load(); e != nil {
		e.close()
	}
	return p.srv.Close()
}

// EchoTo makes the provider deliver, as Meta does, the echo of every
// message it accepts to the webhook at url, signed with secret: one more
// webhook per reply, which the server stores and matches to its send.
func (p *Provider) EchoTo(url, secret string) error {
	e, err := newEchoer(url, secret)
	if err != nil {
		return err
	}
	p.echo.Store(e)
	return nil
}

// Echoes reports the echoes delivered (answered 200) and given up on.
func (p *Provider) Echoes() (delivered, failed int64) {
	e := p.echo.Load()
	if e == nil {
		return 0, 0
	}
	return e.ok.Load(), e.failed.Load()
}

func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if p.channel == "zenvia" {
		p.zenvia(w, r, body)
		return
	}
	p.meta(w, r, body)
}

// meta answers POST /{version}/me/messages and GET /{version}/{user id}.
func (p *Provider) meta(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method == http.MethodGet {
		// A user profile (the engine looks each new contact up): a user
		// who has written to the business has consented to it.
		id := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		p.Profiles.Add(1)
		fmt.Fprintf(w, `{"id":%q,"name":"Bench User","username":"bench.%s","profile_pic":"https://scontent.cdninstagram.com/bench.jpg"}`, id, id)
		return
	}
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/me/messages") {
		p.Refused.Add(1)
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"message":"Unknown path","type":"OAuthException","code":100}}`)
		return
	}
	var m struct {
		Recipient struct {
			ID string `json:"id"`
		} `json:"recipient"`
		Message *struct {
			Text string `json:"text"`
		} `json:"message"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.Recipient.ID == "" {
		p.Refused.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100}}`)
		return
	}
	if m.Message == nil {
		// A sender action (typing, seen): no message.
		p.Actions.Add(1)
		fmt.Fprintf(w, `{"recipient_id":%q}`, m.Recipient.ID)
		return
	}
	p.Sends.Add(1)
	p.rec.Load().Reply(m.Recipient.ID)
	mid := fmt.Sprintf("aWdfZAG1_bench_out_%d", p.next.Add(1))
	fmt.Fprintf(w, `{"recipient_id":%q,"message_id":%q}`, m.Recipient.ID, mid)
	if e := p.echo.Load(); e != nil {
		e.send(m.Recipient.ID, mid, m.Message.Text)
	}
}

// zenvia answers POST /v2/channels/instagram/messages with the message it
// accepted, under a new id.
func (p *Provider) zenvia(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodPost || r.URL.Path != "/v2/channels/instagram/messages" {
		p.Refused.Add(1)
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"code":"NOT_FOUND","message":"Not found"}`)
		return
	}
	var m struct {
		To string `json:"to"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.To == "" {
		p.Refused.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"code":"VALIDATION_ERROR","message":"Validation error"}`)
		return
	}
	p.Sends.Add(1)
	p.rec.Load().Reply(m.To)
	fmt.Fprintf(w, `{"id":"00000000-0000-4000-8000-%012x","direction":"OUT","channel":"instagram","to":%q}`, p.next.Add(1), m.To)
}

// echoer delivers Meta's echoes: each in its own goroutine, retried (as
// Meta retries) until answered 200, a few times, or the run ends.
type echoer struct {
	c      *client
	secret string
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	ok, failed atomic.Int64
}

const (
	echoAttempts = 5
	echoRetry    = 250 * time.Millisecond
)

func newEchoer(url, secret string) (*echoer, error) {
	c, err := newClient(url, 64, 20*time.Second)
	if err != nil {
		return nil, err
	}
	return &echoer{c: c, secret: secret, stop: make(chan struct{})}, nil
}

func (e *echoer) close() {
	e.once.Do(func() { close(e.stop) })
	e.wg.Wait()
}

// send delivers the echo of the message mid (text) sent to recipient
// (reference fixture 16: sender and recipient swapped, is_echo set).
func (e *echoer) send(recipient, mid, text string) {
	select {
	case <-e.stop:
		return
	default:
	}
	at := time.Now().UnixMilli()
	body, _ := json.Marshal(map[string]any{
		"object": "instagram",
		"entry": []any{map[string]any{
			"id": BusinessID, "time": at,
			"messaging": []any{map[string]any{
				"sender": map[string]string{"id": BusinessID}, "recipient": map[string]string{"id": recipient},
				"timestamp": at, "message": map[string]any{"mid": mid, "is_echo": true, "text": text},
			}},
		}},
	})
	m := hmac.New(sha256.New, []byte(e.secret))
	m.Write(body)
	signature := "sha256=" + hex.EncodeToString(m.Sum(nil))
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for range echoAttempts {
			if e.post(body, signature) {
				e.ok.Add(1)
				return
			}
			select {
			case <-e.stop:
				e.failed.Add(1)
				return
			case <-time.After(echoRetry):
			}
		}
		e.failed.Add(1)
	}()
}

func (e *echoer) post(body []byte, signature string) bool {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(e.c.uri)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetHost(e.c.host)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", signature)
	req.SetBodyRaw(body)
	return e.c.hc.Do(req, resp) == nil && resp.StatusCode() == fasthttp.StatusOK
}
