package e2e

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkExchanges measures whole exchanges through the real binary, on
// SQLite and on PostgreSQL with one and with two nodes, on the same machine
// in the same run: b.N users each send one text, signed as Meta signs it,
// over real HTTP to the webhook (32 concurrent senders, alternating between
// the nodes as a load balancer would); the demo assistant answers each
// through the real plugin processes; an echoing fake Graph API on loopback
// accepts every reply. It reports
//   - acks/s: webhooks acknowledged (durably stored) per second;
//   - exchanges/s: users answered per second, first POST to last reply;
//   - ack-p50/p99-ms: first POST to 200;
//   - reply-p50/p99-ms: first POST to the reply reaching the Graph API.
//
// The PostgreSQL cases need CONVERSA_TEST_POSTGRES; for figures that mean
// anything, give it a cluster with durable commits (.ci/postgres --durable).
//
//	go test ./core/e2e -run XXX -bench Exchanges -benchtime 2000x
func BenchmarkExchanges(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchExchanges(b, 0) })
	b.Run("postgres-1node", func(b *testing.B) { benchExchanges(b, 1) })
	b.Run("postgres-2nodes", func(b *testing.B) { benchExchanges(b, 2) })
}

// benchExchanges runs the load on SQLite (nodes = 0) or on nodes sharing
// one PostgreSQL database.
func benchExchanges(b *testing.B, nodes int) {
	graph := newEchoGraph(b, "ig-meta", metaSecret, businessID)
	var servers []*server
	if nodes == 0 {
		servers = append(servers, newServer(b, loadConfig(graph.URL)))
	} else {
		dbURL, key := pgDatabase(b), sharedKey(b)
		for range nodes {
			servers = append(servers, newServer(b, clusterConfig(graph.URL, dbURL, ""), key))
		}
	}
	var next atomic.Uint64
	pick := func() string { return servers[int(next.Add(1)-1)%len(servers)].URL }
	graph.deliverTo(pick)
	load := newWebhookLoad(b, 32, "ig-meta", metaSecret, pick)

	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		load.add(loadUser(i), "oi")
	}
	want := map[string]int{}
	for i := range b.N {
		want[loadUser(i)] = 1
	}
	deadline := time.Now().Add(5*time.Minute + time.Duration(b.N)*10*time.Millisecond)
	for {
		if answered(graph, want) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("not every user answered in time; %s", load.summary())
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	var acks, replies []time.Duration
	var lastAck time.Time
	first := map[string]time.Time{}
	for _, m := range load.messages() {
		if m.Acked.IsZero() {
			b.Fatalf("message %s never acknowledged", m.Mid)
		}
		acks = append(acks, m.Acked.Sub(m.FirstTry))
		first[m.User] = m.FirstTry
		if m.Acked.After(lastAck) {
			lastAck = m.Acked
		}
	}
	for user, sends := range graph.acceptedBy() {
		if t, ok := first[user]; ok && len(sends) > 0 {
			replies = append(replies, sends[0].AcceptedAt.Sub(t))
		}
	}
	b.ReportMetric(float64(b.N)/lastAck.Sub(start).Seconds(), "acks/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "exchanges/s")
	b.ReportMetric(quantileMS(acks, 0.50), "ack-p50-ms")
	b.ReportMetric(quantileMS(acks, 0.99), "ack-p99-ms")
	b.ReportMetric(quantileMS(replies, 0.50), "reply-p50-ms")
	b.ReportMetric(quantileMS(replies, 0.99), "reply-p99-ms")
	// ns/op is meaningless here (setup excluded, the load is concurrent).
	b.ReportMetric(0, "ns/op")
}

// answered reports whether every user in want has at least that many
// replies accepted by the Graph fake.
func answered(g *echoGraph, want map[string]int) bool {
	got := g.acceptedBy()
	for u, n := range want {
		if len(got[u]) < n {
			return false
		}
	}
	return true
}

func quantileMS(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))]) / float64(time.Millisecond)
}
