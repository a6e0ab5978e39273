package e2e

import (
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"
)

// loadConfig is metaConfig with room for a load's bodies.
func loadConfig(graphURL string) string {
	return withBodyLimit(metaConfig(graphURL, ""), 1024)
}

// newLoadServer starts a server on an echoing Graph fake and points the
// fake's echoes at it.
func newLoadServer(t *testing.T) (*server, *echoGraph, *liveURL) {
	t.Helper()
	graph := newEchoGraph(t, "ig-meta", metaSecret, businessID)
	srv := newServer(t, loadConfig(graph.URL))
	url := &liveURL{}
	url.set(srv.URL)
	graph.deliverTo(url.get)
	return srv, graph, url
}

// answeredAll reports whether every user with an acknowledged message has
// at least as many replies accepted as acknowledged messages.
func answeredAll(load *webhookLoad, sent func() map[string][]sentReply) func() bool {
	return func() bool {
		got := sent()
		for u, n := range load.ackedBy() {
			if len(got[u]) < n {
				return false
			}
		}
		return true
	}
}

// replyState describes how far the replies got, for a timeout.
func replyState(load *webhookLoad, sent func() map[string][]sentReply, graph *echoGraph) func() string {
	return func() string {
		got := sent()
		var waiting []string
		for u, n := range load.ackedBy() {
			if len(got[u]) < n {
				waiting = append(waiting, u)
			}
		}
		extra := ""
		if graph != nil {
			sum, pending := graph.totals()
			extra = fmt.Sprintf("; Send API: %d requests, %d accepted, %d echoes delivered, %d echoes waiting for a 200",
				sum.Requests, sum.Accepted, sum.Echoed, pending)
		}
		return fmt.Sprintf("%d users still waiting for a reply (e.g. %v)%s; %s", len(waiting), waiting[:min(5, len(waiting))], extra, load.summary())
	}
}

// awaitReplies waits for cond like eventuallyWithin, but a timeout is an
// error, not the end of the test: the audit that follows says which users
// went unanswered and why.
func awaitReplies(t *testing.T, d time.Duration, what string, cond func() bool, state func() string) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("timed out after %s waiting for %s; %s", d, what, state())
	return false
}

// lateDuplicateWatch is how long a test keeps watching after the last reply
// arrived: the engine waits up to ~20 s for the echo of a send whose outcome
// it did not learn before it sends again, so a duplicate comes late.
const lateDuplicateWatch = 30 * time.Second

func TestKill9UnderLoadLosesNothingAndAnswersOnce(t *testing.T) {
	srv, graph, url := newLoadServer(t)
	load := newWebhookLoad(t, 8, "ig-meta", metaSecret, url.get)
	const users = 600
	for i := range users {
		load.add(loadUser(i), "oi")
	}
	start := time.Now()
	eventuallyWithin(t, 60*time.Second, "a third of the messages acknowledged",
		func() bool { return load.ackedCount() >= users/3 }, load.summary)

	srv.kill()
	killed := time.Now()
	ackedBefore := load.ackedCount()
	sum, _ := graph.totals()
	t.Logf("SIGKILL after %s: %d of %d messages acknowledged, %d replies accepted at the Send API",
		killed.Sub(start).Round(time.Millisecond), ackedBefore, users, sum.Accepted)
	srv.restart()
	url.set(srv.URL)
	t.Logf("restarted in %s", time.Since(killed).Round(time.Millisecond))

	eventuallyWithin(t, 60*time.Second, "every message acknowledged", func() bool { return load.done(users, 1) }, load.summary)
	sent := func() map[string][]sentReply { return echoReplies(graph) }
	if awaitReplies(t, 60*time.Second, "a reply to every acknowledged user", answeredAll(load, sent), replyState(load, sent, graph)) {
		t.Logf("every user answered %s after the start; watching %s for late duplicates", time.Since(start).Round(time.Millisecond), lateDuplicateWatch)
		time.Sleep(lateDuplicateWatch)
		srv.settle()
	}

	audit := auditReplies(srv, "ig-meta", load.ackedBy(), sent())
	sum, pending := graph.totals()
	t.Logf("%s; Send API: %d requests, %d accepted, %d echoes delivered (%d waiting); %s",
		audit, sum.Requests, sum.Accepted, sum.Echoed, pending, load.summary())
	audit.check(t)
}

func TestNoDuplicatesUnderLoad(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, loadConfig(graph.URL))
	url := &liveURL{}
	url.set(srv.URL)
	load := newWebhookLoad(t, 8, "ig-meta", metaSecret, url.get)
	const users = 400
	for i := range users {
		load.add(loadUser(i), "oi", "menu")
	}
	start := time.Now()
	eventuallyWithin(t, 80*time.Second, "every message acknowledged", func() bool { return load.done(users, 2) }, load.summary)
	sent := func() map[string][]sentReply { return graphReplies(graph) }
	if awaitReplies(t, 60*time.Second, "both replies to every user", answeredAll(load, sent), replyState(load, sent, nil)) {
		t.Logf("%d exchanges answered in %s", 2*users, time.Since(start).Round(time.Millisecond))
		srv.settle()
	}

	audit := auditReplies(srv, "ig-meta", load.ackedBy(), sent())
	t.Logf("%s; Send API: %d requests; %s", audit, len(graph.sends()), load.summary())
	audit.check(t)
}

// pluginState is one entry of GET /api/v1/plugins.
type pluginState struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Restarts int    `json:"restarts"`
}

// plugins lists the plugins through the API, by name.
func (s *server) plugins(token string) map[string]pluginState {
	s.t.Helper()
	var resp struct {
		Plugins []pluginState `json:"plugins"`
	}
	if status := s.api("GET", "/api/v1/plugins", token, nil, &resp); status != 200 {
		s.t.Fatalf("GET /api/v1/plugins = %d", status)
	}
	out := map[string]pluginState{}
	for _, p := range resp.Plugins {
		out[p.Name] = p
	}
	return out
}

// pluginRecovery is one kill -9 of a plugin and how long it took to come back.
type pluginRecovery struct {
	plugin      string
	at          time.Duration // since the load started
	oldPID      int
	newPID      int
	newPIDAfter time.Duration // a new process exists
	running     time.Duration // ... and the API reports it running
	states      []string      // states the API reported meanwhile
}

func (r pluginRecovery) String() string {
	after := func(d time.Duration) string {
		if d < 0 {
			return "never (within the 10s watched)"
		}
		return "after " + d.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("%s killed at %s (pid %d): new process (pid %d) %s, reported running %s (API states seen: %v)",
		r.plugin, r.at.Round(time.Millisecond), r.oldPID, r.newPID, after(r.newPIDAfter), after(r.running), r.states)
}

// killPlugin kills a plugin's process with SIGKILL and measures how long
// until a new process runs and the API says so (or until limit).
func killPlugin(t *testing.T, srv *server, token, name string, limit time.Duration) pluginRecovery {
	t.Helper()
	r := pluginRecovery{plugin: name, oldPID: pluginPIDs(srv.cmd.Process.Pid)[name]}
	if r.oldPID == 0 {
		t.Fatalf("no %s plugin process to kill; children: %v", name, srv.children())
	}
	if err := syscall.Kill(r.oldPID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %s (pid %d): %v", name, r.oldPID, err)
	}
	killed := time.Now()
	r.newPIDAfter, r.running = -1, -1
	for time.Since(killed) < limit {
		if r.newPID == 0 {
			if pid := pluginPIDs(srv.cmd.Process.Pid)[name]; pid != 0 && pid != r.oldPID && alive(pid) {
				r.newPID, r.newPIDAfter = pid, time.Since(killed)
			}
		}
		state := srv.plugins(token)[name].State
		if len(r.states) == 0 || r.states[len(r.states)-1] != state {
			r.states = append(r.states, state)
		}
		// The state must describe the new process, not the killed one.
		if r.newPID != 0 && state == "running" {
			r.running = time.Since(killed)
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r
}

func TestPluginCrashesUnderSteadyLoad(t *testing.T) {
	srv, graph, url := newLoadServer(t)
	token := srv.admin()
	eventually(t, "the plugin processes", func() bool {
		pids := pluginPIDs(srv.cmd.Process.Pid)
		return pids["meta"] != 0 && pids["rules"] != 0
	})
	load := newWebhookLoad(t, 8, "ig-meta", metaSecret, url.get)

	// About 20 webhooks a second of distinct users for 20 s.
	const rate, duration = 20, 20 * time.Second
	start := time.Now()
	var producer sync.WaitGroup
	producer.Add(1)
	users := 0
	go func() {
		defer producer.Done()
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		for i := 0; time.Since(start) < duration; i++ {
			load.add(loadUser(i), "oi")
			users = i + 1
			<-tick.C
		}
	}()
	var recoveries []pluginRecovery
	for _, k := range []struct {
		at     time.Duration
		plugin string
	}{{4 * time.Second, "meta"}, {9 * time.Second, "rules"}, {14 * time.Second, "meta"}} {
		time.Sleep(time.Until(start.Add(k.at)))
		at := time.Since(start)
		r := killPlugin(t, srv, token, k.plugin, 10*time.Second)
		r.at = at
		t.Log(r)
		recoveries = append(recoveries, r)
	}
	lastKill := start.Add(14 * time.Second)
	producer.Wait()

	eventuallyWithin(t, 60*time.Second, "every message acknowledged", func() bool { return load.done(users, 1) }, load.summary)
	sent := func() map[string][]sentReply { return echoReplies(graph) }
	if awaitReplies(t, 60*time.Second, "a reply to every acknowledged user", answeredAll(load, sent), replyState(load, sent, graph)) {
		// Late duplicates of sends cut by the kills come within the echo wait.
		watch := max(10*time.Second, time.Until(lastKill.Add(lateDuplicateWatch)))
		t.Logf("every user answered %s after the start; watching %s for late duplicates", time.Since(start).Round(time.Millisecond), watch.Round(time.Second))
		time.Sleep(watch)
		srv.settle()
	}

	for _, r := range recoveries {
		if r.running < 0 || r.running > time.Second {
			t.Errorf("%s; want a new process reported running within 1s", r)
		}
	}
	audit := auditReplies(srv, "ig-meta", load.ackedBy(), sent())
	sum, pending := graph.totals()
	t.Logf("%s; Send API: %d requests, %d accepted, %d echoes delivered (%d waiting); %s",
		audit, sum.Requests, sum.Accepted, sum.Echoed, pending, load.summary())
	if queued := srv.count(`SELECT count(*) FROM conversations WHERE state <> 'bot'`); queued != 0 {
		t.Errorf("%d conversations left the assistant (queued for a person or ended) during the crashes, want none: a plugin back within 1s must not cost a user their answer", queued)
	}
	audit.check(t)
}

func TestProviderOutageThenEveryReplyOnceInOrder(t *testing.T) {
	srv, graph, url := newLoadServer(t)
	load := newWebhookLoad(t, 4, "ig-meta", metaSecret, url.get)

	// Two new users a second, each writing "oi" then "menu" (two different
	// replies, so their order shows), from before the outage to after it.
	const phase = 15 * time.Second
	phases := []string{graph500, graph429, graphRateLimit, graphHang}
	outageStart := 3 * time.Second
	outageEnd := outageStart + time.Duration(len(phases))*phase
	start := time.Now()
	var producer sync.WaitGroup
	producer.Add(1)
	users := 0
	go func() {
		defer producer.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for i := 0; time.Since(start) < outageEnd+3*time.Second; i++ {
			load.add(loadUser(i), "oi", "menu")
			users = i + 1
			<-tick.C
		}
	}()
	time.Sleep(outageStart)
	for _, mode := range phases {
		graph.setMode(mode)
		sum, _ := graph.totals()
		t.Logf("%s: Send API in mode %q (so far %d requests, %d accepted)", time.Since(start).Round(time.Second), mode, sum.Requests, sum.Accepted)
		time.Sleep(phase)
	}
	graph.setMode(graphOK)
	recovered := time.Now()
	t.Logf("%s: Send API recovered", time.Since(start).Round(time.Second))
	producer.Wait()

	eventuallyWithin(t, 30*time.Second, "every message acknowledged", func() bool { return load.done(users, 2) }, load.summary)
	sent := func() map[string][]sentReply { return echoReplies(graph) }
	// Retries back off from ~1 s, doubling: a reply that kept failing for
	// the whole outage is retried within about another minute.
	if awaitReplies(t, 120*time.Second, "both replies to every user after the outage", answeredAll(load, sent), replyState(load, sent, graph)) {
		// The last hang ends graphHangFor after the recovery; a send it cut
		// is resent, if ever, once the echo wait after its deadline is over.
		watch := max(10*time.Second, time.Until(recovered.Add(graphHangFor+20*time.Second)))
		t.Logf("every user answered %s after the Send API recovered; watching %s for late duplicates",
			time.Since(recovered).Round(time.Millisecond), watch.Round(time.Second))
		time.Sleep(watch)
		srv.settle()
	}

	audit := auditReplies(srv, "ig-meta", load.ackedBy(), sent())
	sum, pending := graph.totals()
	byMode := map[string]int{}
	for _, s := range graph.sends() {
		byMode[s.Mode]++
	}
	t.Logf("%s; Send API: %d requests (by mode %v), %d accepted, %d echoes delivered (%d waiting); %s",
		audit, sum.Requests, byMode, sum.Accepted, sum.Echoed, pending, load.summary())
	audit.check(t)
}
