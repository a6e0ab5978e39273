package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/conversa/conversa/core/cluster"
	"github.com/conversa/conversa/core/events"
)

// node is one process's view of a shared test database.
type node struct {
	db  *DB
	cl  *Cluster
	bus *events.Bus
}

// joinNodes opens n nodes on one fresh database, each with its own pool,
// cluster and shared event bus, all closed at the end of the test.
func joinNodes(t *testing.T, n int) []*node {
	t.Helper()
	url := testURL(t)
	var out []*node
	for i := range n {
		db, err := Open(context.Background(), url, Options{MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		cl := NewCluster(db, ClusterOptions{Node: fmt.Sprintf("node%d", i), Every: 100 * time.Millisecond})
		bus := events.NewShared(cl.Events(), events.SharedOptions{PollEvery: time.Hour})
		cl.On(cluster.TopicEvents, bus.Poll)
		ctx, cancel := context.WithCancel(context.Background())
		cl.Start(ctx)
		done := make(chan struct{})
		go func() { defer close(done); bus.Run(ctx) }()
		nd := &node{db: db, cl: cl, bus: bus}
		t.Cleanup(func() {
			cancel()
			<-done
			cl.Close()
			db.Close()
		})
		out = append(out, nd)
	}
	return out
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func leaders(ns []*node) (n int, who int) {
	who = -1
	for i, nd := range ns {
		if nd.cl.Leader() {
			n++
			who = i
		}
	}
	return n, who
}

func TestClusterOneLeaderAndTakeover(t *testing.T) {
	ns := joinNodes(t, 3)
	waitFor(t, "a leader", 5*time.Second, func() bool { n, _ := leaders(ns); return n == 1 })
	// Leadership is stable: still exactly one a few rounds later.
	time.Sleep(500 * time.Millisecond)
	n, who := leaders(ns)
	if n != 1 {
		t.Fatalf("%d leaders, want 1", n)
	}
	// The leader leaves (as a dead node's connection closes): another takes
	// over, and there is never more than one.
	ns[who].cl.Close()
	rest := append(append([]*node(nil), ns[:who]...), ns[who+1:]...)
	waitFor(t, "a new leader", 5*time.Second, func() bool { n, _ := leaders(rest); return n == 1 })
	if ns[who].cl.Leader() {
		t.Error("the node that left still says it leads")
	}
}

func TestClusterBroadcastReachesOtherNodes(t *testing.T) {
	ns := joinNodes(t, 2)
	got := make(chan struct{}, 10)
	self := make(chan struct{}, 10)
	ns[1].cl.On(cluster.TopicIntegrations, func() { got <- struct{}{} })
	ns[0].cl.On(cluster.TopicIntegrations, func() { self <- struct{}{} })
	// The listener may still be connecting: broadcast until heard.
	waitFor(t, "the broadcast on the other node", 5*time.Second, func() bool {
		if err := ns[0].cl.Broadcast(context.Background(), cluster.TopicIntegrations); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
			return true
		case <-time.After(50 * time.Millisecond):
			return false
		}
	})
	select {
	case <-self:
		t.Error("a node heard its own broadcast")
	case <-time.After(200 * time.Millisecond):
	}
}

func TestClusterEventsReachEveryNodeInOrder(t *testing.T) {
	ns := joinNodes(t, 2)
	time.Sleep(200 * time.Millisecond) // both buses positioned at the log's end
	all := func(events.Event) bool { return true }
	subB, _, _ := ns[1].bus.Subscribe(all, "")
	defer subB.Close()
	subA, _, _ := ns[0].bus.Subscribe(all, "")
	defer subA.Close()
	const n = 50
	for i := range n {
		// Published on both nodes, interleaved.
		ns[i%2].bus.Publish(events.Event{Type: events.Message, Conversation: int64(i), Agent: "ana", Data: map[string]int{"i": i}})
	}
	read := func(sub *events.Subscription) []events.Event {
		var out []events.Event
		timeout := time.After(5 * time.Second)
		for len(out) < n {
			select {
			case e := <-sub.C:
				out = append(out, e)
			case <-timeout:
				t.Fatalf("got %d of %d events", len(out), n)
			}
		}
		return out
	}
	gotA, gotB := read(subA), read(subB)
	for i := range n {
		if gotA[i].ID != gotB[i].ID || gotA[i].Conversation != gotB[i].Conversation {
			t.Fatalf("event %d: node A saw %s (conversation %d), node B %s (conversation %d): not one order",
				i, gotA[i].ID, gotA[i].Conversation, gotB[i].ID, gotB[i].Conversation)
		}
		if i > 0 {
			var prev, cur int64
			fmt.Sscan(gotA[i-1].ID, &prev)
			fmt.Sscan(gotA[i].ID, &cur)
			if cur <= prev {
				t.Fatalf("ids not increasing: %s then %s", gotA[i-1].ID, gotA[i].ID)
			}
		}
	}
	b, _ := json.Marshal(gotB[0])
	if want := `"data":{"i":`; !strings.Contains(string(b), want) {
		t.Errorf("event read back from the log = %s, want its data (%s…)", b, want)
	}

	// A client that saw the 10th event on node A resumes on node B.
	_, missed, reset := ns[1].bus.Subscribe(all, gotA[9].ID)
	if reset || len(missed) != n-10 {
		t.Fatalf("resume on the other node after %s: %d missed, reset %v; want %d, false", gotA[9].ID, len(missed), reset, n-10)
	}
	if missed[0].ID != gotA[10].ID {
		t.Errorf("first missed = %s, want %s", missed[0].ID, gotA[10].ID)
	}
	// An id from an in-memory bus (SQLite) or from another database: reload.
	if _, _, reset := ns[1].bus.Subscribe(all, "abc-12"); !reset {
		t.Error("an epoch-style id did not reset")
	}
	if _, _, reset := ns[1].bus.Subscribe(all, "999999999"); !reset {
		t.Error("an id beyond the log did not reset")
	}
}

func TestClusterThrottleIsShared(t *testing.T) {
	ns := joinNodes(t, 2)
	ctx := context.Background()
	for i := range 5 {
		if err := ns[i%2].cl.Throttle().Failed(ctx, "1.2.3.4\x00ana"); err != nil {
			t.Fatal(err)
		}
	}
	wait, err := ns[1].cl.Throttle().Blocked(ctx, "1.2.3.4\x00ana", 5, 5*time.Minute)
	if err != nil || wait <= 0 || wait > 5*time.Minute {
		t.Fatalf("Blocked after 5 failures spread over two nodes = %v, %v; want a wait up to 5m", wait, err)
	}
	if wait, _ := ns[0].cl.Throttle().Blocked(ctx, "1.2.3.4\x00ana", 6, 5*time.Minute); wait != 0 {
		t.Errorf("Blocked with limit 6 after 5 failures = %v, want 0", wait)
	}
	if err := ns[0].cl.Throttle().Reset(ctx, "1.2.3.4\x00ana"); err != nil {
		t.Fatal(err)
	}
	if wait, _ := ns[1].cl.Throttle().Blocked(ctx, "1.2.3.4\x00ana", 5, 5*time.Minute); wait != 0 {
		t.Errorf("Blocked after a reset on the other node = %v, want 0", wait)
	}
}

// A node that is gone (no liveness lock: its process died and PostgreSQL
// dropped its session) has its queue keys given back within seconds,
// rather than when its leases lapse; a live node keeps its keys.
func TestClusterGivesBackTheLeasesOfAGoneNode(t *testing.T) {
	ns := joinNodes(t, 2)
	ctx := context.Background()
	waitFor(t, "a leader", 5*time.Second, func() bool { n, _ := leaders(ns); return n == 1 })
	far := ms(time.Now().Add(time.Hour)) // leases that would hold for an hour
	for _, row := range [][2]string{{"k-ghost", "ghost/1/dead"}, {"k-node0", "node0"}, {"k-node1", "node1"}} {
		if _, err := ns[0].db.pool.Exec(ctx, `INSERT INTO queue_keys (queue, key, ready_at, lease_owner, lease_token)
			VALUES ('inbox', $1, $2, $3, 7)`, row[0], far, row[1]); err != nil {
			t.Fatal(err)
		}
	}
	owner := func(key string) string {
		var o string
		if err := ns[0].db.pool.QueryRow(ctx, `SELECT lease_owner FROM queue_keys WHERE key = $1`, key).Scan(&o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	waitFor(t, "the gone node's key given back", 5*time.Second, func() bool { return owner("k-ghost") == "" })
	if o0, o1 := owner("k-node0"), owner("k-node1"); o0 != "node0" || o1 != "node1" {
		t.Fatalf("live nodes' keys owned by %q, %q; want node0, node1 kept", o0, o1)
	}
	var due int64
	ns[0].db.pool.QueryRow(ctx, `SELECT ready_at FROM queue_keys WHERE key = 'k-ghost'`).Scan(&due)
	if due >= far {
		t.Errorf("the given-back key is due at %d, want now (before %d)", due, far)
	}
	// node0 dies (its session, and so its liveness lock, goes): its key is
	// given back by whichever node leads then.
	ns[0].cl.Close()
	waitFor(t, "the dead node's key given back", 5*time.Second, func() bool { return owner("k-node0") == "" })
	if o := owner("k-node1"); o != "node1" {
		t.Errorf("the live node's key owned by %q, want node1", o)
	}
}
