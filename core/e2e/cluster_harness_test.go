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
// the database URL. The nodes share one secret key (CONVERSA_SECRET_KEY).
// They start one after the other, as an operator
// would roll them out, and stop at the end of the test.
func newCluster(t *testing.T, n int, config func(dbURL string) string) *cluster {
	t.Helper()
	dbURL := pgDatabase(t)
	c := &cluster{t: t, dbURL: dbURL, down: make([]atomic.Bool, n)}
	// Nodes sharing a database share the key of its secrets.
	key := sharedKey(t)
	for range n {
		c.nodes = append(c.nodes, newServer(t, config(dbURL), key))
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
