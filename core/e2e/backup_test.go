package e2e

import (
	"bytes"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// `conversa backup` copies a database the server is writing to: the copy
// is whole and holds the data, and the server answers meanwhile. Restoring
// is the README's: stop, put the copy in place, start.
func TestBackupWhileServing(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	for i := range 30 {
		srv.deliverMeta("ig-meta", metaText(fmt.Sprint(7425819036400000+i), fmt.Sprint("mid-pre-", i), "oi", time.Now()))
	}
	srv.settle()
	before := srv.count(`SELECT count(*) FROM messages`)

	// Webhooks keep coming while the backup runs.
	type answer struct {
		status  int
		latency time.Duration
	}
	answers := make(chan answer, 1<<16)
	client := &http.Client{Timeout: 20 * time.Second}
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			body := metaText(fmt.Sprint(7425819036500000+i), fmt.Sprint("mid-load-", i), "oi", start)
			req, _ := http.NewRequest("POST", srv.URL+"/webhooks/ig-meta", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Hub-Signature-256", sign(metaSecret, body))
			status := 0
			if resp, err := client.Do(req); err == nil {
				status = resp.StatusCode
				resp.Body.Close()
			}
			answers <- answer{status, time.Since(start)}
		}
	}()
	time.Sleep(300 * time.Millisecond) // the load is flowing
	dst := filepath.Join(t.TempDir(), "conversa-backup.db")
	out, code := runConversa(t, srv.dir, "", "backup", "--config", srv.config, "--to", dst)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-loadDone
	close(answers)
	if code != 0 || !strings.Contains(out, "integrity ok") || !strings.Contains(out, "secret.key") {
		t.Fatalf("backup = exit %d:\n%s\nwant exit 0, the integrity checked and the key file named", code, out)
	}
	var n, failed int
	var slowest time.Duration
	for a := range answers {
		n++
		if a.status != 200 {
			failed++
		}
		slowest = max(slowest, a.latency)
	}
	if n == 0 || failed > 0 || slowest > 5*time.Second {
		t.Errorf("during the backup the server answered %d webhooks, %d not 200, the slowest in %v; want all 200, none slow", n, failed, slowest)
	}

	if info, err := os.Stat(dst); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("backup file: mode %v (%v), want 0600", info.Mode().Perm(), err)
	}
	copied, err := sql.Open("sqlite3", "file:"+dst+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var check string
	var msgs, convs int
	copied.QueryRow(`PRAGMA integrity_check`).Scan(&check)
	copied.QueryRow(`SELECT count(*) FROM messages`).Scan(&msgs)
	copied.QueryRow(`SELECT count(*) FROM conversations`).Scan(&convs)
	copied.Close()
	if check != "ok" || msgs < before || convs < 30 {
		t.Errorf("backup: integrity %q, %d messages, %d conversations; want ok, at least the %d messages and 30 conversations from before",
			check, msgs, convs, before)
	}

	if out, code := runConversa(t, srv.dir, "", "backup", "--config", srv.config, "--to", dst); code != 1 || !strings.Contains(out, "--force") {
		t.Errorf("backup over an existing file = exit %d:\n%s\nwant exit 1, naming --force", code, out)
	}
	if out, code := runConversa(t, srv.dir, "", "backup", "--config", srv.config, "--to", dst, "--force"); code != 0 {
		t.Errorf("backup --force = exit %d:\n%s", code, out)
	}

	// Restore: stop, replace the file, start.
	srv.stop()
	db := filepath.Join(srv.dir, "data", "conversa.db")
	for _, p := range []string{db, db + "-wal", db + "-shm"} {
		os.Remove(p)
	}
	if b, err := os.ReadFile(dst); err != nil || os.WriteFile(db, b, 0o600) != nil {
		t.Fatal(err)
	}
	srv.restart()
	admin := srv.admin()
	if got := len(srv.conversations(admin, "")); got < 30 {
		t.Errorf("after a restore the API lists %d conversations, want at least 30", got)
	}
	if status, _ := srv.postMeta("ig-meta", metaSecret, metaText(customerA, "mid-restored", "oi", time.Now())); status != 200 {
		t.Errorf("webhook after a restore = %d, want 200 (the secrets open with the kept key)", status)
	}

	pg := filepath.Join(t.TempDir(), "pg.toml")
	os.WriteFile(pg, []byte("[storage]\nurl = \"postgres://conversa@127.0.0.1:1/conversa\"\n"), 0o600)
	if out, code := runConversa(t, t.TempDir(), "", "backup", "--config", pg, "--to", filepath.Join(t.TempDir(), "x.db")); code != 1 ||
		!strings.Contains(out, "pg_dump") {
		t.Errorf("backup of a PostgreSQL install = exit %d:\n%s\nwant exit 1 pointing at pg_dump", code, out)
	}
}
