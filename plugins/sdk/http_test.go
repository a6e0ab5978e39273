package sdk

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// A plugin's calls to its provider come in bursts as wide as the host's
// workers: the client keeps a connection for each call of a burst, so the
// next bursts dial nothing.
func TestHTTPClientKeepsAConnectionPerCallInFlight(t *testing.T) {
	const burst, bursts = 32, 3
	var dialed atomic.Int64
	arrived := make(chan struct{})
	var release sync.Mutex // held while a burst gathers
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		release.Lock() // every call of the burst is in flight: answer
		release.Unlock()
		io.WriteString(w, `{"ok":true}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialed.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	client := NewHTTPClient(0)
	for range bursts {
		release.Lock()
		var calls sync.WaitGroup
		errs := make(chan error, burst)
		for range burst {
			calls.Go(func() {
				resp, err := client.Get(srv.URL)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		for range burst {
			<-arrived // the calls wait for one another on the server
		}
		release.Unlock()
		calls.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	if n := dialed.Load(); n != burst {
		t.Errorf("%d bursts of %d calls at once dialed %d connections; want %d, each kept for the next burst", bursts, burst, n, burst)
	}
}
