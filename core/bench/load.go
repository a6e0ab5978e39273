package bench

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Load is one run's offered load against one URL.
type Load struct {
	// URL is the webhook's full URL.
	URL      string
	Webhooks *Webhooks
	// Rate is webhooks a second, offered open-loop; 0 means saturation:
	// Connections senders, each posting as soon as its previous webhook
	// was answered.
	Rate float64
	// Warmup runs before Duration and is left out of the figures.
	Warmup, Duration time.Duration
	// Connections bounds the concurrent requests (and so the keep-alive
	// connections). In the open-loop mode a webhook that finds them all
	// busy waits for one, and its latencies still count from its due
	// time.
	Connections int
	// Timeout bounds one request (Meta gives up after about 20 s).
	Timeout time.Duration
}

// Window is what a load offered, in Clock readings.
type Window struct {
	// Start is when the load began (warm-up included); From..To is the
	// measured part.
	Start, From, To int64
	// Scheduled is how many webhooks were issued, warm-up included;
	// Measured is [FirstMeasured, Scheduled) in the open-loop mode, those
	// sent in From..To in saturation.
	Scheduled, FirstMeasured int
	// Open says the load was open-loop (else saturation).
	Open bool
	// FirstIssue and LastIssue are when the scheduler actually started
	// the first and last measured webhooks (open-loop): how far the
	// generator itself kept to its schedule.
	FirstIssue, LastIssue int64
	// LateIssues counts webhooks the scheduler started more than
	// lateIssue after their due time (a starved generator).
	LateIssues  int
	MaxIssueLag time.Duration
}

// lateIssue is how late the scheduler may start a webhook before it
// counts as late.
const lateIssue = 5 * time.Millisecond

// client is a keep-alive HTTP/1.1 client with room for n connections to
// the host of url. It is fasthttp's, not net/http's: the load shares the
// machine with what it measures, and fasthttp's client costs a fraction of
// the CPU per request, which matters most against the bare baseline.
type client struct {
	hc   *fasthttp.HostClient
	uri  string
	host string
}

func newClient(raw string, n int, timeout time.Duration) (*client, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("bench: %q is not an http:// URL", raw)
	}
	return &client{uri: raw, host: u.Host, hc: &fasthttp.HostClient{
		Addr:                u.Host,
		MaxConns:            n,
		MaxConnWaitTimeout:  timeout,
		ReadTimeout:         timeout,
		WriteTimeout:        timeout,
		MaxIdleConnDuration: 90 * time.Second,
	}}, nil
}

// Run offers the load and records each webhook in rec. It returns once
// every webhook issued was answered (or failed); replies may still be on
// their way.
func (l *Load) Run(ctx context.Context, rec *Recorder) Window {
	if l.Connections <= 0 {
		l.Connections = 64
	}
	if l.Timeout <= 0 {
		l.Timeout = 20 * time.Second
	}
	client, err := newClient(l.URL, l.Connections, l.Timeout)
	if err != nil {
		// The URLs are the bench's own: this is a bug, not an input.
		panic(err)
	}
	defer client.hc.CloseIdleConnections()
	if l.Rate > 0 {
		return l.open(ctx, rec, client)
	}
	return l.saturate(ctx, rec, client)
}

// open issues webhook i at Start + i/Rate, each in its own goroutine, so a
// slow answer delays nothing but itself.
func (l *Load) open(ctx context.Context, rec *Recorder, client *client) Window {
	clock := rec.clock
	total := int((l.Warmup + l.Duration).Seconds() * l.Rate)
	warm := int(l.Warmup.Seconds() * l.Rate)
	rec.slots.reserve(total)
	sem := make(chan struct{}, l.Connections)
	var wg sync.WaitGroup
	w := Window{Start: clock.Now(), FirstMeasured: warm, Open: true}
	w.From = w.Start + int64(l.Warmup)
	w.To = w.From + int64(l.Duration)
	timer := time.NewTimer(0)
	<-timer.C
	for i := range total {
		due := w.Start + int64(float64(i)*float64(time.Second)/l.Rate)
		if d := due - clock.Now(); d > 0 {
			timer.Reset(time.Duration(d))
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		issued := clock.Now()
		if lag := time.Duration(issued - due); lag > lateIssue {
			w.LateIssues++
			w.MaxIssueLag = max(w.MaxIssueLag, lag)
		}
		if i == warm {
			w.FirstIssue = issued
		}
		w.LastIssue = issued
		s := rec.slots.at(i)
		// Latencies count from when the webhook was started: the
		// schedule never waits for an answer, and a generator that falls
		// behind its own schedule shows in LateIssues instead.
		s.due = issued
		w.Scheduled = i + 1
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			l.post(ctx, client, rec, i, s)
			<-sem
		}()
	}
	wg.Wait()
	return w
}

// saturate runs Connections senders back to back until the end.
func (l *Load) saturate(ctx context.Context, rec *Recorder, client *client) Window {
	clock := rec.clock
	w := Window{Start: clock.Now()}
	w.From = w.Start + int64(l.Warmup)
	w.To = w.From + int64(l.Duration)
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for range l.Connections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				now := clock.Now()
				if now >= w.To {
					return
				}
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				s := rec.slots.at(i)
				if s == nil {
					return
				}
				s.due = now
				l.post(ctx, client, rec, i, s)
			}
		}()
	}
	wg.Wait()
	w.Scheduled = next
	return w
}

// post sends webhook i and records what became of it.
func (l *Load) post(ctx context.Context, c *client, rec *Recorder, i int, s *slot) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(c.uri)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetHost(c.host)
	body := l.Webhooks.Request(i, time.Now(), req.Header.Set)
	req.SetBodyRaw(body)
	s.sent = rec.clock.Now()
	if err := c.hc.Do(req, resp); err != nil {
		s.status = -1
		return
	}
	s.status = int32(resp.StatusCode())
	if s.status == fasthttp.StatusOK {
		s.acked = rec.clock.Now()
		rec.acked.Add(1)
	}
}
