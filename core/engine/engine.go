package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/conversa/conversa/core/cluster"
	"github.com/conversa/conversa/core/events"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/scripting"
	"github.com/conversa/conversa/core/secrets"
	"github.com/conversa/conversa/core/store"
)

// Plugins gives the engine its channel and assistant plugins by name.
//
// A call that never reached the plugin (the process is down, restarting,
// or unknown) returns an error with a NotAttempted() method returning true:
// a send that fails so did not go out. Any other error from a call may
// come after the plugin acted.
type Plugins interface {
	Channel(name string) (pluginhost.Channel, error)
	Assistant(name string) (pluginhost.Assistant, error)
	// Availability reports whether the plugin runs (or can start now) and,
	// when not, why, for operators.
	Availability(name string) (ok bool, reason string)
}

// notAttempted reports whether a plugin call's error says the call never
// reached the plugin.
func notAttempted(err error) bool {
	var na interface{ NotAttempted() bool }
	return errors.As(err, &na) && na.NotAttempted()
}

// Hooks are the operator's Lua scripts (core/scripting). They never fail:
// a broken script falls back to the built-in default.
type Hooks interface {
	Route(ctx context.Context, ev *scripting.Event) scripting.Route
	Convert(ctx context.Context, c model.Content, channel string) string
	Reply(ctx context.Context, ev *scripting.Event) []string
}

// Assigner gives queued conversations to agents (core/agents). The engine
// calls it whenever a conversation is queued or a slot may have freed.
type Assigner interface {
	Assign(ctx context.Context)
}

// Assistant is a configured NLU backend: a plugin and its settings.
type Assistant struct {
	ID       string
	Backend  string
	Settings map[string]any

	// settingsJSON is Settings encoded once, for every call.
	settingsJSON []byte
}

// Options configures an Engine.
type Options struct {
	Store   store.Store
	Plugins Plugins
	Hooks   Hooks
	Bus     *events.Bus
	Logger  *slog.Logger
	// Now is the engine's clock (tests move it).
	Now func() time.Time
	// Assistants by id.
	Assistants []Assistant
	// PublicURL is the base of webhook URLs shown to operators.
	PublicURL string
	// Workers per queue (inbox, outbox); default 128. A worker spends most
	// of a row waiting (for the plugins, the provider, a commit), and an
	// inbox worker sends the assistant's first reply itself, so under load
	// many rows must be in progress at once to keep up.
	Workers int
	// Node names this process in queue leases (default: host name, pid and
	// a random suffix, new at every start).
	Node string
	// Cluster is the nodes sharing the database (default: this one alone).
	// Only the leader runs the inactivity timer; integration changes are
	// broadcast to the others.
	Cluster cluster.Cluster
	// AssistantAttempts bounds calls to a failing assistant before the
	// conversation goes to humans (default 3).
	AssistantAttempts int
	// EchoWait is how long a send whose outcome is unknown waits for its
	// echo, on a channel that echoes sends, before it is sent again
	// (default 30 s).
	EchoWait time.Duration
	// Secrets encrypts the integrations' secret settings in the store
	// (nil: they are stored as given, for tests).
	Secrets *secrets.Key
	// RetryBase is the first retry delay of a failed send or event (default
	// 1 s); it doubles up to RetryMax (default 5 min).
	RetryBase, RetryMax time.Duration
	// DeliveryLog is how long the delivery log keeps each webhook received
	// and send attempt (0: DefaultDeliveryLog; negative: nothing is
	// recorded).
	DeliveryLog time.Duration
	// InboxRetention is how long a processed event stays in the inbox (0:
	// forever); see retention.go.
	InboxRetention time.Duration
	// Observer is told of sends and reply latencies (nil: nothing).
	Observer Observer
	// AllowPrivateURLs lets integrations made through the API point their
	// provider URLs at plain http and at loopback, link-local or private
	// hosts ([server] allow_private_urls: development against local fakes).
	AllowPrivateURLs bool
	// HoldInbox keeps the inbox's workers stopped: webhooks are verified,
	// parsed and stored durably as always, and their events wait in the
	// inbox, unprocessed, until a start without it. `conversa bench
	// --ingest-only` measures the ack path alone this way.
	HoldInbox bool

	// noDirectSend leaves every reply to the outbox's dispatcher (the
	// benchmarks compare it with the direct send).
	noDirectSend bool
	// noPendingInbound records every message before it is answered (the
	// benchmarks compare it with recording it in the assistant's turn).
	noPendingInbound bool
	// noIngestClaim leaves every stored event to the inbox's dispatcher
	// (the benchmarks compare it with the claim in the webhook's commit).
	noIngestClaim bool
}

// defaultWorkers is Options.Workers' default. The workers bound the rate:
// at most defaultWorkers rows at once, each held from its claim to its
// outcome (about 20 ms for a new contact's exchange at 1,000 a second on a
// 2-core machine). With 32, a stall of the disk left a backlog the workers
// could no longer drain at that rate, and its queueing delay stayed for the
// rest of the run; from 64 on it drained (conversa bench --rate 1000).
const defaultWorkers = 128

// Engine is the conversation engine.
type Engine struct {
	o      Options
	st     store.Store
	log    *slog.Logger
	now    func() time.Time
	bus    *events.Bus
	hooks  Hooks
	plug   Plugins
	reg    *registry
	inbox  *dispatcher[store.InboxItem]
	outbox *dispatcher[store.OutboxItem]
	// started is when this process began serving: an echo of a send made
	// before a crash can only arrive once the webhook answers again.
	started time.Time

	assignMu sync.Mutex
	assigner Assigner

	obs     Observer
	replies *replyWaits

	actions    actionLimits
	channels   describeCache[*pluginhost.ChannelInfo]
	assistants describeCache[*pluginhost.AssistantInfo]
	dlog       *deliveryLog
	checks     settingsChecks
	pruneWake  chan struct{}

	inactivityWake chan struct{}
	stopMu         sync.Mutex // orders background work started against Stop
	stop           chan struct{}
	wg             sync.WaitGroup
	// direct counts the sends in progress on inbox workers (sendDirect):
	// the outbox's dispatcher gives its keys back only after them.
	direct inProgress
}

// New builds an engine; Start runs it.
func New(o Options) (*Engine, error) {
	if o.Store == nil || o.Plugins == nil || o.Hooks == nil {
		return nil, errors.New("engine: store, plugins and hooks are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Bus == nil {
		o.Bus = events.New(1024)
	}
	if o.Workers <= 0 {
		o.Workers = defaultWorkers
	}
	if o.Node == "" {
		o.Node = NodeName()
	}
	if o.Cluster == nil {
		o.Cluster = &cluster.Local{Now: o.Now}
	}
	if o.AssistantAttempts <= 0 {
		o.AssistantAttempts = 3
	}
	if o.EchoWait <= 0 {
		o.EchoWait = defaultEchoWait
	}
	if o.RetryBase <= 0 {
		o.RetryBase = time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 5 * time.Minute
	}
	if o.DeliveryLog == 0 {
		o.DeliveryLog = DefaultDeliveryLog
	}
	if o.Observer == nil {
		o.Observer = noObserver{}
	}
	e := &Engine{
		o: o, st: o.Store, log: o.Logger.With("component", "engine"), now: o.Now, bus: o.Bus,
		hooks: o.Hooks, plug: o.Plugins, obs: o.Observer, replies: newReplyWaits(o.Now),
		inactivityWake: make(chan struct{}, 1),
		pruneWake:      make(chan struct{}, 1),
		stop:           make(chan struct{}),
	}
	e.dlog = newDeliveryLog(o.Store, e.log, o.DeliveryLog)
	e.reg = newRegistry(o.Assistants)
	e.inbox = newDispatcher("inbox", e.log, o.Node, o.Workers, e.now, o.Store.Inbox(), e.processInbox)
	e.inbox.claim = unsyncedClaim(o.Store, func(tx store.Tx) store.Queue[store.InboxItem] { return tx.Inbox() })
	e.outbox = newDispatcher("outbox", e.log, o.Node, o.Workers, e.now, o.Store.Outbox(), e.send)
	e.outbox.claim = unsyncedClaim(o.Store, func(tx store.Tx) store.Queue[store.OutboxItem] { return tx.Outbox() })
	e.outbox.beforeRelease = e.direct.wait
	return e, nil
}

// SetAssigner connects the agents' assignment (it needs the engine too, so
// it is set after both exist).
func (e *Engine) SetAssigner(a Assigner) {
	e.assignMu.Lock()
	defer e.assignMu.Unlock()
	e.assigner = a
}

// Bus is where the engine publishes live events.
func (e *Engine) Bus() *events.Bus { return e.bus }

// Now is the engine's clock.
func (e *Engine) Now() time.Time { return e.now() }

// Start loads the integrations and starts the queues and the inactivity
// timer. Pending inbox and outbox rows from before a restart resume now.
func (e *Engine) Start(ctx context.Context) error {
	if err := e.Reload(ctx); err != nil {
		return err
	}
	e.started = e.now()
	if !e.o.HoldInbox {
		e.inbox.start(&e.wg, e.stop)
	}
	e.outbox.start(&e.wg, e.stop)
	e.dlog.start()
	e.wg.Add(3)
	go e.every(inactivityEvery, e.inactivityWake, e.endInactive)
	go e.every(pruneEvery, e.pruneWake, func() { e.pruneDeliveries(); e.pruneInbox() })
	go e.every(reloadEvery, nil, func() {
		if err := e.Reload(context.Background()); err != nil {
			e.log.Error("re-reading integrations", "err", err)
		}
	})
	// Another node changed an integration: apply it here too.
	e.o.Cluster.On(cluster.TopicIntegrations, func() {
		if err := e.Reload(context.Background()); err != nil {
			e.log.Error("applying another node's integration change", "err", err)
		}
	})
	return nil
}

// reloadEvery is how often integrations are re-read anyway: a change whose
// broadcast was lost (the database briefly unreachable) applies within it.
const reloadEvery = 30 * time.Second

// every runs fn every d, and when wake (if not nil) signals, until Stop.
func (e *Engine) every(d time.Duration, wake <-chan struct{}, fn func()) {
	defer e.wg.Done()
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
		case <-wake:
		}
		fn()
	}
}

// Stop stops the queues after the events and sends in progress; what is
// still pending stays in the database for the next start.
func (e *Engine) Stop() {
	e.stopMu.Lock()
	select {
	case <-e.stop:
		e.stopMu.Unlock()
		return
	default:
	}
	close(e.stop)
	e.stopMu.Unlock()
	e.wg.Wait()
	// The queues are done: what they logged is written now.
	e.dlog.close()
}

// goBackground runs f on a goroutine Stop waits for; after Stop it does
// nothing.
func (e *Engine) goBackground(f func()) {
	e.stopMu.Lock()
	defer e.stopMu.Unlock()
	select {
	case <-e.stop:
		return
	default:
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		f()
	}()
}

// Reload re-reads the integrations from the store (after the API changed
// one): changes apply without a restart.
func (e *Engine) Reload(ctx context.Context) error {
	ins, err := e.st.Integrations().List(ctx)
	if err != nil {
		return fmt.Errorf("load integrations: %w", err)
	}
	for _, in := range ins {
		if err := e.opened(in); err != nil {
			return fmt.Errorf("load integrations: %w", err)
		}
	}
	e.reg.setIntegrations(ins)
	return nil
}

// Wake makes the queues look for work now (tests that move the clock, or a
// write the engine did not make itself).
func (e *Engine) Wake() {
	e.inbox.wakeUp()
	e.outbox.wakeUp()
	e.wakeInactivity()
	select {
	case e.pruneWake <- struct{}{}:
	default:
	}
}

func (e *Engine) assign(ctx context.Context) {
	e.assignMu.Lock()
	a := e.assigner
	e.assignMu.Unlock()
	if a != nil {
		a.Assign(ctx)
	}
}

// describeCache keeps plugins' Describe answers, which are static per
// plugin process: a plugin that starts again (perhaps a new executable) is
// described again.
type describeCache[T any] struct {
	mu sync.Mutex
	m  map[string]T
}

func (c *describeCache[T]) get(name string, describe func() (T, error)) (T, error) {
	c.mu.Lock()
	v, ok := c.m[name]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := describe()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]T{}
	}
	c.m[name] = v
	c.mu.Unlock()
	return v, nil
}

// cached returns what is known without asking the plugin.
func (c *describeCache[T]) cached(name string) (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[name]
	return v, ok
}

func (c *describeCache[T]) forget(name string) {
	c.mu.Lock()
	delete(c.m, name)
	c.mu.Unlock()
}

// channelInfo describes a channel plugin.
func (e *Engine) channelInfo(ctx context.Context, name string) (*pluginhost.ChannelInfo, error) {
	return e.channels.get(name, func() (*pluginhost.ChannelInfo, error) {
		ch, err := e.plug.Channel(name)
		if err != nil {
			return nil, err
		}
		return ch.Describe(ctx)
	})
}

// ChannelInfo is channelInfo for other packages (the API validates settings
// and shows webhook credentials with it).
func (e *Engine) ChannelInfo(ctx context.Context, name string) (*pluginhost.ChannelInfo, error) {
	return e.channelInfo(ctx, name)
}

func (e *Engine) assistantInfo(ctx context.Context, backend string) (*pluginhost.AssistantInfo, error) {
	return e.assistants.get(backend, func() (*pluginhost.AssistantInfo, error) {
		as, err := e.plug.Assistant(backend)
		if err != nil {
			return nil, err
		}
		return as.Describe(ctx)
	})
}

// backoff is the delay before retry number attempt (1-based).
func (e *Engine) backoff(attempt int) time.Duration {
	d := e.o.RetryBase << min(max(attempt-1, 0), 20)
	if d > e.o.RetryMax || d <= 0 {
		d = e.o.RetryMax
	}
	return d
}

// nodeName is this process's name in queue leases: unique per start, so a
// restarted process never mistakes its predecessor's leases for its own.
// NodeName is a name for this process unique among the nodes: host name,
// pid and a random suffix.
func NodeName() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// txEvent runs a transaction of processing an inbox row. It does not wait
// for the disk (store.Unsynced): the row was stored durably before its
// source was acknowledged, and it is marked processed in the transaction
// that records its effects, so a crash that loses this commit only has the
// row processed again (the assistant may be asked again; nothing was sent,
// since every send first commits its attempt durably, which syncs this
// commit too).
func (e *Engine) txEvent(ctx context.Context, fn func(store.Tx) error) error {
	return store.TxUnsynced(ctx, e.st, fn)
}

// unsyncedClaim claims in a transaction that does not wait for the disk:
// a claim lost in a crash is a void lease, and every transaction that
// completes or attempts a row checks its lease (on SQLite the next start
// voids every lease anyway).
func unsyncedClaim[T any](st store.Store, q func(store.Tx) store.Queue[T]) func(ctx context.Context, owner string, n int, lease time.Duration) ([]T, error) {
	return func(ctx context.Context, owner string, n int, lease time.Duration) ([]T, error) {
		var out []T
		err := store.TxUnsynced(ctx, st, func(tx store.Tx) error {
			var err error
			out, err = q(tx).Claim(ctx, owner, n, lease)
			return err
		})
		return out, err
	}
}

// publish sends a live event about a conversation.
func (e *Engine) publish(typ string, c *model.Conversation, data any) {
	e.bus.Publish(events.Event{Type: typ, Conversation: c.ID, Agent: c.Agent, Squad: c.Squad, Data: data})
}
