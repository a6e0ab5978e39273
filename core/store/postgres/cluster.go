package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/conversa/conversa/core/cluster"
	"github.com/conversa/conversa/core/events"
)

// notifyChannel carries broadcasts between nodes: the payload is
// "topic node".
const notifyChannel = "conversa"

// Advisory lock keys (one namespace for the whole product: see migrate.go).
const (
	leaderLock = 0x436f6e7602 // the node that runs the cluster-wide timers
	eventsLock = 0x436f6e7603 // appending live events, so ids follow commits
	// aliveLocks is the namespace (the first of two int4 keys) of the locks
	// each node holds on itself, keyed by hashtext(its name): a node that
	// holds none is gone.
	aliveLocks = 0x436f6e76
)

// Retention of what only live updates and rate limits need.
const (
	keepEvents        = time.Hour
	keepLoginFailures = time.Hour
)

// ClusterOptions configures a Cluster.
type ClusterOptions struct {
	// Node names this process (the same name as its queue leases).
	Node   string
	Logger *slog.Logger
	// Every is how often the leader lock is tried or checked (default 2 s):
	// a dead leader is replaced within about this long.
	Every time.Duration
}

// Cluster is the nodes sharing one PostgreSQL database, seen from one of
// them: leader election with a session advisory lock held on a connection
// of its own (a node that dies closes it, and the lock goes with it),
// broadcasts through LISTEN/NOTIFY, the live event log and failed sign-ins
// in tables.
type Cluster struct {
	db  *DB
	o   ClusterOptions
	log *slog.Logger

	leader atomic.Bool

	mu       sync.Mutex
	handlers map[string][]*handler

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ cluster.Cluster = (*Cluster)(nil)

// NewCluster joins the cluster of db's nodes; Start runs it.
func NewCluster(db *DB, o ClusterOptions) *Cluster {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Every <= 0 {
		o.Every = 2 * time.Second
	}
	return &Cluster{db: db, o: o, log: o.Logger.With("component", "cluster", "node", o.Node), handlers: map[string][]*handler{}}
}

// Start listens for broadcasts and competes for leadership until Close.
func (c *Cluster) Start(ctx context.Context) {
	ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	c.wg.Add(2)
	go func() { defer c.wg.Done(); c.listen(ctx) }()
	go func() { defer c.wg.Done(); c.elect(ctx) }()
}

// Close leaves the cluster: broadcasts stop, and leadership passes on.
func (c *Cluster) Close() {
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, hs := range c.handlers {
		for _, h := range hs {
			h.stop()
		}
	}
}

func (c *Cluster) Leader() bool { return c.leader.Load() }

// Broadcast notifies the other nodes (NOTIFY is delivered at commit, to
// every listening session, this node's too, which ignores its own).
func (c *Cluster) Broadcast(ctx context.Context, topic string) error {
	_, err := c.db.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, topic+" "+c.o.Node)
	return err
}

func (c *Cluster) On(topic string, fn func()) {
	h := newHandler(fn)
	c.mu.Lock()
	c.handlers[topic] = append(c.handlers[topic], h)
	c.mu.Unlock()
}

func (c *Cluster) Throttle() cluster.Throttle { return throttle{c.db} }

// Events is the live event log in this database.
func (c *Cluster) Events() events.Log { return eventLog{db: c.db, node: c.o.Node} }

func (c *Cluster) fire(topic string) {
	c.mu.Lock()
	hs := append([]*handler(nil), c.handlers[topic]...)
	c.mu.Unlock()
	for _, h := range hs {
		h.wake()
	}
}

func (c *Cluster) fireAll() {
	c.mu.Lock()
	var topics []string
	for t := range c.handlers {
		topics = append(topics, t)
	}
	c.mu.Unlock()
	for _, t := range topics {
		c.fire(t)
	}
}

// connect opens a connection of the cluster's own, outside the pool (it is
// held for as long as the node runs).
func (c *Cluster) connect(ctx context.Context) (*pgx.Conn, error) {
	return pgx.ConnectConfig(ctx, c.db.pool.Config().ConnConfig.Copy())
}

// listen receives broadcasts. After a lost connection every handler runs
// once: what was broadcast meanwhile is not known.
func (c *Cluster) listen(ctx context.Context) {
	pause := 100 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		conn, err := c.connect(ctx)
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN "+notifyChannel)
		}
		if err != nil {
			if conn != nil {
				conn.Close(context.Background())
			}
			if ctx.Err() == nil {
				c.log.Error("listening for other nodes (will retry)", "err", err)
			}
			sleep(ctx, pause)
			pause = min(2*pause, 5*time.Second)
			continue
		}
		pause = 100 * time.Millisecond
		if !first {
			c.fireAll()
		}
		first = false
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				if ctx.Err() == nil {
					c.log.Error("lost the connection carrying broadcasts (reconnecting)", "err", err)
				}
				break
			}
			topic, from, _ := strings.Cut(n.Payload, " ")
			if from != c.o.Node {
				c.fire(topic)
			}
		}
		conn.Close(context.Background())
	}
}

// elect holds, or keeps trying for, the leader lock. The leader also
// prunes the event log and the failed sign-ins.
func (c *Cluster) elect(ctx context.Context) {
	var conn *pgx.Conn
	defer func() {
		c.leader.Store(false)
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	lose := func(err error) {
		if c.leader.Swap(false) {
			c.log.Warn("no longer the leader", "err", err)
		}
		if conn != nil {
			conn.Close(context.Background())
			conn = nil
		}
	}
	var pruned time.Time
	suspects := map[string]bool{}
	for {
		if conn == nil {
			var err error
			if conn, err = c.connect(ctx); err != nil {
				conn = nil
				if ctx.Err() == nil {
					c.log.Error("connecting for leader election (will retry)", "err", err)
				}
			} else {
				c.holdAlive(ctx, conn)
			}
		}
		if conn != nil {
			cctx, cancel := context.WithTimeout(ctx, c.o.Every)
			if c.leader.Load() {
				if err := conn.Ping(cctx); err != nil {
					lose(err)
				}
			} else {
				var got bool
				if err := conn.QueryRow(cctx, `SELECT pg_try_advisory_lock($1)`, int64(leaderLock)).Scan(&got); err != nil {
					lose(err)
				} else if got {
					c.leader.Store(true)
					c.log.Info("this node is the leader (runs the cluster-wide timers)")
				}
			}
			cancel()
		}
		if c.leader.Load() && conn != nil {
			c.reclaim(ctx, conn, suspects)
		}
		if c.leader.Load() && time.Since(pruned) > time.Minute {
			pruned = time.Now()
			c.prune(ctx)
		}
		if !sleep(ctx, c.o.Every) {
			return
		}
	}
}

// holdAlive takes this node's own lock on conn (the connection the node
// keeps for as long as it runs): while it is held, the node is alive; when
// the process dies, PostgreSQL drops the session and the lock with it.
func (c *Cluster) holdAlive(ctx context.Context, conn *pgx.Conn) {
	var got bool
	err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, int32(aliveLocks), c.o.Node).Scan(&got)
	switch {
	case err != nil:
		c.log.Error("taking this node's liveness lock", "err", err)
	case !got:
		// Another node's name hashes alike: this one's leases then simply
		// lapse when it dies, as they would anyway.
		c.log.Warn("this node's liveness lock is taken by another node; its leases will only lapse")
	}
}

// reclaim gives back, due at once, the queue keys leased by nodes that are
// gone: a lease owner whose liveness lock is free twice in a row (two
// rounds, c.o.Every apart, so a node whose connection merely blinked keeps
// its work) has died, and its contacts' and conversations' rows need not
// wait for its leases to lapse. Its later writes, if it was only cut off,
// fail as for any lapsed lease.
func (c *Cluster) reclaim(ctx context.Context, conn *pgx.Conn, suspects map[string]bool) {
	cctx, cancel := context.WithTimeout(ctx, c.o.Every)
	defer cancel()
	owners, err := collectStrings(conn.Query(cctx, `SELECT DISTINCT lease_owner FROM queue_keys
		WHERE lease_owner <> '' AND lease_owner <> $1`, c.o.Node))
	if err != nil {
		if ctx.Err() == nil {
			c.log.Error("looking for leases of nodes that are gone", "err", err)
		}
		return
	}
	seen := map[string]bool{}
	for _, owner := range owners {
		seen[owner] = true
		var free bool
		if err := conn.QueryRow(cctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, int32(aliveLocks), owner).Scan(&free); err != nil {
			return
		}
		if !free {
			delete(suspects, owner)
			continue
		}
		if _, err := conn.Exec(cctx, `SELECT pg_advisory_unlock($1, hashtext($2))`, int32(aliveLocks), owner); err != nil {
			return
		}
		if !suspects[owner] {
			suspects[owner] = true
			continue
		}
		tag, err := c.db.pool.Exec(cctx, `UPDATE queue_keys SET lease_owner = '', lease_token = 0, ready_at = $1
			WHERE lease_owner = $2`, ms(c.db.Now()), owner)
		if err != nil {
			c.log.Error("giving back the leases of a node that is gone", "owner", owner, "err", err)
			return
		}
		delete(suspects, owner)
		c.log.Warn("a node is gone: its queue keys are due again", "owner", owner, "keys", tag.RowsAffected())
	}
	for owner := range suspects {
		if !seen[owner] {
			delete(suspects, owner)
		}
	}
}

// prune drops old live events (the newest stays, so the log always knows
// how far it went) and old failed sign-ins.
func (c *Cluster) prune(ctx context.Context) {
	now := c.db.Now()
	if _, err := c.db.pool.Exec(ctx, `DELETE FROM events WHERE created_at < $1
		AND id < (SELECT max(id) FROM events)`, ms(now.Add(-keepEvents))); err != nil {
		c.log.Error("pruning live events", "err", err)
	}
	if _, err := c.db.pool.Exec(ctx, `DELETE FROM login_failures WHERE at < $1`, ms(now.Add(-keepLoginFailures))); err != nil {
		c.log.Error("pruning failed sign-ins", "err", err)
	}
}

// sleep waits d or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// handler runs one On callback, coalescing wake-ups that come while it runs.
type handler struct {
	fn   func()
	c    chan struct{}
	done chan struct{}
	once sync.Once
}

func newHandler(fn func()) *handler {
	h := &handler{fn: fn, c: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		for {
			select {
			case <-h.done:
				return
			case <-h.c:
				h.fn()
			}
		}
	}()
	return h
}

func (h *handler) wake() {
	select {
	case h.c <- struct{}{}:
	default:
	}
}

func (h *handler) stop() { h.once.Do(func() { close(h.done) }) }

// eventLog is the live event log (events.Log) in the events table.
type eventLog struct {
	db   *DB
	node string
}

// Append writes the events under the events lock, so their ids are
// assigned in commit order, and notifies the nodes in the same
// transaction. Live events need no fsync of their own: synchronous_commit
// is off for this transaction, which keeps the lock short.
func (l eventLog) Append(ctx context.Context, evs []events.Event) error {
	return l.db.writeFrom(ctx, beginUnsynced, func(t *txn) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT pg_advisory_xact_lock($1)`, int64(eventsLock))
		now := ms(t.now)
		for _, e := range evs {
			var data *string
			if e.Data != nil {
				raw, err := json.Marshal(e.Data)
				if err != nil {
					return err
				}
				s := string(raw)
				data = &s
			}
			b.Queue(`INSERT INTO events (type, conversation, agent, squad, data, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
				e.Type, e.Conversation, e.Agent, e.Squad, data, now)
		}
		b.Queue(`SELECT pg_notify($1, $2)`, notifyChannel, cluster.TopicEvents+" "+l.node)
		return t.tx.SendBatch(ctx, b).Close()
	})
}

func (l eventLog) After(ctx context.Context, after int64, limit int) ([]events.Event, bool, error) {
	// Both queries in one round trip: a node reads the log after every
	// notification.
	b := &pgx.Batch{}
	b.Queue(`SELECT id, type, conversation, agent, squad, data FROM events WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	b.Queue(`SELECT coalesce(min(id), 0) FROM events`)
	res := l.db.pool.SendBatch(ctx, b)
	defer res.Close()
	rows, err := res.Query()
	if err != nil {
		return nil, false, err
	}
	evs, err := collect(func(r pgx.Row) (events.Event, error) {
		var e events.Event
		var id int64
		var data *string
		if err := r.Scan(&id, &e.Type, &e.Conversation, &e.Agent, &e.Squad, &data); err != nil {
			return e, err
		}
		if data != nil {
			e.Data = json.RawMessage(*data)
		}
		return events.FromLog(e, id), nil
	})(rows, nil)
	if err != nil {
		return nil, false, err
	}
	// Events right after after were pruned when the oldest kept is newer.
	var oldest int64
	if err := res.QueryRow().Scan(&oldest); err != nil {
		return nil, false, err
	}
	if err := res.Close(); err != nil {
		return nil, false, err
	}
	return evs, oldest == 0 || oldest <= after+1, nil
}

func (l eventLog) Last(ctx context.Context) (int64, error) {
	var id int64
	err := l.db.pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM events`).Scan(&id)
	return id, err
}

// throttle counts failed sign-ins in login_failures, under a digest of
// the key (keys hold a login as typed, of any length and any bytes).
type throttle struct{ db *DB }

func throttleKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}

func (th throttle) Blocked(ctx context.Context, key string, limit int, window time.Duration) (time.Duration, error) {
	now := th.db.Now()
	ats, err := collectIDs(th.db.pool.Query(ctx, `SELECT at FROM login_failures WHERE key = $1 AND at > $2 ORDER BY at DESC LIMIT $3`,
		throttleKey(key), ms(now.Add(-window)), limit))
	if err != nil || len(ats) < limit {
		return 0, err
	}
	return window - now.Sub(fromMS(ats[len(ats)-1])), nil
}

func (th throttle) Failed(ctx context.Context, key string) error {
	_, err := th.db.pool.Exec(ctx, `INSERT INTO login_failures (key, at) VALUES ($1, $2)`, throttleKey(key), ms(th.db.Now()))
	return err
}

func (th throttle) Reset(ctx context.Context, key string) error {
	_, err := th.db.pool.Exec(ctx, `DELETE FROM login_failures WHERE key = $1`, throttleKey(key))
	return err
}
