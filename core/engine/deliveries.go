package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/plugins/sdk"
)

// The delivery log answers "why didn't this message arrive?" for one
// integration: every webhook it received (what came, what was answered,
// what was stored) and every attempt to send through it (the provider's
// HTTP calls as the channel plugin reports them). Credentials never reach
// it: headers and query parameters that carry them are redacted by name,
// and the integration's secret settings wherever they appear.
//
// Deliveries are written off the request's path, in batches gathered for
// up to deliveryWait (deliveryBatch rows at most) a transaction, once what
// they describe is settled (a
// webhook's events committed, a send's outcome known): the log never holds
// up, nor fails, a webhook or a send. Writing them in the transaction that
// stores a webhook's events measured slower on PostgreSQL (one more round
// trip per webhook) and would let a failing log row refuse a webhook. What
// is still queued when the process dies is lost; the log is for diagnosis.

// Outcomes of a webhook received.
const (
	OutcomeStored       = "stored"       // new events were stored
	OutcomeDuplicate    = "duplicate"    // every event was stored before
	OutcomeIgnored      = "ignored"      // authenticated, nothing to store
	OutcomeVerified     = "verified"     // a verification handshake answered
	OutcomeUnauthorized = "unauthorized" // credentials or signature wrong
	OutcomeMalformed    = "malformed"    // the body could not be parsed
	OutcomeTooLarge     = "too_large"    // over [server] body_limit_kb
	OutcomeDisabled     = "disabled"     // the integration is disabled
	OutcomeUnavailable  = "unavailable"  // the channel plugin cannot run
	OutcomeError        = "error"        // storing the events failed
)

// Outcomes of a send attempt.
const (
	OutcomeSent    = "sent"    // the provider accepted it
	OutcomeRetry   = "retry"   // it definitely failed; tried again later
	OutcomeFailed  = "failed"  // given up (or refused before any call)
	OutcomeUnknown = "unknown" // it may have gone out; checked before resending
)

// DefaultDeliveryLog is how long deliveries are kept unless configured.
const DefaultDeliveryLog = 7 * 24 * time.Hour

const (
	// refusalsPerMinute bounds the refused webhooks logged per
	// integration: anyone can send those, and each would be a row.
	refusalsPerMinute = 60
	// maxExchanges bounds the calls kept of one send (the last ones: the
	// failing call is the one that explains).
	maxExchanges = 20
	// deliveryQueue is how many deliveries may wait to be written.
	deliveryQueue = 4096
	// deliveryBatch bounds the deliveries written in one transaction, and
	// deliveryWait how long the first of them waits for others.
	deliveryBatch = 256
	deliveryWait  = 200 * time.Millisecond
	pruneEvery    = 10 * time.Minute
	pruneChunk    = 1000
)

// HTTPMessage is a request or a response as the delivery log shows it.
type HTTPMessage struct {
	Method    string       `json:"method,omitempty"`
	URL       string       `json:"url,omitempty"`
	Status    int          `json:"status,omitempty"`
	Headers   []HTTPHeader `json:"headers,omitempty"`
	Body      string       `json:"body,omitempty"`
	Truncated bool         `json:"body_truncated,omitempty"`
}

// HTTPHeader is one header line.
type HTTPHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Exchange is one call a channel plugin made to its provider.
type Exchange struct {
	Request   *HTTPMessage `json:"request"`
	Response  *HTTPMessage `json:"response,omitempty"`
	LatencyMS int64        `json:"latency_ms"`
	Error     string       `json:"error,omitempty"`
}

// deliveryDetail is what a delivery row keeps as JSON besides its columns
// (appendJSON writes it): a webhook's request and answer, or a send's
// calls, whose last one the list shows as its request and response.
type deliveryDetail struct {
	Request   *HTTPMessage `json:"request,omitempty"`
	Response  *HTTPMessage `json:"response,omitempty"`
	Exchanges []Exchange   `json:"exchanges,omitempty"`
	// Omitted counts the earlier calls of a send not kept.
	Omitted int `json:"exchanges_omitted,omitempty"`
}

// Delivery is a delivery as the API shows it (CONTRACT §5 deliveries).
type Delivery struct {
	At                 time.Time    `json:"at"`
	Direction          string       `json:"direction"`
	MessageID          string       `json:"message_id"`
	ProviderMessageIDs []string     `json:"provider_message_ids"`
	Outcome            string       `json:"outcome"`
	HTTPStatus         int          `json:"http_status"`
	LatencyMS          int64        `json:"latency_ms"`
	Error              string       `json:"error"`
	Request            *HTTPMessage `json:"request"`
	Response           *HTTPMessage `json:"response"`
	// Exchanges are a send's calls to the provider, in order; request and
	// response are the last one's.
	Exchanges []Exchange `json:"exchanges,omitempty"`
	Omitted   int        `json:"exchanges_omitted,omitempty"`
}

// Deliveries lists an integration's delivery log, newest first.
func (e *Engine) Deliveries(ctx context.Context, f store.DeliveryFilter) ([]Delivery, error) {
	rows, err := e.st.Deliveries().List(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]Delivery, 0, len(rows))
	for _, r := range rows {
		d := Delivery{At: r.At, Direction: r.Direction, MessageID: r.MessageID, ProviderMessageIDs: r.ProviderMessageIDs,
			Outcome: r.Outcome, HTTPStatus: r.HTTPStatus, LatencyMS: r.LatencyMS, Error: r.Error}
		if d.ProviderMessageIDs == nil {
			d.ProviderMessageIDs = []string{}
		}
		var det deliveryDetail
		if len(r.Detail) > 0 && json.Unmarshal(r.Detail, &det) == nil {
			d.Request, d.Response, d.Exchanges, d.Omitted = det.Request, det.Response, det.Exchanges, det.Omitted
			// A send's row keeps its calls only (rows of earlier
			// releases hold the last one's request and response too).
			if n := len(det.Exchanges); d.Request == nil && n > 0 {
				d.Request, d.Response = det.Exchanges[n-1].Request, det.Exchanges[n-1].Response
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// deliveryLog writes deliveries: in a caller's transaction, or queued.
type deliveryLog struct {
	st   store.Store
	log  *slog.Logger
	keep time.Duration // < 0: nothing is recorded

	queue   chan *store.Delivery
	stop    chan struct{}
	done    chan struct{}
	started sync.Once
	stopped sync.Once
	running bool

	mu       sync.Mutex
	refusals map[string]*bucket
	dropped  int       // deliveries lost to a full queue since the last warning
	warned   time.Time // when that was last logged
}

// bucket is one integration's allowance of logged refusals.
type bucket struct {
	tokens     float64
	last       time.Time
	suppressed int
}

func newDeliveryLog(st store.Store, log *slog.Logger, keep time.Duration) *deliveryLog {
	return &deliveryLog{st: st, log: log, keep: keep, queue: make(chan *store.Delivery, deliveryQueue),
		stop: make(chan struct{}), done: make(chan struct{}), refusals: map[string]*bucket{}}
}

func (l *deliveryLog) on() bool { return l.keep >= 0 }

// start runs the writer of queued deliveries until close.
func (l *deliveryLog) start() {
	l.started.Do(func() { l.running = true; go l.run() })
}

func (l *deliveryLog) run() {
	defer close(l.done)
	for {
		select {
		case d := <-l.queue:
			l.write(l.gather(d))
		case <-l.stop:
			for {
				select {
				case d := <-l.queue:
					l.write(l.gather(d))
				default:
					return
				}
			}
		}
	}
}

// gather collects what comes within deliveryWait of first (at most
// deliveryBatch rows): on SQLite every transaction is a sync of the file,
// so a busy integration's log costs a few of them a second, not one per
// webhook.
func (l *deliveryLog) gather(first *store.Delivery) []*store.Delivery {
	batch := []*store.Delivery{first}
	wait := time.NewTimer(deliveryWait)
	defer wait.Stop()
	for len(batch) < deliveryBatch {
		select {
		case d := <-l.queue:
			batch = append(batch, d)
		case <-wait.C:
			return batch
		case <-l.stop:
			// Stopping: what is queued now goes at once.
			for len(batch) < deliveryBatch {
				select {
				case d := <-l.queue:
					batch = append(batch, d)
				default:
					return batch
				}
			}
			return batch
		}
	}
	return batch
}

// close writes what is queued and stops the writer. Call it once the
// queues that log deliveries have stopped.
func (l *deliveryLog) close() {
	l.started.Do(func() {}) // never started: nothing to wait for
	l.stopped.Do(func() { close(l.stop) })
	if l.running {
		<-l.done
	}
}

// write stores a batch in one transaction, which need not wait for the
// disk: the log is for diagnosis, and the next durable commit (there is one
// for every webhook acknowledged and every send) syncs it.
func (l *deliveryLog) write(batch []*store.Delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := store.TxUnsynced(ctx, l.st, func(tx store.Tx) error { return tx.Deliveries().Add(ctx, batch...) }); err != nil {
		l.log.Error("writing the delivery log", "deliveries", len(batch), "err", err)
	}
}

// enqueue hands d to the writer; a full queue drops it (the log is for
// diagnosis: it must never hold up what it describes).
func (l *deliveryLog) enqueue(d *store.Delivery) {
	if !l.on() {
		return
	}
	select {
	case l.queue <- d:
		return
	default:
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropped++
	if now := time.Now(); now.Sub(l.warned) > time.Minute {
		l.log.Warn("delivery log queue full: deliveries not recorded", "dropped", l.dropped)
		l.dropped, l.warned = 0, now
	}
}

// admitRefusal reports whether a refused webhook of integration may be
// logged now, and how many were not since the last one that was.
func (l *deliveryLog) admitRefusal(integration string) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	b := l.refusals[integration]
	if b == nil {
		b = &bucket{tokens: refusalsPerMinute, last: now}
		l.refusals[integration] = b
	}
	b.tokens = min(refusalsPerMinute, b.tokens+now.Sub(b.last).Minutes()*refusalsPerMinute)
	b.last = now
	if b.tokens < 1 {
		b.suppressed++
		return false, 0
	}
	b.tokens--
	suppressed, b.suppressed = b.suppressed, 0
	return true, suppressed
}

// secretsOf are the values to hide wherever they appear in what in's
// deliveries keep: its channel's secret and generated settings (the
// webhook credentials), or, while the channel cannot say which those are,
// every setting.
func (e *Engine) secretsOf(in *model.Integration) []string {
	var keys []string
	if info, ok := e.channels.cached(in.Channel); ok && info != nil {
		keys = append(append(keys, info.SecretSettings...), info.GeneratedSettings...)
	} else {
		for k := range in.Settings {
			keys = append(keys, k)
		}
	}
	var out []string
	for _, k := range keys {
		if v := in.Setting(k); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// text is b as text, its bytes that are not UTF-8 replaced.
func text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// inboundRecord is a webhook being handled, logged once its outcome is
// known. The request is redacted only then: a refusal that is not logged
// (too many) costs nothing more.
type inboundRecord struct {
	e     *Engine
	in    *model.Integration
	req   WebhookRequest
	start time.Time
	d     *store.Delivery
}

// receiving starts the record of a webhook addressed to in (nil when the
// log is off).
func (e *Engine) receiving(in *model.Integration, r WebhookRequest) *inboundRecord {
	if !e.dlog.on() {
		return nil
	}
	return &inboundRecord{e: e, in: in, req: r, start: time.Now(),
		d: &store.Delivery{Integration: in.ID, At: e.now(), Direction: store.DeliveryIn}}
}

// answered fills in what was asked and answered, redacted, and why.
func (r *inboundRecord) answered(outcome string, res WebhookResult, why string) {
	if r == nil {
		return
	}
	r.d.Outcome, r.d.HTTPStatus, r.d.Error = outcome, res.Status, why
	r.d.LatencyMS = time.Since(r.start).Milliseconds()
	red := sdk.NewRedactor(r.e.secretsOf(r.in)...)
	req := &HTTPMessage{Method: r.req.Method, URL: text([]byte(r.req.Path))}
	if q := red.Query(r.req.Query); q != "" {
		req.URL += "?" + text([]byte(q))
	}
	names := make([]string, 0, len(r.req.Headers))
	for n := range r.req.Headers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, v := range r.req.Headers[n] {
			req.Headers = append(req.Headers, HTTPHeader{Name: text([]byte(n)), Value: text([]byte(red.Header(n, v)))})
		}
	}
	body, cut := red.Body(r.req.Body)
	req.Body, req.Truncated = text(body), cut
	resp := &HTTPMessage{Status: res.Status}
	if res.ContentType != "" {
		resp.Headers = []HTTPHeader{{Name: "Content-Type", Value: res.ContentType}}
	}
	body, cut = red.Body(res.Body)
	resp.Body, resp.Truncated = text(body), cut
	det := deliveryDetail{Request: req, Response: resp}
	r.d.Detail = det.appendJSON(make([]byte, 0, det.sizeHint()))
}

// events notes the messages a webhook carried, and what the provider said
// went wrong with any of ours.
func (r *inboundRecord) events(evs []*model.Event) {
	if r == nil {
		return
	}
	var problems []string
	for _, ev := range evs {
		if ev.MessageID != "" && !slices.Contains(r.d.ProviderMessageIDs, ev.MessageID) {
			r.d.ProviderMessageIDs = append(r.d.ProviderMessageIDs, ev.MessageID)
		}
		if ev.Status == model.StatusFailed && (ev.ErrorCode != "" || ev.ErrorMessage != "") {
			problems = append(problems, fmt.Sprintf("%s failed: %s", ev.MessageID, describeError(ev.ErrorCode, ev.ErrorMessage)))
		}
	}
	if len(r.d.ProviderMessageIDs) > 0 {
		r.d.MessageID = r.d.ProviderMessageIDs[0]
	}
	r.d.Error = strings.Join(problems, "; ")
}

// row is the delivery of a webhook whose events are being stored, made
// before the transaction (the caller sets the outcome once it commits).
func (r *inboundRecord) row(res WebhookResult) *store.Delivery {
	if r == nil {
		return nil
	}
	r.answered(OutcomeStored, res, r.d.Error)
	return r.d
}

// refused logs a webhook answered without storing anything. Refusals
// anyone can cause are logged at most refusalsPerMinute a minute per
// integration; the next one logged says how many were not.
func (r *inboundRecord) refused(outcome string, res WebhookResult, why string) {
	if r == nil {
		return
	}
	if outcome != OutcomeIgnored && outcome != OutcomeError {
		ok, suppressed := r.e.dlog.admitRefusal(r.in.ID)
		if !ok {
			return
		}
		if suppressed > 0 {
			why += fmt.Sprintf(" (%d more refused since the last one logged, not recorded)", suppressed)
		}
	}
	r.answered(outcome, res, why)
	r.e.dlog.enqueue(r.d)
}

// WebhookTooLarge logs a webhook refused for its size before it was read
// (the HTTP server answers 413 itself).
func (e *Engine) WebhookTooLarge(integration string, r WebhookRequest, status int, why string) {
	in := e.reg.integration(integration)
	if in == nil {
		return
	}
	e.receiving(in, r).refused(OutcomeTooLarge, WebhookResult{Status: status}, why)
}

// sendRecord is one send attempt, logged once its outcome is known.
type sendRecord struct {
	e     *Engine
	in    *model.Integration
	start time.Time
	d     *store.Delivery
}

// sending starts the record of an attempt to send message id through in.
func (e *Engine) sending(in *model.Integration, messageID int64) *sendRecord {
	if !e.dlog.on() {
		return nil
	}
	return &sendRecord{e: e, in: in, start: time.Now(), d: &store.Delivery{Integration: in.ID, At: e.now(),
		Direction: store.DeliveryOut, MessageID: strconv.FormatInt(messageID, 10)}}
}

// done logs the attempt: its outcome, why, and the provider calls resp
// reports (nil when the plugin gave no answer).
func (r *sendRecord) done(outcome, why string, resp *pluginhost.SendResponse) {
	if r == nil {
		return
	}
	red := sdk.NewRedactor(r.e.secretsOf(r.in)...)
	r.d.Outcome, r.d.Error = outcome, text([]byte(red.Text(why)))
	r.d.LatencyMS = time.Since(r.start).Milliseconds()
	var det deliveryDetail
	if resp != nil {
		r.d.ProviderMessageIDs = resp.MessageIDs
		calls := resp.Exchanges
		if len(calls) > maxExchanges {
			det.Omitted = len(calls) - maxExchanges
			calls = calls[len(calls)-maxExchanges:]
		}
		for _, c := range calls {
			det.Exchanges = append(det.Exchanges, exchangeOf(red, c))
		}
	}
	// The request and response shown are the last call's: the reader
	// takes them from the list (Deliveries), rather than the row keeping
	// them twice.
	if n := len(det.Exchanges); n > 0 {
		if last := det.Exchanges[n-1]; last.Response != nil {
			r.d.HTTPStatus = last.Response.Status
		}
		r.d.Detail = det.appendJSON(make([]byte, 0, det.sizeHint()))
	}
	r.e.dlog.enqueue(r.d)
}

// exchangeOf is a plugin's report of one call, redacted again by the host
// (a third-party plugin may have missed a credential) and bounded.
func exchangeOf(red *sdk.Redactor, c pluginhost.HTTPExchange) Exchange {
	headers := func(hs []pluginhost.Header) []HTTPHeader {
		var out []HTTPHeader
		for _, h := range hs {
			out = append(out, HTTPHeader{Name: text([]byte(h.Name)), Value: text([]byte(red.Header(h.Name, h.Value)))})
		}
		return out
	}
	reqBody, reqCut := red.Body(c.RequestBody)
	x := Exchange{
		Request: &HTTPMessage{Method: text([]byte(c.Method)), URL: text([]byte(red.URL(c.URL))),
			Headers: headers(c.RequestHeaders), Body: text(reqBody), Truncated: reqCut || c.RequestTruncated},
		LatencyMS: c.LatencyMS,
		Error:     text([]byte(red.Text(c.Error))),
	}
	if c.Status != 0 {
		respBody, respCut := red.Body(c.ResponseBody)
		x.Response = &HTTPMessage{Status: c.Status, Headers: headers(c.ResponseHeaders),
			Body: text(respBody), Truncated: respCut || c.ResponseTruncated}
	}
	return x
}

// pruneDeliveries forgets deliveries older than the configured time, a
// chunk per transaction. Only the leader does it.
func (e *Engine) pruneDeliveries() {
	if !e.o.Cluster.Leader() || !e.dlog.on() {
		return
	}
	if _, err := e.PruneDeliveries(context.Background()); err != nil {
		e.log.Error("pruning the delivery log", "err", err)
	}
}

// PruneDeliveries removes the deliveries past the configured time and
// reports how many.
func (e *Engine) PruneDeliveries(ctx context.Context) (int64, error) {
	cutoff := e.now().Add(-e.dlog.keep)
	var total int64
	for {
		n, err := e.st.Deliveries().Prune(ctx, cutoff, pruneChunk)
		total += n
		if err != nil || n < pruneChunk {
			return total, err
		}
		select {
		case <-e.stop:
			return total, nil
		default:
		}
	}
}
