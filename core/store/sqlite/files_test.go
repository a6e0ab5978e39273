package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/internal/dbutil"
)

// umask sets a permissive umask for the test, so that modes come from the
// code and not from the machine's defaults.
func umask(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

func TestDatabaseFilesArePrivate(t *testing.T) {
	umask(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "conversa.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := &model.Integration{ID: "ig", Name: "IG", Channel: "meta", Squad: "geral", Enabled: true, Source: "api"}
	if err := db.Integrations().Put(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Integrations().List(ctx); err != nil { // a reader maps the -shm too
		t.Fatal(err)
	}
	if got := mode(t, dir); got != 0o700 {
		t.Errorf("data directory mode %04o, want 0700", got)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if got := mode(t, p); got != 0o600 {
			t.Errorf("%s mode %04o, want 0600", filepath.Base(p), got)
		}
	}
	db.Close()

	// An install from before: its files are narrowed at the next start.
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		os.WriteFile(p, nil, 0o644) // the -wal and -shm of a stopped server are empty or gone
		os.Chmod(p, 0o644)
	}
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, filepath.Join(dir, "conversa.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := mode(t, path); got != 0o600 {
		t.Errorf("reopened database mode %04o, want narrowed to 0600", got)
	}
}

func TestBackupBeforeMigrationIsPrivate(t *testing.T) {
	umask(t)
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	all, err := dbutil.Migrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	old.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)`)
	m := all[0]
	if _, err := old.Exec(m.SQL); err != nil {
		t.Fatal(err)
	}
	old.Exec(`INSERT INTO schema_migrations VALUES (?, ?, ?, 0)`, m.Version, m.Name, m.Checksum)
	old.Close()
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	backup := fmt.Sprintf("%s.pre-%d", path, all[1].Version)
	if got := mode(t, backup); got != 0o600 {
		t.Errorf("backup before migration %s mode %04o, want 0600", filepath.Base(backup), got)
	}
	// The backup is the database as it was: whole, at the old version.
	res, err := checkCopy(context.Background(), backup)
	if err != nil {
		t.Fatalf("the backup before migration: %v", err)
	}
	copied, err := sql.Open("sqlite3", "file:"+backup+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer copied.Close()
	var version int
	if err := copied.QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&version); err != nil || version != m.Version {
		t.Errorf("backup before migration at version %d (%v), want %d; %+v", version, err, m.Version, res)
	}
}

// A value rewritten in place (a secret encrypted at start) leaves no clear
// copy in the file once the server stopped.
func TestRewrittenValueLeavesNoCopy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := &model.Integration{ID: "ig", Name: "IG", Channel: "meta", Squad: "geral", Enabled: true, Source: "api",
		Settings: map[string]any{"access_token": "clear-token-7Qm2Zp9X"}}
	if err := db.Integrations().Put(ctx, in); err != nil {
		t.Fatal(err)
	}
	// Another row after it: the rewritten one's old place is not at the
	// edge of the page's free space, where a new row would cover it.
	if err := db.Integrations().Put(ctx, &model.Integration{ID: "other", Name: "Other", Channel: "meta", Source: "api"}); err != nil {
		t.Fatal(err)
	}
	in.Settings["access_token"] = "enc:v1:00000000:" + strings.Repeat("A", 40)
	if err := db.Integrations().Put(ctx, in); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, p := range []string{path, path + "-wal"} {
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte("clear-token-7Qm2Zp9X")) {
			t.Errorf("%s still holds the value that was rewritten", filepath.Base(p))
		}
	}
}

func TestBackupWhileWriting(t *testing.T) {
	umask(t)
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "c.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	add := func(i int) error {
		return db.Tx(ctx, func(tx store.Tx) error {
			_, err := tx.Inbox().Add(ctx, &model.Event{Kind: "message", Integration: "ig", DedupeKey: fmt.Sprint(i),
				Contents: []model.Content{{Type: "text", Text: strings.Repeat("x", 500)}}}, fmt.Sprint("p", i%50))
			return err
		})
	}
	for i := range 2000 {
		if err := add(i); err != nil {
			t.Fatal(err)
		}
	}
	var written atomic.Int64
	written.Store(2000)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErr atomic.Value
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := add(100000*(w+1) + i); err != nil {
					writeErr.Store(err)
					return
				}
				written.Add(1)
			}
		}()
	}
	dst := filepath.Join(dir, "backup.db")
	before := written.Load()
	res, err := Backup(ctx, path, dst, false)
	during := written.Load() - before
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err, _ := writeErr.Load().(error); err != nil {
		t.Fatalf("a writer failed during the backup: %v", err)
	}
	t.Logf("backup %+v; %d writes committed while it ran", res, during)
	if got := mode(t, dst); got != 0o600 {
		t.Errorf("backup mode %04o, want 0600", got)
	}
	copied, err := sql.Open("sqlite3", "file:"+dst+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer copied.Close()
	var check string
	var n int64
	copied.QueryRow(`PRAGMA integrity_check`).Scan(&check)
	copied.QueryRow(`SELECT count(*) FROM inbox`).Scan(&n)
	if check != "ok" || n < before || n > written.Load() {
		t.Errorf("backup: integrity %q, %d events; want ok and between the %d written before and the %d after", check, n, before, written.Load())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 4 { // c.db, -wal, -shm, backup.db
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want no temporary file left", names)
	}

	if _, err := Backup(ctx, path, dst, false); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("Backup over an existing file = %v, want it refused", err)
	}
	if _, err := Backup(ctx, path, dst, true); err != nil {
		t.Errorf("Backup with replace = %v", err)
	}
	if _, err := Backup(ctx, filepath.Join(dir, "missing.db"), filepath.Join(dir, "b2.db"), false); err == nil ||
		!strings.Contains(err.Error(), "no SQLite database") {
		t.Errorf("Backup of a missing database = %v, want it named", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("Backup created the missing database")
	}
}
