package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa/conversa/core/bench"
	"github.com/conversa/conversa/core/config"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/postgres"
	"github.com/conversa/conversa/core/store/sqlite"
	"github.com/conversa/conversa/plugins/sdk"
	"github.com/conversa/conversa/scripts"
)

const benchUsage = `usage: conversa bench [--channel meta|zenvia] [--rate N] [--duration 60s] [--baseline]
                      [--connections C] [--warmup 3s] [--drain 10s] [--sustain-p99 1s]
                      [--echoes] [--store postgres://…] [--cpuprofile FILE] [--trace FILE] [--log FILE] [--keep]`

// The bench integration's credentials: made up, known to the load and to
// the server's configuration alone.
const (
	benchMetaSecret  = "bench-app-secret-0123456789abcdef"
	benchHookUser    = "conversa-bench"
	benchHookToken   = "bench-webhook-token"
	benchAccessToken = "bench-access-token"
)

// benchOptions are the flags of `conversa bench`.
type benchOptions struct {
	channel     string
	rate        float64
	duration    time.Duration
	warmup      time.Duration
	drain       time.Duration
	bound       time.Duration
	connections int
	baseline    bool
	store       string
	cpuprofile  string
	trace       string
	logFile     string
	keep        bool
	echoes      bool
	ingestOnly  bool
}

// benchCommand implements `conversa bench`: a self-contained instance (a
// temporary directory, the server wired as `conversa serve` wires it, the
// real plugin processes, the demo assistant and the default scripts, and an
// in-process fake provider), an open-loop load of signed webhooks from
// distinct users, and the figures. The last line printed is the summary.
func benchCommand(args []string, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		msg := strings.Join(strings.Fields(fmt.Sprintf(format, a...)), " ")
		fmt.Fprintln(stderr, "conversa bench:", msg)
		return 1
	}
	var o benchOptions
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.channel, "channel", "meta", "the channel whose webhooks are offered: meta or zenvia")
	fs.Float64Var(&o.rate, "rate", 100, "webhooks a second, offered open-loop; 0: saturation (ingest: as fast as --connections allow)")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "how long the measured load runs")
	fs.DurationVar(&o.warmup, "warmup", 3*time.Second, "load before the measured part, left out of the figures")
	fs.DurationVar(&o.drain, "drain", 10*time.Second, "how long to wait for the last replies once the load ends")
	fs.DurationVar(&o.bound, "sustain-p99", time.Second, "the ack and reply p99 a sustained rate stays under")
	fs.IntVar(&o.connections, "connections", 0, "concurrent requests (keep-alive connections); default 256 open-loop, 64 at saturation")
	fs.BoolVar(&o.baseline, "baseline", false, "first run the same load against a bare Fiber handler, and print the ratio")
	fs.StringVar(&o.store, "store", "", "postgres://… runs on that PostgreSQL database, in a fresh schema dropped afterwards (default: a temporary SQLite database)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write this process's CPU profile (server, load and fake provider) during the measured run to FILE, and each built-in plugin process's to FILE.<plugin>")
	fs.StringVar(&o.trace, "trace", "", "write this process's Go execution trace during the measured run (about 5 MB a second at 1,000/s; go tool trace -pprof=sched FILE shows where goroutines waited for a CPU)")
	fs.StringVar(&o.logFile, "log", "", "write the server's log (info and above) to FILE; default: errors only, to standard error")
	fs.BoolVar(&o.echoes, "echoes", false, "Meta: deliver the echo of every reply back to the webhook, as Meta does (one more webhook per exchange)")
	fs.BoolVar(&o.ingestOnly, "ingest-only", false, "keep the inbox's workers stopped: the figures are the ack path alone (signature, the channel plugin's parse, the durable commit), as when a burst outruns the workers; the events wait in the inbox, unanswered")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (its path is printed)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, benchUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		return fail("%s (%s)", scrub(err.Error(), o.store), strings.SplitN(benchUsage, "\n", 2)[0])
	}
	switch {
	case fs.NArg() > 0:
		return fail("unexpected argument %q", fs.Arg(0))
	case o.channel != "meta" && o.channel != "zenvia":
		return fail("--channel must be meta or zenvia, not %q", o.channel)
	case o.rate < 0:
		return fail("--rate must be 0 (saturation) or more")
	case o.duration <= 0:
		return fail("--duration must be positive")
	case o.warmup < 0 || o.drain < 0 || o.bound <= 0:
		return fail("--warmup and --drain must not be negative, --sustain-p99 must be positive")
	case o.connections < 0:
		return fail("--connections must be positive")
	case o.echoes && o.channel != "meta":
		return fail("--echoes is for --channel meta (Zenvia sends no echoes)")
	case o.echoes && o.ingestOnly:
		return fail("--echoes needs replies, and --ingest-only answers nothing")
	}
	if o.rate > 0 && (o.warmup+o.duration).Seconds()*o.rate > 60_000_000 {
		return fail("--rate × (--warmup + --duration) is over 60 million webhooks")
	}
	if o.connections == 0 {
		o.connections = 256
		if o.rate == 0 {
			o.connections = 64
		}
	}
	if o.store != "" {
		if _, ok := describeURL(o.store); !ok {
			return fail("--store must be a PostgreSQL URL (postgres://user:password@host:5432/database)")
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runBench(ctx, o, stdout, stderr); err != nil {
		return fail("%s", scrub(err.Error(), o.store))
	}
	return 0
}

// startDiagnostics starts the CPU profile and the execution trace the
// options ask for; stop ends both and closes their files.
func startDiagnostics(o benchOptions) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range slices.Backward(stops) {
			s()
		}
	}
	start := func(path string, begin func(io.Writer) error, end func()) error {
		if path == "" {
			return nil
		}
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := begin(f); err != nil {
			f.Close()
			return err
		}
		stops = append(stops, func() { end(); f.Close() })
		return nil
	}
	if err := start(o.cpuprofile, pprof.StartCPUProfile, pprof.StopCPUProfile); err != nil {
		stop()
		return nil, err
	}
	if err := start(o.trace, trace.Start, trace.Stop); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

func runBench(ctx context.Context, o benchOptions, stdout, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "conversa-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(stdout, "temporary directory (kept):", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	run := strconv.FormatInt(time.Now().UnixNano()&0xffffffff, 16)
	hooks := &bench.Webhooks{Channel: o.channel, Secret: benchMetaSecret, Username: benchHookUser, Token: benchHookToken,
		Run: fmt.Sprintf("%08s", run)}
	clock := bench.NewClock()

	storeName := "SQLite (temporary file)"
	dbURL := ""
	if o.store != "" {
		var drop func()
		dbURL, drop, err = benchSchema(ctx, o.store, stderr)
		if err != nil {
			return err
		}
		defer drop()
		target, _ := describeURL(o.store)
		storeName = "PostgreSQL " + target + " (fresh schema, dropped afterwards)"
	}
	mode := fmt.Sprintf("rate %g/s open-loop, up to %d connections", o.rate, o.connections)
	if o.rate == 0 {
		mode = fmt.Sprintf("saturation with %d connections", o.connections)
	}
	what := o.channel + " webhooks"
	if o.echoes {
		what += " (and the echo of each reply)"
	}
	if o.ingestOnly {
		what += ", stored and left unanswered (--ingest-only)"
	}
	fmt.Fprintf(stdout, "conversa bench: %s, %s, %s after a %s warm-up, on %s; %d CPUs\n",
		what, mode, o.duration, o.warmup, storeName, runtime.NumCPU())

	baselineRate := 0.0
	if o.baseline {
		before := bench.SampleCPU()
		r, n, err := benchBaseline(ctx, o, hooks, clock)
		if err != nil {
			return err
		}
		baselineRate = r.Throughput
		fmt.Fprintf(stdout, "baseline (bare Fiber handler, same load): offered %d, acked %d (%.1f/s), ack %s, errors %s; cpu per webhook %s\n",
			r.Offered, r.Acked, r.Throughput, r.Ack, r.ErrorText(), bench.CPUPerWebhook(before, bench.SampleCPU(), n))
	}

	rec := bench.NewRecorder(clock)
	provider, err := bench.StartProvider(o.channel, rec)
	if err != nil {
		return err
	}
	defer provider.Close()
	cfg, err := benchConfig(dir, o.channel, provider.URL, dbURL)
	if err != nil {
		return err
	}
	log, closeLog, err := benchLogger(o.logFile, stderr)
	if err != nil {
		return err
	}
	defer closeLog()

	if o.cpuprofile != "" {
		// The built-in plugins profile themselves (sdk.ProfileEnv), from
		// their start until the server stops them.
		prefix, err := filepath.Abs(o.cpuprofile)
		if err != nil {
			return err
		}
		os.Setenv(sdk.ProfileEnv, prefix)
		defer os.Unsetenv(sdk.ProfileEnv)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var st store.Store // set before ready is told
	how := serverRun{ready: func(addr string) { ready <- addr }, holdInbox: o.ingestOnly,
		opened: func(s store.Store) { st = s }}
	go func() { done <- runServer(sctx, cfg, log, io.Discard, how) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		return fmt.Errorf("the server did not start: %w", err)
	case <-time.After(2 * time.Minute):
		return errors.New("the server did not start within 2 minutes")
	case <-ctx.Done():
		return ctx.Err()
	}
	stopServer := sync.OnceFunc(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			fmt.Fprintln(stderr, "conversa bench: the server took over 30 s to stop")
		}
	})
	defer stopServer()

	hookURL := "http://" + addr + "/webhooks/" + benchIntegration(o.channel)
	if o.echoes {
		if err := provider.EchoTo(hookURL, benchMetaSecret); err != nil {
			return err
		}
	}
	load := &bench.Load{URL: hookURL, Webhooks: hooks,
		Rate: o.rate, Warmup: o.warmup, Duration: o.duration, Connections: o.connections}
	before, storeBefore := bench.SampleCPU(), sampleStore(st)
	stopDiagnostics, err := startDiagnostics(o)
	if err != nil {
		return err
	}
	w := load.Run(ctx, rec)
	loadEnd := time.Now()
	backlog := rec.Pending()
	if !o.ingestOnly {
		bench.Drain(ctx, rec, o.drain)
	}
	drained := time.Since(loadEnd)
	stopDiagnostics()
	after, storeAfter := bench.SampleCPU(), sampleStore(st)
	r := bench.Collect(rec, w, !o.ingestOnly)
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}

	if o.rate > 0 {
		fmt.Fprintf(stdout, "offered: %d webhooks (%.1f/s started; %d started over %s late, worst %s)\n",
			r.Offered, r.OfferedRate, r.LateIssues, 5*time.Millisecond, r.MaxIssueLag.Round(time.Microsecond))
	} else {
		fmt.Fprintf(stdout, "offered: %d webhooks, back to back over %d connections\n", r.Offered, o.connections)
	}
	fmt.Fprintf(stdout, "acked:   %d (%.1f/s), ack %s, wait for a connection %s, errors %s\n",
		r.Acked, r.Throughput, r.Ack, r.Wait, r.ErrorText())
	if o.ingestOnly {
		fmt.Fprintf(stdout, "replies: none expected (--ingest-only): %d events wait in the inbox\n", backlog)
	} else {
		fmt.Fprintf(stdout, "replies: %d of %d (%.1f/s), reply %s; %d owed when the load ended, %d after a %s drain; duplicates %d, to unknown users %d\n",
			r.Replies, r.Expected, r.ReplyRate, r.Reply, backlog, rec.Pending(), drained.Round(time.Millisecond), r.Extra, r.Unknown)
	}
	if line := r.SpanText(!o.ingestOnly); line != "" {
		fmt.Fprintln(stdout, "over time:", line)
	}
	echoed, lost := provider.Echoes()
	fmt.Fprintf(stdout, "provider: %d sends, %d profile lookups, %d sender actions, %d refused; echoes %d delivered, %d given up\n",
		provider.Sends.Load(), provider.Profiles.Load(), provider.Actions.Load(), provider.Refused.Load(), echoed, lost)
	fmt.Fprintf(stdout, "cpu per webhook: %s\n", bench.CPUPerWebhook(before, after, w.Scheduled))
	if line := storeText(storeBefore, storeAfter, w.Scheduled); line != "" {
		fmt.Fprintf(stdout, "store per webhook: %s\n", line)
	}
	if o.cpuprofile != "" {
		fmt.Fprintf(stdout, "cpu profile: %s (this process, the measured run); %s.<plugin> (each built-in plugin's process, its whole life: written as the server stops)\n", o.cpuprofile, o.cpuprofile)
	}
	if o.trace != "" {
		fmt.Fprintf(stdout, "execution trace: %s (this process only; go tool trace -pprof=sched shows where goroutines waited for a CPU)\n", o.trace)
	}

	sustained := "n/a"
	if o.rate > 0 {
		ok, why := r.Sustained(o.rate, o.bound, !o.ingestOnly)
		fmt.Fprintln(stdout, "rule:", bench.SustainRule(o.bound, !o.ingestOnly))
		sustained = "yes"
		if !ok {
			sustained = "no"
			fmt.Fprintln(stdout, "not sustained:", why)
		}
	} else {
		answered := "replies are produced but not the point"
		if o.ingestOnly {
			answered = "nothing is answered (--ingest-only)"
		}
		fmt.Fprintln(stdout, "saturation: the figure is acknowledged webhooks a second;", answered)
	}
	rate := "max"
	if o.rate > 0 {
		rate = fmt.Sprintf("%g/s", o.rate)
	}
	kind := "sqlite"
	if o.store != "" {
		kind = "postgres"
	}
	channel := o.channel
	if o.echoes {
		channel += "+echoes"
	}
	if o.ingestOnly {
		channel += "+ingest-only"
	}
	line := fmt.Sprintf("bench %s rate=%s connections=%d duration=%s store=%s: acked=%d/%d throughput=%.1f/s ack_p50=%s ack_p99=%s ack_max=%s replies=%d/%d reply_rate=%.1f/s reply_p50=%s reply_p99=%s reply_max=%s cpu=%s sustained=%s",
		channel, rate, o.connections, o.duration, kind, r.Acked, r.Offered, r.Throughput,
		msText(r.Ack.P50), msText(r.Ack.P99), msText(r.Ack.Max), r.Replies, r.Expected, r.ReplyRate,
		msText(r.Reply.P50), msText(r.Reply.P99), msText(r.Reply.Max), cpuText(before, after, w.Scheduled), sustained)
	if o.baseline {
		ratio := 0.0
		if baselineRate > 0 {
			ratio = r.Throughput / baselineRate
		}
		line += fmt.Sprintf(" baseline=%.1f/s ratio=%.3f", baselineRate, ratio)
	}
	stopServer()
	fmt.Fprintln(stdout, line)
	return nil
}

// cpuText is the CPU all the instance's processes used per webhook sent,
// for the summary line: unlike throughput and latency, it barely moves when
// the machine is shared.
func cpuText(before, after []bench.ProcCPU, n int) string {
	used, ok := bench.CPUUsed(before, after)
	if !ok || n == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(float64(used)/float64(time.Millisecond)/float64(n), 'f', 3, 64) + "ms/webhook"
}

// msText is a latency for the summary line, in milliseconds.
func msText(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
}

// benchBaseline offers the same load to a bare Fiber handler.
// It returns the figures and how many webhooks it sent, warm-up included.
func benchBaseline(ctx context.Context, o benchOptions, hooks *bench.Webhooks, clock *bench.Clock) (bench.Result, int, error) {
	b, err := bench.StartBaseline(config.DefaultBodyLimitKB << 10)
	if err != nil {
		return bench.Result{}, 0, err
	}
	defer b.Close()
	rec := bench.NewRecorder(clock)
	load := &bench.Load{URL: b.URL + "/webhooks/" + benchIntegration(o.channel), Webhooks: hooks,
		Rate: o.rate, Warmup: o.warmup, Duration: o.duration, Connections: o.connections}
	w := load.Run(ctx, rec)
	if ctx.Err() != nil {
		return bench.Result{}, 0, errors.New("interrupted")
	}
	return bench.Collect(rec, w, false), w.Scheduled, nil
}

func benchIntegration(channel string) string { return "bench-" + channel }

// benchConfig writes the instance's configuration into dir, with the
// default scripts as files, and loads it as `conversa serve --config`
// would.
func benchConfig(dir, channel, providerURL, dbURL string) (*config.Config, error) {
	scriptDir := filepath.Join(dir, "scripts")
	if err := os.MkdirAll(scriptDir, 0o700); err != nil {
		return nil, err
	}
	for _, name := range scripts.Names() {
		src, err := scripts.FS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(scriptDir, name), src, 0o600); err != nil {
			return nil, err
		}
	}
	q := strconv.Quote
	var b strings.Builder
	fmt.Fprintf(&b, "[server]\nlisten = \"127.0.0.1:0\"\nplayground = false\n\n")
	fmt.Fprintf(&b, "[storage]\npath = %s\n", q(filepath.Join(dir, "conversa.db")))
	if dbURL != "" {
		fmt.Fprintf(&b, "url = %s\n", q(dbURL))
	}
	fmt.Fprintf(&b, "\n[security]\nkey_file = %s\n\n[media]\ndir = %s\n\n[scripts]\ndir = %s\n\n[plugins]\ndir = %s\n\n",
		q(filepath.Join(dir, "secret.key")), q(filepath.Join(dir, "media")), q(scriptDir), q(filepath.Join(dir, "plugins")))
	fmt.Fprintf(&b, "[[integrations]]\nid = %s\nname = \"Bench\"\nchannel = %s\nassistant = \"demo\"\n\n[integrations.settings]\n",
		q(benchIntegration(channel)), q(channel))
	if channel == "zenvia" {
		fmt.Fprintf(&b, "sender_id = %s\napi_token = %s\napi_url = %s\nwebhook_username = %s\nwebhook_token = %s\n",
			q(bench.ZenviaSender), q(benchAccessToken), q(providerURL), q(benchHookUser), q(benchHookToken))
	} else {
		fmt.Fprintf(&b, "account_id = %s\naccess_token = %s\napp_secret = %s\nverify_token = \"bench-verify\"\ngraph_url = %s\napi_version = \"v25.0\"\n",
			q(bench.BusinessID), q(benchAccessToken), q(benchMetaSecret), q(providerURL))
	}
	path := filepath.Join(dir, "conversa.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	return config.Load(path)
}

// benchLogger is the server's logger: errors to stderr, or everything from
// info up to a file.
func benchLogger(path string, stderr io.Writer) (*slog.Logger, func(), error) {
	if path == "" {
		return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError})), func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	return newLogger(f), func() { f.Close() }, nil
}

// benchConn connects to the database at raw, a URL the server's store
// takes: the pool's own settings in it (pool_max_conns…) are the pool's,
// not parameters for the server.
func benchConn(ctx context.Context, raw string) (*pgx.Conn, error) {
	cfg, err := pgxpool.ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	return pgx.ConnectConfig(ctx, cfg.ConnConfig)
}

// benchSchema makes a fresh schema in the database at raw for the run, and
// returns the URL that puts the server in it (its search_path) and a func
// that drops it. What the database already holds is left alone.
func benchSchema(ctx context.Context, raw string, stderr io.Writer) (string, func(), error) {
	conn, err := benchConn(ctx, raw)
	if err != nil {
		return "", nil, fmt.Errorf("PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("conversa_bench_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		return "", nil, fmt.Errorf("creating the schema %s: %w", name, err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", nil, err
	}
	qv := u.Query()
	qv.Set("search_path", name)
	u.RawQuery = qv.Encode()
	drop := func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := benchConn(dctx, raw)
		if err == nil {
			_, err = c.Exec(dctx, "DROP SCHEMA "+name+" CASCADE")
			c.Close(dctx)
		}
		if err != nil {
			fmt.Fprintf(stderr, "conversa bench: dropping the schema %s: %s\n", name, scrub(err.Error(), raw))
		}
	}
	return u.String(), drop, nil
}

// storeCounts is what the store counts of its own work: the round trips
// to PostgreSQL, or SQLite's writes and the group commits that carried
// them.
type storeCounts struct {
	postgres, sqlite bool
	trips            uint64
	sqlite.WriterStats
}

func sampleStore(st store.Store) storeCounts {
	switch db := st.(type) {
	case *postgres.DB:
		return storeCounts{postgres: true, trips: db.RoundTrips()}
	case *sqlite.DB:
		return storeCounts{sqlite: true, WriterStats: db.WriterStats()}
	}
	return storeCounts{}
}

// storeText is what the store did per webhook between two samples, as the
// "store per webhook" line says it ("" when it counts nothing).
func storeText(a, b storeCounts, webhooks int) string {
	if webhooks <= 0 {
		return ""
	}
	per := func(d float64) float64 { return d / float64(webhooks) }
	switch {
	case a.postgres && b.postgres:
		return fmt.Sprintf("%.1f round trips to PostgreSQL (statements, batches and copies, each waited for)", per(float64(b.trips-a.trips)))
	case a.sqlite && b.sqlite:
		return fmt.Sprintf("%.2f writes (%.2f unsynced), %.3f group commits (%.3f waited for the disk), %.3f search-index transactions",
			per(float64(b.Writes-a.Writes)), per(float64(b.Unsynced-a.Unsynced)), per(float64(b.Commits-a.Commits)),
			per(float64(b.Synced-a.Synced)), per(float64(b.Indexing-a.Indexing)))
	}
	return ""
}
