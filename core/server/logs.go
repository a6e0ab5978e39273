package server

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/conversa/conversa/core/engine"
	"github.com/conversa/conversa/core/store"
)

// actor is the signed-in caller making a change, for the audit log, from
// the client's address (clientIP: behind trusted proxies, the client's).
func (s *Server) actor(c *fiber.Ctx) *store.Actor {
	return &store.Actor{Login: s.caller(c).agent.ID, IP: s.clientIP(c)}
}

// logLimit reads ?limit=N (1..1000; default 100).
func logLimit(c *fiber.Ctx) (int, error) {
	if c.Query("limit") == "" {
		return 0, nil
	}
	n := c.QueryInt("limit", -1)
	if n < 1 || n > 1000 {
		return 0, &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "limit",
			Message: "limit must be a whole number from 1 to 1000"}
	}
	return n, nil
}

// listAudit: GET /api/v1/audit?limit=N[&actor=LOGIN][&action=ACTION],
// newest first. action matches that action or those under it ("agent").
func (s *Server) listAudit(c *fiber.Ctx) error {
	limit, err := logLimit(c)
	if err != nil {
		return err
	}
	entries, err := s.o.Store.Audit().List(c.UserContext(), store.AuditFilter{Limit: limit,
		Actor: strings.TrimSpace(c.Query("actor")), Action: strings.TrimSpace(c.Query("action"))})
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []*store.AuditEntry{}
	}
	return c.JSON(fiber.Map{"entries": entries})
}

// deliveryOutcomes are the outcomes a filter may name.
var deliveryOutcomes = map[string]bool{
	engine.OutcomeStored: true, engine.OutcomeDuplicate: true, engine.OutcomeIgnored: true, engine.OutcomeVerified: true,
	engine.OutcomeUnauthorized: true, engine.OutcomeMalformed: true, engine.OutcomeTooLarge: true,
	engine.OutcomeDisabled: true, engine.OutcomeUnavailable: true, engine.OutcomeError: true,
	engine.OutcomeSent: true, engine.OutcomeRetry: true, engine.OutcomeFailed: true, engine.OutcomeUnknown: true,
}

// listDeliveries: GET /api/v1/integrations/{id}/deliveries?limit=N
// [&message_id=ID][&outcome=O][&direction=in|out], newest first.
func (s *Server) listDeliveries(c *fiber.Ctx) error {
	id := c.Params("id")
	in := s.o.Engine.Integration(id)
	if _, hidden := s.builtIn(in); in == nil || hidden {
		return errorf(fiber.StatusNotFound, "not_found", "no such integration")
	}
	limit, err := logLimit(c)
	if err != nil {
		return err
	}
	f := store.DeliveryFilter{Integration: id, Limit: limit, MessageID: strings.TrimSpace(c.Query("message_id")),
		Outcome: c.Query("outcome"), Direction: c.Query("direction")}
	if f.Outcome != "" && !deliveryOutcomes[f.Outcome] {
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "outcome", Message: "no such outcome: " + f.Outcome}
	}
	if f.Direction != "" && f.Direction != store.DeliveryIn && f.Direction != store.DeliveryOut {
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "direction", Message: `direction must be "in" or "out"`}
	}
	ds, err := s.o.Engine.Deliveries(c.UserContext(), f)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"deliveries": ds})
}

// webhookTooLarge logs a webhook refused for its size (the body was never
// read) in its integration's delivery log.
func (s *Server) webhookTooLarge(c *fiber.Ctx, ae *apiError) {
	id, ok := strings.CutPrefix(c.Path(), "/webhooks/")
	if !ok || id == "" || strings.Contains(id, "/") || s.o.Engine == nil {
		return
	}
	s.o.Engine.WebhookTooLarge(id, engine.WebhookRequest{Method: c.Method(), Path: c.Path(),
		Query: string(c.Request().URI().QueryString()), Headers: c.GetReqHeaders()}, ae.Status, ae.Message)
}
