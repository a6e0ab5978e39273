package server

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/conversa/conversa/core/agents"
	"github.com/conversa/conversa/core/model"
)

// setupNeeded tells the console whether to show the setup page: GET
// /api/v1/setup → {"needed": true} while no agent exists. Anyone may ask.
func (s *Server) setupNeeded(c *fiber.Ctx) error {
	needed, err := s.o.Agents.SetupNeeded(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"needed": needed})
}

type setupRequest struct {
	Token    string `json:"token"`
	Login    string `json:"login"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

// setup creates the first admin with a setup token printed at start
// (CONTRACT §9) and signs them in like POST /login: 201 with the token, the
// CSRF token and the agent, and the session cookie.
func (s *Server) setup(c *fiber.Ctx) error {
	var req setupRequest
	if err := decodeJSON(c, &req, bodyRules{shape: `{"token", "login", "name", "password"}`}); err != nil {
		return err
	}
	a := &model.Agent{ID: req.Login, Name: req.Name}
	l, err := s.o.Agents.Setup(c.UserContext(), req.Token, a, req.Password, s.clientIP(c))
	switch {
	case errors.Is(err, agents.ErrSetupDone):
		return errorf(fiber.StatusForbidden, "setup_done", err.Error())
	case errors.Is(err, agents.ErrBadSetupToken):
		s.log.Warn("setup refused: wrong token", "ip", s.clientIP(c))
		return &apiError{Status: fiber.StatusForbidden, Code: "bad_setup_token", Message: err.Error(), Field: "token"}
	case err != nil:
		return s.agentError(err)
	}
	return s.signedIn(c, fiber.StatusCreated, l)
}
