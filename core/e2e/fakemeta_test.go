package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// graphRequest is what the fake Graph server recorded of one request.
type graphRequest struct {
	Method string
	Path   string
	Query  string
	Auth   string
	Body   map[string]any
}

// Recipient is the body's recipient.id.
func (r graphRequest) Recipient() string {
	rec, _ := r.Body["recipient"].(map[string]any)
	id, _ := rec["id"].(string)
	return id
}

// Text is the body's message.text.
func (r graphRequest) Text() string {
	msg, _ := r.Body["message"].(map[string]any)
	t, _ := msg["text"].(string)
	return t
}

// fakeGraph answers like Meta's Graph API for the Send API and profile
// lookups, and records every request. Its answers can be switched to
// Meta's errors.
type fakeGraph struct {
	*httptest.Server
	mu       sync.Mutex
	requests []graphRequest
	// sendError, when set, is the error body the Send API answers with
	// (HTTP 400), e.g. a rate limit or an expired token.
	sendError string
	profiles  map[string]string // IGSID -> JSON body
	next      int
	accepted  int
}

func newFakeGraph(t *testing.T) *fakeGraph {
	f := &fakeGraph{profiles: map[string]string{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeGraph) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	req := graphRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization")}
	json.Unmarshal(b, &req.Body)
	f.mu.Lock()
	f.requests = append(f.requests, req)
	sendError := f.sendError
	f.next++
	n := f.next
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/me/messages"):
		if sendError != "" {
			// Tests should not wait Meta's default minute before a retry.
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, sendError)
			return
		}
		f.mu.Lock()
		f.accepted++
		f.mu.Unlock()
		fmt.Fprintf(w, `{"recipient_id":%q,"message_id":"m_fake_%d"}`, req.Recipient(), n)
	case r.Method == http.MethodGet:
		id := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		f.mu.Lock()
		body, ok := f.profiles[id]
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"User consent is required to access user profile","type":"OAuthException","code":230,"fbtrace_id":"x"}}`)
			return
		}
		io.WriteString(w, body)
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"message":"Unknown path","type":"OAuthException","code":100}}`)
	}
}

func (f *fakeGraph) setSendError(body string) {
	f.mu.Lock()
	f.sendError = body
	f.mu.Unlock()
}

func (f *fakeGraph) setProfile(igsid, body string) {
	f.mu.Lock()
	f.profiles[igsid] = body
	f.mu.Unlock()
}

// sends returns the Send API requests received so far.
func (f *fakeGraph) sends() []graphRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []graphRequest
	for _, r := range f.requests {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/me/messages") {
			out = append(out, r)
		}
	}
	return out
}

// delivered counts Send API requests that were answered with success.
func (f *fakeGraph) delivered() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accepted
}
