package e2e

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkFootprint measures what a large install costs at rest: the real
// binary on SQLite with CONVERSA_FOOTPRINT stored conversations (default
// 100,000), seeded directly into its database. Each conversation has its
// contact and two messages (the user's, with its provider id, and the
// reply); 50 wait in the queue and 200 are with the assistant, the rest
// ended. It reports the cold start (the process started until it listens,
// plugins running), and the memory of the server and its plugin processes
// after the start and again after an admin opened what the console opens
// (the conversation lists, the queue, labels, the contact panel, a
// search, the reports): resident (RSS, each process counted whole) and
// proportional (PSS: pages shared between the processes, such as the
// binary's text the built-in plugins share with the server, divided among
// them; what the install takes from the machine).
//
//	go test ./core/e2e -run XXX -bench Footprint -benchtime 1x
//	CONVERSA_FOOTPRINT=1000000 CONVERSA_FOOTPRINT_DIR=/var/tmp/footprint go test ./core/e2e -run XXX -bench Footprint -benchtime 1x -timeout 1h
//
// CONVERSA_FOOTPRINT_DIR keeps the seeded database (footprint-N.db) for
// the next run, which copies it rather than seeding again.
func BenchmarkFootprint(b *testing.B) {
	n := 100_000
	if v := os.Getenv("CONVERSA_FOOTPRINT"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			b.Fatalf("CONVERSA_FOOTPRINT=%q: want a number of conversations of at least 1000", v)
		}
	}
	graph := newEchoGraph(b, "ig-meta", metaSecret, businessID)
	srv := newServer(b, metaConfig(graph.URL, ""))
	srv.admin() // signed in again after the restart
	srv.stop()
	path := filepath.Join(srv.dir, "data", "conversa.db")
	seed := func() {
		start := time.Now()
		seedFootprint(b, path, n)
		// The messages were written behind the server's back: its search
		// indexer indexes them at the next start, as it does messages
		// that arrive. The install measured is one at rest, so that
		// happens first.
		srv.start()
		eventuallyB(b, time.Hour, "the search index caught up", func() bool {
			return srv.count(`SELECT count(*) FROM search_progress WHERE backfill_to = 0 AND contacts_backfill_to = 0
				AND indexed_to = (SELECT max(id) FROM messages) AND contacts_indexed_to = (SELECT max(id) FROM contacts)`) == 1
		})
		srv.stop()
		b.Logf("%d conversations seeded and indexed in %v", n, time.Since(start).Round(time.Second))
	}
	if dir := os.Getenv("CONVERSA_FOOTPRINT_DIR"); dir != "" {
		kept := filepath.Join(dir, fmt.Sprintf("footprint-%d.db", n))
		if _, err := os.Stat(kept); err != nil {
			seed()
			if err := os.MkdirAll(dir, 0o700); err != nil {
				b.Fatal(err)
			}
			copyFile(b, path, kept)
		} else {
			copyFile(b, kept, path)
		}
	} else {
		seed()
	}

	start := time.Now()
	srv.start()
	cold := time.Since(start)
	eventuallyB(b, 30*time.Second, "the plugins running", func() bool { return len(pluginPIDs(srv.cmd.Process.Pid)) == 2 })
	// What the server does on its own after a start (the leader's
	// housekeeping, the plugins' first checks) settles first.
	time.Sleep(3 * time.Second)
	atStart := footprintOf(srv)

	token := srv.signIn("boss", "boss-password")
	var list struct {
		Conversations []struct {
			ID      int64 `json:"id"`
			Contact struct {
				ID int64 `json:"id"`
			} `json:"contact"`
		} `json:"conversations"`
	}
	console := []string{
		"/api/v1/conversations?limit=100",
		"/api/v1/conversations?state=queued&limit=100",
		"/api/v1/conversations?state=ended&limit=100",
		"/api/v1/conversations?label=vip&limit=100",
		"/api/v1/conversations?q=obrigado&limit=100",
		"/api/v1/conversations?q=silva&limit=100",
		"/api/v1/queues",
		"/api/v1/labels",
		"/api/v1/agents",
		"/api/v1/reports",
	}
	for _, p := range console {
		var out any
		if p == console[0] {
			out = &list
		}
		if status := srv.api("GET", p, token, nil, out); status != 200 {
			b.Fatalf("GET %s = %d", p, status)
		}
	}
	for _, c := range list.Conversations[:min(10, len(list.Conversations))] {
		for _, p := range []string{fmt.Sprintf("/api/v1/conversations/%d", c.ID), fmt.Sprintf("/api/v1/contacts/%d", c.Contact.ID)} {
			if status := srv.api("GET", p, token, nil, nil); status != 200 {
				b.Fatalf("GET %s = %d", p, status)
			}
		}
	}
	afterConsole := footprintOf(srv)
	b.Logf("%d conversations: cold start %v; at start %s; after the console %s", n, cold.Round(time.Millisecond), atStart, afterConsole)
	b.ReportMetric(float64(cold.Milliseconds()), "coldstart-ms")
	b.ReportMetric(atStart.rssTotal(), "rss-start-MB")
	b.ReportMetric(afterConsole.rssTotal(), "rss-MB")
	b.ReportMetric(afterConsole.pssTotal(), "pss-MB")
	b.ReportMetric(afterConsole.procs["server"].rss, "server-rss-MB")
	b.ReportMetric(afterConsole.heap, "server-heap-MB")
}

// seedFootprint writes n conversations into a migrated database (the
// server's, stopped), in the growth benchmark's manner: no journal while
// seeding, one connection, back to WAL at the end.
func seedFootprint(b *testing.B, path string, n int) {
	b.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=OFF&_synchronous=OFF&_locking_mode=EXCLUSIVE&_foreign_keys=off&_cache_size=-1048576")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	first := []string{"Ana", "Bruno", "Carla", "Diego", "Elisa", "Fábio", "Gabriela", "Hugo", "Isabel", "João"}
	last := []string{"Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes"}
	texts := []string{"oi, tudo bem?", "qual o horário de vocês?", "quero saber do meu pedido", "obrigado!", "vocês entregam amanhã?"}
	const batch = 20_000
	msg := int64(0)
	for from := 1; from <= n; from += batch {
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		prep := func(q string) *sql.Stmt {
			s, err := tx.Prepare(q)
			if err != nil {
				b.Fatalf("%s: %v", q, err)
			}
			return s
		}
		contact := prep(`INSERT INTO contacts (id, integration_id, channel_user_id, username, name, last_inbound_at, created_at)
			VALUES (?, 'ig-meta', ?, ?, ?, ?, ?)`)
		conversation := prep(`INSERT INTO conversations (id, integration_id, contact_id, state, squad, origin,
			started_at, last_activity_at, last_inbound_at, queued_at, ended_at, end_reason)
			VALUES (?, 'ig-meta', ?, ?, ?, 'direct', ?, ?, ?, ?, ?, ?)`)
		message := prep(`INSERT INTO messages (id, conversation_id, integration_id, direction, author, contents, status,
			provider_message_id, created_at) VALUES (?, ?, 'ig-meta', ?, ?, ?, ?, ?, ?)`)
		providerID := prep(`INSERT INTO provider_ids (integration_id, provider_id, message_id) VALUES ('ig-meta', ?, ?)`)
		label := prep(`INSERT INTO conversation_labels (conversation_id, label) VALUES (?, 'vip')`)
		do := func(s *sql.Stmt, args ...any) {
			if _, err := s.Exec(args...); err != nil {
				b.Fatal(err)
			}
		}
		for c := from; c < from+batch && c <= n; c++ {
			at := time.Now().Add(-time.Duration(n-c) * time.Minute).UnixMilli()
			fn, ln := first[c%len(first)], last[(c/len(first))%len(last)]
			do(contact, c, strconv.Itoa(17_840_000_000+c), fmt.Sprintf("%s.%s%d", strings.ToLower(fn), strings.ToLower(ln), c), fn+" "+ln, at, at)
			open := n - c
			state, squad := "ended", ""
			var queued, ended any = nil, at + 50_000
			reason := "agent"
			switch {
			case open < 50:
				state, squad, queued, ended, reason = "queued", "geral", at+10_000, nil, ""
			case open < 250:
				state, ended, reason = "bot", nil, ""
			}
			do(conversation, c, c, state, squad, at, at+45_000, at, queued, ended, reason)
			if c%20 == 0 {
				do(label, c)
			}
			in, _ := json.Marshal([]map[string]string{{"type": "text", "text": texts[c%len(texts)]}})
			out, _ := json.Marshal([]map[string]string{{"type": "text", "text": "Olá! Como posso ajudar?"}})
			msg++
			pid := fmt.Sprintf("mid.fp.%d", msg)
			do(message, msg, c, "in", "contact", string(in), "received", pid, at)
			do(providerID, pid, msg)
			msg++
			do(message, msg, c, "out", "assistant", string(out), "sent", fmt.Sprintf("mid.fp.%d", msg), at+1_000)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.Exec(`PRAGMA journal_mode=WAL`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(`ANALYZE`); err != nil {
		b.Fatal(err)
	}
}

func copyFile(b *testing.B, from, to string) {
	b.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		b.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(to + suffix)
	}
}

// footprint is each process's memory, by name ("server", then each
// plugin's), in MB, and the server's Go heap in use.
type footprint struct {
	procs map[string]struct{ rss, pss float64 }
	heap  float64
}

func footprintOf(srv *server) footprint {
	pid := srv.cmd.Process.Pid
	f := footprint{procs: map[string]struct{ rss, pss float64 }{}}
	procs := map[string]int{"server": pid}
	for name, child := range pluginPIDs(pid) {
		procs[name] = child
	}
	for name, p := range procs {
		rss, pss := smapsRollup(p)
		f.procs[name] = struct{ rss, pss float64 }{rss, pss}
	}
	if status, body := srv.do("GET", "/metrics", nil, nil); status == 200 {
		for _, line := range strings.Split(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
				n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
				f.heap = n / (1 << 20)
			}
		}
	}
	return f
}

// smapsRollup reads a process's Rss and Pss, in MB.
func smapsRollup(pid int) (rss, pss float64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "Rss:":
			rss = kb / 1024
		case "Pss:":
			pss = kb / 1024
		}
	}
	return rss, pss
}

func (f footprint) rssTotal() (mb float64) {
	for _, p := range f.procs {
		mb += p.rss
	}
	return mb
}

func (f footprint) pssTotal() (mb float64) {
	for _, p := range f.procs {
		mb += p.pss
	}
	return mb
}

func (f footprint) String() string {
	names := make([]string, 0, len(f.procs))
	for name := range f.procs {
		names = append(names, name)
	}
	sort.Strings(names)
	var parts []string
	for _, name := range names {
		parts = append(parts, fmt.Sprintf("%s rss %.1f pss %.1f MB", name, f.procs[name].rss, f.procs[name].pss))
	}
	return fmt.Sprintf("total rss %.1f MB pss %.1f MB, server heap %.1f MB (%s)", f.rssTotal(), f.pssTotal(), f.heap, strings.Join(parts, ", "))
}
