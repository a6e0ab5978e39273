package server

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"github.com/conversa/conversa/core/agents"
	"github.com/conversa/conversa/core/cluster"
	"github.com/conversa/conversa/core/engine"
	"github.com/conversa/conversa/core/media"
	"github.com/conversa/conversa/core/metrics"
	"github.com/conversa/conversa/core/playground"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/scripting"
	"github.com/conversa/conversa/core/store"
)

// Options wires the server to the rest of Conversa.
type Options struct {
	Engine  *engine.Engine
	Store   store.Store
	Plugins *pluginhost.Host
	Agents  *agents.Service
	Scripts Scripts
	Logger  *slog.Logger
	// Squads are the configured squads (others come from integrations and
	// agents).
	Squads []string
	// SecureCookies marks the session cookie Secure (public URL is https).
	SecureCookies bool
	BodyLimitKB   int
	// Version is reported by /healthz.
	Version string
	// Clock, when movable (only in a binary built with the
	// conversa_testclock tag, for end-to-end tests; see core/cmd/conversa's
	// clock), is exposed at POST /debug/clock.
	Clock Clock
	// Cluster is the nodes sharing the database (default: this one alone):
	// failed sign-ins are counted across them.
	Cluster cluster.Cluster
	// Media keeps agents' uploads, served under PublicURL/media/.
	Media     *media.Library
	PublicURL string
	// Playground is the test phone (nil while server.playground is off).
	Playground *playground.Playground
	// Metrics is what /metrics shows (nil: a registry of the server's own).
	Metrics *metrics.Metrics
	// MetricsToken, when set, is the bearer token GET /metrics needs.
	MetricsToken string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed ([server] trusted_proxies).
	TrustedProxies []netip.Prefix
}

// Scripts reports the operator's Lua scripts (core/scripting), and runs
// their cases for the console's script page.
type Scripts interface {
	Statuses() []scripting.Status
	Dir() string
	Timeout() time.Duration
	Reload()
	TestCases(ctx context.Context, fsys fs.FS) ([]scripting.CaseResult, error)
}

// Clock is a server clock tests may move forward.
type Clock interface {
	Movable() bool
	Advance(d time.Duration)
}

// Server is the HTTP server.
type Server struct {
	o       Options
	app     *fiber.App
	log     *slog.Logger
	metrics *metrics.Metrics
	logins  cluster.Throttle
	// sseStop ends the live event streams at shutdown; streams counts
	// them (their connections are taken over from fasthttp, which no
	// longer waits for them).
	sseStop  chan struct{}
	stopOnce sync.Once
	streams  atomic.Int64
	// agentsExist: someone can sign in (the open playground closes).
	agentsExist atomic.Bool
}

// New builds the app and its routes.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Cluster == nil {
		o.Cluster = &cluster.Local{}
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	s := &Server{o: o, log: o.Logger.With("component", "http"), metrics: o.Metrics, sseStop: make(chan struct{}),
		logins: o.Cluster.Throttle()}
	s.watchState()
	s.app = fiber.New(fiber.Config{
		// Values from the request context are copied, never aliased: nothing
		// taken from a request can change under a goroutine that outlives it.
		Immutable:             true,
		BodyLimit:             o.BodyLimitKB * 1024,
		ReadTimeout:           15 * time.Second,
		IdleTimeout:           75 * time.Second,
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
		AppName:               "conversa",
	})
	s.app.Server().HeaderReceived = s.requestConfig
	s.app.Use(recover.New(recover.Config{EnableStackTrace: true, StackTraceHandler: func(c *fiber.Ctx, e any) {
		s.log.Error("panic in handler", "path", c.Path(), "panic", e)
	}}))
	s.routes()
	return s
}

// App exposes the Fiber app (tests drive it with app.Test).
func (s *Server) App() *fiber.App { return s.app }

func (s *Server) routes() {
	s.app.Get("/healthz", s.healthz)
	s.app.Get("/metrics", s.metricsAuth, s.serveMetrics())
	s.app.Get("/webhooks/:integration", s.webhook)
	s.app.Post("/webhooks/:integration", s.webhook)
	s.app.Get("/media/:token/:name", s.serveMedia)
	s.app.All("/media", s.mediaNotFound)
	s.app.All("/media/*", s.mediaNotFound)

	api := s.app.Group("/api/v1")
	api.Get("/openapi.json", s.openapi)
	api.Post("/login", s.login)
	s.playgroundRoutes(api)
	api.Get("/setup", s.setupNeeded)
	api.Post("/setup", s.setup)
	auth := api.Group("", s.authenticate)
	auth.Post("/logout", s.logout)
	auth.Get("/me", s.me)
	auth.Put("/me/status", s.setMyStatus)
	auth.Get("/events", s.liveEvents)
	auth.Get("/conversations", s.listConversations)
	auth.Get("/conversations/:id", s.getConversation)
	auth.Post("/conversations/:id/messages", s.postMessage)
	auth.Post("/conversations/:id/messages/:message_id/retry", s.retryMessage)
	auth.Post("/conversations/:id/end", s.endConversation)
	auth.Post("/conversations/:id/read", s.markRead)
	auth.Post("/conversations/:id/transfer", s.transfer)
	auth.Put("/conversations/:id/labels", s.setLabels)
	auth.Post("/conversations/:id/assign", s.assign)
	auth.Get("/labels", s.listLabels)
	auth.Get("/contacts/:id", s.getContact)
	auth.Get("/canned_responses", s.listCanned)
	auth.Post("/conversations/:id/typing", s.typing)
	auth.Post("/uploads", s.upload)
	auth.Get("/squads", s.listSquads)
	auth.Get("/queues", s.queues)

	admin := auth.Group("", s.adminOnly)
	admin.Get("/integrations", s.listIntegrations)
	admin.Post("/integrations", s.createIntegration)
	admin.Get("/integrations/:id", s.getIntegration)
	admin.Put("/integrations/:id", s.updateIntegration)
	admin.Delete("/integrations/:id", s.deleteIntegration)
	admin.Get("/agents", s.listAgents)
	admin.Post("/agents", s.createAgent)
	admin.Put("/agents/:id", s.updateAgent)
	admin.Put("/agents/:id/status", s.setAgentStatus)
	admin.Get("/plugins", s.listPlugins)
	admin.Get("/scripts", s.listScripts)
	s.scriptRoutes(admin)
	admin.Get("/assistants", s.listAssistants)
	admin.Get("/channels", s.listChannels)
	admin.Post("/canned_responses", s.createCanned)
	admin.Put("/canned_responses/:id", s.updateCanned)
	admin.Delete("/canned_responses/:id", s.deleteCanned)
	admin.Get("/reports", s.report)
	admin.Get("/audit", s.listAudit)
	admin.Get("/integrations/:id/deliveries", s.listDeliveries)
	api.Use(func(c *fiber.Ctx) error {
		return errorf(fiber.StatusNotFound, "not_found", "no such API endpoint: "+c.Method()+" "+c.Path())
	})

	if s.o.Clock != nil && s.o.Clock.Movable() {
		s.app.Post("/debug/clock", s.advanceClock)
	}
	// Everything else is the console.
	s.app.Use(s.console)
}

// advanceClock moves a test server's clock: ?seconds=N.
func (s *Server) advanceClock(c *fiber.Ctx) error {
	secs := c.QueryInt("seconds", 0)
	if secs <= 0 {
		return errorf(fiber.StatusBadRequest, "bad_request", "seconds must be a positive integer")
	}
	s.o.Clock.Advance(time.Duration(secs) * time.Second)
	s.o.Engine.Wake()
	if s.o.Agents != nil {
		s.o.Agents.Wake()
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting requests and waits for the ones in flight, at
// most until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.sseStop) })
	err := s.app.ShutdownWithContext(ctx)
	for s.streams.Load() > 0 {
		select {
		case <-ctx.Done():
			return err
		case <-time.After(10 * time.Millisecond):
		}
	}
	return err
}

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok", "version": s.o.Version})
}

// apiError is the JSON error body of CONTRACT §5.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *apiError) Error() string { return e.Message }

func errorf(status int, code, msg string) *apiError {
	return &apiError{Status: status, Code: code, Message: msg}
}

// errorHandler is the one place errors become HTTP answers. Internal errors
// are logged and answered with a generic message: their text never reaches a
// client.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	var ae *apiError
	var fe *fiber.Error
	var ve *validationError
	switch {
	case errors.As(err, &ve):
		return c.Status(ve.Status).JSON(fiber.Map{"error": ve})
	case errors.As(err, &ae):
	case errors.As(err, &fe) && fe.Code == fiber.StatusRequestEntityTooLarge:
		ae = s.tooLarge(c)
		s.webhookTooLarge(c, ae)
	case errors.As(err, &fe):
		ae = errorf(fe.Code, codeOf(fe.Code), fe.Message)
	case errors.Is(err, store.ErrNotFound):
		ae = errorf(fiber.StatusNotFound, "not_found", "not found")
	case errors.Is(err, store.ErrUnavailable):
		// Nothing was stored: a webhook source delivers again, a console
		// retries.
		s.log.Error("request failed: database unavailable", "method", c.Method(), "path", c.Path(), "err", err)
		c.Set(fiber.HeaderRetryAfter, "5")
		ae = errorf(fiber.StatusServiceUnavailable, "unavailable", "temporarily unavailable; try again shortly")
	default:
		s.log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
		ae = errorf(fiber.StatusInternalServerError, "internal", "internal error")
	}
	return c.Status(ae.Status).JSON(fiber.Map{"error": ae})
}

func codeOf(status int) string {
	switch status {
	case fiber.StatusBadRequest:
		return "bad_request"
	case fiber.StatusUnauthorized:
		return "unauthorized"
	case fiber.StatusForbidden:
		return "forbidden"
	case fiber.StatusNotFound:
		return "not_found"
	case fiber.StatusMethodNotAllowed:
		return "method_not_allowed"
	case fiber.StatusConflict:
		return "conflict"
	case fiber.StatusRequestEntityTooLarge:
		return "too_large"
	case fiber.StatusTooManyRequests:
		return "rate_limited"
	case fiber.StatusServiceUnavailable:
		return "unavailable"
	default:
		return "error"
	}
}
