package e2e

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// The cluster tests run several conversa nodes on one PostgreSQL database
// (CONVERSA_TEST_POSTGRES; skipped without it) and check that they behave
// as one: whichever node a webhook reaches, each message is stored once and
// answered once, in order; live events reach an agent on any node; an
// agent's capacity holds across nodes; and a node killed under load loses
// nothing once its leases run out.

// The demo assistant's answers to "oi" and "menu" (plugins/rules/demo.toml).
const (
	demoGreeting = "Oi! Sou o assistente de demonstração do Conversa."
	demoMenu     = "What would you like to see?"
)

// repliesIn waits for users' replies: every user in want has at least as
// many replies accepted as want says.
func repliesIn(want map[string]int, sent func() map[string][]sentReply) (cond func() bool, state func() string) {
	waiting := func() []string {
		got := sent()
		var out []string
		for u, n := range want {
			if len(got[u]) < n {
				out = append(out, u)
			}
		}
		sort.Strings(out)
		return out
	}
	cond = func() bool { return len(waiting()) == 0 }
	state = func() string {
		w := waiting()
		return fmt.Sprintf("%d users still waiting for a reply (e.g. %v)", len(w), w[:min(5, len(w))])
	}
	return cond, state
}

func TestClusterAlternatingNodesAnswerEachMessageOnceInOrder(t *testing.T) {
	graph := newFakeGraph(t)
	c := newCluster(t, 2, func(db string) string { return clusterConfig(graph.URL, db, "") })
	// The balancer alternates: a user's two messages usually reach
	// different nodes, and so do their replies' sends.
	load := newWebhookLoad(t, 8, "ig-meta", metaSecret, c.pick)
	const users = 400
	for i := range users {
		load.add(loadUser(i), "oi", "menu")
	}
	start := time.Now()

	// Meanwhile, other users' webhooks are each delivered twice, to both
	// nodes: once acknowledged by one, Meta sends it again to the other
	// (behind a balancer, a redelivery lands anywhere). Half the second
	// deliveries race the first node's processing, half come once the
	// reply went out.
	const redelivered = 20
	redo := map[string]int{}
	var mids []string
	for i := range redelivered {
		user := fmt.Sprintf("r%03d", i+1)
		first, other := c.nodes[i%2], c.nodes[1-i%2]
		afterReply := i%4 >= 2
		for j, text := range []string{"oi", "menu"} {
			mid := fmt.Sprintf("m_redo_%s_%d", user, j+1)
			body := metaText(user, mid, text, time.Now())
			if err := postUntilAcked(first.URL, "ig-meta", metaSecret, body); err != nil {
				t.Fatal(err)
			}
			if afterReply {
				eventuallyWithin(t, 60*time.Second, fmt.Sprintf("%s's reply %d before its redelivery", user, j+1),
					func() bool { return len(graphReplies(graph)[user]) > j }, load.summary)
			}
			if err := postUntilAcked(other.URL, "ig-meta", metaSecret, body); err != nil {
				t.Fatalf("redelivery of an acknowledged webhook to the other node: %v", err)
			}
			mids = append(mids, mid)
		}
		redo[user] = 2
	}

	eventuallyWithin(t, 90*time.Second, "every message acknowledged", func() bool { return load.done(users, 2) }, load.summary)
	acked := load.ackedBy()
	for u, n := range redo {
		acked[u] = n
	}
	sent := func() map[string][]sentReply { return graphReplies(graph) }
	answered, state := repliesIn(acked, sent)
	if awaitReplies(t, 60*time.Second, "both replies to every user", answered, func() string { return state() + "; " + load.summary() }) {
		t.Logf("%d exchanges answered in %s", 2*len(acked), time.Since(start).Round(time.Millisecond))
		eventuallyWithin(t, 30*time.Second, "the inbox and the outbox to drain", c.drained, c.leases)
	}

	audit := auditReplies(c, "ig-meta", acked, sent())
	t.Logf("%s; Send API: %d requests; %s", audit, len(graph.sends()), load.summary())
	audit.check(t)

	// Exactly twice, in order: the greeting, then the menu.
	got := sent()
	var wrong []string
	for u := range acked {
		r := got[u]
		if len(r) != 2 || !strings.HasPrefix(r[0].Text, demoGreeting) || !strings.HasPrefix(r[1].Text, demoMenu) {
			wrong = append(wrong, fmt.Sprintf("%s: %s", u, textsOf(r)))
		}
	}
	sort.Strings(wrong)
	if len(wrong) > 0 {
		t.Errorf("%d of %d users were not answered exactly with the greeting then the menu; e.g. %s",
			len(wrong), len(acked), strings.Join(wrong[:min(5, len(wrong))], "; "))
	}
	// A redelivered webhook is one event, whichever node took each copy.
	for _, mid := range mids {
		if n := c.count(`SELECT count(*) FROM inbox WHERE integration_id = 'ig-meta' AND dedupe_key = $1`, mid); n != 1 {
			t.Errorf("inbox holds %d events for %s, delivered to both nodes; want 1", n, mid)
		}
	}
}

// assignedEvent is the part of an assigned event the tests read.
type assignedEvent struct {
	Conversation int64  `json:"conversation"`
	Agent        string `json:"agent"`
	Data         struct {
		Contact struct {
			ChannelUserID string `json:"channel_user_id"`
		} `json:"contact"`
	} `json:"data"`
}

func TestClusterAgentOnOneNodeSeesAnAssignmentMadeOnTheOther(t *testing.T) {
	graph := newFakeGraph(t)
	c := newCluster(t, 2, func(db string) string { return clusterConfig(graph.URL, db, "") })
	a, b := c.nodes[0], c.nodes[1]
	b.agentsAdd("ana", "agent", "ana-password")
	ana := b.signIn("ana", "ana-password")
	if status := b.api("PUT", "/api/v1/me/status", ana, map[string]string{"status": "available"}, nil); status != 200 {
		t.Fatalf("PUT /api/v1/me/status on node B = %d", status)
	}
	stream := b.events(ana, "")
	defer stream.close()

	// Each user asks for a person through node A; ana, whose console is
	// connected to node B, must be told within 2 s of A's acknowledgement.
	byA := 0
	var latencies []time.Duration
	var ids []string
	for i := range 3 {
		user := fmt.Sprintf("5%03d", i+1)
		if err := postUntilAcked(a.URL, "ig-meta", metaSecret, metaText(user, "m_handoff_"+user, "talk to a person", time.Now())); err != nil {
			t.Fatal(err)
		}
		acked := time.Now()
		e, ok := stream.nextWithin("assigned", 2*time.Second)
		if !ok {
			t.Fatalf("%s's conversation: no assigned event on node B's stream within 2s of node A's acknowledgement; conversations: %v; events: %v",
				user, c.table(`SELECT cv.id, ct.channel_user_id, cv.state, cv.agent FROM conversations cv JOIN contacts ct ON ct.id = cv.contact_id ORDER BY cv.id`),
				c.table(`SELECT id, type, conversation, agent, created_at FROM events ORDER BY id`))
		}
		latencies = append(latencies, time.Since(acked))
		ids = append(ids, e.id)
		var got assignedEvent
		if err := json.Unmarshal([]byte(e.data), &got); err != nil {
			t.Fatalf("assigned event data %s: %v", e.data, err)
		}
		if got.Data.Contact.ChannelUserID != user || got.Agent != "ana" {
			t.Fatalf("assigned event %s, want %s's conversation assigned to ana", e.data, user)
		}
		if a.assignedHere()[fmt.Sprint(got.Conversation)] {
			byA++
		}
	}
	t.Logf("assigned events on node B %v after node A acknowledged the webhooks; %d of 3 assignments made by node A", latencies, byA)
	// A conversation node B assigned itself proves nothing about events
	// crossing nodes: node A, woken by its own webhook, normally wins.
	if byA == 0 {
		t.Errorf("node A's log shows none of the 3 assignments (node B made them all), so no event crossed nodes; node A's log:\n%s", a.logs)
	}

	// The console loses node B and reconnects, through the balancer, to
	// node A with the id of the first event it saw: it gets the two it
	// missed since, from the shared event log.
	stream.close()
	resumed := a.events(ana, ids[0])
	defer resumed.close()
	for _, want := range ids[1:] {
		e, ok := resumed.nextWithin("assigned", 5*time.Second)
		if !ok || e.id != want {
			t.Fatalf("resuming on node A after %s: got %+v (ok %v), want the missed assigned event %s", ids[0], e, ok, want)
		}
	}
}

func TestClusterConcurrentHandoffsRespectMaxChatsAcrossNodes(t *testing.T) {
	graph := newFakeGraph(t)
	c := newCluster(t, 2, func(db string) string { return clusterConfig(graph.URL, db, `squad = "vendas"`) })
	a := c.nodes[0]
	a.agentsAdd("vera", "agent", "vera-password", "--squads", "vendas", "--max-chats", "3")
	boss := a.admin()
	vera := c.nodes[1].signIn("vera", "vera-password")
	if status := c.nodes[1].api("PUT", "/api/v1/me/status", vera, map[string]string{"status": "available"}, nil); status != 200 {
		t.Fatalf("PUT /api/v1/me/status = %d", status)
	}

	// Ten users ask for a person at once, five through each node.
	const handoffs = 10
	errs := make([]error, handoffs)
	var wg sync.WaitGroup
	go1 := make(chan struct{})
	for i := range handoffs {
		node, user := c.nodes[i%2], fmt.Sprintf("6%03d", i+1)
		body := metaText(user, "m_handoff_"+user, "talk to a person", time.Now())
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-go1
			errs[i] = postUntilAcked(node.URL, "ig-meta", metaSecret, body)
		}()
	}
	close(go1)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the ten handoffs processed", func() bool {
		return c.count(`SELECT count(*) FROM conversations WHERE squad = 'vendas' AND state IN ('queued', 'assigned')`) == handoffs && c.drained()
	})
	// Both nodes assign again (an agent becoming available assigns at
	// once): with vera full, nothing may change.
	for i, node := range c.nodes {
		if status := node.api("PUT", "/api/v1/me/status", vera, map[string]string{"status": "available"}, nil); status != 200 {
			t.Fatalf("PUT /api/v1/me/status on node %d = %d", i, status)
		}
	}
	time.Sleep(time.Second)
	byNode := make([]int, len(c.nodes))
	for i, node := range c.nodes {
		byNode[i] = len(node.assignedHere())
	}
	t.Logf("after the concurrent handoffs: assignments made by each node %v", byNode)
	checkCapacity(t, c, boss, vera, "after ten concurrent handoffs", 3)

	// vera goes offline (her chats go back to the queue), then is made
	// available through both nodes at once: both assign the same backlog
	// of ten concurrently, and still only three are hers.
	if status := a.api("PUT", "/api/v1/me/status", vera, map[string]string{"status": "offline"}, nil); status != 200 {
		t.Fatalf("PUT /api/v1/me/status offline = %d", status)
	}
	eventually(t, "vera's chats re-queued", func() bool {
		return c.count(`SELECT count(*) FROM conversations WHERE state = 'queued'`) == handoffs
	})
	answers := make([]string, len(c.nodes))
	go1 = make(chan struct{})
	for i, node := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-go1
			answers[i] = putStatus(node.URL, vera, "available")
		}()
	}
	close(go1)
	wg.Wait()
	if fmt.Sprint(answers) != "[200 200]" {
		t.Fatalf("PUT /api/v1/me/status available on both nodes at once = %v", answers)
	}
	time.Sleep(time.Second)
	checkCapacity(t, c, boss, vera, "after both nodes assigned the backlog at once", 6)
}

// checkCapacity checks, in the database and through each node's API, that
// vera (max_chats 3) has three of the ten conversations and seven wait;
// events is how many assigned events the log should hold by now.
func checkCapacity(t *testing.T, c *cluster, boss, vera, when string, events int) {
	t.Helper()
	state := c.table(`SELECT state, agent, count(*) FROM conversations GROUP BY 1, 2 ORDER BY 1, 2`)
	want := [][]string{{"assigned", "vera", "3"}, {"queued", "", "7"}}
	if fmt.Sprint(state) != fmt.Sprint(want) {
		t.Errorf("%s: conversations by state and agent = %v, want %v: vera's max_chats = 3 holds across nodes, the rest wait", when, state, want)
	}
	// Nodes append events to the log in the background.
	assignedEvents := func() int { return c.count(`SELECT count(*) FROM events WHERE type = 'assigned'`) }
	deadline := time.Now().Add(10 * time.Second)
	for assignedEvents() < events && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := assignedEvents(); n != events {
		t.Errorf("%s: %d assigned events in the event log, want %d", when, n, events)
	}
	for i, node := range c.nodes {
		assigned := node.conversations(boss, "?state=assigned")
		queued := node.conversations(boss, "?state=queued")
		mine := node.conversations(vera, "?state=assigned")
		if len(assigned) != 3 || len(queued) != 7 || len(mine) != 3 {
			t.Errorf("%s: node %d's API: %d assigned, %d queued, %d assigned to vera; want 3, 7, 3", when, i, len(assigned), len(queued), len(mine))
		}
		for _, cv := range assigned {
			if cv.Agent != "vera" || cv.Squad != "vendas" {
				t.Errorf("%s: node %d's API: conversation %d assigned to %q in squad %q, want vera in vendas", when, i, cv.ID, cv.Agent, cv.Squad)
			}
		}
	}
}

func TestClusterKill9OfOneNodeUnderLoadAnswersEveryMessageOnce(t *testing.T) {
	graph := newEchoGraph(t, "ig-meta", metaSecret, businessID)
	c := newCluster(t, 2, func(db string) string { return clusterConfig(graph.URL, db, "") })
	// Meta delivers webhooks and echoes through the balancer, to both nodes
	// and, after the kill, to the survivor only.
	graph.deliverTo(c.pick)
	load := newWebhookLoad(t, 8, "ig-meta", metaSecret, c.pick)
	const users = 400
	for i := range users {
		load.add(loadUser(i), "oi")
	}
	start := time.Now()
	eventuallyWithin(t, 60*time.Second, "a third of the messages acknowledged",
		func() bool { return load.ackedCount() >= users/3 }, load.summary)

	// Node 0 started first: it is normally the leader too.
	c.kill(0)
	killed := time.Now()
	sum, _ := graph.totals()
	t.Logf("SIGKILL of node 0 (pid %d) after %s: %d of %d messages acknowledged, %d replies accepted at the Send API; leases: %s",
		c.nodes[0].cmd.Process.Pid, killed.Sub(start).Round(time.Millisecond), load.ackedCount(), users, sum.Accepted, c.leases())

	eventuallyWithin(t, 60*time.Second, "every message acknowledged by the survivor", func() bool { return load.done(users, 1) }, load.summary)
	sent := func() map[string][]sentReply { return echoReplies(graph) }
	// The keys node 0 held come back within seconds, not when their leases
	// lapse (60 s): the leader sees node 0's liveness lock gone with its
	// session. 30 s leaves a wide margin on a busy machine and is still half
	// a lease.
	if awaitReplies(t, 30*time.Second, "a reply to every acknowledged user, well before node 0's leases lapse",
		answeredAll(load, sent), replyState(load, sent, graph)) {
		t.Logf("every user answered %s after the start (%s after the kill)", time.Since(start).Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
		// A resend of a reply node 0 had sent would come once its keys came
		// back: the outbox is drained only after every such decision.
		eventuallyWithin(t, 90*time.Second, "the inbox and the outbox to drain", c.drained, c.leases)
		eventuallyWithin(t, 30*time.Second, "every echo acknowledged", func() bool { _, pending := graph.totals(); return pending == 0 },
			func() string {
				_, pending := graph.totals()
				return fmt.Sprintf("%d echoes waiting for a 200", pending)
			})
		time.Sleep(3 * time.Second)
	}

	audit := auditReplies(c, "ig-meta", load.ackedBy(), sent())
	sum, pending := graph.totals()
	t.Logf("%s; Send API: %d requests, %d accepted, %d echoes delivered (%d waiting); %s",
		audit, sum.Requests, sum.Accepted, sum.Echoed, pending, load.summary())
	audit.check(t)
	if n := c.count(`SELECT count(*) FROM messages WHERE possible_duplicate`); n != 0 {
		t.Errorf("%d messages marked possibly duplicated: the channel echoes, so the survivor should have known what node 0 sent", n)
	}
}
