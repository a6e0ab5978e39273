package server

import (
	"context"
	"crypto/subtle"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/conversa/conversa/core/metrics"
	"github.com/conversa/conversa/core/pluginhost"
)

// watchState adds the gauges read at each scrape: backlogs, leadership and
// plugin health.
func (s *Server) watchState() {
	st := metrics.State{Leader: s.o.Cluster.Leader}
	if s.o.Store != nil {
		st.InboxBacklog = func(ctx context.Context) (int, error) { return s.o.Store.Inbox().Backlog(ctx) }
		st.OutboxBacklog = func(ctx context.Context) (int, error) { return s.o.Store.Outbox().Backlog(ctx) }
	}
	if s.o.Plugins != nil {
		st.Plugins = func() []metrics.Plugin {
			var out []metrics.Plugin
			for _, p := range s.o.Plugins.Statuses() {
				out = append(out, metrics.Plugin{Name: p.Name, Up: p.State == pluginhost.StateRunning, Restarts: p.Restarts})
			}
			return out
		}
	}
	s.metrics.Watch(st)
}

// metricsAuth lets a scrape through when [server] metrics_token is empty or
// the request carries it as a bearer token.
func (s *Server) metricsAuth(c *fiber.Ctx) error {
	if s.o.MetricsToken == "" {
		return c.Next()
	}
	got, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.o.MetricsToken)) != 1 {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="metrics"`)
		return errorf(fiber.StatusUnauthorized, "unauthorized", "GET /metrics needs Authorization: Bearer and the [server] metrics_token")
	}
	return c.Next()
}

// serveMetrics is the registry's own handler.
func (s *Server) serveMetrics() fiber.Handler { return adaptor.HTTPHandler(s.metrics.Handler()) }
