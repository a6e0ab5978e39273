package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/conversa/conversa/core/engine"
	"github.com/conversa/conversa/core/metrics"
)

// webhook receives a source's events. The answer goes out only after the
// events are committed to the inbox; a refused or unparsable request stores
// nothing.
func (s *Server) webhook(c *fiber.Ctx) error {
	start := time.Now()
	id := c.Params("integration")
	req := engine.WebhookRequest{
		Method:  c.Method(),
		Path:    c.Path(),
		Query:   string(c.Request().URI().QueryString()),
		Headers: c.GetReqHeaders(),
		Body:    c.Body(),
	}
	res, err := s.o.Engine.Webhook(c.UserContext(), id, req)
	switch {
	case errors.Is(err, engine.ErrUnknownIntegration):
		// One label for every id that names no integration: a stranger's
		// paths add no series.
		s.metrics.Webhook(metrics.Unknown, "not_found", time.Since(start))
		return c.Status(fiber.StatusNotFound).SendString("unknown integration\n")
	case errors.Is(err, engine.ErrChannelDown):
		s.metrics.Webhook(id, "unavailable", time.Since(start))
		s.log.Error("webhook not accepted: channel plugin unavailable", "integration", id, "err", err)
		c.Set(fiber.HeaderRetryAfter, "30")
		return c.Status(fiber.StatusServiceUnavailable).SendString("channel unavailable, retry later\n")
	case err != nil:
		s.metrics.Webhook(id, "error", time.Since(start))
		return err
	}
	switch {
	case res.Status >= 400:
		s.metrics.Webhook(id, "refused", time.Since(start))
		s.log.Warn("webhook refused", "integration", id, "status", res.Status, "reason", res.Refusal, "ip", s.clientIP(c))
	default:
		s.metrics.Webhook(id, "accepted", time.Since(start))
		s.metrics.Events(res.Stored, res.Duplicates)
	}
	if res.ContentType != "" {
		c.Set(fiber.HeaderContentType, res.ContentType)
	}
	if len(res.Body) == 0 && res.Status >= 400 {
		return c.Status(res.Status).SendString(http.StatusText(res.Status) + "\n")
	}
	return c.Status(res.Status).Send(res.Body)
}
