package server

import (
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/conversa/conversa/core/engine"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// conversationFor loads a conversation the caller may see: admins see all,
// agents only those assigned to them.
func (s *Server) conversationFor(c *fiber.Ctx) (*model.Conversation, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil {
		return nil, errorf(fiber.StatusNotFound, "not_found", "no such conversation")
	}
	conv, err := s.o.Store.Conversations().Get(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(fiber.StatusNotFound, "not_found", "no such conversation")
	}
	if err != nil {
		return nil, err
	}
	a := s.caller(c).agent
	if a.Role != model.RoleAdmin && conv.Agent != a.ID {
		return nil, errorf(fiber.StatusNotFound, "not_found", "no such conversation")
	}
	return conv, nil
}

// mayAct: only the assigned agent, or an admin, may reply or End.
func (s *Server) mayAct(c *fiber.Ctx, conv *model.Conversation) error {
	a := s.caller(c).agent
	if a.Role == model.RoleAdmin || (conv.Agent == a.ID && conv.State == model.StateAssigned) {
		return nil
	}
	return errorf(fiber.StatusForbidden, "forbidden", "only the assigned agent or an admin may do this")
}

func (s *Server) listConversations(c *fiber.Ctx) error {
	a := s.caller(c).agent
	f := store.ConversationFilter{State: c.Query("state"), Integration: c.Query("integration"), Search: searchTerm(c.Query("q")),
		Limit: c.QueryInt("limit", 100)}
	switch f.State {
	case "", model.StateBot, model.StateQueued, model.StateAssigned, model.StateEnded:
	default:
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "state",
			Message: "state must be bot, queued, assigned or ended"}
	}
	if a.Role != model.RoleAdmin {
		f.Agent = a.ID
	} else if ag := c.Query("agent"); ag != "" {
		f.Agent = ag
	}
	convs, err := s.o.Store.Conversations().List(c.UserContext(), f)
	if err != nil {
		return err
	}
	ids := make([]int64, len(convs))
	for i, cv := range convs {
		ids[i] = cv.ID
	}
	unread, err := s.o.Store.Conversations().Unread(c.UserContext(), ids)
	if err != nil {
		return err
	}
	for _, cv := range convs {
		cv.Unread = unread[cv.ID]
	}
	if convs == nil {
		convs = []*model.Conversation{}
	}
	return c.JSON(fiber.Map{"conversations": convs})
}

func (s *Server) getConversation(c *fiber.Ctx) error {
	conv, err := s.conversationFor(c)
	if err != nil {
		return err
	}
	msgs, err := s.o.Store.Messages().List(c.UserContext(), conv.ID)
	if err != nil {
		return err
	}
	if msgs == nil {
		msgs = []model.Message{}
	}
	conv.Messages = msgs
	if u, err := s.o.Store.Conversations().Unread(c.UserContext(), []int64{conv.ID}); err == nil {
		conv.Unread = u[conv.ID]
	}
	return c.JSON(conv)
}

type sendRequest struct {
	Contents []model.Content `json:"contents"`
}

func (s *Server) postMessage(c *fiber.Ctx) error {
	conv, err := s.conversationFor(c)
	if err != nil {
		return err
	}
	if err := s.mayAct(c, conv); err != nil {
		if conv.State == model.StateEnded {
			return errorf(fiber.StatusConflict, "ended", "the conversation has ended")
		}
		return err
	}
	var req sendRequest
	if err := c.BodyParser(&req); err != nil || len(req.Contents) == 0 {
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "contents",
			Message: `body must be JSON {"contents": [{"type": "text", "text": "..."}]}`}
	}
	for i, ct := range req.Contents {
		if err := validContent(ct); err != "" {
			return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "contents[" + strconv.Itoa(i) + "]", Message: err}
		}
	}
	m, err := s.o.Engine.Send(c.UserContext(), conv.ID, model.AgentAuthor(s.caller(c).agent.ID), req.Contents)
	switch {
	case errors.Is(err, engine.ErrEnded):
		return errorf(fiber.StatusConflict, "ended", "the conversation has ended")
	case errors.Is(err, engine.ErrWindow):
		return errorf(fiber.StatusConflict, "outside_window", err.Error())
	case errors.Is(err, engine.ErrChannelDown):
		return errorf(fiber.StatusServiceUnavailable, "unavailable", "the channel is unavailable; try again shortly")
	case err != nil:
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(m)
}

// validContent checks what an agent may send: text, or media by URL.
func validContent(ct model.Content) string {
	switch ct.Type {
	case model.Text:
		if ct.Text == "" {
			return "a text content needs text"
		}
	case model.Image, model.Audio, model.Video, model.File:
		if ct.URL == "" {
			return "a " + ct.Type + " content needs a url"
		}
	default:
		return "type must be text, image, audio, video or file"
	}
	return ""
}

func (s *Server) endConversation(c *fiber.Ctx) error {
	conv, err := s.conversationFor(c)
	if err != nil {
		return err
	}
	if conv.State == model.StateEnded {
		return errorf(fiber.StatusConflict, "ended", "the conversation has already ended")
	}
	if err := s.mayAct(c, conv); err != nil {
		return err
	}
	reason := model.EndAgent
	if s.caller(c).agent.Role == model.RoleAdmin && conv.Agent != s.caller(c).agent.ID {
		reason = model.EndAdmin
	}
	ended, err := s.o.Engine.End(c.UserContext(), conv.ID, reason)
	if errors.Is(err, engine.ErrEnded) {
		return errorf(fiber.StatusConflict, "ended", "the conversation has already ended")
	}
	if err != nil {
		return err
	}
	return c.JSON(ended)
}

// markRead records that the agent has seen the conversation up to a message
// (default: all of it), for the unread counts.
func (s *Server) markRead(c *fiber.Ctx) error {
	conv, err := s.conversationFor(c)
	if err != nil {
		return err
	}
	var req struct {
		MessageID int64 `json:"message_id"`
	}
	_ = c.BodyParser(&req)
	// No id: all of it, as it is now; a message that comes later is unread,
	// however often the console reloads.
	err = s.o.Store.Conversations().MarkRead(c.UserContext(), conv.ID, req.MessageID)
	if err != nil {
		return err
	}
	if conv.Agent == s.caller(c).agent.ID {
		s.o.Engine.Seen(conv.ID) // the contact sees it seen, where the channel shows that
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// transfer hands a conversation to another squad's queue (the assigned
// agent or an admin).
func (s *Server) transfer(c *fiber.Ctx) error {
	conv, err := s.conversationFor(c)
	if err != nil {
		return err
	}
	if err := s.mayAct(c, conv); err != nil {
		return err
	}
	var req struct {
		Squad string `json:"squad"`
	}
	if err := c.BodyParser(&req); err != nil || req.Squad == "" {
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "squad", Message: `body must be JSON {"squad": "..."}`}
	}
	moved, err := s.o.Engine.Transfer(c.UserContext(), conv.ID, req.Squad)
	if errors.Is(err, engine.ErrEnded) {
		return errorf(fiber.StatusConflict, "ended", "the conversation has ended")
	}
	if err != nil {
		return err
	}
	return c.JSON(moved)
}

// searchTerm is what an agent typed in the search box as the store matches
// it: usernames are shown with their @, and stored without.
func searchTerm(q string) string {
	return strings.TrimPrefix(strings.TrimSpace(q), "@")
}
