package e2e

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// liveURL is a server's current base URL, read by goroutines that outlive
// a restart (which moves the server to a new port).
type liveURL struct{ p atomic.Pointer[string] }

func (u *liveURL) set(s string) { u.p.Store(&s) }
func (u *liveURL) get() string {
	if s := u.p.Load(); s != nil {
		return *s
	}
	return ""
}

// loadMessage is one text message of the load, from one user.
type loadMessage struct {
	User, Mid, Text string
	body            []byte
	next            *loadMessage // posted once this one is acknowledged

	// Guarded by webhookLoad.mu.
	// FirstTry is when its first POST began.
	Queued, FirstTry, Acked time.Time
	Attempts                int
	// Refused is the status of a 4xx answer, after which the driver gave
	// up (Meta would not, but no 4xx is expected here).
	Refused int
}

// webhookLoad delivers text messages to a Meta integration's webhook the
// way Meta does: senders concurrent POSTs, each message in its own signed
// webhook, each retried every loadRetry until answered 200 (a connection
// error, a timeout or a 5xx means "retry"). It reads the server's URL
// through a func, so it carries on across a kill and restart.
type webhookLoad struct {
	path   string
	secret string
	base   func() string
	client *http.Client
	queue  chan *loadMessage
	stop   chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	all     []*loadMessage
	retries map[string]int // why a POST had to be repeated: "503", "connection", ...
}

const loadRetry = 200 * time.Millisecond

func newWebhookLoad(t testing.TB, senders int, integration, secret string, base func() string) *webhookLoad {
	l := &webhookLoad{path: "/webhooks/" + integration, secret: secret, base: base,
		// Meta gives up on a delivery after about 20 s.
		client:  &http.Client{Timeout: 20 * time.Second},
		queue:   make(chan *loadMessage, 1<<16),
		stop:    make(chan struct{}),
		retries: map[string]int{}}
	for range senders {
		l.wg.Add(1)
		go l.sender()
	}
	t.Cleanup(func() { close(l.stop); l.wg.Wait() })
	return l
}

// add queues a conversation: user writes texts in order, each one once the
// previous was acknowledged (as a person waits for the message to go).
func (l *webhookLoad) add(user string, texts ...string) {
	var first, prev *loadMessage
	for i, text := range texts {
		m := &loadMessage{User: user, Mid: fmt.Sprintf("m_load_%s_%d", user, i+1), Text: text}
		if prev == nil {
			first = m
		} else {
			prev.next = m
		}
		prev = m
	}
	l.enqueue(first)
}

func (l *webhookLoad) enqueue(m *loadMessage) {
	now := time.Now()
	// The user writes it now: the messaging window runs from here.
	m.body = metaText(m.User, m.Mid, m.Text, now)
	l.mu.Lock()
	m.Queued = now
	l.all = append(l.all, m)
	l.mu.Unlock()
	l.queue <- m
}

func (l *webhookLoad) sender() {
	defer l.wg.Done()
	for {
		select {
		case <-l.stop:
			return
		case m := <-l.queue:
			if !l.deliver(m) {
				return
			}
		}
	}
}

// deliver posts m until it is answered 200 or refused; false when the
// test ended first.
func (l *webhookLoad) deliver(m *loadMessage) bool {
	signature := sign(l.secret, m.body)
	for {
		sent := time.Now()
		status, why := l.post(m.body, signature)
		now := time.Now()
		l.mu.Lock()
		if m.Attempts == 0 {
			m.FirstTry = sent
		}
		m.Attempts++
		switch {
		case status == http.StatusOK:
			m.Acked = now
		case status >= 400 && status < 500 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout:
			m.Refused = status
		default:
			l.retries[why]++
		}
		done, next := status == http.StatusOK || m.Refused != 0, m.next
		l.mu.Unlock()
		if done {
			if next != nil && status == http.StatusOK {
				l.enqueue(next)
			}
			return true
		}
		select {
		case <-l.stop:
			return false
		case <-time.After(loadRetry):
		}
	}
}

func (l *webhookLoad) post(body []byte, signature string) (int, string) {
	req, err := http.NewRequest(http.MethodPost, l.base()+l.path, bytes.NewReader(body))
	if err != nil {
		return 0, "request"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", signature)
	resp, err := l.client.Do(req)
	if err != nil {
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			return 0, "timeout"
		}
		return 0, "connection"
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, fmt.Sprint(resp.StatusCode)
}

// messages returns a copy of every message queued so far.
func (l *webhookLoad) messages() []loadMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]loadMessage, len(l.all))
	for i, m := range l.all {
		out[i] = *m
		out[i].next, out[i].body = nil, nil
	}
	return out
}

// ackedCount is how many messages were answered 200.
func (l *webhookLoad) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.all {
		if !m.Acked.IsZero() {
			n++
		}
	}
	return n
}

// ackedBy counts the acknowledged messages of each user.
func (l *webhookLoad) ackedBy() map[string]int {
	out := map[string]int{}
	for _, m := range l.messages() {
		if !m.Acked.IsZero() {
			out[m.User]++
		}
	}
	return out
}

// done reports whether every message of every conversation added so far
// was acknowledged (follow-ups included: they are queued on an ack).
func (l *webhookLoad) done(conversations, messagesEach int) bool {
	return l.ackedCount() == conversations*messagesEach
}

// summary describes the load so far, for logs and failures.
func (l *webhookLoad) summary() string {
	msgs := l.messages()
	var acked, refused, attempts int
	var lat []time.Duration
	for _, m := range msgs {
		attempts += m.Attempts
		switch {
		case !m.Acked.IsZero():
			acked++
			lat = append(lat, m.Acked.Sub(m.Queued))
		case m.Refused != 0:
			refused++
		}
	}
	l.mu.Lock()
	retries := fmt.Sprint(l.retries)
	l.mu.Unlock()
	return fmt.Sprintf("load: %d messages queued, %d acknowledged, %d refused (4xx), %d POSTs; retries by cause %s; queue-to-ack %s",
		len(msgs), acked, refused, attempts, retries, percentiles(lat))
}

// percentiles formats p50/p99/max of a set of durations.
func percentiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "n/a"
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	at := func(p float64) time.Duration {
		return ds[min(len(ds)-1, int(p*float64(len(ds))))].Round(time.Millisecond)
	}
	return fmt.Sprintf("p50 %s p99 %s max %s", at(0.50), at(0.99), ds[len(ds)-1].Round(time.Millisecond))
}

var bodyLimitLine = regexp.MustCompile(`(?m)^body_limit_kb = \d+$`)

// withBodyLimit sets a config's [server] body_limit_kb, which a load's
// batched webhooks may need raised.
func withBodyLimit(config string, kb int) string {
	line := fmt.Sprintf("body_limit_kb = %d", kb)
	if bodyLimitLine.MatchString(config) {
		return bodyLimitLine.ReplaceAllLiteralString(config, line)
	}
	return strings.Replace(config, "[server]\n", "[server]\n"+line+"\n", 1)
}

// loadUser is the IGSID of the i-th user of a load.
func loadUser(i int) string { return fmt.Sprintf("u%04d", i+1) }

// eventuallyWithin is eventually with its own deadline; state describes
// what was observed when it times out.
func eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() bool, state func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s; %s", d, what, state())
}

// table runs a query on the server's database (read-only, closed right
// after) and returns its rows as strings.
func (s *server) table(query string, args ...any) [][]string {
	s.t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(s.dir, "data", "conversa.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(query, args...)
	if err != nil {
		s.t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			s.t.Fatalf("%s: %v", query, err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		s.t.Fatalf("%s: %v", query, err)
	}
	return out
}

// sentReply is one message a fake provider accepted for a user.
type sentReply struct{ Mid, Text string }

// echoReplies is what an echoGraph accepted, per user, in order.
func echoReplies(g *echoGraph) map[string][]sentReply {
	out := map[string][]sentReply{}
	for user, list := range g.acceptedBy() {
		for _, s := range list {
			out[user] = append(out[user], sentReply{s.Mid, s.Text})
		}
	}
	return out
}

// graphReplies is what a fakeGraph accepted, per user, in order. The fake
// numbers its answers by request: the i-th request's message id is
// m_fake_<i+1>.
func graphReplies(g *fakeGraph) map[string][]sentReply {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string][]sentReply{}
	for i, r := range g.requests {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/me/messages") && g.sendError == "" {
			out[r.Recipient()] = append(out[r.Recipient()], sentReply{fmt.Sprintf("m_fake_%d", i+1), r.Text()})
		}
	}
	return out
}

// replyAudit compares, user by user, what the provider accepted with what
// the server stored: every acknowledged message stored once and answered,
// no reply sent twice, replies sent in the order the server stored them.
type replyAudit struct {
	users       int            // users with an acknowledged message
	storedReply map[int]int    // assistant messages stored per user -> users
	lost        []string       // acknowledged, but no inbound message stored
	inboundOff  []string       // inbound messages stored != acknowledged
	unanswered  []string       // acknowledged, nothing accepted at the provider
	twice       []string       // more sends accepted than replies stored, or one text twice
	uneven      []string       // a reply count unlike everyone else's
	outOfOrder  []string       // replies accepted in another order than stored
	unknownMid  []string       // a stored reply whose provider id the provider never gave
	statuses    map[string]int // outbound messages by status
	business    int            // outbound messages stored as typed in the provider's app
}

// auditDB is where an audit reads: a server's SQLite file, or the
// PostgreSQL database of a cluster (the queries suit both).
type auditDB interface {
	table(query string, args ...any) [][]string
	count(query string, args ...any) int
}

// auditReplies runs the audit for integration; acked counts each user's
// acknowledged messages, sent is what the provider accepted.
func auditReplies(s auditDB, integration string, acked map[string]int, sent map[string][]sentReply) replyAudit {
	a := replyAudit{users: len(acked), storedReply: map[int]int{}, statuses: map[string]int{}}
	const join = ` FROM messages m JOIN conversations c ON c.id = m.conversation_id
		JOIN contacts ct ON ct.id = c.contact_id WHERE ct.integration_id = $1`
	inbound := map[string]int{}
	for _, r := range s.table(`SELECT ct.channel_user_id, count(*)`+join+` AND m.direction = 'in' GROUP BY 1`, integration) {
		var n int
		fmt.Sscan(r[1], &n)
		inbound[r[0]] = n
	}
	stored := map[string][]string{} // user -> provider ids of the assistant's messages, in stored order
	for _, r := range s.table(`SELECT ct.channel_user_id, m.provider_message_id`+join+` AND m.author = 'assistant' ORDER BY m.id`, integration) {
		stored[r[0]] = append(stored[r[0]], r[1])
	}
	for _, r := range s.table(`SELECT m.status, count(*)`+join+` AND m.direction = 'out' GROUP BY 1`, integration) {
		var n int
		fmt.Sscan(r[1], &n)
		a.statuses[r[0]] = n
	}
	a.business = s.count(`SELECT count(*)`+join+` AND m.author = 'business'`, integration)

	users := make([]string, 0, len(acked))
	for u := range acked {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		a.storedReply[len(stored[u])]++
	}
	// Every user of a load sends the same texts: the demo answers each
	// of them with the same number of messages.
	usual, most := 0, 0
	for n, users := range a.storedReply {
		if users > most || users == most && n > usual {
			usual, most = n, users
		}
	}
	for _, u := range users {
		if inbound[u] == 0 {
			a.lost = append(a.lost, u)
		} else if inbound[u] != acked[u] {
			a.inboundOff = append(a.inboundOff, fmt.Sprintf("%s: %d stored for %d acknowledged", u, inbound[u], acked[u]))
		}
		got := sent[u]
		if len(got) == 0 {
			a.unanswered = append(a.unanswered, u)
		}
		texts := map[string]int{}
		repeated := ""
		for _, r := range got {
			if texts[r.Text]++; texts[r.Text] == 2 {
				repeated = r.Text
			}
		}
		switch {
		case len(got) > len(stored[u]):
			a.twice = append(a.twice, fmt.Sprintf("%s: %d sends accepted for %d replies stored, accepted %s",
				u, len(got), len(stored[u]), textsOf(got)))
		case repeated != "":
			a.twice = append(a.twice, fmt.Sprintf("%s: %q accepted %d times", u, trim(repeated), texts[repeated]))
		}
		if len(stored[u]) != usual {
			a.uneven = append(a.uneven, fmt.Sprintf("%s: %d replies stored", u, len(stored[u])))
		}
		pos := map[string]int{}
		for i, r := range got {
			pos[r.Mid] = i
		}
		last := -1
		for i, mid := range stored[u] {
			p, ok := pos[mid]
			if !ok {
				a.unknownMid = append(a.unknownMid, fmt.Sprintf("%s: reply %d under %q", u, i+1, mid))
				continue
			}
			if p < last {
				a.outOfOrder = append(a.outOfOrder, fmt.Sprintf("%s: accepted %s, stored %s", u, textsOf(got), mids(stored[u])))
				break
			}
			last = p
		}
	}
	return a
}

// check reports every way the audit failed, with examples.
func (a replyAudit) check(t *testing.T) {
	t.Helper()
	fail := func(n int, what string, examples []string) {
		if n > 0 {
			t.Errorf("%d of %d users %s; e.g. %s", n, a.users, what, strings.Join(examples[:min(5, len(examples))], "; "))
		}
	}
	fail(len(a.lost), "had a message acknowledged and none stored (lost)", a.lost)
	fail(len(a.inboundOff), "have another number of inbound messages stored than acknowledged", a.inboundOff)
	fail(len(a.unanswered), "were never answered at the provider", a.unanswered)
	fail(len(a.twice), "were answered twice", a.twice)
	fail(len(a.uneven), fmt.Sprintf("have a number of stored replies unlike the others (replies stored per user -> users: %v)", a.storedReply), a.uneven)
	fail(len(a.outOfOrder), "got their replies in another order than the server stored them", a.outOfOrder)
	fail(len(a.unknownMid), "have a stored reply under a provider id the provider never returned", a.unknownMid)
	for status, n := range a.statuses {
		if status != "sent" && status != "delivered" && status != "read" {
			t.Errorf("%d outbound messages ended %q, want every one sent, delivered or read (by status: %v)", n, status, a.statuses)
		}
	}
	if a.business != 0 {
		t.Errorf("%d outbound messages stored as typed in the Instagram app (author business): echoes of the server's own sends not recognized, so agents see those replies twice", a.business)
	}
}

func (a replyAudit) String() string {
	return fmt.Sprintf("audit of %d users: replies stored per user -> users %v; lost %d, unanswered %d, answered twice %d, uneven %d, out of order %d, unknown provider id %d; outbound by status %v; business echoes %d",
		a.users, a.storedReply, len(a.lost), len(a.unanswered), len(a.twice), len(a.uneven), len(a.outOfOrder), len(a.unknownMid), a.statuses, a.business)
}

func trim(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func textsOf(rs []sentReply) string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s %q", r.Mid, trim(r.Text)))
	}
	return "[" + strings.Join(out, ", ") + "]"
}

func mids(ids []string) string { return "[" + strings.Join(ids, ", ") + "]" }
