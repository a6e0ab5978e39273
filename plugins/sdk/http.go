package sdk

import (
	"net"
	"net/http"
	"time"
)

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
	t.MaxIdleConnsPerHost = 8
	return RecordingClient(&http.Client{
		Transport:     t,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	})
}
