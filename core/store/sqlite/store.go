package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3" // the database/sql driver

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/internal/dbutil"
)

// defaultMaxBatch bounds how many writers share one commit.
const defaultMaxBatch = 128

// DB is Conversa's SQLite database. It implements store.Store.
type DB struct {
	maxBatch int
	w        *sql.DB
	// wc is w's one connection, held by the writer from Open to Close:
	// its transactions are BEGIN and COMMIT statements on it rather than
	// a database/sql Tx, which would start a goroutine for the
	// transaction and another for every query in it, to watch a context
	// the writer never cancels.
	wc     *sql.Conn
	r      *sql.DB
	jobs   chan *job
	stop   chan struct{}
	done   chan struct{}
	log    *slog.Logger
	now    func() time.Time
	closed atomic.Bool
	// synchronous is the writer connection's setting (the writer's alone).
	synchronous string
	stats       writerStats
	// The savepoint that keeps each writer of a shared commit apart,
	// prepared once on the writer's connection: database/sql would have
	// the driver compile the statement again for every writer (it caches
	// only statements with arguments).
	spBegin, spRelease, spRollback *sql.Stmt
	// ids are the ids of new contacts and conversations (ids.go).
	ids ids
	// indexWake wakes the search indexer (searchindex.go); indexDone is
	// closed when it has stopped. indexPace is how many rows its next
	// transaction takes (pace).
	indexWake, indexDone chan struct{}
	indexPace            atomic.Int64
}

var _ store.Store = (*DB)(nil)

// Options configures Open.
type Options struct {
	Logger *slog.Logger
	// Now is the clock stored timestamps come from (tests move it).
	Now func() time.Time
	// Readers is the size of the read pool (default 2×GOMAXPROCS).
	Readers int
	// MaxBatch bounds how many writers share one commit (default 128; 1
	// commits every writer on its own, the baseline group commit is
	// measured against).
	MaxBatch int
	// ReclaimLeases voids the queue leases a previous process held (set by
	// the server, which is the database's one worker process; a command
	// run beside a running server leaves them alone).
	ReclaimLeases bool
	// noIndexer leaves the search index to IndexSearch (tests that look at
	// messages before the indexer reaches them).
	noIndexer bool
}

// Open opens (creating if needed) the database at path, applies pending
// migrations and starts the writer.
//
// SQLite is one server's database: with o.ReclaimLeases, the leases a
// previous server process held on queue keys are void, so the rows it left
// unfinished are due at once.
func Open(ctx context.Context, path string, o Options) (*DB, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Readers <= 0 {
		o.Readers = 2 * runtime.GOMAXPROCS(0)
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = defaultMaxBatch
	}
	if err := private(path); err != nil {
		return nil, err
	}
	// Per-connection pragmas live in the DSN so every pooled connection gets
	// them. _txlock=immediate takes the write lock at BEGIN, so the busy
	// handler applies instead of failing a read-then-write upgrade.
	// Each connection keeps its prepared statements (the queue and the
	// engine run the same few statements over and over).
	common := "_busy_timeout=5000&_foreign_keys=on&_stmt_cache_size=256"
	// secure_delete=FAST zeroes what a write removes from a page when that
	// costs no extra I/O: a secret encrypted in place leaves no clear copy
	// in the page's free space.
	w, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_txlock=immediate&_secure_delete=FAST&"+common)
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := migrate(ctx, w, path, o.Logger); err != nil {
		w.Close()
		return nil, err
	}
	if o.ReclaimLeases {
		if _, err := w.ExecContext(ctx, `UPDATE queue_keys SET lease_owner = '', lease_token = 0, ready_at = ?
			WHERE lease_owner <> ''`, o.Now().UnixMilli()); err != nil {
			w.Close()
			return nil, fmt.Errorf("releasing a previous process's leases: %w", err)
		}
	}
	wc, err := w.Conn(ctx)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// Each writer in a group commit runs in a savepoint, whose journal
	// keeps the first version of every page the writer changes; past
	// 64 KiB SQLite spills that journal to a temporary file, which is most
	// writers of a busy batch: a file made, written page by page and
	// removed for each of them (at 1,000 exchanges a second, seven times
	// the writes of the log itself). A savepoint's journal lives only until
	// its RELEASE, and the writer's jobs are bounded (pruning and indexing
	// go in slices), so it stays in memory.
	if _, err := wc.ExecContext(ctx, "PRAGMA temp_store = MEMORY"); err != nil {
		wc.Close()
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	var sp [3]*sql.Stmt
	for i, q := range []string{"SAVEPOINT w", "RELEASE w", "ROLLBACK TO w"} {
		if sp[i], err = wc.PrepareContext(ctx, q); err != nil {
			wc.Close()
			w.Close()
			return nil, fmt.Errorf("preparing %s: %w", q, err)
		}
	}
	r, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&"+common)
	if err != nil {
		wc.Close()
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(o.Readers)
	r.SetMaxIdleConns(o.Readers)
	db := &DB{
		maxBatch: o.MaxBatch,
		w:        w, wc: wc, r: r,
		jobs:    make(chan *job, o.MaxBatch),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		log:     o.Logger,
		now:     o.Now,
		spBegin: sp[0], spRelease: sp[1], spRollback: sp[2],

		synchronous: syncFull,

		indexWake: make(chan struct{}, 1),
		indexDone: make(chan struct{}),
	}
	db.indexPace.Store(indexBatch)
	if err := db.ids.load(ctx, wc); err != nil {
		db.spBegin.Close()
		db.spRelease.Close()
		db.spRollback.Close()
		wc.Close()
		r.Close()
		w.Close()
		return nil, err
	}
	go db.writer()
	if o.noIndexer {
		close(db.indexDone)
	} else {
		go db.indexer()
	}
	return db, nil
}

// private makes the database's directory (0700) and file (0600) when
// missing, before SQLite would make them 0755 and 0644, and narrows an
// existing file, its WAL and shared-memory index, to 0600 (SQLite makes
// those with the database file's mode). An existing directory is left as
// it is: it may be shared (the working directory).
func private(path string) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		f.Close()
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		info, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if info.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, info.Mode().Perm()&0o700); err != nil {
				return fmt.Errorf("making %s private: %w", p, err)
			}
		}
	}
	return nil
}

// Close stops the writer after the writes already queued and closes the
// database.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return store.ErrClosed
	}
	close(db.stop)
	<-db.done
	<-db.indexDone
	db.spBegin.Close()
	db.spRelease.Close()
	db.spRollback.Close()
	_, _ = db.wc.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
	return errors.Join(db.wc.Close(), db.r.Close(), db.w.Close())
}

// Now is the store's clock.
func (db *DB) Now() time.Time { return db.now().UTC() }

// Tx runs fn in a write transaction shared with the other writers that
// arrived at the same time (group commit), in its own savepoint, so one
// failing writer does not undo the others. It returns once the commit is
// durable (synchronous=FULL).
func (db *DB) Tx(ctx context.Context, fn func(store.Tx) error) error {
	return db.write(ctx, func(t *txn) error { return fn(t) })
}

func (db *DB) Inbox() store.Inbox                 { return newInbox(h{db: db}) }
func (db *DB) Outbox() store.Outbox               { return newOutbox(h{db: db}) }
func (db *DB) Conversations() store.Conversations { return conversations{h{db: db}} }
func (db *DB) Messages() store.Messages           { return messages{h{db: db}} }
func (db *DB) Contacts() store.Contacts           { return contacts{h{db: db}} }
func (db *DB) Agents() store.Agents               { return agents{h{db: db}} }
func (db *DB) Sessions() store.Sessions           { return sessions{h{db: db}} }
func (db *DB) Integrations() store.Integrations   { return integrations{h{db: db}} }
func (db *DB) Labels() store.Labels               { return labels{h{db: db}} }
func (db *DB) CannedResponses() store.CannedResponses {
	return cannedResponses{h{db: db}}
}
func (db *DB) Audit() store.Audit             { return audit{h{db: db}} }
func (db *DB) Deliveries() store.Deliveries   { return deliveries{h{db: db}} }
func (db *DB) PluginTrust() store.PluginTrust { return pluginTrust{h{db: db}} }

// querier is what both the read pool and a transaction offer.
type querier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// reader is where reads outside a transaction go; once the store is
// closed, it answers store.ErrClosed.
type reader interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) scanner
}

type poolReader struct{ db *sql.DB }

func (p poolReader) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return p.db.QueryContext(ctx, q, args...)
}

func (p poolReader) QueryRowContext(ctx context.Context, q string, args ...any) scanner {
	return p.db.QueryRowContext(ctx, q, args...)
}

type txReader struct{ tx writeTx }

func (t txReader) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, q, args...)
}

func (t txReader) QueryRowContext(ctx context.Context, q string, args ...any) scanner {
	return t.tx.QueryRowContext(ctx, q, args...)
}

type closedReader struct{}

func (closedReader) QueryContext(context.Context, string, ...any) (*sql.Rows, error) {
	return nil, store.ErrClosed
}

func (closedReader) QueryRowContext(context.Context, string, ...any) scanner {
	return errRow{store.ErrClosed}
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// writeTx runs a write's statements on the writer's connection, inside the
// transaction the writer began, to the end whatever the write's context.
// go-sqlite3 runs a statement under a context that can be cancelled on a
// goroutine of its own (to interrupt it when the context ends), and
// database/sql starts one per query to close its rows: goroutines and
// switches for every statement of every write, which under load cost the
// one writer more than most statements. A write's context still counts
// where it matters: the writer checks it before it runs the write, and a
// write that fails rolls back to its savepoint. Neither database/sql nor
// the driver reads a context's values, so the statements get the
// background context itself (no allocation).
type writeTx struct{ c *sql.Conn }

func (w writeTx) ExecContext(_ context.Context, q string, args ...any) (sql.Result, error) {
	return w.c.ExecContext(context.Background(), q, args...)
}

func (w writeTx) QueryContext(_ context.Context, q string, args ...any) (*sql.Rows, error) {
	return w.c.QueryContext(context.Background(), q, args...)
}

func (w writeTx) QueryRowContext(_ context.Context, q string, args ...any) *sql.Row {
	return w.c.QueryRowContext(context.Background(), q, args...)
}

// txn is a write transaction (inside a group commit, a savepoint of one).
type txn struct {
	db  *DB
	tx  writeTx
	now time.Time
	// savepoints numbers nested savepoints.
	savepoints int
}

var _ store.Tx = (*txn)(nil)

func (t *txn) Now() time.Time                     { return t.now }
func (t *txn) Inbox() store.Inbox                 { return newInbox(h{t.db, t}) }
func (t *txn) Outbox() store.Outbox               { return newOutbox(h{t.db, t}) }
func (t *txn) Conversations() store.Conversations { return conversations{h{t.db, t}} }
func (t *txn) Messages() store.Messages           { return messages{h{t.db, t}} }
func (t *txn) Contacts() store.Contacts           { return contacts{h{t.db, t}} }
func (t *txn) Agents() store.Agents               { return agents{h{t.db, t}} }
func (t *txn) Sessions() store.Sessions           { return sessions{h{t.db, t}} }
func (t *txn) Integrations() store.Integrations   { return integrations{h{t.db, t}} }
func (t *txn) Labels() store.Labels               { return labels{h{t.db, t}} }
func (t *txn) CannedResponses() store.CannedResponses {
	return cannedResponses{h{t.db, t}}
}
func (t *txn) Audit() store.Audit             { return audit{h{t.db, t}} }
func (t *txn) Deliveries() store.Deliveries   { return deliveries{h{t.db, t}} }
func (t *txn) PluginTrust() store.PluginTrust { return pluginTrust{h{t.db, t}} }

// savepoint runs fn in a nested savepoint: when fn fails, what it wrote is
// undone and the transaction goes on.
func (t *txn) savepoint(ctx context.Context, fn func() error) error {
	t.savepoints++
	name := fmt.Sprintf("sp%d", t.savepoints)
	if _, err := t.tx.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
		return err
	}
	if err := fn(); err != nil {
		if _, rerr := t.tx.ExecContext(ctx, "ROLLBACK TO "+name); rerr != nil {
			return errors.Join(err, rerr)
		}
		_, _ = t.tx.ExecContext(ctx, "RELEASE "+name)
		return err
	}
	_, err := t.tx.ExecContext(ctx, "RELEASE "+name)
	return err
}

// h binds an aggregate to the database, or to one transaction of it.
type h struct {
	db *DB
	tx *txn // nil: every method runs on its own
}

// q is where a read goes: the transaction, else the read pool.
func (h h) q() reader {
	switch {
	case h.tx != nil:
		return txReader{h.tx.tx}
	case h.db.closed.Load():
		return closedReader{}
	}
	return poolReader{h.db.r}
}

// write runs fn in the transaction, else in a transaction of its own.
func (h h) write(ctx context.Context, fn func(t *txn) error) error {
	if h.tx != nil {
		return fn(h.tx)
	}
	return h.db.write(ctx, fn)
}

type job struct {
	ctx  context.Context
	fn   func(*txn) error
	done chan error
	// unsynced: the writer need not wait for the disk (TxUnsynced).
	unsynced bool
	// alone: committed in a transaction of its own, never in a group
	// commit (the search indexer's passes, which no writer should wait
	// for).
	alone bool
	// held is how long an alone job held the writer, its commit included;
	// set before done is sent.
	held time.Duration
}

func (db *DB) write(ctx context.Context, fn func(*txn) error) error {
	return db.submit(ctx, fn, false)
}

// submit hands fn to the writer and waits for its commit.
func (db *DB) submit(ctx context.Context, fn func(*txn) error, unsynced bool) error {
	return db.submitJob(ctx, &job{ctx: ctx, fn: fn, unsynced: unsynced})
}

// submitJob hands j to the writer and waits for its commit.
func (db *DB) submitJob(ctx context.Context, j *job) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	j.done = make(chan error, 1)
	select {
	case db.jobs <- j:
	case <-db.stop:
		return store.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-j.done:
		return err
	case <-db.done:
		// The writer stopped: it ran this job before it did, or never will.
		select {
		case err := <-j.done:
			return err
		default:
			return store.ErrClosed
		}
	}
}

func (db *DB) writer() {
	defer close(db.done)
	var next *job // met while filling a batch it cannot join
	for {
		var first *job
		if next != nil {
			first, next = next, nil
		} else {
			select {
			case first = <-db.jobs:
			case <-db.stop:
				// Finish what is already queued.
				for {
					select {
					case j := <-db.jobs:
						db.commit([]*job{j})
					default:
						return
					}
				}
			}
		}
		batch := []*job{first}
	fill:
		for len(batch) < db.maxBatch && !first.alone {
			select {
			case j := <-db.jobs:
				if j.alone {
					next = j
					break fill
				}
				batch = append(batch, j)
			default:
				break fill
			}
		}
		db.commit(batch)
	}
}

// commit runs a batch of writers in one transaction, each in a savepoint
// (one writer alone needs none: its failure rolls the transaction back).
func (db *DB) commit(batch []*job) {
	results := make([]error, len(batch))
	finish := func(err error) {
		for i, j := range batch {
			if results[i] == nil {
				results[i] = err
			}
			j.done <- results[i]
		}
	}
	if err := db.syncFor(batch); err != nil {
		finish(err)
		return
	}
	start := time.Now()
	if err := db.begin(); err != nil {
		finish(fmt.Errorf("begin: %w", err))
		return
	}
	t := &txn{db: db, tx: writeTx{db.wc}, now: db.now().UTC()}
	if len(batch) == 1 {
		j := batch[0]
		err := j.ctx.Err()
		if err == nil {
			err = runJob(j, t)
		}
		if err != nil {
			db.rollback()
			finish(err)
			return
		}
		if err := db.commitTx(); err != nil {
			db.log.Error("commit failed", "err", err, "writers", 1)
			finish(fmt.Errorf("commit: %w", err))
			return
		}
		j.held = time.Since(start)
		finish(nil)
		return
	}
	begin, release, rollback := db.spBegin, db.spRelease, db.spRollback
	for i, j := range batch {
		if err := j.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := begin.Exec(); err != nil {
			results[i] = err
			continue
		}
		if err := runJob(j, t); err != nil {
			results[i] = err
			if _, rerr := rollback.Exec(); rerr != nil {
				// The transaction is unusable: fail the whole batch.
				db.rollback()
				finish(fmt.Errorf("rollback to savepoint: %w", rerr))
				return
			}
		}
		if _, err := release.Exec(); err != nil {
			db.rollback()
			finish(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if err := db.commitTx(); err != nil {
		db.log.Error("commit failed", "err", err, "writers", len(batch))
		for i := range results {
			if results[i] == nil {
				results[i] = fmt.Errorf("commit: %w", err)
			}
		}
	}
	finish(nil)
}

// begin, commitTx and rollback are the writer's transactions on its
// connection (BEGIN IMMEDIATE, as _txlock=immediate in the DSN makes
// database/sql's BeginTx).
func (db *DB) begin() error {
	_, err := db.wc.ExecContext(context.Background(), "BEGIN IMMEDIATE")
	return err
}

// commitTx commits, and rolls back when the commit fails, so that the
// connection is left outside any transaction for the next batch.
func (db *DB) commitTx() error {
	if _, err := db.wc.ExecContext(context.Background(), "COMMIT"); err != nil {
		db.rollback()
		return err
	}
	return nil
}

func (db *DB) rollback() {
	_, _ = db.wc.ExecContext(context.Background(), "ROLLBACK")
}

func runJob(j *job, t *txn) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in write: %v", r)
		}
	}()
	return j.fn(t)
}

// conflict turns a unique-constraint violation into store.ErrConflict,
// recognised by SQLite's extended error code.
func conflict(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey) {
		return fmt.Errorf("%w: %v", store.ErrConflict, err)
	}
	return err
}

// missingRow reports a foreign key to a row that does not exist as
// store.ErrNotFound.
func missingRow(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintForeignKey {
		return fmt.Errorf("%w: %v", store.ErrNotFound, err)
	}
	return err
}

// notFound turns sql.ErrNoRows into store.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// transition moves the row id of table to state to (column col) as machine
// m allows, from only the states in from when given (a subset of what m
// allows), setting the extra assignments in set. guard adds conditions.
// It returns store.ErrNotFound or a *model.TransitionError when nothing
// moved.
func transition(ctx context.Context, q querier, m *model.Machine, table, col string, id int64, to string,
	from []string, set string, args []any, guard string, gargs ...any) error {
	allowed := m.From(to)
	if from != nil {
		for _, f := range from {
			if !m.Allowed(f, to) {
				return fmt.Errorf("%s: %s to %s is not in the transition table", m.Name, f, to)
			}
		}
		allowed = from
	}
	if len(allowed) == 0 {
		return &model.TransitionError{Machine: m.Name, ID: id, To: to}
	}
	stmt := "UPDATE " + table + " SET " + col + " = ?"
	all := []any{to}
	if set != "" {
		stmt += ", " + set
		all = append(all, args...)
	}
	stmt += " WHERE id = ? AND " + col + " IN (" + placeholders(len(allowed)) + ")"
	all = append(all, id)
	for _, s := range allowed {
		all = append(all, s)
	}
	if guard != "" {
		stmt += " AND " + guard
		all = append(all, gargs...)
	}
	res, err := q.ExecContext(ctx, stmt, all...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	var cur string
	if err := q.QueryRowContext(ctx, "SELECT "+col+" FROM "+table+" WHERE id = ?", id).Scan(&cur); err != nil {
		return notFound(err)
	}
	return &model.TransitionError{Machine: m.Name, ID: id, From: cur, To: to}
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func nullMS(v sql.NullInt64) *time.Time {
	if !v.Valid || v.Int64 == 0 {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}

type scanner interface{ Scan(...any) error }

// collect scans every row of a query with scan, closing the rows. It takes
// the query's error too, so callers write collect(db.Query(...)) in one go.
func collect[T any](scan func(scanner) (T, error)) func(*sql.Rows, error) ([]T, error) {
	return func(rows *sql.Rows, err error) ([]T, error) {
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []T
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, rows.Err()
	}
}

var collectIDs = collect(func(r scanner) (int64, error) {
	var id int64
	err := r.Scan(&id)
	return id, err
})

// The stored form of times and lists, as in every SQL implementation.
var (
	ms       = dbutil.MS
	fromMS   = dbutil.FromMS
	msOrNull = dbutil.MSOrNull
	nonNil   = dbutil.NonNil
)
