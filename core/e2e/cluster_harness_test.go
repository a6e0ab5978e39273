package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// clusterConfig is metaConfig (room for a load's bodies) on a PostgreSQL
// database instead of an SQLite file: every node started with it shares
// the database, its integrations and its agents.
func clusterConfig(graphURL, dbURL, extra string) string {
	config := withBodyLimit(metaConfig(graphURL, extra), 1024)
	sqlite := `path = "{{DIR}}/data/conversa.db"`
	if !strings.Contains(config, sqlite) {
		panic("metaConfig no longer names the SQLite file: update clusterConfig")
	}
	return strings.Replace(config, sqlite, fmt.Sprintf("url = %q", dbURL), 1)
}

// cluster is several conversa nodes sharing one PostgreSQL database, plus a
// connection to that database for the test's own reads.
type cluster struct {
	t     *testing.T
	dbURL string
	nodes []*server
	down  []atomic.Bool
	next  atomic.Uint64
	// pg is used from the test's goroutine only (a pgx.Conn is not safe
	// for concurrent use).
	pg *pgx.Conn
}

// newCluster starts n nodes on one fresh database (skipped without
// CONVERSA_TEST_POSTGRES); config builds each node's configuration from
// the database URL. The nodes start one after the other, as an operator
// would roll them out, and stop at the end of the test.
func newCluster(t *testing.T, n int, config func(dbURL string) string) *cluster {
	t.Helper()
	dbURL := pgDatabase(t)
	c := &cluster{t: t, dbURL: dbURL, down: make([]atomic.Bool, n)}
	for range n {
		c.nodes = append(c.nodes, newServer(t, config(dbURL)))
	}
	for i, s := range c.nodes {
		// A node that opened an SQLite file would be a cluster of one.
		if _, err := os.Stat(filepath.Join(s.dir, "data", "conversa.db")); err == nil {
			t.Fatalf("node %d created an SQLite database although [storage] url names PostgreSQL", i)
		}
	}
	c.pg = pgConn(t, dbURL)
	return c
}

// pick returns the URL of the next live node, round-robin: a load balancer
// in front of the nodes. Safe for concurrent use.
func (c *cluster) pick() string {
	for range len(c.nodes) {
		i := int(c.next.Add(1)-1) % len(c.nodes)
		if !c.down[i].Load() {
			return c.nodes[i].URL
		}
	}
	return c.nodes[0].URL // all down: let the caller see the error
}

// kill ends node i with SIGKILL; from then on pick skips it (the balancer
// noticed). Requests already on their way to it fail and are retried.
func (c *cluster) kill(i int) {
	c.nodes[i].kill()
	c.down[i].Store(true)
}

// table runs a query on the shared database and returns its rows as
// strings (NULL as "").
func (c *cluster) table(query string, args ...any) [][]string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := c.pg.Query(ctx, query, args...)
	if err != nil {
		c.t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			c.t.Fatalf("%s: %v", query, err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			if v != nil {
				row[i] = fmt.Sprint(v)
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		c.t.Fatalf("%s: %v", query, err)
	}
	return out
}

// count runs a query for one number.
func (c *cluster) count(query string, args ...any) int {
	c.t.Helper()
	var n int
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.pg.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		c.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// drained reports whether the cluster has processed every stored event and
// sent (or given up on) every message, whichever node took them.
func (c *cluster) drained() bool {
	return c.count(`SELECT count(*) FROM inbox WHERE processed_at IS NULL`) == 0 &&
		c.count(`SELECT count(*) FROM outbox WHERE done_at IS NULL`) == 0
}

// leases describes the queue leases still held, by owner, for logs.
func (c *cluster) leases() string {
	rows := c.table(`SELECT queue, lease_owner, count(*) FROM queue_keys
		WHERE lease_owner <> '' AND ready_at > (extract(epoch FROM clock_timestamp()) * 1000)::bigint
		GROUP BY 1, 2 ORDER BY 1, 2`)
	if len(rows) == 0 {
		return "no queue leases held"
	}
	var parts []string
	for _, r := range rows {
		parts = append(parts, fmt.Sprintf("%s: %s keys held by %s", r[0], r[2], r[1]))
	}
	return strings.Join(parts, "; ")
}

// auditReplies is the SQLite audit of load_test.go (auditReplies) run on
// the cluster's database: the same queries, the same verdicts.
func (c *cluster) auditReplies(integration string, acked map[string]int, sent map[string][]sentReply) replyAudit {
	c.t.Helper()
	a := replyAudit{users: len(acked), storedReply: map[int]int{}, statuses: map[string]int{}}
	const join = ` FROM messages m JOIN conversations cv ON cv.id = m.conversation_id
		JOIN contacts ct ON ct.id = cv.contact_id WHERE ct.integration_id = $1`
	inbound := map[string]int{}
	for _, r := range c.table(`SELECT ct.channel_user_id, count(*)`+join+` AND m.direction = 'in' GROUP BY 1`, integration) {
		var n int
		fmt.Sscan(r[1], &n)
		inbound[r[0]] = n
	}
	stored := map[string][]string{}
	for _, r := range c.table(`SELECT ct.channel_user_id, m.provider_message_id`+join+` AND m.author = 'assistant' ORDER BY m.id`, integration) {
		stored[r[0]] = append(stored[r[0]], r[1])
	}
	for _, r := range c.table(`SELECT m.status, count(*)`+join+` AND m.direction = 'out' GROUP BY 1`, integration) {
		var n int
		fmt.Sscan(r[1], &n)
		a.statuses[r[0]] = n
	}
	a.business = c.count(`SELECT count(*)`+join+` AND m.author = 'business'`, integration)

	users := make([]string, 0, len(acked))
	for u := range acked {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		a.storedReply[len(stored[u])]++
	}
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

// postWebhook sends a signed Meta webhook to a node without the test's helpers
// (which may not fail a test from another goroutine); status 0 is a
// connection error.
func postWebhook(base, integration, secret string, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/webhooks/"+integration, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", sign(secret, body))
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// postUntilAcked posts body to base until it is answered 200 (as Meta
// retries), for up to 30 s.
func postUntilAcked(base, integration, secret string, body []byte) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, err := postWebhook(base, integration, secret, body)
		if status == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("POST %s/webhooks/%s: last answer %d %v", base, integration, status, err)
		}
		time.Sleep(loadRetry)
	}
}

// putStatus sets the status of the agent signed in with token through the
// node at base, safe to call from any goroutine; it returns the HTTP status,
// or the error.
func putStatus(base, token, status string) string {
	req, err := http.NewRequest(http.MethodPut, base+"/api/v1/me/status", strings.NewReader(`{"status":"`+status+`"}`))
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		return err.Error()
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return fmt.Sprint(resp.StatusCode)
}

// nextWithin waits up to d for an event of type typ on the stream.
func (st *sseStream) nextWithin(typ string, d time.Duration) (sseEvent, bool) {
	timeout := time.After(d)
	for {
		select {
		case e, ok := <-st.events:
			if !ok {
				return sseEvent{}, false
			}
			if e.typ == typ {
				return e, true
			}
		case <-timeout:
			return sseEvent{}, false
		}
	}
}

var assignedLine = regexp.MustCompile(`msg="conversation assigned".*\bconversation=(\d+)\b`)

// assignedHere lists the conversations a node's log says it assigned.
func (s *server) assignedHere() map[string]bool {
	out := map[string]bool{}
	for _, m := range assignedLine.FindAllStringSubmatch(s.logs.String(), -1) {
		out[m[1]] = true
	}
	return out
}
