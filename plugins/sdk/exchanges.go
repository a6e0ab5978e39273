package sdk

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/conversa/conversa/plugins/proto"
)

// The delivery log (what operators read to learn why a message did not
// arrive) shows the HTTP calls a plugin made to its provider. A plugin
// records them by calling its provider under RecordExchanges, with a client
// from NewHTTPClient or RecordingClient, and returns them in
// SendResponse.Exchanges. Every credential is redacted before it is kept.

// Redacted replaces a credential in what the delivery log keeps.
const Redacted = "[redacted]"

// MaxExchangeBody bounds each body an exchange keeps.
const MaxExchangeBody = 16 << 10

// secretHeaders carry credentials or signatures: their values are never
// kept (Authorization keeps its scheme: "Bearer [redacted]").
var secretHeaders = map[string]bool{
	"authorization": true, "proxy-authorization": true, "cookie": true, "set-cookie": true,
	"x-api-token": true, "x-api-key": true, "api-key": true, "authenticationtoken": true,
	"x-hub-signature": true, "x-hub-signature-256": true, "x-auth-token": true,
}

// secretParams are query parameters that carry credentials.
var secretParams = map[string]bool{
	"access_token": true, "appsecret_proof": true, "hub.verify_token": true, "token": true,
	"api_key": true, "apikey": true, "key": true, "secret": true, "client_secret": true,
	"password": true, "signature": true, "sig": true,
}

// Redactor hides credentials: headers and query parameters known to carry
// them, and the given secret values wherever they appear.
type Redactor struct {
	secrets []string
}

// minSecret is the shortest value hidden wherever it appears: a shorter
// one ("1", "true") would blot out ordinary text, and is no secret.
const minSecret = 6

// NewRedactor hides secrets (an integration's tokens) besides what is
// always hidden.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	for _, s := range secrets {
		if len(s) >= minSecret {
			r.secrets = append(r.secrets, s)
			// The same secret as it appears in a URL's query.
			if q := url.QueryEscape(s); q != s {
				r.secrets = append(r.secrets, q)
			}
		}
	}
	// Longest first: a secret containing another is hidden whole.
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	return r
}

// keep is how many bytes of a body to hold before Body cuts it: a secret
// that straddles the cut is still whole, so it is hidden, not half shown.
func (r *Redactor) keep() int {
	n := MaxExchangeBody + 1
	if r != nil && len(r.secrets) > 0 {
		n += len(r.secrets[0])
	}
	return n
}

// Text hides the secret values in s.
func (r *Redactor) Text(s string) string {
	if r == nil {
		return s
	}
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, Redacted)
	}
	return s
}

// Body hides the secret values in b and cuts it to MaxExchangeBody.
func (r *Redactor) Body(b []byte) (kept []byte, truncated bool) {
	if r != nil {
		for _, sec := range r.secrets {
			// Most bodies hold no secret: only one that does is copied.
			if bytes.Contains(b, []byte(sec)) {
				b = bytes.ReplaceAll(b, []byte(sec), []byte(Redacted))
			}
		}
	}
	if len(b) > MaxExchangeBody {
		return b[:MaxExchangeBody], true
	}
	return b, false
}

// Header hides the value of a header that carries a credential.
func (r *Redactor) Header(name, value string) string {
	if secretHeader(name) {
		if scheme, _, ok := strings.Cut(value, " "); ok && strings.EqualFold(name, "authorization") {
			return scheme + " " + Redacted
		}
		return Redacted
	}
	return r.Text(value)
}

// secretHeader says whether a header of this name carries a credential
// (secretHeaders), in any case. An ASCII name is lowered on the stack: the
// delivery log asks for every header of every webhook.
func secretHeader(name string) bool {
	var lower [32]byte
	if len(name) > len(lower) {
		return secretHeaders[strings.ToLower(name)]
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 0x80:
			// strings.ToLower folds more than ASCII (the Kelvin sign to k).
			return secretHeaders[strings.ToLower(name)]
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	return secretHeaders[string(lower[:len(name)])]
}

// Headers is Header for each value, in name order.
func (r *Redactor) Headers(h http.Header) []*proto.Header {
	names := make([]string, 0, len(h))
	for n := range h {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*proto.Header
	for _, n := range names {
		for _, v := range h[n] {
			out = append(out, &proto.Header{Name: n, Value: r.Header(n, v)})
		}
	}
	return out
}

// Query hides the values of parameters that carry credentials in a raw
// query string, keeping the others as they were written.
func (r *Redactor) Query(raw string) string {
	if raw == "" {
		return ""
	}
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if secretParams[strings.ToLower(name)] {
			parts[i] = k + "=" + Redacted
		}
	}
	return r.Text(strings.Join(parts, "&"))
}

// URL hides credentials in a URL: its user info and query.
func (r *Redactor) URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return r.Text(raw)
	}
	if u.User != nil {
		u.User = url.User(Redacted)
	}
	q := r.Query(u.RawQuery)
	u.RawQuery = ""
	s := u.String()
	if q != "" {
		s += "?" + q
	}
	return r.Text(s)
}

// Exchanges records the HTTP calls made under one context.
type Exchanges struct {
	red  *Redactor
	now  func() time.Time
	mu   sync.Mutex
	list []*proto.HttpExchange
}

type exchangesKey struct{}

// RecordExchanges returns a context under which every call made with a
// recording client is kept, redacted (secrets are the integration's
// credentials, hidden wherever they appear), and the record.
func RecordExchanges(ctx context.Context, secrets ...string) (context.Context, *Exchanges) {
	x := &Exchanges{red: NewRedactor(secrets...), now: time.Now}
	return context.WithValue(ctx, exchangesKey{}, x), x
}

// List returns the calls recorded so far, in the order they were made.
func (x *Exchanges) List() []*proto.HttpExchange {
	if x == nil {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]*proto.HttpExchange, len(x.list))
	for i, e := range x.list {
		out[i] = cloneExchange(e)
	}
	return out
}

func cloneExchange(e *proto.HttpExchange) *proto.HttpExchange {
	c := &proto.HttpExchange{Method: e.Method, Url: e.Url, RequestHeaders: e.RequestHeaders, RequestBody: e.RequestBody,
		Status: e.Status, ResponseHeaders: e.ResponseHeaders, ResponseBody: e.ResponseBody, LatencyMs: e.LatencyMs,
		Error: e.Error, RequestTruncated: e.RequestTruncated, ResponseTruncated: e.ResponseTruncated}
	return c
}

// RecordingClient returns c (a copy) recording its calls made under
// RecordExchanges; NewHTTPClient's clients already do.
func RecordingClient(c *http.Client) *http.Client {
	if c == nil {
		c = &http.Client{}
	}
	if _, ok := c.Transport.(recordingTransport); ok {
		return c
	}
	cp := *c
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cp.Transport = recordingTransport{base: base}
	return &cp
}

// recordingTransport keeps each exchange made under a context that asks
// for it; others pass through untouched.
type recordingTransport struct{ base http.RoundTripper }

func (t recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	x, _ := req.Context().Value(exchangesKey{}).(*Exchanges)
	if x == nil {
		return t.base.RoundTrip(req)
	}
	e := &proto.HttpExchange{Method: req.Method, Url: x.red.URL(req.URL.String()), RequestHeaders: x.red.Headers(req.Header)}
	if req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			b, _ := io.ReadAll(io.LimitReader(body, 1<<20))
			body.Close()
			e.RequestBody, e.RequestTruncated = x.red.Body(b)
		}
	}
	start := x.now()
	x.mu.Lock()
	x.list = append(x.list, e)
	x.mu.Unlock()
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		x.mu.Lock()
		e.LatencyMs = x.now().Sub(start).Milliseconds()
		e.Error = x.red.Text(err.Error())
		x.mu.Unlock()
		return nil, err
	}
	x.mu.Lock()
	e.Status = int32(resp.StatusCode)
	e.ResponseHeaders = x.red.Headers(resp.Header)
	e.LatencyMs = x.now().Sub(start).Milliseconds()
	x.mu.Unlock()
	resp.Body = &recordedBody{rc: resp.Body, x: x, e: e, start: start}
	return resp, nil
}

// recordedBody keeps the first bytes of an answer's body as the caller
// reads it, and the time its end came.
type recordedBody struct {
	rc    io.ReadCloser
	x     *Exchanges
	e     *proto.HttpExchange
	start time.Time
	buf   []byte
	done  bool
}

func (b *recordedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if room := b.x.red.keep() - len(b.buf); room > 0 && n > 0 {
		b.buf = append(b.buf, p[:min(n, room)]...)
	}
	if err != nil {
		if err != io.EOF {
			b.x.mu.Lock()
			b.e.Error = b.x.red.Text("reading the answer: " + err.Error())
			b.x.mu.Unlock()
		}
		b.finish()
	}
	return n, err
}

func (b *recordedBody) Close() error {
	b.finish()
	return b.rc.Close()
}

func (b *recordedBody) finish() {
	if b.done {
		return
	}
	b.done = true
	b.x.mu.Lock()
	defer b.x.mu.Unlock()
	b.e.ResponseBody, b.e.ResponseTruncated = b.x.red.Body(b.buf)
	b.e.LatencyMs = b.x.now().Sub(b.start).Milliseconds()
}
