package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Unknown is the one integration label of a webhook for an id that is not
// a configured, enabled integration: whatever a stranger puts in the path
// adds no series.
const Unknown = "unknown"

// Buckets of each histogram, in seconds. Each spans what is normal for the
// thing measured and a few steps past its limit, so a slow tail shows.
var (
	// A webhook is answered once its events are committed: a plugin call
	// and a database commit, a few milliseconds; sources give up after
	// seconds (Meta at 20 s).
	WebhookBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20}
	// A plugin call is sub-millisecond for a local gRPC round trip
	// (Describe, HandleWebhook) and up to the send (15 s) or converse
	// (20 s) deadline for one that waits on a provider or a model.
	PluginCallBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20}
	// A Lua hook call is tens of microseconds; its limit is
	// [scripts] timeout_ms (50 ms by default).
	HookBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25}
	// A send is one provider API call (Meta and Zenvia answer in well under
	// a second), bounded at 15 s.
	SendBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30}
	// A reply comes in about a second from an assistant, in minutes from
	// a person; a day is the window for automated replies.
	ReplyBuckets = []float64{.25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400}
)

// Metrics is Conversa's own Prometheus registry (never the global default:
// two servers in one process, as in tests, count apart) and what feeds it.
// Its methods are safe for concurrent use; a nil *Metrics records nothing.
type Metrics struct {
	reg            *prometheus.Registry
	webhooks       *prometheus.CounterVec
	webhookSeconds *prometheus.HistogramVec
	stored         prometheus.Counter
	duplicates     prometheus.Counter
	pluginSeconds  *prometheus.HistogramVec
	hookSeconds    *prometheus.HistogramVec
	sendSeconds    *prometheus.HistogramVec
	replySeconds   *prometheus.HistogramVec
}

// New makes a registry with the Go runtime's and the process's collectors
// and Conversa's own counters and histograms.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conversa_webhooks_total",
			Help: "Webhook requests by integration (\"unknown\" for an id that is not a configured, enabled integration) and result.",
		}, []string{"integration", "result"}),
		webhookSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "conversa_webhook_duration_seconds",
			Help:    "Time to answer a webhook request (its events committed), by integration and result.",
			Buckets: WebhookBuckets,
		}, []string{"integration", "result"}),
		stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conversa_events_stored_total",
			Help: "Events committed to the inbox.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "conversa_events_duplicate_total",
			Help: "Events received again and stored once.",
		}),
		pluginSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "conversa_plugin_call_duration_seconds",
			Help:    "Time of one call to a plugin, by plugin and method.",
			Buckets: PluginCallBuckets,
		}, []string{"plugin", "method"}),
		hookSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "conversa_lua_hook_duration_seconds",
			Help:    "Time of one Lua hook call (route, convert, reply), its fallbacks included.",
			Buckets: HookBuckets,
		}, []string{"hook"}),
		sendSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "conversa_send_duration_seconds",
			Help:    "Time of one send attempt through a channel, by channel and outcome (sent, retry, failed, unknown, not_attempted).",
			Buckets: SendBuckets,
		}, []string{"channel", "outcome"}),
		replySeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "conversa_reply_latency_seconds",
			Help:    "Time from the receipt of a contact's message to the provider accepting the first reply to it, by integration.",
			Buckets: ReplyBuckets,
		}, []string{"integration"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.webhooks, m.webhookSeconds, m.stored, m.duplicates,
		m.pluginSeconds, m.hookSeconds, m.sendSeconds, m.replySeconds,
	)
	return m
}

// Webhook counts one webhook request and how long it took. integration
// must be a configured integration's id or Unknown.
func (m *Metrics) Webhook(integration, result string, d time.Duration) {
	if m == nil {
		return
	}
	m.webhooks.WithLabelValues(integration, result).Inc()
	m.webhookSeconds.WithLabelValues(integration, result).Observe(d.Seconds())
}

// Events counts the events a webhook committed.
func (m *Metrics) Events(stored, duplicates int) {
	if m == nil {
		return
	}
	m.stored.Add(float64(stored))
	m.duplicates.Add(float64(duplicates))
}

// PluginCall records one call to a plugin.
func (m *Metrics) PluginCall(plugin, method string, d time.Duration) {
	if m == nil {
		return
	}
	m.pluginSeconds.WithLabelValues(plugin, method).Observe(d.Seconds())
}

// Hook records one Lua hook call.
func (m *Metrics) Hook(hook string, d time.Duration) {
	if m == nil {
		return
	}
	m.hookSeconds.WithLabelValues(hook).Observe(d.Seconds())
}

// Send records one send attempt.
func (m *Metrics) Send(channel, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.sendSeconds.WithLabelValues(channel, outcome).Observe(d.Seconds())
}

// Reply records the wait of one contact's message for its first reply.
func (m *Metrics) Reply(integration string, d time.Duration) {
	if m == nil {
		return
	}
	m.replySeconds.WithLabelValues(integration).Observe(d.Seconds())
}

// Forget drops every series of a deleted integration.
func (m *Metrics) Forget(integration string) {
	if m == nil || integration == Unknown {
		return
	}
	l := prometheus.Labels{"integration": integration}
	m.webhooks.DeletePartialMatch(l)
	m.webhookSeconds.DeletePartialMatch(l)
	m.replySeconds.DeletePartialMatch(l)
}

// State is what is read at scrape time rather than counted.
type State struct {
	// InboxBacklog and OutboxBacklog count the rows waiting; an error
	// leaves the gauge out of that scrape.
	InboxBacklog, OutboxBacklog func(context.Context) (int, error)
	// Leader reports whether this node runs the cluster-wide timers.
	Leader func() bool
	// Plugins reports every plugin (nil: no plugin host).
	Plugins func() []Plugin
}

// Plugin is one plugin's health.
type Plugin struct {
	Name     string
	Up       bool
	Restarts int
}

// Watch adds the scrape-time gauges of s. Call it once.
func (m *Metrics) Watch(s State) {
	m.reg.MustRegister(&stateCollector{s: s})
}

// Handler serves the registry in the Prometheus text (or OpenMetrics,
// when asked for) format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Gatherer exposes the registry (tests count series).
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

var (
	inboxDesc    = prometheus.NewDesc("conversa_inbox_pending", "Received events not yet processed.", nil, nil)
	outboxDesc   = prometheus.NewDesc("conversa_outbox_pending", "Messages waiting to be sent.", nil, nil)
	leaderDesc   = prometheus.NewDesc("conversa_cluster_leader", "Whether this node runs the cluster-wide timers (always 1 on SQLite).", nil, nil)
	upDesc       = prometheus.NewDesc("conversa_plugin_up", "Whether a plugin process is running.", []string{"plugin"}, nil)
	restartsDesc = prometheus.NewDesc("conversa_plugin_restarts_total", "Restarts of a plugin after it crashed.", []string{"plugin"}, nil)
)

// scrapeTimeout bounds the backlog queries of one scrape.
const scrapeTimeout = 2 * time.Second

type stateCollector struct{ s State }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{inboxDesc, outboxDesc, leaderDesc, upDesc, restartsDesc} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	backlog := func(d *prometheus.Desc, f func(context.Context) (int, error)) {
		if f == nil {
			return
		}
		if n, err := f(ctx); err == nil {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(n))
		}
	}
	backlog(inboxDesc, c.s.InboxBacklog)
	backlog(outboxDesc, c.s.OutboxBacklog)
	if c.s.Leader != nil {
		ch <- prometheus.MustNewConstMetric(leaderDesc, prometheus.GaugeValue, boolValue(c.s.Leader()))
	}
	if c.s.Plugins != nil {
		for _, p := range c.s.Plugins() {
			ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, boolValue(p.Up), p.Name)
			ch <- prometheus.MustNewConstMetric(restartsDesc, prometheus.CounterValue, float64(p.Restarts), p.Name)
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
