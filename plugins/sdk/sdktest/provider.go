package sdktest

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// providerCall is one HTTP request the fake provider received.
type providerCall struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
	// ended is closed when the provider's handler returned: for a hanging
	// answer, once the plugin gave up on the call.
	ended chan struct{}
}

// provider is the suite's recording fake of the plugin's provider (Meta,
// Zenvia, a Rasa server...): an HTTP server on 127.0.0.1 that answers each
// call from the current case's script and records what it got. Cases run
// one at a time, so there is one script at a time.
type provider struct {
	srv  *http.Server
	ln   net.Listener
	url  string
	done chan struct{} // closed by close: hanging answers give up
	wg   sync.WaitGroup

	mu      sync.Mutex
	answers []providerAnswer
	hang    bool // every call hangs until the plugin gives up
	calls   []*providerCall
}

func newProvider() (*provider, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &provider{ln: ln, url: "http://" + ln.Addr().String(), done: make(chan struct{})}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_ = p.srv.Serve(ln)
	}()
	return p, nil
}

func (p *provider) close() {
	close(p.done)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
	_ = p.srv.Close()
	p.wg.Wait()
}

// script sets the answers of the next calls, in order, and forgets the
// calls recorded so far.
func (p *provider) script(answers []providerAnswer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answers = append([]providerAnswer(nil), answers...)
	p.hang = false
	p.calls = nil
}

// hangAll makes every call hang until the plugin drops it.
func (p *provider) hangAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answers, p.hang, p.calls = nil, true, nil
}

// fail500 answers every call with a plain 500.
func (p *provider) fail500() {
	p.script(nil)
	p.mu.Lock()
	defer p.mu.Unlock()
	for range 20 {
		s := "Internal Server Error"
		p.answers = append(p.answers, providerAnswer{Status: 500, Headers: map[string]string{"Content-Type": "text/plain"}, BodyText: &s})
	}
}

// recorded returns the calls received since the last script.
func (p *provider) recorded() []*providerCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*providerCall(nil), p.calls...)
}

func (p *provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	c := &providerCall{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, ended: make(chan struct{})}
	defer close(c.ended)
	p.mu.Lock()
	p.calls = append(p.calls, c)
	hang := p.hang
	var a *providerAnswer
	if len(p.answers) > 0 {
		a = &p.answers[0]
		p.answers = p.answers[1:]
	}
	p.mu.Unlock()
	if hang {
		select {
		case <-r.Context().Done():
		case <-p.done:
		}
		return
	}
	if a == nil {
		// More calls than the fixture foresaw: an answer no plugin can take
		// for success, and provider_calls shows the surplus.
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotImplemented)
		_, _ = io.WriteString(w, "the contract suite's fake provider has no answer for this call (the fixture's provider list is exhausted)")
		return
	}
	if a.DelayMS > 0 {
		t := time.NewTimer(time.Duration(a.DelayMS) * time.Millisecond)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-p.done:
			t.Stop()
			return
		}
	}
	for k, v := range a.Headers {
		w.Header().Set(k, v)
	}
	var out []byte
	switch {
	case a.BodyText != nil:
		out = []byte(*a.BodyText)
	case len(a.Body) > 0:
		out = a.Body
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
	}
	status := a.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// check compares the first recorded call with want; "" when it matches.
func (w *providerWant) check(calls []*providerCall) []string {
	if w == nil {
		return nil
	}
	if len(calls) == 0 {
		return []string{"provider_request: the provider got no call"}
	}
	c := calls[0]
	var bad []string
	if w.Method != "" && !strings.EqualFold(w.Method, c.Method) {
		bad = append(bad, "provider got "+c.Method+", want "+w.Method)
	}
	if w.Path != "" && w.Path != c.Path {
		bad = append(bad, "provider got path "+c.Path+", want "+w.Path)
	}
	for _, s := range w.BodyContains {
		if !strings.Contains(string(c.Body), s) {
			bad = append(bad, "provider's request body has no "+quoteShort(s)+": "+quoteShort(string(c.Body)))
		}
	}
	for _, s := range w.QueryContains {
		if !strings.Contains(c.RawQuery, s) {
			bad = append(bad, "provider's query has no "+quoteShort(s))
		}
	}
	for k, v := range w.Headers {
		if got := c.Header.Get(k); got != v {
			bad = append(bad, "provider got header "+k+" "+quoteShort(got)+", want "+quoteShort(v))
		}
	}
	return bad
}
