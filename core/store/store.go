package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	_ "github.com/mattn/go-sqlite3" // the database/sql driver

	"github.com/conversa/conversa/core/model"
)

// Errors the HTTP layer maps to user-facing answers.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	ErrClosed   = errors.New("store closed")
)

// defaultMaxBatch bounds how many writers share one commit.
const defaultMaxBatch = 128

// Store is the SQLite database.
type Store struct {
	maxBatch int
	w        *sql.DB
	r        *sql.DB
	jobs     chan *job
	stop     chan struct{}
	done     chan struct{}
	log      *slog.Logger
	now      func() time.Time
}

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
}

// Open opens (creating if needed) the database at path, applies pending
// migrations and starts the writer.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
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
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
	}
	// Per-connection pragmas live in the DSN so every pooled connection gets
	// them. _txlock=immediate takes the write lock at BEGIN, so the busy
	// handler applies instead of failing a read-then-write upgrade.
	common := "_busy_timeout=5000&_foreign_keys=on"
	w, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_txlock=immediate&"+common)
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
	r, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&"+common)
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(o.Readers)
	r.SetMaxIdleConns(o.Readers)
	s := &Store{
		maxBatch: o.MaxBatch,
		w:        w, r: r,
		jobs: make(chan *job, o.MaxBatch),
		stop: make(chan struct{}),
		done: make(chan struct{}),
		log:  o.Logger,
		now:  o.Now,
	}
	go s.writer()
	return s, nil
}

// Close stops the writer after the writes already queued and closes the
// database.
func (s *Store) Close() error {
	close(s.stop)
	<-s.done
	_, _ = s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return errors.Join(s.r.Close(), s.w.Close())
}

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now() }

// Tx is a write transaction (or, inside a group commit, a savepoint of one).
type Tx struct {
	tx  *sql.Tx
	now time.Time
}

// Now is the time of the transaction, the same for every row it writes.
func (t *Tx) Now() time.Time { return t.now }

func (t *Tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, q, args...)
}

func (t *Tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, q, args...)
}

func (t *Tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, q, args...)
}

type job struct {
	ctx  context.Context
	fn   func(*Tx) error
	done chan error
}

// Write runs fn in a write transaction and returns once it is committed (or
// rolled back, when fn fails). fn may run in the same transaction as other
// writers' functions: it must not keep anything of tx, and must not call Write.
// Do not hold a write across a plugin call or a Lua hook; gather inputs first.
func (s *Store) Write(ctx context.Context, fn func(*Tx) error) error {
	j := &job{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.jobs <- j:
	case <-s.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-j.done
}

func (s *Store) writer() {
	defer close(s.done)
	for {
		var first *job
		select {
		case first = <-s.jobs:
		case <-s.stop:
			// Finish what is already queued.
			for {
				select {
				case j := <-s.jobs:
					s.commit([]*job{j})
				default:
					return
				}
			}
		}
		batch := []*job{first}
	fill:
		for len(batch) < s.maxBatch {
			select {
			case j := <-s.jobs:
				batch = append(batch, j)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

// commit runs a batch of writers in one transaction, each in a savepoint.
func (s *Store) commit(batch []*job) {
	results := make([]error, len(batch))
	finish := func(err error) {
		for i, j := range batch {
			if results[i] == nil {
				results[i] = err
			}
			j.done <- results[i]
		}
	}
	tx, err := s.w.BeginTx(context.Background(), nil)
	if err != nil {
		finish(fmt.Errorf("begin: %w", err))
		return
	}
	t := &Tx{tx: tx, now: s.now().UTC()}
	for i, j := range batch {
		if err := j.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := tx.Exec("SAVEPOINT w"); err != nil {
			results[i] = err
			continue
		}
		if err := runJob(j, t); err != nil {
			results[i] = err
			if _, rerr := tx.Exec("ROLLBACK TO w"); rerr != nil {
				// The transaction is unusable: fail the whole batch.
				_ = tx.Rollback()
				finish(fmt.Errorf("rollback to savepoint: %w", rerr))
				return
			}
		}
		if _, err := tx.Exec("RELEASE w"); err != nil {
			_ = tx.Rollback()
			finish(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		s.log.Error("commit failed", "err", err, "writers", len(batch))
		for i := range results {
			if results[i] == nil {
				results[i] = fmt.Errorf("commit: %w", err)
			}
		}
	}
	finish(nil)
}

func runJob(j *job, t *Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in write: %v", r)
		}
	}()
	return j.fn(t)
}

// ms converts a time to the stored form: Unix milliseconds, 0 for zero.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS is the inverse of ms.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func nullMS(v sql.NullInt64) *time.Time {
	if !v.Valid || v.Int64 == 0 {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}

func msOrNull(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

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

var (
	collectConversations = collect(func(r scanner) (*model.Conversation, error) { return scanConversation(r, true) })
	collectAgents        = collect(scanAgent)
	collectIntegrations  = collect(scanIntegration)
	collectIDs           = collect(func(r scanner) (int64, error) {
		var id int64
		err := r.Scan(&id)
		return id, err
	})
)
