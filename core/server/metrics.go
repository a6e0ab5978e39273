package server

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// metrics counts what Prometheus scrapes from /metrics (text format 0.0.4).
// Backlogs and plugin states are read at scrape time.
type metrics struct {
	mu       sync.Mutex
	webhooks map[[2]string]uint64 // integration, result
	stored   uint64
	dups     uint64
}

func newMetrics() *metrics { return &metrics{webhooks: map[[2]string]uint64{}} }

func (m *metrics) webhook(integration, result string) {
	m.mu.Lock()
	m.webhooks[[2]string{integration, result}]++
	m.mu.Unlock()
}

func (m *metrics) events(stored, dups int) {
	m.mu.Lock()
	m.stored += uint64(stored)
	m.dups += uint64(dups)
	m.mu.Unlock()
}

func (s *Server) serveMetrics(c *fiber.Ctx) error {
	var b strings.Builder
	m := s.metrics
	m.mu.Lock()
	keys := make([][2]string, 0, len(m.webhooks))
	for k := range m.webhooks {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	b.WriteString("# HELP conversa_webhooks_total Webhook requests by integration and result.\n# TYPE conversa_webhooks_total counter\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "conversa_webhooks_total{integration=%q,result=%q} %d\n", k[0], k[1], m.webhooks[k])
	}
	fmt.Fprintf(&b, "# HELP conversa_events_stored_total Events committed to the inbox.\n# TYPE conversa_events_stored_total counter\nconversa_events_stored_total %d\n", m.stored)
	fmt.Fprintf(&b, "# HELP conversa_events_duplicate_total Events received again and stored once.\n# TYPE conversa_events_duplicate_total counter\nconversa_events_duplicate_total %d\n", m.dups)
	m.mu.Unlock()

	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if n, err := s.o.Store.Inbox().Backlog(ctx); err == nil {
		fmt.Fprintf(&b, "# HELP conversa_inbox_pending Received events not yet processed.\n# TYPE conversa_inbox_pending gauge\nconversa_inbox_pending %d\n", n)
	}
	if n, err := s.o.Store.Outbox().Backlog(ctx); err == nil {
		fmt.Fprintf(&b, "# HELP conversa_outbox_pending Messages waiting to be sent.\n# TYPE conversa_outbox_pending gauge\nconversa_outbox_pending %d\n", n)
	}
	leader := 0
	if s.o.Cluster.Leader() {
		leader = 1
	}
	fmt.Fprintf(&b, "# HELP conversa_cluster_leader Whether this node runs the cluster-wide timers (always 1 on SQLite).\n# TYPE conversa_cluster_leader gauge\nconversa_cluster_leader %d\n", leader)
	if s.o.Plugins != nil {
		b.WriteString("# HELP conversa_plugin_up Whether a plugin process is running.\n# TYPE conversa_plugin_up gauge\n")
		b.WriteString("# HELP conversa_plugin_restarts_total Restarts of a plugin after it crashed.\n# TYPE conversa_plugin_restarts_total counter\n")
		for _, p := range s.o.Plugins.Statuses() {
			up := 0
			if p.State == "running" {
				up = 1
			}
			fmt.Fprintf(&b, "conversa_plugin_up{plugin=%q} %d\nconversa_plugin_restarts_total{plugin=%q} %d\n", p.Name, up, p.Name, p.Restarts)
		}
	}
	c.Set(fiber.HeaderContentType, "text/plain; version=0.0.4")
	return c.SendString(b.String())
}
