package server

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/conversa/conversa/core/engine"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/playground"
)

// The playground (CONTRACT §8): the test phone's API and the fake send APIs
// its built-in integrations point at. Without a playground none of it
// exists: the API answers 404.

// playgroundRoutes must be registered before the signed-in group: the
// phone is open to loopback while no agent exists.
func (s *Server) playgroundRoutes(api fiber.Router) {
	if s.o.Playground == nil {
		return
	}
	api.Get("/playground", s.playgroundGate, s.playgroundAdmin, s.playgroundInfo)
	api.Get("/playground/messages", s.playgroundGate, s.playgroundAdmin, s.playgroundThread)
	api.Post("/playground/messages", s.playgroundGate, s.playgroundAdmin, s.playgroundSend)
	s.app.All(playground.FakePrefix+"/meta/*", s.fakeMeta)
	s.app.All(playground.FakePrefix+"/zenvia/*", s.fakeZenvia)
}

const playgroundOpenKey = "playground_open"

// playgroundGate lets in, without a token, a request from this machine
// while nobody can sign in yet (the newcomer's first minutes); anyone else
// signs in.
func (s *Server) playgroundGate(c *fiber.Ctx) error {
	open, err := s.playgroundOpen(c)
	if err != nil {
		return err
	}
	if open {
		c.Locals(playgroundOpenKey, true)
		return c.Next()
	}
	return s.authenticate(c)
}

// playgroundAdmin: past the gate, only an admin (or the open phone).
func (s *Server) playgroundAdmin(c *fiber.Ctx) error {
	if open, _ := c.Locals(playgroundOpenKey).(bool); open {
		return c.Next()
	}
	return s.adminOnly(c)
}

// playgroundOpen reports whether the request comes from loopback, straight
// (not through a proxy, which would make everyone look local), while no
// agent exists at all.
func (s *Server) playgroundOpen(c *fiber.Ctx) (bool, error) {
	if s.agentsExist.Load() {
		return false, nil
	}
	if !c.Context().RemoteIP().IsLoopback() {
		return false, nil
	}
	for _, h := range []string{"X-Forwarded-For", "X-Real-Ip", "Forwarded"} {
		if c.Get(h) != "" {
			return false, nil
		}
	}
	all, err := s.o.Store.Agents().List(c.UserContext())
	if err != nil {
		return false, err
	}
	if len(all) > 0 {
		// Agents are never deleted: once one exists, the door stays shut.
		s.agentsExist.Store(true)
		return false, nil
	}
	return true, nil
}

func (s *Server) playgroundInfo(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{
		"channels":     []string{playground.Meta, playground.Zenvia},
		"integrations": fiber.Map{playground.Meta: playground.IntegrationOf(playground.Meta), playground.Zenvia: playground.IntegrationOf(playground.Zenvia)},
		"users":        s.o.Playground.Users(),
	})
}

func (s *Server) playgroundThread(c *fiber.Ctx) error {
	th, err := s.o.Playground.Messages(c.Query("channel"), c.Query("user"))
	if err != nil {
		return s.playgroundError(err)
	}
	return c.JSON(th)
}

func (s *Server) playgroundSend(c *fiber.Ctx) error {
	// A JSON body cannot come from another site's form: with no token on
	// the open phone, this is what keeps other pages from posting to it.
	if ct, _, _ := mime.ParseMediaType(c.Get(fiber.HeaderContentType)); ct != fiber.MIMEApplicationJSON {
		return errorf(fiber.StatusUnsupportedMediaType, "unsupported_media_type", "the body must be JSON (Content-Type: application/json)")
	}
	var in playground.Input
	if err := decodeJSON(c, &in, bodyRules{shape: `{"channel", "user", "kind", "text", "url", "emoji", "mid"}`, strict: true}); err != nil {
		return err
	}
	mid, err := s.o.Playground.Send(c.UserContext(), in)
	if err != nil {
		return s.playgroundError(err)
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"mid": mid})
}

func (s *Server) playgroundError(err error) error {
	var fe *playground.FieldError
	switch {
	case errors.As(err, &fe):
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: fe.Field, Message: fe.Error()}
	case errors.Is(err, playground.ErrNotReady), errors.Is(err, engine.ErrUnknownIntegration), errors.Is(err, engine.ErrChannelDown):
		s.log.Error("playground message not delivered", "err", err)
		return errorf(fiber.StatusServiceUnavailable, "unavailable",
			"the playground's channel is not ready (its plugin may be starting or down); see the server log and try again")
	}
	return err
}

// fakeMeta and fakeZenvia are the providers' send APIs for the built-in
// integrations; the channel plugins call them over loopback, with the
// integration's token.
func (s *Server) fakeMeta(c *fiber.Ctx) error {
	return s.fake(c, s.o.Playground.FakeMeta(fakeRequest(c, playground.FakePrefix+"/meta")))
}

func (s *Server) fakeZenvia(c *fiber.Ctx) error {
	return s.fake(c, s.o.Playground.FakeZenvia(fakeRequest(c, playground.FakePrefix+"/zenvia")))
}

func (s *Server) fake(c *fiber.Ctx, res playground.Response) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Status(res.Status).Send(res.Body)
}

func fakeRequest(c *fiber.Ctx, prefix string) playground.Request {
	h := http.Header{}
	for k, vs := range c.GetReqHeaders() {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	q, _ := url.ParseQuery(string(c.Request().URI().QueryString()))
	return playground.Request{Method: c.Method(), Path: strings.TrimPrefix(c.Path(), prefix), Query: q, Header: h, Body: c.Body()}
}

// builtIn reports whether an integration is the playground's, and hidden:
// the playground is off.
func (s *Server) builtIn(in *model.Integration) (builtIn, hidden bool) {
	if in == nil || in.Source != model.SourcePlayground {
		return false, false
	}
	return true, s.o.Playground == nil
}

func errBuiltIn(id string) error {
	return &apiError{Status: fiber.StatusForbidden, Code: "playground", Field: "id",
		Message: id + " is the playground's built-in test integration: it cannot be changed or deleted, and never reaches a real provider. " +
			"Create an integration of your own for Instagram; [server] playground = false turns the playground off."}
}
