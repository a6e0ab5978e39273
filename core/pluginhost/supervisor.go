package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

type spec struct {
	name    string
	path    string
	args    []string
	builtin bool
}

// Backoff between restarts of a crashed plugin.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 60 * time.Second
	crashSpan  = 10 * time.Minute
)

// supervisor owns one plugin's process across restarts.
type supervisor struct {
	h    *Host
	spec spec
	log  *slog.Logger

	mu        sync.Mutex
	state     string
	gen       int // incremented per process
	client    *plugin.Client
	info      *proto.PluginInfo
	channel   sdk.Channel
	assistant sdk.Assistant
	restarts  int
	crashes   []time.Time
	retryAt   time.Time
	lastErr   string
	pid       int
	stopped   bool
}

func (h *Host) newSupervisor(sp spec) *supervisor {
	return &supervisor{h: h, spec: sp, state: StateStopped, log: h.log.With("plugin", sp.name)}
}

// running returns the live process's info, starting it when stopped. While
// a crashed plugin waits for its restart, it fails fast.
func (s *supervisor) running(ctx context.Context) (*proto.PluginInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, fmt.Errorf("plugin %s: host is stopping", s.spec.name)
	}
	if s.client != nil && !s.client.Exited() {
		return s.info, nil
	}
	if s.state == StateRestarting || s.state == StateCrashing {
		if wait := time.Until(s.retryAt); wait > 0 {
			return nil, fmt.Errorf("plugin %s is down (restarting in %s): %s", s.spec.name, wait.Round(time.Millisecond), s.lastErr)
		}
	}
	if err := s.startLocked(ctx); err != nil {
		s.crashedLocked(err.Error())
		return nil, err
	}
	return s.info, nil
}

func (s *supervisor) startLocked(ctx context.Context) error {
	stderr := &tail{max: 20}
	cfg := s.h.clientConfig(s.spec, stderr)
	var (
		client *plugin.Client
		rpc    plugin.ClientProtocol
		err    error
	)
	launchErr := s.h.onLauncher(func() {
		client = plugin.NewClient(cfg)
		rpc, err = client.Client()
	})
	if launchErr != nil {
		return launchErr
	}
	if err != nil {
		client.Kill()
		if t := stderr.String(); t != "" {
			err = fmt.Errorf("%w; plugin said:\n%s", err, t)
		}
		return fmt.Errorf("start plugin %s: %w", s.spec.name, err)
	}
	raw, err := rpc.Dispense(sdk.KindInfo)
	if err != nil {
		client.Kill()
		return fmt.Errorf("plugin %s: %w", s.spec.name, err)
	}
	info, err := raw.(sdk.InfoClient).Describe(ctx)
	if err != nil {
		client.Kill()
		return fmt.Errorf("plugin %s: describe: %w", s.spec.name, err)
	}
	var ch sdk.Channel
	var as sdk.Assistant
	for _, k := range info.Kinds {
		v, err := rpc.Dispense(k)
		if err != nil {
			client.Kill()
			return fmt.Errorf("plugin %s: dispense %s: %w", s.spec.name, k, err)
		}
		switch k {
		case sdk.KindChannel:
			ch = v.(sdk.Channel)
		case sdk.KindAssistant:
			as = v.(sdk.Assistant)
		}
	}
	s.gen++
	s.client, s.info, s.channel, s.assistant = client, info, ch, as
	s.state = StateRunning
	s.pid = 0
	if rc := client.ReattachConfig(); rc != nil {
		s.pid = rc.Pid
	}
	s.log.Info("plugin started", "version", info.Version, "kinds", info.Kinds, "pid", s.pid)
	gen := s.gen
	s.h.wg.Add(1)
	go s.watch(gen, client, rpc)
	return nil
}

// watch waits for the process to exit or stop answering pings, then
// restarts it after a backoff.
func (s *supervisor) watch(gen int, client *plugin.Client, rpc plugin.ClientProtocol) {
	defer s.h.wg.Done()
	poll := time.NewTicker(250 * time.Millisecond)
	defer poll.Stop()
	health := time.NewTicker(s.h.o.HealthEvery)
	defer health.Stop()
	failedPings := 0
	for {
		select {
		case <-s.h.stop:
			return
		case <-poll.C:
			if client.Exited() {
				s.crashed(gen, "plugin process exited")
				s.restartLater(gen)
				return
			}
		case <-health.C:
			if err := rpc.Ping(); err != nil {
				failedPings++
				s.log.Warn("plugin health check failed", "err", err, "failures", failedPings)
				if failedPings >= 3 {
					client.Kill()
					s.crashed(gen, "plugin stopped answering health checks")
					s.restartLater(gen)
					return
				}
				continue
			}
			failedPings = 0
		}
	}
}

// crashed records that generation gen died; calls about an older process
// are ignored.
func (s *supervisor) crashed(gen int, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen || s.stopped {
		return
	}
	s.crashedLocked(why)
}

func (s *supervisor) crashedLocked(why string) {
	now := time.Now()
	s.crashes = append(slices.DeleteFunc(s.crashes, func(t time.Time) bool { return now.Sub(t) > crashSpan }), now)
	backoff := minBackoff << min(len(s.crashes)-1, 10)
	if backoff > maxBackoff {
		backoff = maxBackoff
	}
	s.retryAt = now.Add(backoff)
	s.lastErr = why
	s.state = StateRestarting
	if len(s.crashes) >= 3 {
		s.state = StateCrashing
	}
	if s.client != nil {
		s.client.Kill()
	}
	s.client, s.channel, s.assistant, s.pid = nil, nil, nil, 0
	s.log.Error("plugin down", "reason", why, "retry_in", backoff)
}

// restartLater brings the plugin back after its backoff, without waiting
// for a caller to need it: a channel that is down should come back on its own.
func (s *supervisor) restartLater(gen int) {
	s.mu.Lock()
	wait := time.Until(s.retryAt)
	s.mu.Unlock()
	select {
	case <-s.h.stop:
		return
	case <-time.After(wait):
	}
	s.mu.Lock()
	if s.gen != gen || s.client != nil || s.stopped {
		s.mu.Unlock()
		return
	}
	s.restarts++
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.h.o.StartTimeout+5*time.Second)
	defer cancel()
	if _, err := s.running(ctx); err != nil {
		s.log.Error("plugin restart failed", "err", err)
		s.mu.Lock()
		gen := s.gen
		s.mu.Unlock()
		s.h.wg.Add(1)
		go func() { defer s.h.wg.Done(); s.restartLater(gen) }()
	}
}

func (s *supervisor) shutdown() {
	s.mu.Lock()
	s.stopped = true
	c := s.client
	s.client = nil
	s.state = StateStopped
	s.mu.Unlock()
	if c != nil {
		c.Kill()
	}
}

func (s *supervisor) status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Name: s.spec.name, Kinds: []string{}, State: s.state, Restarts: s.restarts, Builtin: s.spec.builtin,
		LastError: s.lastErr, PID: s.pid}
	if !s.spec.builtin {
		st.Path = s.spec.path
	}
	if s.info != nil {
		st.Kinds, st.Version = s.info.Kinds, s.info.Version
		if len(st.Kinds) > 0 {
			st.Kind = st.Kinds[0]
		}
	}
	return st
}

// clients returns the live process's typed clients, starting it if needed.
func (s *supervisor) clients(ctx context.Context) (sdk.Channel, sdk.Assistant, int, error) {
	if _, err := s.running(ctx); err != nil {
		return nil, nil, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.channel, s.assistant, s.gen, nil
}

// failed inspects an RPC error: an unavailable plugin is marked down at
// once rather than at the next poll.
func (s *supervisor) failed(gen int, err error) error {
	if status.Code(err) == codes.Unavailable {
		s.mu.Lock()
		c := s.client
		s.mu.Unlock()
		if c != nil && c.Exited() {
			s.crashed(gen, "plugin process exited")
		}
	}
	return fmt.Errorf("plugin %s: %w", s.spec.name, err)
}

var errNotChannel = errors.New("is not a channel plugin")
var errNotAssistant = errors.New("is not an assistant plugin")

type channelCaller struct{ s *supervisor }

func (c channelCaller) impl(ctx context.Context) (sdk.Channel, int, error) {
	ch, _, gen, err := c.s.clients(ctx)
	if err != nil {
		return nil, 0, err
	}
	if ch == nil {
		return nil, 0, fmt.Errorf("plugin %s %w", c.s.spec.name, errNotChannel)
	}
	return ch, gen, nil
}

func (c channelCaller) Describe(ctx context.Context) (*proto.ChannelInfo, error) {
	ch, gen, err := c.impl(ctx)
	if err != nil {
		return nil, err
	}
	r, err := ch.Describe(ctx)
	if err != nil {
		return nil, c.s.failed(gen, err)
	}
	return r, nil
}

func (c channelCaller) HandleWebhook(ctx context.Context, req *proto.WebhookRequest) (*proto.WebhookResponse, error) {
	ch, gen, err := c.impl(ctx)
	if err != nil {
		return nil, err
	}
	r, err := ch.HandleWebhook(ctx, req)
	if err != nil {
		return nil, c.s.failed(gen, err)
	}
	return r, nil
}

func (c channelCaller) Send(ctx context.Context, req *proto.SendRequest) (*proto.SendResponse, error) {
	ch, gen, err := c.impl(ctx)
	if err != nil {
		return nil, err
	}
	r, err := ch.Send(ctx, req)
	if err != nil {
		return nil, c.s.failed(gen, err)
	}
	return r, nil
}

func (c channelCaller) Profile(ctx context.Context, req *proto.ProfileRequest) (*proto.ProfileResponse, error) {
	ch, gen, err := c.impl(ctx)
	if err != nil {
		return nil, err
	}
	r, err := ch.Profile(ctx, req)
	if err != nil {
		return nil, c.s.failed(gen, err)
	}
	return r, nil
}

func (c channelCaller) CheckSend(ctx context.Context, req *proto.SendRequest) (*proto.SendResponse, error) {
	ch, gen, err := c.impl(ctx)
	if err != nil {
		return nil, err
	}
	checker, ok := ch.(sdk.SendChecker)
	if !ok {
		return &proto.SendResponse{}, nil
	}
	r, err := checker.CheckSend(ctx, req)
	if err != nil {
		return nil, c.s.failed(gen, err)
	}
	return r, nil
}

type assistantCaller struct{ s *supervisor }

func (c assistantCaller) impl(ctx context.Context) (sdk.Assistant, int, error) {
	_, as, gen, err := c.s.clients(ctx)
	if err != nil {
		return nil, 0, err
	}
	if as == nil {
		return nil, 0, fmt.Errorf("plugin %s %w", c.s.spec.name, errNotAssistant)
	}
	return as, gen, nil
}

func (c assistantCaller) Describe(ctx context.Context) (*proto.AssistantInfo, error) {
	as, gen, err := c.impl(ctx)
	if err != nil {
		return nil, err
	}
	r, err := as.Describe(ctx)
	if err != nil {
		return nil, c.s.failed(gen, err)
	}
	return r, nil
}

func (c assistantCaller) Converse(ctx context.Context, req *proto.ConverseRequest) (*proto.ConverseResponse, error) {
	as, gen, err := c.impl(ctx)
	if err != nil {
		return nil, err
	}
	r, err := as.Converse(ctx, req)
	if err != nil {
		return nil, c.s.failed(gen, err)
	}
	return r, nil
}
