package agents

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/conversa/conversa/core/cluster"
	"github.com/conversa/conversa/core/events"
	"github.com/conversa/conversa/core/store"
)

// Options configures the agents service.
type Options struct {
	Store  store.Store
	Bus    *events.Bus
	Logger *slog.Logger
	Now    func() time.Time
	// SessionTTL is how long a session lives without use (default 12 h).
	SessionTTL time.Duration
	// SessionLifetime is how long a session lives at most, however much it
	// is used (default 12 h: one working shift). An agent signs in at the
	// start of each shift; a console left open, or a token copied off a
	// machine, stops working by the end of it.
	SessionLifetime time.Duration
	// PresenceTimeout: an available or paused agent with no console open and
	// no request for this long is set offline and their chats re-queued
	// (default 2 min).
	PresenceTimeout time.Duration
	// Cluster is the nodes sharing the database (default: this one alone);
	// only the leader sets lapsed agents offline.
	Cluster cluster.Cluster
}

// DefaultSessionLifetime is how long after sign-in a session ends.
const DefaultSessionLifetime = 12 * time.Hour

// Service is the agents' side of Conversa: sign-in, presence and assignment.
type Service struct {
	o   Options
	st  store.Store
	bus *events.Bus
	log *slog.Logger
	now func() time.Time

	assignMu sync.Mutex

	connMu sync.Mutex
	conns  map[string]int

	stop chan struct{}
	wake chan struct{}
	wg   sync.WaitGroup
}

// New builds the service; Start runs its presence timer.
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Bus == nil {
		o.Bus = events.New(64)
	}
	if o.SessionTTL == 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.SessionLifetime == 0 {
		o.SessionLifetime = DefaultSessionLifetime
	}
	if o.Cluster == nil {
		o.Cluster = &cluster.Local{Now: o.Now}
	}
	if o.PresenceTimeout == 0 {
		o.PresenceTimeout = 2 * time.Minute
	}
	return &Service{o: o, st: o.Store, bus: o.Bus, log: o.Logger.With("component", "agents"), now: o.Now,
		conns: map[string]int{}, stop: make(chan struct{}), wake: make(chan struct{}, 1)}
}

// Start runs the presence timer: lapsed agents go offline, expired sessions
// are removed, and queued conversations are (re)assigned.
func (s *Service) Start() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(15 * time.Second)
		defer tick.Stop()
		for {
			ctx := context.Background()
			if s.o.Cluster.Leader() {
				s.expirePresence(ctx)
			}
			s.Assign(ctx)
			select {
			case <-s.stop:
				return
			case <-tick.C:
			case <-s.wake:
			}
		}
	}()
}

// Wake runs the presence check now (after a test moved the clock).
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Stop ends the presence timer.
func (s *Service) Stop() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	s.wg.Wait()
}
