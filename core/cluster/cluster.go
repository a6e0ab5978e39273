// Package cluster is what the Conversa nodes sharing one database
// coordinate through: which node runs the cluster-wide timers, telling the
// other nodes that something changed, and failed sign-ins counted across
// nodes.
//
// On SQLite there is one node, and Local is the whole cluster. On
// PostgreSQL (core/store/postgres) the database's own mechanisms do it: an
// advisory lock elects the leader, LISTEN/NOTIFY carries broadcasts, and a
// table counts failed sign-ins. No node talks to another directly.
package cluster

import (
	"context"
	"sync"
	"time"
)

// Topics broadcast between nodes.
const (
	// TopicIntegrations: an integration was created, changed or deleted.
	TopicIntegrations = "integrations"
	// TopicEvents: live events were appended to the event log.
	TopicEvents = "events"
)

// Cluster is this node's view of the nodes sharing its database.
type Cluster interface {
	// Leader reports whether this node runs the cluster-wide timers now
	// (inactivity, presence time-outs, clean-ups). At most one node is the
	// leader at a time; when it dies another takes over within seconds.
	Leader() bool
	// Broadcast tells the other nodes that topic changed.
	Broadcast(ctx context.Context, topic string) error
	// On runs fn whenever another node broadcasts topic, and after the
	// connection that carries broadcasts was lost and restored (one may
	// have been missed). fn runs on its own goroutine, never twice at once.
	On(topic string, fn func())
	// Throttle counts failed sign-ins across the nodes.
	Throttle() Throttle
}

// Throttle counts failures per key (a login from an address) in a sliding
// window.
type Throttle interface {
	// Blocked reports how long key must wait when it failed limit times
	// within window (0: it may try).
	Blocked(ctx context.Context, key string, limit int, window time.Duration) (time.Duration, error)
	// Failed records a failure of key.
	Failed(ctx context.Context, key string) error
	// Reset forgets key's failures (a successful sign-in).
	Reset(ctx context.Context, key string) error
}

// Local is the cluster of one node: it is always the leader and has no one
// to tell.
type Local struct {
	Now      func() time.Time
	throttle memThrottle
}

var _ Cluster = (*Local)(nil)

func (*Local) Leader() bool                            { return true }
func (*Local) Broadcast(context.Context, string) error { return nil }
func (*Local) On(string, func())                       {}
func (l *Local) Throttle() Throttle                    { l.throttle.now = l.now; return &l.throttle }
func (l *Local) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// memThrottle keeps failures in memory: enough for one node.
type memThrottle struct {
	mu       sync.Mutex
	now      func() time.Time
	failures map[string][]time.Time
}

// window failures are kept for at most this long (the longest window asked).
const keepFailures = time.Hour

func (m *memThrottle) recent(key string, now time.Time, window time.Duration) []time.Time {
	var keep []time.Time
	for _, t := range m.failures[key] {
		if now.Sub(t) < window {
			keep = append(keep, t)
		}
	}
	return keep
}

func (m *memThrottle) Blocked(_ context.Context, key string, limit int, window time.Duration) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	f := m.recent(key, now, window)
	if len(f) < limit {
		return 0, nil
	}
	return window - now.Sub(f[len(f)-limit]), nil
}

func (m *memThrottle) Failed(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failures == nil {
		m.failures = map[string][]time.Time{}
	}
	now := m.now()
	m.failures[key] = append(m.recent(key, now, keepFailures), now)
	if len(m.failures) > 10000 {
		// A flood of distinct keys: forget one rather than grow.
		for k := range m.failures {
			delete(m.failures, k)
			break
		}
	}
	return nil
}

func (m *memThrottle) Reset(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.failures, key)
	return nil
}
