package server

import "github.com/gofiber/fiber/v2"

// typing shows the contact that the agent is typing, where the channel has
// that: POST /api/v1/conversations/{id}/typing → 204. Best effort: the
// answer never waits for, or depends on, the provider.
func (s *Server) typing(c *fiber.Ctx) error {
	conv, err := s.actionable(c)
	if err != nil {
		return err
	}
	s.o.Engine.Typing(conv.ID)
	return c.SendStatus(fiber.StatusNoContent)
}
