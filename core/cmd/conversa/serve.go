package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/conversa/conversa/core/agents"
	"github.com/conversa/conversa/core/config"
	"github.com/conversa/conversa/core/engine"
	"github.com/conversa/conversa/core/media"
	"github.com/conversa/conversa/core/metrics"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/playground"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/scripting"
	"github.com/conversa/conversa/core/server"
	"github.com/conversa/conversa/core/store"
)

// loadConfig reads --config FILE, or returns the built-in defaults.
func loadConfig(name string, args []string, stderr io.Writer) (*config.Config, []string, bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (TOML); built-in defaults when omitted")
	if err := fs.Parse(args); err != nil {
		return nil, nil, false
	}
	if *path == "" {
		return config.Default(), fs.Args(), true
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, nil, false
	}
	return cfg, fs.Args(), true
}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func serve(args []string, stdout, stderr io.Writer) int {
	cfg, _, ok := loadConfig("serve", args, stderr)
	if !ok {
		return 1
	}
	testListen(cfg, os.Getenv("CONVERSA_TEST_LISTEN"))
	log := newLogger(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runServer(ctx, cfg, log, stdout, serverRun{}); err != nil {
		log.Error("conversa stopped", "err", err)
		return 1
	}
	return 0
}

// serverRun is how `conversa bench` runs the server; `conversa serve`
// leaves it empty.
type serverRun struct {
	// ready, when set, is told the address bound once requests are served.
	ready func(addr string)
	// holdInbox keeps the inbox's workers stopped (engine.Options.HoldInbox).
	holdInbox bool
	// opened, when set, is given the store once it is open.
	opened func(store.Store)
}

// runServer starts every part, serves until ctx ends, then stops them in
// order: requests first, then the engine (what is in flight finishes or
// stays pending in the database), scripts, plugins, and the database last.
// `conversa bench` runs the server in its own process, with run's options.
func runServer(ctx context.Context, cfg *config.Config, log *slog.Logger, stdout io.Writer, run serverRun) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("locating own binary: %w", err)
	}
	clock := newClock()
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	if cfg.Server.PublicURL == "http://"+cfg.Server.Listen {
		// No public URL configured: the address actually bound (port 0
		// picks one) is the best guess for the webhook URLs shown.
		cfg.Server.PublicURL = "http://" + ln.Addr().String()
	}

	node := engine.NodeName()
	stg, err := openStorage(ctx, cfg, log, clock.Now, node)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer stg.close()
	st := stg.st
	if run.opened != nil {
		run.opened(st)
	}
	key, err := secretKey(ctx, cfg, st, log)
	if err != nil {
		return err
	}

	meter := metrics.New()
	// The engine hears of plugin state changes (a plugin back after a crash,
	// a broken executable fixed); it exists only once the host does.
	var engineRef atomic.Pointer[engine.Engine]
	host, err := pluginhost.New(pluginhost.Options{Logger: log, Self: self, Builtins: builtinNames(), Dir: cfg.Plugins.Dir,
		ObserveCall: meter.PluginCall,
		OnChange: func(name, state string) {
			if e := engineRef.Load(); e != nil {
				e.PluginChanged(name, state)
			}
		}, Pin: pinOf(st)})
	if err != nil {
		return err
	}
	defer host.Close()

	hooks, err := scripting.New(scripting.Options{Dir: cfg.Scripts.Dir, Timeout: time.Duration(cfg.Scripts.TimeoutMS) * time.Millisecond,
		Logger: log, Watch: true, Now: clock.Now, ObserveHook: meter.Hook})
	if err != nil {
		return fmt.Errorf("scripts: %w", err)
	}
	defer hooks.Close()

	bus := stg.bus
	var assistants []engine.Assistant
	for _, a := range cfg.Assistants {
		assistants = append(assistants, engine.Assistant{ID: a.ID, Backend: a.Backend, Settings: a.Settings})
	}
	eng, err := engine.New(engine.Options{
		Store: st, Plugins: host, Hooks: hooks, Bus: bus, Logger: log, Now: clock.Now,
		Assistants: assistants, PublicURL: cfg.Server.PublicURL, Node: node, Cluster: stg.cluster, Secrets: key,
		Observer:         meter,
		AllowPrivateURLs: cfg.Server.AllowPrivateURLs,
		DeliveryLog:      deliveryLog(cfg.Storage),
		InboxRetention:   inboxRetention(cfg.Storage),
		HoldInbox:        run.holdInbox,
	})
	if err != nil {
		return err
	}
	engineRef.Store(eng)
	// Start the plugins the configuration uses now, so a broken one shows
	// at start-up rather than at the first message. One that cannot start
	// is retried in the background; only its integrations wait for it.
	if err := host.Start(ctx, usedPlugins(cfg)...); err != nil {
		log.Error("plugins failed to start (will retry)", "err", err)
	}
	if n, err := eng.SealStored(ctx); err != nil {
		return fmt.Errorf("encrypting the secrets stored in clear: %w", err)
	} else if n > 0 {
		log.Info("secrets stored in clear are now encrypted", "integrations", n, "key", key.ID())
	}
	if err := eng.ApplyConfig(ctx, cfg.Integrations); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	people := agents.New(agents.Options{Store: st, Bus: bus, Logger: log, Now: clock.Now, Cluster: stg.cluster})
	eng.SetAssigner(people)
	if err := eng.Start(ctx); err != nil {
		return err
	}
	defer eng.Stop()
	people.Start()
	defer people.Stop()
	pg := startPlayground(ctx, cfg, log, eng, clock.Now, ln.Addr())
	if pg != nil {
		defer pg.Close()
	}

	var squads []string
	for _, q := range cfg.Squads {
		squads = append(squads, q.Name)
	}
	library, err := media.Open(cfg.Media.Dir, int64(cfg.Media.MaxUploadMB)<<20, nil)
	if err != nil {
		return err
	}
	srv := server.New(server.Options{Engine: eng, Store: st, Plugins: host, Agents: people, Scripts: hooks,
		Logger: log, BodyLimitKB: cfg.Server.BodyLimitKB, TrustedProxies: cfg.Server.Proxies(), Version: version, Clock: clock, Squads: squads, Cluster: stg.cluster,
		SecureCookies: strings.HasPrefix(cfg.Server.PublicURL, "https://"), Media: library, PublicURL: cfg.Server.PublicURL,
		Playground: pg, Metrics: meter, MetricsToken: cfg.Server.MetricsToken})
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	announce(ctx, stdout, log, cfg, ln.Addr().String(), eng, people, stg.where)
	if run.ready != nil {
		run.ready(ln.Addr().String())
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Error("http shutdown", "err", err)
	}
	return nil
}

// pinOf reads the trusted SHA-256 of a third-party plugin from the
// database (`conversa plugins trust`), shared by every node.
func pinOf(st store.Store) func(context.Context, string) (string, error) {
	return func(ctx context.Context, name string) (string, error) {
		p, err := st.PluginTrust().Pin(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		return p.SHA256, nil
	}
}

// testListen moves the server to addr when set (CONVERSA_TEST_LISTEN, a test
// seam: end-to-end tests run `conversa` with no arguments, as a newcomer
// does, on 127.0.0.1:0 instead of the default port). A public URL that only
// echoed the old address follows.
func testListen(cfg *config.Config, addr string) {
	if addr == "" {
		return
	}
	if cfg.Server.PublicURL == "http://"+cfg.Server.Listen {
		cfg.Server.PublicURL = "http://" + addr
	}
	cfg.Server.Listen = addr
}

// usedPlugins are the plugins the configuration's integrations and
// assistants name.
func usedPlugins(cfg *config.Config) []string {
	seen := map[string]bool{}
	var names []string
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, in := range cfg.Integrations {
		if in.Enabled == nil || *in.Enabled {
			add(in.Channel)
		}
	}
	for _, a := range cfg.Assistants {
		add(a.Backend)
	}
	if cfg.Server.PlaygroundOn() {
		add(playground.Meta)
		add(playground.Zenvia)
	}
	return names
}

// startPlayground sets up the test phone's integrations when it is on, or
// turns them off when it was on before; nil when off.
func startPlayground(ctx context.Context, cfg *config.Config, log *slog.Logger, eng *engine.Engine, now func() time.Time, addr net.Addr) *playground.Playground {
	if !cfg.Server.PlaygroundOn() {
		if err := playground.Off(ctx, eng); err != nil {
			log.Error("turning the playground's integrations off", "err", err)
		}
		return nil
	}
	pg := playground.New(playground.Options{Engine: eng, Logger: log, Now: now, LocalURL: playground.LocalURL(addr),
		Assistant: playground.Assistant(cfg.Assistants)})
	if err := pg.Install(ctx); err != nil {
		// The phone answers 503 until its channel plugin runs.
		log.Error("the playground's integrations could not be set up", "err", err)
	}
	return pg
}

// announce tells the operator where to look. The address line is also what
// tests read to find a server started on port 0.
func announce(ctx context.Context, w io.Writer, log *slog.Logger, cfg *config.Config, addr string, eng *engine.Engine, people *agents.Service, db string) {
	base := "http://" + addr
	// One write: the banner reaches a terminal or a pipe whole.
	var b strings.Builder
	fmt.Fprintf(&b, "Conversa %s listening on %s\n", version, base)
	fmt.Fprintf(&b, "  console:   %s/\n  health:    %s/healthz\n  metrics:   %s/metrics\n  database:  %s\n", base, base, base, db)
	if cfg.Server.PlaygroundOn() {
		fmt.Fprintf(&b, "  playground: %s/playground   (a test phone: chat as an Instagram user; [server] playground = false turns it off)\n", base)
	}
	// While no agent exists, each start prints its own one-time setup URL
	// (CONTRACT §9); every one printed works until the first admin exists.
	if token, err := people.SetupToken(ctx); err != nil {
		log.Error("making a setup token", "err", err)
	} else if token != "" {
		fmt.Fprintf(&b, "\n  No one can sign in yet. Open this address to create the first admin:\n\n    %s/setup?token=%s\n\n",
			cfg.Server.PublicURL, token)
	}
	if cfg.File == "" {
		fmt.Fprintf(&b, "  running on built-in defaults with the demo assistant; see config.example.toml to connect Instagram\n")
	}
	io.WriteString(w, b.String())
	for _, in := range eng.Integrations() {
		if !in.Enabled || in.Source == model.SourcePlayground {
			continue
		}
		// The credentials the source sends are secrets: admins read them in
		// the console (or GET /api/v1/integrations/{id}), never in the log.
		wh := eng.WebhookOf(context.Background(), in)
		log.Info("webhook ready", "integration", in.ID, "channel", in.Channel, "url", wh.URL,
			"credentials", "shown to admins in the console, Integrations")
	}
}

// inboxRetention is how long the engine keeps processed events ([storage]
// inbox_retention_days; 0 keeps them forever).
func inboxRetention(s config.Storage) time.Duration {
	if s.InboxRetentionDays == nil {
		return config.DefaultInboxRetention * 24 * time.Hour
	}
	return time.Duration(*s.InboxRetentionDays) * 24 * time.Hour
}

// deliveryLog is how long the engine keeps deliveries ([storage]
// delivery_log_days; 0 turns the log off).
func deliveryLog(s config.Storage) time.Duration {
	if s.DeliveryLogDays == nil {
		return 0 // the engine's default
	}
	if *s.DeliveryLogDays == 0 {
		return -1
	}
	return time.Duration(*s.DeliveryLogDays) * 24 * time.Hour
}
