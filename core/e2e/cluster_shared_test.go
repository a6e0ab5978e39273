package e2e

import (
	"strings"
	"testing"
	"time"
)

// What one node changes, every node applies: an integration created on
// node A answers webhooks on node B within a second, and is gone from B as
// soon as A deletes it; a session opened on A works on B; failed sign-ins
// on A count on B.
func TestClusterSharesIntegrationsSessionsAndSignInLimits(t *testing.T) {
	graph := newFakeGraph(t)
	c := newCluster(t, 2, func(dbURL string) string { return withPrivateURLs(clusterConfig(graph.URL, dbURL, "")) })
	a, b := c.nodes[0], c.nodes[1]
	admin := a.admin() // created with the CLI on node A's config, signed in on A

	// Exactly one node runs the cluster-wide timers, and says so.
	leaders := func() (n int) {
		for _, s := range c.nodes {
			if _, body := s.do("GET", "/metrics", nil, nil); strings.Contains(string(body), "\nconversa_cluster_leader 1\n") {
				n++
			}
		}
		return n
	}
	eventually(t, "one leader among the nodes", func() bool { return leaders() == 1 })
	time.Sleep(500 * time.Millisecond)
	if n := leaders(); n != 1 {
		t.Errorf("%d nodes say they lead, want 1", n)
	}

	// The session opened on A is valid on B.
	var me struct {
		Login string `json:"login"`
	}
	if status := b.api("GET", "/api/v1/me", admin, nil, &me); status != 200 || me.Login != "boss" {
		t.Fatalf("GET /me on node B with node A's token = %d %q, want 200 boss", status, me.Login)
	}

	var created apiIntegration
	if status := a.api("POST", "/api/v1/integrations", admin, map[string]any{
		"id": "ig-zen", "name": "Zenvia", "channel": "zenvia", "assistant": "demo", "inactivity_minutes": 0,
		"settings": map[string]any{"sender_id": "brisk-harbor", "api_token": "zenvia-token-123456", "api_url": "http://127.0.0.1:1"},
	}, &created); status != 201 {
		t.Fatalf("POST integration on node A = %d, want 201", status)
	}
	headers, _ := created.Webhook["headers"].(map[string]any)
	user, _ := headers["Username"].(string)
	token, _ := headers["AuthenticationToken"].(string)
	zbody := []byte(`{"id":"e1","type":"MESSAGE","direction":"IN","channel":"instagram","timestamp":"` + time.Now().UTC().Format(time.RFC3339) + `",
		"message":{"id":"z1","from":"5982201744613390","to":"brisk-harbor","direction":"IN","contents":[{"type":"text","text":"oi"}]}}`)
	zpost := func(s *server) int {
		st, _ := s.do("POST", "/webhooks/ig-zen", zbody, map[string]string{"Username": user, "AuthenticationToken": token,
			"Content-Type": "application/json"})
		return st
	}
	within := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s", what, d)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	within("node B answers the webhook of an integration created on node A", time.Second, func() bool { return zpost(b) == 200 })
	if status := a.api("DELETE", "/api/v1/integrations/ig-zen", admin, nil, nil); status != 204 {
		t.Fatalf("DELETE on node A = %d", status)
	}
	within("node B refuses the webhook of an integration deleted on node A", time.Second, func() bool { return zpost(b) == 404 })

	// Sign-in failures count across nodes: 5 wrong passwords spread over A
	// and B, then the right one is refused on either.
	a.agentsAdd("ana", "agent", "ana-password")
	for i := range 5 {
		n := []*server{a, b}[i%2]
		if got := n.api("POST", "/api/v1/login", "", map[string]string{"login": "ana", "password": "wrong"}, nil); got != 401 {
			t.Fatalf("wrong password %d = %d, want 401", i+1, got)
		}
	}
	for i, n := range []*server{a, b} {
		if got := n.api("POST", "/api/v1/login", "", map[string]string{"login": "ana", "password": "ana-password"}, nil); got != 429 {
			t.Errorf("node %d: sign-in after 5 failures on both nodes = %d, want 429", i, got)
		}
	}
}
