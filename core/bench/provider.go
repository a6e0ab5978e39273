package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
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

// Close stops the provider.
func (p *Provider) Close() error { return p.srv.Close() }

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
		Message json.RawMessage `json:"message"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.Recipient.ID == "" {
		p.Refused.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100}}`)
		return
	}
	if len(m.Message) == 0 {
		// A sender action (typing, seen): no message.
		p.Actions.Add(1)
		fmt.Fprintf(w, `{"recipient_id":%q}`, m.Recipient.ID)
		return
	}
	p.Sends.Add(1)
	p.rec.Load().Reply(m.Recipient.ID)
	fmt.Fprintf(w, `{"recipient_id":%q,"message_id":"aWdfZAG1_bench_out_%d"}`, m.Recipient.ID, p.next.Add(1))
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
