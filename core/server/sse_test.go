package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conversa/conversa/core/agents"
	"github.com/conversa/conversa/core/engine"
	"github.com/conversa/conversa/core/events"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/scripting"
	"github.com/conversa/conversa/core/server"
	"github.com/conversa/conversa/core/store/sqlite"
)

// liveServer is a whole server in process on a fresh SQLite database,
// listening on loopback, with an admin (boss) and two agents (ana, bob).
type liveServer struct {
	srv    *server.Server
	bus    *events.Bus
	url    string
	tokens map[string]string
}

func newLiveServer(t testing.TB) *liveServer {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "conversa.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	host, err := pluginhost.New(pluginhost.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(host.Close)
	hooks, err := scripting.New(scripting.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hooks.Close() })
	bus := events.New(8192)
	eng, err := engine.New(engine.Options{Store: st, Plugins: host, Hooks: hooks, Bus: bus, PublicURL: "http://127.0.0.1:8080", Node: "sse"})
	if err != nil {
		t.Fatal(err)
	}
	people := agents.New(agents.Options{Store: st, Bus: bus})
	eng.SetAssigner(people)
	for _, a := range []*model.Agent{
		{ID: "boss", Name: "Boss", Role: model.RoleAdmin},
		{ID: "ana", Name: "Ana", Role: model.RoleAgent, Squads: []string{"geral"}, MaxChats: 8},
		{ID: "bob", Name: "Bob", Role: model.RoleAgent, Squads: []string{"geral"}, MaxChats: 8},
	} {
		if err := agents.Create(ctx, st.Agents(), a, a.ID+"-password"); err != nil {
			t.Fatal(err)
		}
	}
	srv := server.New(server.Options{Engine: eng, Store: st, Plugins: host, Agents: people, Scripts: hooks,
		BodyLimitKB: 64, Version: "sse", Squads: []string{"geral"}, PublicURL: "http://127.0.0.1:8080"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	ls := &liveServer{srv: srv, bus: bus, url: "http://" + ln.Addr().String(), tokens: map[string]string{}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	for _, id := range []string{"boss", "ana", "bob"} {
		resp, err := http.Post(ls.url+"/api/v1/login", "application/json",
			strings.NewReader(fmt.Sprintf(`{"login": %q, "password": %q}`, id, id+"-password")))
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Token string `json:"token"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != 200 || out.Token == "" {
			t.Fatalf("login %s = %d", id, resp.StatusCode)
		}
		ls.tokens[id] = out.Token
	}
	return ls
}

// liveEvent is one frame read from a stream ("" typ: a comment).
type liveEvent struct{ id, typ, data, comment string }

type liveStream struct {
	resp   *http.Response
	events chan liveEvent
}

// open starts a stream as who, resuming after lastID if set.
func (ls *liveServer) open(t *testing.T, who, lastID string) *liveStream {
	t.Helper()
	req, _ := http.NewRequest("GET", ls.url+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+ls.tokens[who])
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/events as %s = %d", who, resp.StatusCode)
	}
	st := &liveStream{resp: resp, events: make(chan liveEvent, 100_000)}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(st.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var e liveEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				e.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				e.typ = line[7:]
			case strings.HasPrefix(line, "data: "):
				e.data = line[6:]
			case strings.HasPrefix(line, ":"):
				e.comment = line
			case line == "":
				st.events <- e
				e = liveEvent{}
			}
		}
	}()
	return st
}

// collect reads events of type typ until n arrived or the stream ends or
// d passes.
func (st *liveStream) collect(typ string, n int, d time.Duration) []liveEvent {
	var got []liveEvent
	timeout := time.After(d)
	for len(got) < n {
		select {
		case e, ok := <-st.events:
			if !ok {
				return got
			}
			if e.typ == typ {
				got = append(got, e)
			}
		case <-timeout:
			return got
		}
	}
	return got
}

// publish publishes n "message" events numbered from first, each for the
// agent owner(i), with data padded by pad.
func (ls *liveServer) publish(first, n int, owner func(int) string, pad string) {
	for i := first; i < first+n; i++ {
		ls.bus.Publish(events.Event{Type: events.Message, Conversation: int64(i), Agent: owner(i), Data: map[string]any{"n": i, "pad": pad}})
	}
}

func owner(i int) string { return [3]string{"ana", "bob", ""}[i%3] }

// numbers are the event numbers in got, checking each frame's JSON.
func numbers(t *testing.T, got []liveEvent) []int {
	t.Helper()
	var ns []int
	for _, e := range got {
		var v struct {
			Type         string `json:"type"`
			Conversation int64  `json:"conversation"`
			Agent        string `json:"agent"`
			Data         struct {
				N int `json:"n"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(e.data), &v); err != nil || v.Type != events.Message || v.Conversation != int64(v.Data.N) {
			t.Fatalf("event %s: data %s does not decode to the event published (%v)", e.id, e.data, err)
		}
		ns = append(ns, v.Data.N)
	}
	return ns
}

// expect are the numbers in [first, first+n) who may see.
func expect(who string, first, n int) []int {
	var ns []int
	for i := first; i < first+n; i++ {
		if who == "boss" || owner(i) == who {
			ns = append(ns, i)
		}
	}
	return ns
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// firstDiff describes where got departs from want.
func firstDiff(got, want []int) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d: %d, want %d", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("%d events, want %d", len(got), len(want))
}

// Every event reaches every stream that may see it, in order, once; agents
// get only their own; the response is a proper chunked event stream.
func TestLiveEventsEveryEventToEveryStreamInOrder(t *testing.T) {
	ls := newLiveServer(t)
	streams := map[string]*liveStream{}
	for _, who := range []string{"boss", "ana", "bob"} {
		streams[who] = ls.open(t, who, "")
	}
	resp := streams["boss"].resp
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control = %q, want no-cache", cc)
	}
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("Transfer-Encoding = %v, want chunked", resp.TransferEncoding)
	}
	// The stream's connection is not served again after it: a client told
	// otherwise would send its next request on it and see it reset.
	if !resp.Close {
		t.Errorf("Connection = %q, want close", resp.Header.Get("Connection"))
	}
	// In bursts and one by one, so that both big batches and single events
	// are written.
	const n = 3000
	for i := 0; i < n; i += 500 {
		ls.publish(i, 400, owner, "")
		for j := i + 400; j < i+500; j++ {
			ls.publish(j, 1, owner, "")
			time.Sleep(100 * time.Microsecond)
		}
	}
	for who, st := range streams {
		want := expect(who, 0, n)
		got := numbers(t, st.collect(events.Message, len(want), 20*time.Second))
		if !equalInts(got, want) {
			t.Errorf("%s's stream: %s", who, firstDiff(got, want))
		}
		select {
		case e := <-st.events:
			if e.typ == events.Message {
				t.Errorf("%s's stream: one more event than published: %+v", who, e)
			}
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// A client that reconnects with the last id it received gets everything
// after it, once, in order, then the live events.
func TestLiveEventsResumeAcrossReconnect(t *testing.T) {
	ls := newLiveServer(t)
	for _, who := range []string{"boss", "ana"} {
		st := ls.open(t, who, "")
		ls.publish(0, 300, owner, "")
		first := st.collect(events.Message, len(expect(who, 0, 150)), 10*time.Second)
		st.resp.Body.Close()
		ls.publish(300, 300, owner, "") // missed while away
		resumed := ls.open(t, who, first[len(first)-1].id)
		ls.publish(600, 300, owner, "") // live again
		rest := resumed.collect(events.Message, len(expect(who, 0, 900))-len(first), 10*time.Second)
		got := append(numbers(t, first), numbers(t, rest)...)
		if want := expect(who, 0, 900); !equalInts(got, want) {
			t.Errorf("%s, reconnecting after %s: %s", who, first[len(first)-1].id, firstDiff(got, want))
		}
	}
}

// A client that stops reading is cut off once it falls behind; the others
// get every event meanwhile, and the slow one resumes where it stopped.
func TestLiveEventsSlowClientCutOff(t *testing.T) {
	ls := newLiveServer(t)
	fast := ls.open(t, "boss", "")
	// The slow client: a connection that reads nothing for now.
	addr := strings.TrimPrefix(ls.url, "http://")
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	fmt.Fprintf(raw, "GET /api/v1/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", addr, ls.tokens["boss"])
	time.Sleep(200 * time.Millisecond) // subscribed

	// 24 MB in bursts of 100, each read by the reading client before the
	// next (however busy the machine): more than the slow one's socket
	// buffers and queue hold.
	const n = 6000
	pad := strings.Repeat("x", 4000)
	var slowest time.Duration
	var got []int
	for i := 0; i < n; i += 100 {
		start := time.Now()
		ls.publish(i, 100, owner, pad)
		slowest = max(slowest, time.Since(start))
		got = append(got, numbers(t, fast.collect(events.Message, 100, 20*time.Second))...)
	}
	if slowest > time.Second {
		t.Errorf("publishing 100 events took up to %s with a client not reading: the publisher waited for it", slowest)
	}
	if want := expect("boss", 0, n); !equalInts(got, want) {
		t.Errorf("the reading client: %s", firstDiff(got, want))
	}

	// The slow client's stream ends (it fell more than a queue behind).
	raw.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReaderSize(raw, 64<<10), nil)
	if err != nil {
		t.Fatalf("the slow client's response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil && !isTimeout(err) {
		// Cut off mid-chunk is fine: the client resumes either way.
		t.Logf("the slow client's stream ended with %v", err)
	}
	if isTimeout(err) {
		t.Fatalf("the slow client's stream was not cut off (read %d bytes in 30 s)", len(body))
	}
	ids := frameIDs(body)
	if len(ids) >= n {
		t.Fatalf("the slow client received all %d events: it was not behind; the test proves nothing", len(ids))
	}
	last := ""
	if len(ids) > 0 {
		last = ids[len(ids)-1]
	}
	// It reconnects with the last id it received, and gets the rest.
	resumed := ls.open(t, "boss", last)
	rest := numbers(t, resumed.collect(events.Message, n-len(ids), 20*time.Second))
	if want := expect("boss", len(ids), n-len(ids)); !equalInts(rest, want) {
		t.Errorf("the slow client resuming after %q (%d events read): %s", last, len(ids), firstDiff(rest, want))
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return err != nil && errors.As(err, &ne) && ne.Timeout()
}

// frameIDs are the ids of the whole frames in an event stream's body (the
// piece after the last blank line is cut short or empty).
func frameIDs(body []byte) []string {
	var ids []string
	pieces := bytes.Split(body, []byte("\n\n"))
	for _, f := range pieces[:len(pieces)-1] {
		if bytes.HasPrefix(f, []byte("id: ")) && bytes.Contains(f, []byte("\ndata: ")) {
			id, _, _ := bytes.Cut(f[4:], []byte("\n"))
			ids = append(ids, string(id))
		}
	}
	return ids
}

// Idle streams get the heartbeat comment; shutdown ends every stream with
// the end of the response.
func TestLiveEventsHeartbeatAndShutdown(t *testing.T) {
	defer server.SetHeartbeat(200 * time.Millisecond)()
	ls := newLiveServer(t)
	st := ls.open(t, "ana", "")
	pings := 0
	timeout := time.After(10 * time.Second)
	for pings < 2 {
		select {
		case e, ok := <-st.events:
			if !ok {
				t.Fatal("the stream ended before two heartbeats")
			}
			if e.comment == ": ping" {
				pings++
			}
		case <-timeout:
			t.Fatalf("%d heartbeats in 10 s, want 2 (every 200 ms)", pings)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := ls.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %s with a stream open", d)
	}
	select {
	case _, ok := <-st.events:
		for ok {
			_, ok = <-st.events
		}
	case <-time.After(5 * time.Second):
		t.Error("the stream still open 5 s after Shutdown")
	}
}
