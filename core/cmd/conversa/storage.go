package main

import (
	"context"
	"log/slog"
	"net/url"
	"path/filepath"
	"time"

	"github.com/conversa/conversa/core/cluster"
	"github.com/conversa/conversa/core/config"
	"github.com/conversa/conversa/core/events"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/postgres"
	"github.com/conversa/conversa/core/store/sqlite"
)

// openStore opens the configured database for a command run beside the
// server (it leaves the server's queue leases alone).
func openStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	if cfg.Storage.Postgres() {
		return postgres.Open(ctx, cfg.Storage.URL, postgres.Options{})
	}
	return sqlite.Open(ctx, cfg.Storage.Path, sqlite.Options{})
}

// storage is the server's database with what the nodes sharing it need:
// the cluster and the live event bus.
type storage struct {
	st      store.Store
	cluster cluster.Cluster
	bus     *events.Bus
	// where names the database for the operator (never a password).
	where string
	close func()
}

// openStorage opens the server's database. SQLite is one node's: the leases
// a previous process held are void. PostgreSQL may be shared with other
// nodes: this one joins their cluster and their event log.
func openStorage(ctx context.Context, cfg *config.Config, log *slog.Logger, now func() time.Time, node string) (*storage, error) {
	if !cfg.Storage.Postgres() {
		st, err := sqlite.Open(ctx, cfg.Storage.Path, sqlite.Options{Logger: log, Now: now, ReclaimLeases: true})
		if err != nil {
			return nil, err
		}
		where, _ := filepath.Abs(cfg.Storage.Path)
		return &storage{st: st, cluster: &cluster.Local{Now: now}, bus: events.New(4096), where: where,
			close: func() { st.Close() }}, nil
	}
	db, err := postgres.Open(ctx, cfg.Storage.URL, postgres.Options{Logger: log, Now: now})
	if err != nil {
		return nil, err
	}
	cl := postgres.NewCluster(db, postgres.ClusterOptions{Node: node, Logger: log})
	bus := events.NewShared(cl.Events(), events.SharedOptions{Logger: log})
	cl.On(cluster.TopicEvents, bus.Poll)
	cl.Start(ctx)
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); bus.Run(bctx) }()
	return &storage{st: db, cluster: cl, bus: bus, where: redactURL(cfg.Storage.URL), close: func() {
		cancel()
		<-done
		cl.Close()
		db.Close()
	}}, nil
}

// redactURL is a database URL without its password.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "postgres (unreadable URL)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
