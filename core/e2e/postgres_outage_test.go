package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/conversa/conversa/core/store/postgres/pgtest"
)

// PostgreSQL unreachable for a few seconds under load (every connection
// dropped, new ones refused): webhooks are answered 503 with Retry-After and
// no internal text, nothing is stored half-way, and once the database is
// back every message is answered exactly once, in order, without a restart.
func TestPostgresBrieflyUnreachableLosesNothing(t *testing.T) {
	dbURL := pgDatabase(t)
	proxied, proxy := pgtest.Through(t, dbURL)

	graph := newEchoGraph(t, "ig-meta", metaSecret, businessID)
	srv := newServer(t, clusterConfig(graph.URL, proxied, ""))
	graph.deliverTo(func() string { return srv.URL })
	load := newWebhookLoad(t, 8, "ig-meta", metaSecret, func() string { return srv.URL })
	const users = 40
	for i := range users / 2 {
		load.add(loadUser(i), "oi", "menu")
	}
	time.Sleep(300 * time.Millisecond)

	proxy.Cut()
	// While it is down: a clear, retryable refusal.
	probe := metaText("9999", "m_outage_probe", "oi", time.Now())
	status, body := srv.do("POST", "/webhooks/ig-meta", probe, map[string]string{"X-Hub-Signature-256": sign(metaSecret, probe),
		"Content-Type": "application/json"})
	if status != 503 {
		t.Errorf("webhook with the database unreachable = %d %s, want 503", status, body)
	}
	if strings.Contains(string(body), "dial") || strings.Contains(string(body), "127.0.0.1") || strings.Contains(string(body), "connect") {
		t.Errorf("the 503 tells internal details: %s", body)
	}
	for i := users / 2; i < users; i++ {
		load.add(loadUser(i), "oi", "menu") // delivered again and again meanwhile
	}
	time.Sleep(3 * time.Second)
	proxy.Restore()

	acked := map[string]int{}
	for i := range users {
		acked[loadUser(i)] = 2
	}
	sent := func() map[string][]sentReply { return echoReplies(graph) }
	answered, state := repliesIn(acked, sent)
	awaitReplies(t, 60*time.Second, "both replies to every user after the outage", answered, func() string { return state() + "; " + load.summary() })
	time.Sleep(2 * time.Second) // a duplicate would come now
	c := &cluster{t: t, dbURL: dbURL, nodes: []*server{srv}, pg: pgConn(t, dbURL)}
	audit := auditReplies(c, "ig-meta", load.ackedBy(), sent())
	audit.check(t)
	if got := c.count(`SELECT count(*) FROM inbox WHERE processed_at IS NULL`); got != 0 {
		t.Errorf("%d events left unprocessed", got)
	}
}
