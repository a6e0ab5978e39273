package sdktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// Suite is one run of the plugin contract suite against one executable.
type Suite struct {
	// Command returns a new, unstarted command for the plugin's executable
	// (exec.Command("./conversa-plugin-x"), or exec.Command("node",
	// "plugin.js")). It is called for every start: the suite restarts a
	// plugin that crashed. Its environment is replaced by the host's
	// minimal one (PATH, HOME, TMPDIR, TZ, LANG), as Conversa runs it.
	Command func() *exec.Cmd
	// Fixtures is the plugin's fixtures directory (see the package doc);
	// empty runs the cases that need none.
	Fixtures string
	// Out receives one line per case as it ends, then the summary line.
	// Nil discards them (the Report has them all).
	Out io.Writer
	// StartTimeout bounds the handshake (default 10 s, as the host's).
	StartTimeout time.Duration
}

// Status is a case's outcome.
type Status string

const (
	Pass Status = "ok"
	Fail Status = "FAIL"
	Skip Status = "skip"
)

// Result is one case's outcome.
type Result struct {
	Name   string
	Status Status
	// Reason says why a case failed or was skipped, on one line.
	Reason  string
	Elapsed time.Duration
}

// Line is the result as the suite prints it.
func (r Result) Line() string {
	switch r.Status {
	case Pass:
		return "ok   " + r.Name
	case Skip:
		return "skip " + r.Name + ": " + r.Reason
	default:
		return "FAIL " + r.Name + ": " + r.Reason
	}
}

// Report is a whole run's outcome.
type Report struct {
	// Plugin is the name and version the plugin described itself with.
	Plugin  string
	Results []Result
	Elapsed time.Duration
}

// Passed reports whether no case failed (and at least one ran).
func (r Report) Passed() bool { return len(r.Results) > 0 && len(r.Failures()) == 0 }

// Failures are the failed cases.
func (r Report) Failures() []Result {
	var out []Result
	for _, res := range r.Results {
		if res.Status == Fail {
			out = append(out, res)
		}
	}
	return out
}

// Summary is the last line of the run.
func (r Report) Summary() string {
	var ok, skipped int
	for _, res := range r.Results {
		switch res.Status {
		case Pass:
			ok++
		case Skip:
			skipped++
		}
	}
	name := r.Plugin
	if name == "" {
		name = "plugin"
	}
	fails := r.Failures()
	verdict := "PASS"
	failed := fmt.Sprintf("%d failed", len(fails))
	if !r.Passed() {
		verdict = "FAIL"
		names := make([]string, len(fails))
		for i, f := range fails {
			names[i] = f.Name
		}
		if len(names) > 0 {
			failed += " (" + strings.Join(names, ", ") + ")"
		}
	}
	return fmt.Sprintf("%s %s: %d ok, %s, %d skipped in %.1fs", verdict, name, ok, failed, skipped, r.Elapsed.Seconds())
}

// Timing of the cases.
const (
	callTimeout    = 10 * time.Second
	hostileTimeout = 5 * time.Second
	// The hanging provider's cases: the call's deadline, and how long the
	// suite waits for the call to return and the provider's connection to
	// be dropped.
	hangDeadline  = 2 * time.Second
	hangPatience  = 3 * time.Second
	healthTimeout = 2 * time.Second
	// How long a plugin has to exit once asked to shut down (go-plugin
	// kills it after this too).
	shutdownGrace = 2 * time.Second
	// maxLog bounds the plugin's captured log output.
	maxLog = 64 << 20
)

// proc is one running plugin process.
type proc struct {
	client *plugin.Client
	rpc    *plugin.GRPCClient
	conn   *grpc.ClientConn
	cmd    *exec.Cmd
}

func (p *proc) exited() bool { return p.client.Exited() }

// ping asks the gRPC health service, as the host does every few seconds.
func (p *proc) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	resp, err := grpc_health_v1.NewHealthClient(p.conn).Check(ctx,
		&grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
	if err != nil {
		return fmt.Errorf("health check: %s", grpcText(err))
	}
	if s := resp.GetStatus(); s != grpc_health_v1.HealthCheckResponse_SERVING {
		return fmt.Errorf("health check: service %q is %s, want SERVING", plugin.GRPCServiceName, s)
	}
	return nil
}

// logCapture keeps everything the plugin writes to stderr (and to stdout
// after the handshake), as plain text: a plugin in any language is
// checked, JSON log lines or not.
type logCapture struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	dropped int
	last    []string // the last lines, for a crash's report
	panic   string   // the last line that starts a Go panic or fatal error
}

func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len()+len(p) > maxLog {
		l.dropped += len(p)
	} else {
		l.buf.Write(p)
	}
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "panic:") || strings.HasPrefix(t, "fatal error:") {
			l.panic = t
		}
		l.last = append(l.last, line)
		if len(l.last) > 5 {
			l.last = l.last[1:]
		}
	}
	return len(p), nil
}

func (l *logCapture) text() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String(), l.dropped
}

// tail is the last lines logged, for a report line.
func (l *logCapture) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.last) == 0 {
		return "no log output"
	}
	var parts []string
	if l.panic != "" {
		parts = append(parts, truncateRunes(l.panic, 200))
		l.panic = "" // reported once
	}
	for _, s := range l.last {
		parts = append(parts, truncateRunes(strings.TrimSpace(s), 200))
	}
	return "last log lines: " + strings.Join(parts, " | ")
}

// hostEnv is the environment Conversa gives a plugin: a minimal one, never
// its own (core/pluginhost does the same).
func hostEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ", "LANG", "LC_ALL", "GORACE"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// start launches the plugin the way the host does: go-plugin's client,
// Conversa's handshake, gRPC only, AutoMTLS, the minimal environment.
func (r *runner) start() (*proc, error) {
	cmd := r.s.Command()
	if cmd == nil {
		return nil, errors.New("Suite.Command returned no command")
	}
	cmd.Env = hostEnv()
	setProcAttr(cmd)
	timeout := r.s.StartTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          sdk.PluginSet(nil, nil, nil),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Cmd:              cmd,
		Logger:           hclog.NewNullLogger(),
		Stderr:           r.logs,
		SyncStdout:       r.logs,
		SyncStderr:       r.logs,
		StartTimeout:     timeout,
		AutoMTLS:         true,
		SkipHostEnv:      true,
	})
	raw, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("%v (%s)", err, r.logs.tail())
	}
	g, ok := raw.(*plugin.GRPCClient)
	if !ok {
		client.Kill()
		return nil, errors.New("the plugin does not speak gRPC")
	}
	return &proc{client: client, rpc: g, conn: g.Conn, cmd: cmd}, nil
}

// grpcText is an error as a report shows it: the gRPC code and message.
func grpcText(err error) string {
	if s, ok := status.FromError(err); ok {
		return s.Code().String() + ": " + truncateRunes(s.Message(), 300)
	}
	return truncateRunes(err.Error(), 300)
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// seenText is something the plugin produced that must hold no secret.
type seenText struct {
	where string // "the error of send/01-text"
	text  string
}

// runner holds one run's state. Cases run one at a time.
type runner struct {
	s    Suite
	out  io.Writer
	rep  *Report
	fx   *fixtureSet
	prov *provider
	logs *logCapture
	ctx  context.Context

	p        *proc
	startErr error // why the last restart failed

	info        *proto.PluginInfo
	channel     proto.ChannelClient
	assistant   proto.AssistantClient
	channelInfo *proto.ChannelInfo

	seen []seenText
}

// Run runs the whole suite and returns its report; it prints each case's
// line to s.Out as it ends, then the summary.
func Run(ctx context.Context, s Suite) Report {
	begin := time.Now()
	rep := &Report{}
	r := &runner{s: s, out: s.Out, rep: rep, logs: &logCapture{}, ctx: ctx}
	if r.out == nil {
		r.out = io.Discard
	}
	defer func() {
		rep.Elapsed = time.Since(begin)
		fmt.Fprintln(r.out, rep.Summary())
	}()
	if s.Command == nil {
		r.record(Result{Name: "suite", Status: Fail, Reason: "Suite.Command is not set"})
		return *rep
	}
	fx, err := loadFixtures(s.Fixtures)
	if err != nil {
		r.record(Result{Name: "fixtures", Status: Fail, Reason: err.Error()})
		return *rep
	}
	r.fx = fx
	if r.prov, err = newProvider(); err != nil {
		r.record(Result{Name: "suite", Status: Fail, Reason: "fake provider: " + err.Error()})
		return *rep
	}
	defer r.prov.close()
	defer func() {
		if r.p != nil {
			r.p.client.Kill()
		}
	}()
	r.runAll()
	return *rep
}

func (r *runner) record(res Result) {
	res.Reason = oneLine(res.Reason)
	r.rep.Results = append(r.rep.Results, res)
	fmt.Fprintln(r.out, res.Line())
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
}

// tcase collects one case's problems.
type tcase struct {
	problems []string
	skipped  string
	// running: the case needs the plugin process (started again if an
	// earlier case crashed it).
	r *runner
}

func (c *tcase) errorf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func (c *tcase) fail(problems ...string) { c.problems = append(c.problems, problems...) }

func (c *tcase) skip(why string) { c.skipped = why }

// run runs one case that talks to the plugin process, which it starts
// again first if an earlier case left it dead.
func (r *runner) run(name string, f func(c *tcase)) {
	begin := time.Now()
	c := &tcase{r: r}
	if r.ctx.Err() != nil {
		r.record(Result{Name: name, Status: Fail, Reason: "the run was cancelled"})
		return
	}
	if r.p == nil || r.p.exited() {
		if err := r.restart(); err != nil {
			r.record(Result{Name: name, Status: Fail, Reason: "the plugin is not running and did not start again: " + err.Error()})
			return
		}
	}
	f(c)
	r.afterCase(c)
	r.finish(name, c, begin)
}

// afterCase checks that the process survived the case and still answers
// health checks. go-plugin learns of an exit asynchronously, so a failed
// check waits a moment for it. A dead or wedged process is replaced before
// the next case, so that one crash fails one case.
func (r *runner) afterCase(c *tcase) {
	if r.p == nil {
		return // the case stopped it (shutdown)
	}
	err := r.p.ping(r.ctx)
	if err == nil {
		return
	}
	for wait := time.Now().Add(time.Second); !r.p.exited() && time.Now().Before(wait); {
		time.Sleep(20 * time.Millisecond)
	}
	if r.p.exited() {
		// Give go-plugin a moment to pass on the dying process's last words.
		time.Sleep(100 * time.Millisecond)
		c.errorf("the plugin process exited during this case (%s)", r.logs.tail())
	} else {
		c.errorf("unhealthy after this case: %v", err)
	}
	r.p.client.Kill()
	r.p = nil
}

// runLocal runs a case that needs no plugin process of the suite's.
func (r *runner) runLocal(name string, f func(c *tcase)) {
	begin := time.Now()
	c := &tcase{r: r}
	f(c)
	r.finish(name, c, begin)
}

func (r *runner) finish(name string, c *tcase, begin time.Time) {
	res := Result{Name: name, Elapsed: time.Since(begin)}
	switch {
	case len(c.problems) > 0:
		res.Status, res.Reason = Fail, strings.Join(c.problems, "; ")
	case c.skipped != "":
		res.Status, res.Reason = Skip, c.skipped
	default:
		res.Status = Pass
	}
	r.record(res)
}

// restart starts a new plugin process and dispenses what the first one
// served.
func (r *runner) restart() error {
	if r.p != nil {
		r.p.client.Kill()
		r.p = nil
	}
	p, err := r.start()
	if err != nil {
		return err
	}
	r.p = p
	r.channel = proto.NewChannelClient(p.conn)
	r.assistant = proto.NewAssistantClient(p.conn)
	return nil
}

// saw records something the plugin produced, for the secrets case.
func (r *runner) saw(where, text string) {
	if text != "" {
		r.seen = append(r.seen, seenText{where: where, text: text})
	}
}

func (r *runner) sawErr(where string, err error) {
	if err != nil {
		r.saw(where, err.Error())
	}
}

func (r *runner) sawExchanges(where string, xs []*proto.HttpExchange) {
	for _, x := range xs {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s\n", x.GetMethod(), x.GetUrl())
		for _, h := range x.GetRequestHeaders() {
			fmt.Fprintf(&b, "%s: %s\n", h.GetName(), h.GetValue())
		}
		b.Write(x.GetRequestBody())
		b.WriteString("\n")
		for _, h := range x.GetResponseHeaders() {
			fmt.Fprintf(&b, "%s: %s\n", h.GetName(), h.GetValue())
		}
		b.Write(x.GetResponseBody())
		b.WriteString("\n" + x.GetError())
		r.saw("the exchanges of "+where, b.String())
	}
}

func (r *runner) vars() vars {
	return vars{providerURL: r.prov.url, fixtures: r.fx.dir}
}

func (r *runner) runAll() {
	r.runLocal("handshake.cookie", r.cookieCase)
	r.handshakeCase()
	if r.p == nil {
		return // nothing else can run; handshake said why
	}
	r.run("info.describe", r.infoCase)
	r.run("health", func(c *tcase) {
		if err := r.p.ping(r.ctx); err != nil {
			c.fail(err.Error())
		}
	})
	if r.info == nil {
		return
	}
	r.fixturesCase()
	if r.serves(sdk.KindChannel) {
		r.channelCases()
	}
	if r.serves(sdk.KindAssistant) {
		r.assistantCases()
	}
	r.run("health.final", func(c *tcase) {
		if err := r.p.ping(r.ctx); err != nil {
			c.fail(err.Error())
		}
	})
	r.run("shutdown", r.shutdownCase)
	r.runLocal("secrets", r.secretsCase)
}

func (r *runner) serves(kind string) bool {
	for _, k := range r.info.GetKinds() {
		if k == kind {
			return true
		}
	}
	return false
}
