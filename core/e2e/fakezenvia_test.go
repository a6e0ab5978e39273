package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// zenviaRequest is what the fake Zenvia server recorded of one request.
type zenviaRequest struct {
	Method string
	Path   string
	// Token is the X-API-TOKEN header.
	Token string
	Body  map[string]any
	// ID is the message id the fake answered with ("" when it answered an
	// error).
	ID string
}

func (r zenviaRequest) field(key string) string {
	s, _ := r.Body[key].(string)
	return s
}

// From and To are the body's from and to.
func (r zenviaRequest) From() string { return r.field("from") }
func (r zenviaRequest) To() string   { return r.field("to") }

// ExternalID is the body's externalId (stable across retries of a message).
func (r zenviaRequest) ExternalID() string { return r.field("externalId") }

// Contents are the body's contents.
func (r zenviaRequest) Contents() []map[string]any {
	list, _ := r.Body["contents"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, c := range list {
		m, _ := c.(map[string]any)
		out = append(out, m)
	}
	return out
}

// Text is the text of the body's first content when it is a text.
func (r zenviaRequest) Text() string {
	cs := r.Contents()
	if len(cs) == 0 || cs[0]["type"] != "text" {
		return ""
	}
	t, _ := cs[0]["text"].(string)
	return t
}

// zenviaAnswer is an error the fake gives instead of accepting a message.
type zenviaAnswer struct {
	status     int
	retryAfter string
	body       string
}

// Zenvia's error bodies (the 400 is fixture send/error_400_validation.json).
var (
	zenvia500 = zenviaAnswer{status: http.StatusInternalServerError, body: `{"code":"INTERNAL_ERROR","message":"Internal error"}`}
	zenvia429 = zenviaAnswer{status: http.StatusTooManyRequests, retryAfter: "1",
		body: `{"code":"TOO_MANY_REQUESTS","message":"Rate limit exceeded"}`}
)

// fakeZenvia answers POST /v2/channels/instagram/messages like Zenvia's API
// v2, and records every request. Errors queued with failNext are given, one
// per request, before it accepts messages again.
type fakeZenvia struct {
	*httptest.Server
	mu       sync.Mutex
	requests []zenviaRequest
	failures []zenviaAnswer
}

func newFakeZenvia(t *testing.T) *fakeZenvia {
	f := &fakeZenvia{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeZenvia) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	req := zenviaRequest{Method: r.Method, Path: r.URL.Path, Token: r.Header.Get("X-API-TOKEN")}
	json.Unmarshal(b, &req.Body)
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != "/v2/channels/instagram/messages" {
		f.record(req)
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"code":"NOT_FOUND","message":"Not found"}`)
		return
	}
	f.mu.Lock()
	var fail *zenviaAnswer
	if len(f.failures) > 0 {
		fail = &f.failures[0]
		f.failures = f.failures[1:]
	} else {
		req.ID = newID()
	}
	f.requests = append(f.requests, req)
	f.mu.Unlock()
	if fail != nil {
		if fail.retryAfter != "" {
			w.Header().Set("Retry-After", fail.retryAfter)
		}
		w.WriteHeader(fail.status)
		io.WriteString(w, fail.body)
		return
	}
	// Zenvia answers with the message it accepted, under its new id.
	out := map[string]any{"id": req.ID, "direction": "OUT", "channel": "instagram"}
	for k, v := range req.Body {
		out[k] = v
	}
	out["id"] = req.ID
	json.NewEncoder(w).Encode(out)
}

func (f *fakeZenvia) record(req zenviaRequest) {
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.mu.Unlock()
}

// failNext makes the next requests fail with the given answers, in order.
func (f *fakeZenvia) failNext(answers ...zenviaAnswer) {
	f.mu.Lock()
	f.failures = append(f.failures, answers...)
	f.mu.Unlock()
}

// sends returns every request received so far.
func (f *fakeZenvia) sends() []zenviaRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]zenviaRequest(nil), f.requests...)
}

// accepted returns the requests that were answered with a message id.
func (f *fakeZenvia) accepted() []zenviaRequest {
	var out []zenviaRequest
	for _, r := range f.sends() {
		if r.ID != "" {
			out = append(out, r)
		}
	}
	return out
}

// newID is a random id in the UUID form Zenvia uses.
func newID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	h := hex.EncodeToString(b)
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[:8], h[8:12], h[12:16], h[16:20], h[20:])
}
