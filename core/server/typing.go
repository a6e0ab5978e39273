package server

import (
	"github.com/gofiber/fiber/v2"

	"github.com/conversa/conversa/core/model"
)

// typing shows the contact that the agent is typing, where the channel has
// that: POST /api/v1/conversations/{id}/typing → 204. Best effort: the
// answer never waits for, or depends on, the provider.
func (s *Server) typing(c *fiber.Ctx) error {
	conv, err := s.conversationFor(c)
	if err != nil {
		return err
	}
	if conv.State == model.StateEnded {
		return errorf(fiber.StatusConflict, "ended", "the conversation has ended")
	}
	if err := s.mayAct(c, conv); err != nil {
		return err
	}
	s.o.Engine.Typing(conv.ID)
	return c.SendStatus(fiber.StatusNoContent)
}
