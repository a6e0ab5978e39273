package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// benchSummary is the last line of `conversa bench`.
var benchSummary = regexp.MustCompile(`^bench (meta|zenvia) rate=50/s connections=\d+ duration=3s store=sqlite: ` +
	`acked=(\d+)/(\d+) throughput=[\d.]+/s ack_p50=[\d.]+ms ack_p99=[\d.]+ms ack_max=[\d.]+ms ` +
	`replies=(\d+)/(\d+) reply_rate=[\d.]+/s reply_p50=[\d.]+ms reply_p99=[\d.]+ms reply_max=[\d.]+ms ` +
	`cpu=(?:[\d.]+ms/webhook|n/a) sustained=(yes|no) baseline=[\d.]+/s ratio=[\d.]+$`)

// conversa bench runs a whole instance in its own process, the real plugin
// processes included, and answers every webhook it offers. Only counts are
// checked: how fast is for the figures, not for a test.
func TestBenchCommandAnswersEveryWebhook(t *testing.T) {
	for _, channel := range []string{"meta", "zenvia"} {
		t.Run(channel, func(t *testing.T) {
			watchSources()
			// A generous drain: it ends as soon as the last reply is in, and a
			// race-checked build on a busy machine may fall behind for a while.
			args := []string{"bench", "--channel", channel, "--rate", "50", "--duration", "3s", "--warmup", "1s", "--baseline", "--drain", "2m"}
			dir := t.TempDir()
			if channel == "meta" {
				// The diagnostics: a CPU profile and an execution trace of
				// the measured run.
				args = append(args, "--cpuprofile", filepath.Join(dir, "cpu.pprof"), "--trace", filepath.Join(dir, "run.trace"))
			}
			cmd := exec.Command(binary, args...)
			cmd.Dir = dir
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("conversa bench: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			last := lines[len(lines)-1]
			m := benchSummary.FindStringSubmatch(last)
			if m == nil {
				t.Fatalf("summary line %q does not parse; output:\n%s", last, stdout.String())
			}
			n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
			if m[1] != channel {
				t.Errorf("summary names channel %s, want %s", m[1], channel)
			}
			// 50/s for 3 s, the warm-up left out.
			if acked, offered := n(2), n(3); offered != 150 || acked != offered {
				t.Errorf("acked %d of %d webhooks, want 150 of 150:\n%s", acked, offered, stdout.String())
			}
			if replies, expected := n(4), n(5); expected != n(2) || replies != expected {
				t.Errorf("replies %d of %d expected (acked %d), want one per acknowledged webhook:\n%s", replies, expected, n(2), stdout.String())
			}
			// Each exchange is a few writes to SQLite, in fewer commits.
			if w := regexp.MustCompile(`(?m)^store per webhook: (\d+\.\d+) writes .* (\d+\.\d+) group commits`).FindStringSubmatch(stdout.String()); w == nil {
				t.Errorf("output lacks the store's writes per webhook:\n%s", stdout.String())
			} else if writes, _ := strconv.ParseFloat(w[1], 64); writes < 1 || writes > 20 {
				t.Errorf("%s writes per exchange, want a few", w[1])
			}
			for _, want := range []string{"baseline (bare Fiber handler, same load): offered 150, acked 150", "rule: sustained = "} {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, stdout.String())
				}
			}
			if channel == "meta" {
				// A profile is gzipped protobuf; a trace starts with the Go
				// version that wrote it.
				for file, magic := range map[string]string{"cpu.pprof": "\x1f\x8b", "run.trace": "go 1."} {
					b, err := os.ReadFile(filepath.Join(dir, file))
					if err != nil || len(b) < 1000 || !strings.HasPrefix(string(b), magic) {
						t.Errorf("%s: %d bytes starting %q, %v; want a profile or trace of the run", file, len(b), b[:min(len(b), 8)], err)
					}
					if !strings.Contains(stdout.String(), filepath.Join(dir, file)) {
						t.Errorf("output does not name %s:\n%s", file, stdout.String())
					}
				}
				// Each built-in plugin profiles its own process, written as
				// the server stopped it: the channel and the demo assistant.
				for _, plugin := range []string{"meta", "rules"} {
					b, err := os.ReadFile(filepath.Join(dir, "cpu.pprof."+plugin))
					if err != nil || len(b) < 100 || !strings.HasPrefix(string(b), "\x1f\x8b") {
						t.Errorf("cpu.pprof.%s: %d bytes starting %q, %v; want the plugin process's profile", plugin, len(b), b[:min(len(b), 8)], err)
					}
				}
			}
		})
	}
}

// With --ingest-only the bench measures the ack path alone: every webhook
// is acknowledged and stored, and none is answered, so the events are all
// in the inbox, unprocessed, when the run ends.
func TestBenchIngestOnlyStoresWithoutAnswering(t *testing.T) {
	watchSources()
	cmd := exec.Command(binary, "bench", "--ingest-only", "--rate", "50", "--duration", "2s", "--warmup", "1s", "--keep")
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("conversa bench --ingest-only: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	kept := regexp.MustCompile(`(?m)^temporary directory \(kept\): (.+)$`).FindStringSubmatch(out)
	if kept == nil {
		t.Fatalf("output does not name the kept directory:\n%s", out)
	}
	t.Cleanup(func() { os.RemoveAll(kept[1]) })
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	m := regexp.MustCompile(`^bench meta\+ingest-only rate=50/s .* acked=(\d+)/(\d+) .* replies=0/0 .* sustained=yes$`).FindStringSubmatch(last)
	if m == nil || m[1] != "100" || m[2] != "100" {
		t.Fatalf("summary %q, want meta+ingest-only with 100/100 acked, no replies, sustained:\n%s", last, out)
	}
	if !strings.Contains(out, "provider: 0 sends") {
		t.Errorf("the provider was sent replies:\n%s", out)
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(kept[1], "conversa.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var waiting, processed, messages int
	if err := db.QueryRow(`SELECT count(*) FILTER (WHERE processed_at IS NULL), count(processed_at) FROM inbox`).Scan(&waiting, &processed); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM messages`).Scan(&messages); err != nil {
		t.Fatal(err)
	}
	// The warm-up's 50 webhooks are stored too.
	if waiting != 150 || processed != 0 || messages != 0 {
		t.Errorf("inbox: %d waiting, %d processed, %d messages; want all 150 waiting, none processed or recorded", waiting, processed, messages)
	}
}

// On PostgreSQL the bench works in a schema of its own and drops it: what
// the database held is left as it was. The URL is one the server takes,
// the pool's own settings included.
func TestBenchCommandOnPostgres(t *testing.T) {
	dbURL := pgDatabase(t)
	conn := pgConn(t, dbURL)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "CREATE TABLE operator_data (id int); INSERT INTO operator_data VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	watchSources()
	sep := "?"
	if strings.Contains(dbURL, "?") {
		sep = "&"
	}
	cmd := exec.Command(binary, "bench", "--store", dbURL+sep+"pool_max_conns=8", "--rate", "20", "--duration", "2s",
		"--warmup", "1s", "--drain", "2m")
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("conversa bench --store: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	last := lines[len(lines)-1]
	m := regexp.MustCompile(`store=postgres: acked=(\d+)/(\d+) .* replies=(\d+)/(\d+) `).FindStringSubmatch(last)
	if m == nil || m[1] != "40" || m[2] != "40" || m[3] != m[4] || m[4] != "40" {
		t.Errorf("summary %q, want 40/40 acked and 40/40 replies on postgres", last)
	}
	// An exchange is tens of round trips to the database: counted, never 0.
	if trips := regexp.MustCompile(`(?m)^store per webhook: (\d+\.\d) round trips to PostgreSQL`).FindStringSubmatch(stdout.String()); trips == nil {
		t.Errorf("output lacks the round trips per webhook:\n%s", stdout.String())
	} else if n, _ := strconv.ParseFloat(trips[1], 64); n < 10 || n > 500 {
		t.Errorf("%s round trips to PostgreSQL per exchange, want tens", trips[1])
	}
	var schemas int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'conversa_bench_%'").Scan(&schemas); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM operator_data").Scan(&rows); err != nil || rows != 1 {
		t.Errorf("the database's own table after the bench: %d rows, %v", rows, err)
	}
	if schemas != 0 {
		t.Errorf("%d conversa_bench_ schemas left behind", schemas)
	}
}

func TestBenchCommandRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--channel", "sms"},
		{"bench", "--rate", "-1"},
		{"bench", "--store", "mysql://x"},
		{"bench", "--duration", "0s"},
	} {
		out, code := runConversa(t, t.TempDir(), "", args...)
		if code != 1 || strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.HasPrefix(out, "conversa bench: ") {
			t.Errorf("%v = exit %d, %q; want exit 1 and one line", args, code, out)
		}
	}
}
