package sdk

import (
	"net"
	"net/http"
	"time"
)

// idleConnsPerHost is how many idle connections to one provider host a
// plugin's client keeps: as many as the host's engine runs calls at once
// on one of its queues (its workers).
const idleConnsPerHost = 128

// NewHTTPClient is an HTTP client for calling a provider from a plugin. It
// bounds every phase of a call (connect, TLS, waiting for headers), so a hung
// provider becomes an error rather than a stuck worker, and the whole call
// by timeout when it is not zero (else only by the caller's context), and
// records the calls made under RecordExchanges. It does
// not follow redirects: a redirect would replay credentials (API tokens in
// headers or query strings) to wherever it points.
func NewHTTPClient(timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 30 * time.Second
	// Keep a connection for each call the host may have in flight, so a
	// burst does not dial (and, with TLS, handshake) connections that the
	// pool then closes as it settles: with 8 kept, 1,000 exchanges a second
	// spent a fifth of a channel plugin's CPU dialing its provider.
	t.MaxIdleConnsPerHost = idleConnsPerHost
	t.MaxIdleConns = 2 * idleConnsPerHost
	return RecordingClient(&http.Client{
		Transport:     t,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	})
}
