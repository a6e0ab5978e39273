package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkFanOut measures live events reaching many open consoles through
// the real binary on SQLite. 400 users have a conversation waiting in the
// queue (or with an agent). Events go out open-loop at a fixed rate, each
// carrying its scheduled send time in a marker, and every stream's client
// records, for each event, the time from that send to the event's arrival.
// Two event sources, both published by the engine on the same path as every
// live update:
//
//   - labels (the default): an admin sets a conversation's labels over the
//     API (one group-committed transaction, then one "labels" event). The
//     cheapest way in through the product, it can reach 1,000 events/s.
//   - webhook: one signed Meta webhook, a text into one of those
//     conversations (stored, then one "message" event). The whole ingest
//     path runs first, so this measures the engine's processing as well
//     (FANOUT_SOURCE=webhook).
//
// Cases:
//   - admin-N: N streams opened with one admin's token (every event to
//     every stream);
//   - mix-N: N/10 admin streams and the rest spread over 50 agents, each
//     agent's streams seeing only the events of the 8 conversations
//     assigned to them (checked: one foreign event fails the benchmark).
//
// Reported per rate: p50/p99/max in ms, delivered/expected (events that
// reached a stream over the events that stream may see, sent and
// acknowledged; a stream the server ends is not reopened, so what it
// misses counts as lost), duplicates and out-of-order events (must be 0),
// the CPU the server process and the test process (clients and sender)
// used, in % of one core, and the server's resident memory per idle stream
// (measured as the streams open).
//
//	go test ./core/e2e -run XXX -bench FanOut -benchtime 1x
//
// FANOUT_SECONDS (default 5) sets each rate's duration; FANOUT_CASES
// (default "admin-100,admin-500,mix-500"), FANOUT_RATES (default
// "200,500,1000") and FANOUT_SOURCE ("labels" or "webhook") choose the
// cases.
func BenchmarkFanOut(b *testing.B) {
	secs := envInt("FANOUT_SECONDS", 5)
	rates := []int{200, 500, 1000}
	if s := os.Getenv("FANOUT_RATES"); s != "" {
		rates = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("FANOUT_RATES: %q is not a rate", f)
			}
			rates = append(rates, n)
		}
	}
	source := os.Getenv("FANOUT_SOURCE")
	switch source {
	case "":
		source = "labels"
	case "labels", "webhook":
	default:
		b.Fatalf("FANOUT_SOURCE: %q is neither labels nor webhook", source)
	}
	cases := "admin-100,admin-500,mix-500"
	if s := os.Getenv("FANOUT_CASES"); s != "" {
		cases = s
	}
	for _, c := range strings.Split(cases, ",") {
		kind, n, ok := strings.Cut(strings.TrimSpace(c), "-")
		streams, err := strconv.Atoi(n)
		if !ok || err != nil || (kind != "admin" && kind != "mix") {
			b.Fatalf("FANOUT_CASES: %q is not admin-N or mix-N", c)
		}
		b.Run(c, func(b *testing.B) {
			f := newFanOut(b, streams, kind == "mix")
			f.source = source
			for _, r := range rates {
				b.Run(fmt.Sprintf("rate-%d", r), func(b *testing.B) { f.run(b, r, secs) })
			}
		})
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

const (
	fanUsers  = 400
	fanAgents = 50
)

// fanOut is a server with its streams open.
type fanOut struct {
	srv     *server
	streams []*fanStream
	// owner maps a user index to the agent their conversation is with ("":
	// queued, seen by admins only).
	owner []string
	// conv maps a user index to their conversation's id.
	conv   []int64
	boss   string
	source string
	client *http.Client
	runs   atomic.Int64
	idleKB float64
}

// fanoutConfig is metaConfig without the assistant: every conversation goes
// straight to the squad.
func fanoutConfig(graphURL string) string {
	c := strings.Replace(metaConfig(graphURL, ""), "assistant = \"demo\"\n", "", 1)
	return withBodyLimit(c, 1024)
}

func fanUser(i int) string { return fmt.Sprintf("f%04d", i) }

func newFanOut(b *testing.B, n int, mix bool) *fanOut {
	graph := newEchoGraph(b, "ig-meta", metaSecret, businessID)
	srv := newServer(b, fanoutConfig(graph.URL))
	graph.deliverTo(func() string { return srv.URL })
	boss := srv.admin()
	f := &fanOut{srv: srv, boss: boss, owner: make([]string, fanUsers), conv: make([]int64, fanUsers), client: &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128}}}
	var agentTokens []string
	if mix {
		for i := range fanAgents {
			login := fmt.Sprintf("agent%02d", i)
			if status := srv.api("POST", "/api/v1/agents", boss, map[string]any{"login": login, "name": login,
				"role": "agent", "squads": []string{"geral"}, "password": "agent-password-" + login}, nil); status != 201 {
				b.Fatalf("POST /agents %s = %d", login, status)
			}
			tok := srv.signIn(login, "agent-password-"+login)
			srv.api("PUT", "/api/v1/me/status", tok, map[string]string{"status": "available"}, nil)
			agentTokens = append(agentTokens, tok)
		}
	}
	// Every user opens a conversation; they wait in the queue or go to the
	// agents (8 each).
	for i := range fanUsers {
		body := metaText(fanUser(i), "seed-"+fanUser(i), "hello", time.Now())
		if status, out := srv.postMeta("ig-meta", metaSecret, body); status != 200 {
			b.Fatalf("seeding webhook = %d %s", status, out)
		}
	}
	eventuallyB(b, 2*time.Minute, "the seed conversations processed", func() bool {
		return srv.drained() && srv.count(`SELECT count(*) FROM conversations WHERE state IN ('queued', 'assigned')`) == fanUsers
	})
	for _, row := range srv.table(`SELECT ct.channel_user_id, c.id, CASE c.state WHEN 'assigned' THEN c.agent ELSE '' END
		FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.state IN ('queued', 'assigned')`) {
		i, err := strconv.Atoi(strings.TrimPrefix(row[0], "f"))
		if err != nil || i < 0 || i >= fanUsers {
			b.Fatalf("unexpected contact %q", row[0])
		}
		f.conv[i], _ = strconv.ParseInt(row[1], 10, 64)
		f.owner[i] = row[2]
	}
	if mix {
		if n := srv.count(`SELECT count(*) FROM conversations WHERE state = 'assigned'`); n != fanAgents*8 {
			b.Logf("%d conversations assigned to agents (of %d)", n, fanAgents*8)
		}
	}

	rssBefore := rssKB(srv.cmd.Process.Pid)
	admins := n
	if mix {
		admins = n / 10
	}
	for i := range n {
		tok, agent := boss, ""
		if i >= admins {
			j := (i - admins) % fanAgents
			tok, agent = agentTokens[j], fmt.Sprintf("agent%02d", j)
		}
		st, err := openFanStream(srv.URL, tok, agent, f.owner)
		if err != nil {
			b.Fatalf("opening stream %d: %v", i, err)
		}
		f.streams = append(f.streams, st)
	}
	b.Cleanup(func() {
		for _, st := range f.streams {
			st.conn.Close()
		}
	})
	time.Sleep(time.Second) // the writers settle
	rssAfter := rssKB(srv.cmd.Process.Pid)
	f.idleKB = float64(rssAfter-rssBefore) / float64(n)
	fmt.Printf("%s: %d streams open (%d admin): server resident %d KB → %d KB, %.1f KB per idle stream\n",
		b.Name(), n, admins, rssBefore, rssAfter, f.idleKB)
	return f
}

func eventuallyB(b *testing.B, d time.Duration, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// run sends rate webhooks per second for secs seconds and measures.
func (f *fanOut) run(b *testing.B, rate, secs int) {
	runID := int(f.runs.Add(1))
	total := rate * secs
	start := time.Now().Add(100 * time.Millisecond)
	for _, st := range f.streams {
		st.begin(runID, total, start)
	}
	type shot struct {
		i    int
		path string
		body []byte
	}
	shots := make(chan shot, total)
	var acked []atomic.Bool = make([]atomic.Bool, total)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range shots {
				method := "PUT"
				req, _ := http.NewRequest("PUT", f.srv.URL+s.path, bytes.NewReader(s.body))
				if f.source == "webhook" {
					method = "POST"
					req.Header.Set("X-Hub-Signature-256", sign(metaSecret, s.body))
				} else {
					req.Header.Set("Authorization", "Bearer "+f.boss)
				}
				req.Method = method
				req.Header.Set("Content-Type", "application/json")
				resp, err := f.client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					acked[s.i].Store(true)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	cpu0, srv0 := selfCPU(), procCPU(f.srv.cmd.Process.Pid)
	b.ResetTimer()
	for i := range total {
		offset := time.Duration(i) * time.Second / time.Duration(rate)
		at := start.Add(offset)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		u := i % fanUsers
		// The marker: run, event, user, scheduled send in µs from the start.
		marker := fmt.Sprintf("fo_%d_%d_%d_%d", runID, i, u, offset.Microseconds())
		if f.source == "webhook" {
			shots <- shot{i, "/webhooks/ig-meta", metaText(fanUser(u), fmt.Sprintf("fan-%d-%d", runID, i), marker+"_", at)}
		} else {
			shots <- shot{i, fmt.Sprintf("/api/v1/conversations/%d/labels", f.conv[u]), []byte(`{"labels": ["` + marker + `"]}`)}
		}
	}
	close(shots)
	wg.Wait()
	sent := time.Since(start)
	// Wait for what is still on its way: everything acknowledged processed,
	// then every stream complete or 10 s more.
	expect := make([]int, len(f.streams))
	for i, st := range f.streams {
		for k := range total {
			if acked[k].Load() && (st.agent == "" || f.owner[k%fanUsers] == st.agent) {
				expect[i]++
			}
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for !f.srv.drained() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		done := true
		for i, st := range f.streams {
			if st.delivered() < expect[i] {
				done = false
				break
			}
		}
		if done {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu1, srv1 := selfCPU(), procCPU(f.srv.cmd.Process.Pid)

	var lat []time.Duration
	var delivered, expected, dups, disorder, foreign, closed int
	for i, st := range f.streams {
		r := st.end()
		lat = append(lat, r.lat...)
		delivered += r.unique
		expected += expect[i]
		dups += r.dups
		disorder += r.disorder
		foreign += r.foreign
		if r.closed {
			closed++
		}
	}
	slices.Sort(lat)
	ms := func(q float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(int(q*float64(len(lat))), len(lat)-1)]) / 1e6
	}
	ratio := float64(delivered) / float64(max(expected, 1))
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(ms(1), "max-ms")
	b.ReportMetric(ratio, "delivered/expected")
	b.ReportMetric(100*(srv1-srv0).Seconds()/elapsed.Seconds(), "server-cpu-%")
	b.ReportMetric(100*(cpu1-cpu0).Seconds()/elapsed.Seconds(), "client-cpu-%")
	b.ReportMetric(f.idleKB, "idle-KB/stream")
	b.ReportMetric(0, "ns/op")
	b.Logf("%s, %d streams, %d/s for %ds (sent in %s, %d failed): p50 %.1f ms, p99 %.1f ms, max %.1f ms; delivered %d of %d (%.3f); dups %d, out of order %d, foreign %d, streams ended by the server %d; CPU server %.0f%%, test process %.0f%% of a core",
		f.source, len(f.streams), rate, secs, sent.Round(time.Millisecond), failed.Load(), ms(0.5), ms(0.99), ms(1), delivered, expected, ratio,
		dups, disorder, foreign, closed, 100*(srv1-srv0).Seconds()/elapsed.Seconds(), 100*(cpu1-cpu0).Seconds()/elapsed.Seconds())
	if foreign > 0 {
		b.Errorf("%d events reached an agent's stream that were not theirs", foreign)
	}
	if dups > 0 {
		b.Errorf("%d events arrived twice on one stream", dups)
	}
}

// fanStream is one console's event stream, read cheaply: one connection, a
// 64 KB buffer, and a look at each frame for the benchmark's marker and id.
type fanStream struct {
	agent string
	// owner maps a user index to their conversation's agent.
	owner []string
	conn  net.Conn

	mu     sync.Mutex
	run    int
	start  time.Time
	seen   []bool
	lat    []time.Duration
	unique int
	dups   int
	// disorder counts frames whose id is not above the previous one.
	disorder int
	foreign  int
	lastSeq  uint64
	closed   bool
}

type fanResult struct {
	lat                             []time.Duration
	unique, dups, disorder, foreign int
	closed                          bool
}

func openFanStream(base, token, agent string, owner []string) (*fanStream, error) {
	host := strings.TrimPrefix(base, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		return nil, err
	}
	req := "GET /api/v1/events HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + token +
		"\r\nAccept: text/event-stream\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != 200 {
		conn.Close()
		return nil, fmt.Errorf("GET /api/v1/events = %s", resp.Status)
	}
	st := &fanStream{agent: agent, owner: owner, conn: conn}
	go st.read(resp.Body)
	return st, nil
}

func (st *fanStream) begin(run, total int, start time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.run, st.start, st.seen, st.lat = run, start, make([]bool, total), make([]time.Duration, 0, total)
	st.unique, st.dups, st.disorder, st.foreign = 0, 0, 0, 0
}

func (st *fanStream) delivered() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.unique
}

func (st *fanStream) end() fanResult {
	st.mu.Lock()
	defer st.mu.Unlock()
	r := fanResult{st.lat, st.unique, st.dups, st.disorder, st.foreign, st.closed}
	st.run, st.seen, st.lat = 0, nil, nil
	return r
}

var (
	fanMarker = []byte("fo_")
	frameEnd  = []byte("\n\n")
)

func (st *fanStream) read(body io.ReadCloser) {
	defer func() {
		st.mu.Lock()
		st.closed = true
		st.mu.Unlock()
	}()
	buf := make([]byte, 64<<10)
	have := 0
	for {
		n, err := body.Read(buf[have:])
		now := time.Now()
		have += n
		data := buf[:have]
		st.mu.Lock()
		for {
			i := bytes.Index(data, frameEnd)
			if i < 0 {
				break
			}
			st.frame(data[:i], now)
			data = data[i+2:]
		}
		st.mu.Unlock()
		have = copy(buf, data)
		if have == len(buf) {
			have = 0 // a frame larger than the buffer: not one of ours
		}
		if err != nil {
			return
		}
	}
}

// frame looks at one SSE frame (under st.mu).
func (st *fanStream) frame(f []byte, now time.Time) {
	if bytes.HasPrefix(f, []byte("id: ")) {
		id := f[4:]
		if j := bytes.IndexByte(id, '\n'); j >= 0 {
			id = id[:j]
		}
		if j := bytes.LastIndexByte(id, '-'); j >= 0 {
			id = id[j+1:]
		}
		if seq, err := strconv.ParseUint(string(id), 10, 64); err == nil {
			if seq <= st.lastSeq {
				st.disorder++
			}
			st.lastSeq = seq
		}
	}
	i := bytes.Index(f, fanMarker)
	if i < 0 || st.seen == nil {
		return
	}
	var v [4]int64
	rest := f[i+len(fanMarker):]
	for k := range v {
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if j == 0 || (k < len(v)-1 && (j == len(rest) || rest[j] != '_')) {
			return
		}
		n, _ := strconv.ParseInt(string(rest[:j]), 10, 64)
		v[k], rest = n, rest[min(j+1, len(rest)):]
	}
	run, k, user, at := int(v[0]), int(v[1]), int(v[2]), st.start.Add(time.Duration(v[3])*time.Microsecond)
	if run != st.run || k < 0 || k >= len(st.seen) {
		return
	}
	if st.agent != "" && (user < 0 || user >= fanUsers || st.owner[user] != st.agent) {
		st.foreign++
	}
	if st.seen[k] {
		st.dups++
		return
	}
	st.seen[k] = true
	st.unique++
	st.lat = append(st.lat, now.Sub(at))
}

// rssKB is a process's resident set size.
func rssKB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return n
		}
	}
	return 0
}

// procCPU is the user and system CPU a process used so far.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100
}

// selfCPU is the CPU this test process used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
