package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/internal/dbutil"
)

func openTest(t testing.TB) *DB {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestReopenKeepsDataAndSkipsMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := &model.Integration{ID: "ig", Name: "IG", Channel: "meta", Squad: "geral", InactivityMinutes: 60, Enabled: true, Source: "config"}
	if err := s.Integrations().Put(ctx, in); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, err := s.Integrations().Get(ctx, "ig")
	if err != nil || got.Name != "IG" || got.Squad != "geral" {
		t.Errorf("Integration(ig) = %+v, %v", got, err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.execWrite(`INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', 'x', 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(ctx, path, Options{}); err == nil {
		s.Close()
		t.Fatal("Open accepted a schema from a newer binary")
	}
}

func TestGroupCommitIsolatesFailingWriters(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Tx(ctx, func(tx store.Tx) error {
				ev := &model.Event{Kind: "message", Integration: "ig", DedupeKey: fmt.Sprint(i)}
				if _, err := tx.Inbox().Add(ctx, ev, "p"); err != nil {
					return err
				}
				if i%4 == 0 {
					return errors.New("refused")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (i%4 == 0) != (err != nil) {
			t.Errorf("writer %d: err = %v", i, err)
		}
	}
	n, err := s.Inbox().Backlog(ctx)
	if err != nil || n != 30 {
		t.Errorf("backlog = %d, %v; want the 30 writers that succeeded", n, err)
	}
}

func TestUniqueViolationIsRecognisedByCode(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	a := &model.Agent{ID: "ana", Name: "Ana", Role: model.RoleAgent, MaxChats: 8}
	if err := s.Agents().Create(ctx, a, "h"); err != nil {
		t.Fatal(err)
	}
	err := s.Agents().Create(ctx, &model.Agent{ID: "ana", Name: "Other", Role: model.RoleAgent, MaxChats: 8}, "h")
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("second Create(ana) = %v, want ErrConflict", err)
	}
	// A NOT NULL violation is not a conflict.
	err = s.execWrite(`INSERT INTO agents (id, name, role, password_hash) VALUES ('x', NULL, 'agent', 'h')`)
	if err == nil || errors.Is(conflict(err), store.ErrConflict) {
		t.Errorf("NOT NULL violation = %v, want an error that is not ErrConflict", err)
	}
}

// TestUpgradeFromSchemaTwo opens a database written by the previous
// release, with work pending, and checks that nothing is lost: pending
// events and sends are queued, and a send whose outcome was uncertain is in
// flight (reconciled before any resend).
func TestUpgradeFromSchemaTwo(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	all, err := dbutil.Migrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
		checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range all[:2] {
		if _, err := old.Exec(m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if _, err := old.Exec(`INSERT INTO schema_migrations VALUES (?, ?, ?, 0)`, m.Version, m.Name, m.Checksum); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UnixMilli()
	for _, q := range []string{
		`INSERT INTO contacts (id, integration_id, channel_user_id, created_at) VALUES (1, 'ig', 'u1', 0)`,
		`INSERT INTO conversations (id, integration_id, contact_id, state, origin, started_at, last_activity_at)
			VALUES (7, 'ig', 1, 'bot', 'direct', 0, 0)`,
		`INSERT INTO inbox (id, integration_id, dedupe_key, partition_key, kind, event, received_at, processed_at)
			VALUES (1, 'ig', 'a', 'ig|u1', 'message', '{}', 0, 5)`,
		`INSERT INTO inbox (id, integration_id, dedupe_key, partition_key, kind, event, received_at, next_attempt_at)
			VALUES (2, 'ig', 'b', 'ig|u1', 'message', '{"kind":"message"}', 0, 123)`,
		`INSERT INTO inbox (id, integration_id, dedupe_key, partition_key, kind, event, received_at)
			VALUES (3, 'ig', 'c', 'ig|u1', 'message', '{"kind":"message"}', 0)`,
		`INSERT INTO messages (id, conversation_id, integration_id, direction, author, contents, status, created_at)
			VALUES (10, 7, 'ig', 'out', 'assistant', '[{"type":"text","text":"hi"}]', 'sent', 0),
			       (11, 7, 'ig', 'out', 'assistant', '[{"type":"text","text":"a"}]', 'pending', 0),
			       (12, 7, 'ig', 'out', 'assistant', '[{"type":"text","text":"b"}]', 'pending', 0)`,
		`INSERT INTO outbox (id, message_id, integration_id, conversation_id, idempotency_key, state, created_at, done_at)
			VALUES (1, 10, 'ig', 7, 'k10', 'sent', 0, 1)`,
		fmt.Sprintf(`INSERT INTO outbox (id, message_id, integration_id, conversation_id, idempotency_key, state, attempts,
			uncertain_since, created_at) VALUES (2, 11, 'ig', 7, 'k11', 'pending', 1, %d, 0)`, now),
		`INSERT INTO outbox (id, message_id, integration_id, conversation_id, idempotency_key, state, created_at)
			VALUES (3, 12, 'ig', 7, 'k12', 'pending', 0)`,
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old.Close()

	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer db.Close()
	if n, _ := db.Inbox().Backlog(ctx); n != 2 {
		t.Errorf("inbox backlog after upgrade = %d, want 2", n)
	}
	if n, _ := db.Outbox().Backlog(ctx); n != 2 {
		t.Errorf("outbox backlog after upgrade = %d, want 2", n)
	}
	in, err := db.Inbox().Claim(ctx, "me", 10, time.Minute)
	if err != nil || len(in) != 1 || in[0].ID != 2 {
		t.Errorf("inbox claim after upgrade = %+v, %v; want the contact's oldest pending event (2)", in, err)
	}
	out, err := db.Outbox().Claim(ctx, "me", 10, time.Minute)
	if err != nil || len(out) != 1 || out[0].MessageID != 11 || out[0].State != model.StatusInFlight || out[0].AttemptAt.UnixMilli() != now {
		t.Errorf("outbox claim after upgrade = %+v, %v; want message 11 in flight since the uncertain attempt", out, err)
	}
	if m, err := db.Messages().Get(ctx, 10); err != nil || m.Status != model.StatusSent {
		t.Errorf("message 10 = %+v, %v; want sent, as before", m, err)
	}
}

// Messages stored before search existed are found once the schema is
// upgraded: migration 0005 indexes them (deleted ones and the system's
// notes left out, as for new ones).
func TestUpgradeIndexesExistingMessages(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old := oldSchema(t, path, 5)
	for _, q := range []string{
		`INSERT INTO contacts (id, integration_id, channel_user_id, created_at) VALUES (1, 'ig', 'u1', 0), (2, 'ig', 'u2', 0),
			(3, 'ig', 'u3', 0), (4, 'ig', 'u4', 0)`,
		`INSERT INTO conversations (id, integration_id, contact_id, state, origin, started_at, last_activity_at)
			VALUES (7, 'ig', 1, 'bot', 'direct', 0, 3), (8, 'ig', 2, 'bot', 'direct', 0, 2), (9, 'ig', 3, 'bot', 'direct', 0, 1),
			(10, 'ig', 4, 'bot', 'direct', 0, 0)`,
		`INSERT INTO messages (id, conversation_id, integration_id, direction, author, contents, status, created_at, deleted_at)
			VALUES (10, 7, 'ig', 'in', 'contact', '[{"type":"text","text":"Não chegou a encomenda"}]', 'received', 0, NULL),
			       (11, 8, 'ig', 'in', 'contact', '[{"type":"image","url":"https://x/y.jpg","caption":"a encomenda amassada"}]', 'received', 0, NULL),
			       (12, 9, 'ig', 'in', 'contact', '[{"type":"text","text":"encomenda apagada"}]', 'received', 0, 5),
			       (13, 10, 'ig', 'out', 'system', '[{"type":"text","text":"encomenda: nota do sistema"}]', 'internal', 0, NULL)`,
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old.Close()

	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer db.Close()
	if err := db.IndexSearch(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := db.Conversations().List(ctx, store.ConversationFilter{Search: "encomenda"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, c := range got {
		ids = append(ids, c.ID)
	}
	if fmt.Sprint(ids) != "[7 8]" {
		t.Errorf("search after the upgrade = conversations %v, want [7 8] (not the deleted message, not the system's note)", ids)
	}
	if n, _ := db.Conversations().List(ctx, store.ConversationFilter{Search: "nao chegou"}); len(n) != 1 || n[0].Match == nil ||
		n[0].Match.MessageID != 10 {
		t.Errorf("search for an older message's words = %+v, want conversation 7 by message 10", n)
	}
}

// execWrite runs one statement as a write of its own, on the writer's
// connection (the only one that may write; the writer holds it).
func (db *DB) execWrite(q string, args ...any) error {
	return db.write(context.Background(), func(t *txn) error {
		_, err := t.tx.ExecContext(context.Background(), q, args...)
		return err
	})
}

// oldSchema is a database at path with the migrations before version
// below applied, as a release that stopped there left it.
func oldSchema(t *testing.T, path string, below int) *sql.DB {
	t.Helper()
	old, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Close() })
	all, err := dbutil.Migrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
		checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if m.Version >= below {
			break
		}
		if _, err := old.Exec(m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if _, err := old.Exec(`INSERT INTO schema_migrations VALUES (?, ?, ?, 0)`, m.Version, m.Name, m.Checksum); err != nil {
			t.Fatal(err)
		}
	}
	return old
}

// A writer that shares a group commit runs in a savepoint, and what it
// changes is journaled until its RELEASE. That journal stays in memory:
// SQLite would otherwise spill it, past 64 KiB, to a temporary file made
// and removed for each such writer.
func TestSavepointJournalStaysInMemory(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc/self/fd to see the process's open files")
	}
	// Without the search indexer, whose passes commit alone and would split
	// the two writers' batch if one were queued between them.
	s := openWithoutIndexer(t, filepath.Join(t.TempDir(), "c.db"))
	ctx := context.Background()
	if err := s.write(ctx, func(t *txn) error {
		_, err := t.tx.ExecContext(ctx, `CREATE TABLE scratch (b BLOB)`)
		if err == nil {
			_, err = t.tx.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
				INSERT INTO scratch SELECT randomblob(1000) FROM n`)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// Hold the writer so that the next two writers queue up and share one
	// commit, each in its savepoint.
	commits := s.WriterStats().Commits
	hold, held := make(chan struct{}), make(chan struct{})
	go s.write(ctx, func(*txn) error { close(held); <-hold; return nil })
	<-held
	var wg sync.WaitGroup
	var spilled []string
	var savepoints int
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.write(ctx, func(t *txn) error {
				// Rewrite every page of the table: about 300 KB journaled.
				if _, err := t.tx.ExecContext(ctx, `UPDATE scratch SET b = randomblob(1000)`); err != nil {
					return err
				}
				savepoints++ // the writer runs jobs one at a time
				spilled = append(spilled, tempFiles()...)
				return nil
			})
		}()
	}
	for len(s.jobs) < len(errs) {
		time.Sleep(time.Millisecond)
	}
	close(hold)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if savepoints != 2 {
		t.Fatalf("%d writers ran, want 2", savepoints)
	}
	// One commit for the holder, one for the pair: had each writer had a
	// commit of its own, neither would have run in a savepoint.
	if n := s.WriterStats().Commits - commits; n != 2 {
		t.Fatalf("%d commits, want 2: the two writers did not share one", n)
	}
	if len(spilled) > 0 {
		t.Errorf("the savepoints' journal went to temporary files: %v", spilled)
	}
}

// tempFiles lists SQLite's temporary files the process holds open (SQLite
// removes them as it makes them, so only an open descriptor shows them).
func tempFiles() []string {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	var found []string
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.Contains(target, "etilqs_") {
			found = append(found, target)
		}
	}
	return found
}

// Migration 0015 moves queue_keys into a table clustered on its primary
// key: every key, its time and its lease come through as they were.
func TestQueueKeysMoveWithTheirLeases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	old := oldSchema(t, path, 15)
	const keys = `SELECT queue || ' ' || key || ' ' || ready_at || ' ' || lease_owner || ' ' || lease_token FROM queue_keys ORDER BY queue, key`
	if _, err := old.Exec(`INSERT INTO queue_keys (queue, key, ready_at, lease_owner, lease_token) VALUES
		('inbox', 'ig|u1', 100, 'worker-a', 7), ('inbox', 'ig|u2', 50, '', 0), ('outbox', '12', 75, '', 0)`); err != nil {
		t.Fatal(err)
	}
	before, err := collectStrings(old.Query(keys))
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer db.Close()
	after, err := collectStrings(db.r.Query(keys))
	if err != nil || strings.Join(after, "; ") != strings.Join(before, "; ") || len(after) != 3 {
		t.Errorf("queue keys after 0015 = %q, %v; want %q", after, err, before)
	}
	var withoutRowid int
	if err := db.r.QueryRow(`SELECT wr FROM pragma_table_list WHERE name = 'queue_keys'`).Scan(&withoutRowid); err != nil || withoutRowid != 1 {
		t.Errorf("queue_keys WITHOUT ROWID = %d, %v; want 1", withoutRowid, err)
	}
	var due string
	if err := db.r.QueryRow(`SELECT sql FROM sqlite_master WHERE name = 'queue_keys_due'`).Scan(&due); err != nil ||
		!strings.Contains(due, "(queue, ready_at, key)") {
		t.Errorf("queue_keys_due = %q, %v; want the index on (queue, ready_at, key)", due, err)
	}
}
