package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/internal/dbutil"
)

// maxAttempts bounds how often a transaction that lost a serialization race
// or a deadlock is run again.
const maxAttempts = 10

// DB is Conversa's PostgreSQL database. It implements store.Store.
type DB struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	now    func() time.Time
	closed atomic.Bool
	trips  *roundTrips
}

var _ store.Store = (*DB)(nil)

// Options configures Open.
type Options struct {
	Logger *slog.Logger
	// Now is the clock stored timestamps come from (tests move it).
	Now func() time.Time
	// MaxConns bounds the connection pool (default: the URL's
	// pool_max_conns, else defaultMaxConns).
	MaxConns int32
}

// defaultMaxConns is the pool size of a node unless the URL says otherwise
// (pool_max_conns=N): enough for the transactions of its workers (which
// spend most of a row outside one), webhooks and consoles at once, while two nodes and their two connections each for
// the cluster stay well inside PostgreSQL's default max_connections (100).
const defaultMaxConns = 24

// Open connects to the database at url (postgres://…), applies pending
// migrations (one node at a time: they hold an advisory lock) and returns the
// store. Unlike SQLite, leases held by other processes stay: they may be
// nodes that are alive.
func Open(ctx context.Context, url string, o Options) (*DB, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, errors.New("storage.url is not a valid PostgreSQL URL (postgres://user:password@host:5432/database)")
	}
	switch {
	case o.MaxConns > 0:
		cfg.MaxConns = o.MaxConns
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = defaultMaxConns
	}
	trips := &roundTrips{}
	cfg.ConnConfig.Tracer = trips
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s: %w", redact(cfg.ConnConfig), err)
	}
	if err := migrate(ctx, pool, o.Logger); err != nil {
		pool.Close()
		return nil, err
	}
	if n, err := indexMessages(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("indexing messages for search: %w", err)
	} else if n > 0 {
		o.Logger.Info("messages indexed for search", "messages", n)
	}
	if n, err := indexContacts(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("indexing contacts for search: %w", err)
	} else if n > 0 {
		o.Logger.Info("contacts indexed for search", "contacts", n)
	}
	return &DB{pool: pool, log: o.Logger, now: o.Now, trips: trips}, nil
}

// redact names a database without its password.
func redact(c *pgx.ConnConfig) string {
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

// Pool is the connection pool, for what lives beside the store on the same
// database (the live event log, the cluster's leader election).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Close closes the pool.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return store.ErrClosed
	}
	db.pool.Close()
	return nil
}

// Now is the store's clock.
func (db *DB) Now() time.Time { return db.now().UTC() }

// Tx runs fn in one transaction, again when it lost a serialization race or
// a deadlock.
func (db *DB) Tx(ctx context.Context, fn func(store.Tx) error) error {
	return db.write(ctx, func(t *txn) error { return fn(t) })
}

func (db *DB) Inbox() store.Inbox                 { return newInbox(h{db: db}) }
func (db *DB) Outbox() store.Outbox               { return newOutbox(h{db: db}) }
func (db *DB) Conversations() store.Conversations { return conversations{h: h{db: db}} }
func (db *DB) Messages() store.Messages           { return messages{h: h{db: db}} }
func (db *DB) Contacts() store.Contacts           { return contacts{h: h{db: db}} }
func (db *DB) Agents() store.Agents               { return agents{h: h{db: db}} }
func (db *DB) Sessions() store.Sessions           { return sessions{h: h{db: db}} }
func (db *DB) Integrations() store.Integrations   { return integrations{h: h{db: db}} }
func (db *DB) Labels() store.Labels               { return labels{h: h{db: db}} }
func (db *DB) CannedResponses() store.CannedResponses {
	return cannedResponses{h: h{db: db}}
}
func (db *DB) Audit() store.Audit             { return audit{h: h{db: db}} }
func (db *DB) Deliveries() store.Deliveries   { return deliveries{h: h{db: db}} }
func (db *DB) PluginTrust() store.PluginTrust { return pluginTrust{h: h{db: db}} }

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// closedQuerier answers store.ErrClosed once the store is closed.
type closedQuerier struct{}

func (closedQuerier) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) {
	return pgconn.CommandTag{}, store.ErrClosed
}
func (closedQuerier) Query(context.Context, string, ...any) (pgx.Rows, error) {
	return nil, store.ErrClosed
}
func (closedQuerier) QueryRow(context.Context, string, ...any) pgx.Row {
	return errRow{store.ErrClosed}
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// txn is one write transaction.
type txn struct {
	db  *DB
	tx  pgx.Tx
	now time.Time
}

var _ store.Tx = (*txn)(nil)

func (t *txn) Now() time.Time                     { return t.now }
func (t *txn) Inbox() store.Inbox                 { return newInbox(h{t.db, t}) }
func (t *txn) Outbox() store.Outbox               { return newOutbox(h{t.db, t}) }
func (t *txn) Conversations() store.Conversations { return conversations{h: h{t.db, t}} }
func (t *txn) Messages() store.Messages           { return messages{h: h{t.db, t}} }
func (t *txn) Contacts() store.Contacts           { return contacts{h: h{t.db, t}} }
func (t *txn) Agents() store.Agents               { return agents{h: h{t.db, t}} }
func (t *txn) Sessions() store.Sessions           { return sessions{h: h{t.db, t}} }
func (t *txn) Integrations() store.Integrations   { return integrations{h: h{t.db, t}} }
func (t *txn) Labels() store.Labels               { return labels{h: h{t.db, t}} }
func (t *txn) CannedResponses() store.CannedResponses {
	return cannedResponses{h: h{t.db, t}}
}
func (t *txn) Audit() store.Audit             { return audit{h: h{t.db, t}} }
func (t *txn) Deliveries() store.Deliveries   { return deliveries{h: h{t.db, t}} }
func (t *txn) PluginTrust() store.PluginTrust { return pluginTrust{h: h{t.db, t}} }

// savepoint runs fn in a nested savepoint: when fn fails, what it wrote is
// undone and the transaction goes on (in PostgreSQL a failed statement
// otherwise aborts the whole transaction).
func (t *txn) savepoint(ctx context.Context, fn func(q querier) error) error {
	sp, err := t.tx.Begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(sp); err != nil {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	return sp.Commit(ctx)
}

// h binds an aggregate to the database, or to one transaction of it.
type h struct {
	db *DB
	tx *txn // nil: every method runs on its own
}

// q is where a read goes: the transaction, else the pool.
func (h h) q() querier {
	switch {
	case h.tx != nil:
		return h.tx.tx
	case h.db.closed.Load():
		return closedQuerier{}
	}
	return cleanQuerier{h.db.pool}
}

// PostgreSQL text cannot hold a NUL character, which JSON (and so a
// webhook) can: a statement with one would fail every time, and the event
// would never be stored. NULs in string arguments become U+FFFD, the
// character every reader shows for "unreadable" (SQLite keeps them as they
// are). Byte arguments (BYTEA) are left alone.
func clean(args []any) []any {
	copied := false
	for i, a := range args {
		if s, ok := a.(string); ok && strings.IndexByte(s, 0) >= 0 {
			if !copied {
				// The caller's slice is left as it was (it may retry).
				args, copied = append([]any(nil), args...), true
			}
			args[i] = cleanText(s)
		}
	}
	return args
}

// cleanText is s as PostgreSQL text can hold it: NUL becomes U+FFFD.
func cleanText(s string) string { return strings.ReplaceAll(s, "\x00", "\uFFFD") }

// cleanQuerier cleans the arguments of every statement.
type cleanQuerier struct{ q querier }

// Reads outside a transaction also report an unreachable database as
// store.ErrUnavailable.
func (c cleanQuerier) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := c.q.Exec(ctx, sql, clean(args)...)
	return tag, unavailable(err)
}

func (c cleanQuerier) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := c.q.Query(ctx, sql, clean(args)...)
	return rows, unavailable(err)
}

func (c cleanQuerier) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return unavailableRow{c.q.QueryRow(ctx, sql, clean(args)...)}
}

type unavailableRow struct{ pgx.Row }

func (r unavailableRow) Scan(dest ...any) error { return unavailable(r.Row.Scan(dest...)) }

// cleanTx is a transaction whose statements' arguments are cleaned.
type cleanTx struct{ pgx.Tx }

func (c cleanTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return c.Tx.Exec(ctx, sql, clean(args)...)
}

func (c cleanTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return c.Tx.Query(ctx, sql, clean(args)...)
}

func (c cleanTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return c.Tx.QueryRow(ctx, sql, clean(args)...)
}

func (c cleanTx) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := c.Tx.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return cleanTx{tx}, nil
}

func (c cleanTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	for _, q := range b.QueuedQueries {
		q.Arguments = clean(q.Arguments)
	}
	return c.Tx.SendBatch(ctx, b)
}

// write runs fn in the transaction, else in a transaction of its own.
func (h h) write(ctx context.Context, fn func(t *txn) error) error {
	if h.tx != nil {
		return fn(h.tx)
	}
	return h.db.write(ctx, fn)
}

func (db *DB) write(ctx context.Context, fn func(*txn) error) error {
	return db.writeFrom(ctx, beginSynced, fn)
}

// How a write transaction begins: durably, or with synchronous_commit off
// (TxUnsynced, the live event log). Each is sent as one simple query (pgx
// sends a statement without arguments so), the two statements of an
// unsynced begin in one round trip.
const (
	beginSynced   = "BEGIN ISOLATION LEVEL READ COMMITTED"
	beginUnsynced = "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL synchronous_commit = off"
)

// writeFrom is write, with the transaction begun by begin.
func (db *DB) writeFrom(ctx context.Context, begin string, fn func(*txn) error) error {
	for attempt := 1; ; attempt++ {
		if db.closed.Load() {
			return store.ErrClosed
		}
		err := db.attempt(ctx, begin, fn)
		if err == nil || !retryable(err) || attempt == maxAttempts {
			return err
		}
		// Jittered, growing pause: the transactions that collided must not
		// collide again in step.
		pause := time.Duration(rand.Int64N(int64(attempt)*int64(2*time.Millisecond))) + time.Millisecond
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (db *DB) attempt(ctx context.Context, begin string, fn func(*txn) error) (err error) {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: begin})
	if err != nil {
		if db.closed.Load() {
			return store.ErrClosed
		}
		return unavailable(fmt.Errorf("begin: %w", err))
	}
	defer func() {
		if r := recover(); r != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			err = fmt.Errorf("panic in write: %v", r)
		}
	}()
	t := &txn{db: db, tx: cleanTx{tx}, now: db.Now()}
	if err := fn(t); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return unavailable(err)
	}
	if err := tx.Commit(ctx); err != nil {
		// A commit whose connection broke may or may not have happened:
		// callers treat it like any unavailability (the source resends,
		// and every write is idempotent or guarded).
		return unavailable(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// SQLSTATEs (PostgreSQL appendix A).
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// unavailable marks an error that says the database cannot be reached
// (connecting failed, the connection broke, the server is shutting down,
// starting up or out of connections) as store.ErrUnavailable.
func unavailable(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	var ce *pgconn.ConnectError
	code := pgCode(err)
	switch {
	case errors.As(err, &ce), pgconn.SafeToRetry(err), pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded),
		strings.HasPrefix(code, "08"),                     // connection exception
		code == "57P01", code == "57P02", code == "57P03", // admin shutdown, crash shutdown, cannot connect now
		code == "53300": // too many connections
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	// The connection broke mid-statement, or was found closed: the server
	// rolls the transaction back (a COMMIT cut this way may have happened,
	// which callers' guarded, idempotent writes allow for).
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, pgconn.ErrConnClosed) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// retryable reports an error that running the transaction again can cure:
// it lost a race, or its statement never reached the server (a pooled
// connection that broke meanwhile; the next attempt takes another).
func retryable(err error) bool {
	switch pgCode(err) {
	case codeSerializationFailure, codeDeadlockDetected:
		return true
	}
	return pgconn.SafeToRetry(err)
}

// conflict turns a unique-constraint violation into store.ErrConflict,
// recognised by its SQLSTATE.
func conflict(err error) error {
	if pgCode(err) == codeUniqueViolation {
		return fmt.Errorf("%w: %v", store.ErrConflict, err)
	}
	return err
}

// missingRow reports a foreign key to a row that does not exist as
// store.ErrNotFound.
func missingRow(err error) error {
	if pgCode(err) == codeForeignKeyViolation {
		return fmt.Errorf("%w: %v", store.ErrNotFound, err)
	}
	return err
}

// notFound turns pgx.ErrNoRows into store.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// args builds a statement's positional parameters: p.add(v) returns "$n".
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// list adds every value and returns "$i, $j, …".
func (a *args) list(vs ...any) string {
	ps := make([]string, len(vs))
	for i, v := range vs {
		ps[i] = a.add(v)
	}
	return strings.Join(ps, ", ")
}

// transition moves the row id of table to state to (column col) as machine
// m allows, from only the states in from when given (a subset of what m
// allows), setting the extra assignments set(a) returns (built on the same
// args). guard, when not nil, adds conditions the same way. It returns
// store.ErrNotFound or a *model.TransitionError when nothing moved.
//
// The guard holds under concurrent writers: an UPDATE that waited for
// another transaction's lock on the row re-checks its WHERE against the
// row's newest version.
func transition(ctx context.Context, q querier, m *model.Machine, table, col string, id int64, to string,
	from []string, set func(a *args) string, guard func(a *args) string) error {
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
	var a args
	stmt := "UPDATE " + table + " SET " + col + " = " + a.add(to)
	if set != nil {
		stmt += ", " + set(&a)
	}
	in := make([]any, len(allowed))
	for i, s := range allowed {
		in[i] = s
	}
	stmt += " WHERE id = " + a.add(id) + " AND " + col + " IN (" + a.list(in...) + ")"
	if guard != nil {
		stmt += " AND " + guard(&a)
	}
	tag, err := q.Exec(ctx, stmt, a...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var cur string
	if err := q.QueryRow(ctx, "SELECT "+col+" FROM "+table+" WHERE id = $1", id).Scan(&cur); err != nil {
		return notFound(err)
	}
	return &model.TransitionError{Machine: m.Name, ID: id, From: cur, To: to}
}

// collect scans every row of a query with scan, closing the rows. It takes
// the query's error too, so callers write collect(q.Query(...)) in one go.
func collect[T any](scan func(pgx.Row) (T, error)) func(pgx.Rows, error) ([]T, error) {
	return func(rows pgx.Rows, err error) ([]T, error) {
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

var collectIDs = collect(func(r pgx.Row) (int64, error) {
	var id int64
	err := r.Scan(&id)
	return id, err
})

// nullMS reads a nullable time column.
func nullMS(v *int64) *time.Time {
	if v == nil || *v == 0 {
		return nil
	}
	t := fromMS(*v)
	return &t
}

var collectStrings = collect(func(r pgx.Row) (string, error) {
	var s string
	err := r.Scan(&s)
	return s, err
})

// The stored form of times and lists, as in every SQL implementation.
var (
	ms       = dbutil.MS
	fromMS   = dbutil.FromMS
	msOrNull = dbutil.MSOrNull
	nonNil   = dbutil.NonNil
)
