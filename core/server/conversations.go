package server

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

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
		if ok, err := s.servesContact(c, a, conv.ContactID); err != nil || !ok {
			if err != nil {
				return nil, err
			}
			return nil, errorf(fiber.StatusNotFound, "not_found", "no such conversation")
		}
	}
	return conv, nil
}

// servesContact: an agent serving a contact now (an open conversation
// assigned to them) may read that contact's earlier conversations, as the
// contact panel shows them; nothing else of other agents'.
func (s *Server) servesContact(c *fiber.Ctx, a *model.Agent, contactID int64) (bool, error) {
	open, err := s.o.Store.Conversations().Open(c.UserContext(), contactID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return open.Agent == a.ID && open.State == model.StateAssigned, nil
}

// actionable loads a conversation the caller may act on now: 409 once it
// has ended, 403 unless the caller is its agent or an admin.
func (s *Server) actionable(c *fiber.Ctx) (*model.Conversation, error) {
	conv, err := s.conversationFor(c)
	if err != nil {
		return nil, err
	}
	if conv.State == model.StateEnded {
		return nil, errorf(fiber.StatusConflict, "ended", "the conversation has ended")
	}
	if err := s.mayAct(c, conv); err != nil {
		return nil, err
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
		Label: strings.ToLower(strings.TrimSpace(c.Query("label"))), Limit: c.QueryInt("limit", 100)}
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
	// Each conversation comes with its unread count, from the same query.
	convs, err := s.o.Store.Conversations().List(c.UserContext(), f)
	if err != nil {
		return err
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
	// Private: a note for the agents, never sent.
	Private bool `json:"private"`
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
	const shape = `{"contents": [{"type": "text", "text": "..."}]}`
	if err := decodeJSON(c, &req, bodyRules{shape: shape}); err != nil {
		return err
	}
	if len(req.Contents) == 0 {
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "contents", Message: "the body must be JSON " + shape}
	}
	if len(req.Contents) > maxAgentContents {
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "contents",
			Message: "a message has at most " + strconv.Itoa(maxAgentContents) + " contents"}
	}
	chars := 0
	for i, ct := range req.Contents {
		field := "contents[" + strconv.Itoa(i) + "]"
		if err := validContent(ct); err != "" {
			return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: field, Message: err}
		}
		n := utf8.RuneCountInString(strings.TrimSpace(ct.Text)) + utf8.RuneCountInString(strings.TrimSpace(ct.Caption))
		if chars += n; chars > maxAgentText {
			msg := "a message has at most " + strconv.Itoa(maxAgentText) + " characters of text (this one has " + strconv.Itoa(n) + ")"
			if n <= maxAgentText {
				msg = "a message has at most " + strconv.Itoa(maxAgentText) + " characters of text in all its contents"
			}
			return &apiError{Status: fiber.StatusBadRequest, Code: "too_long", Field: field, Message: msg}
		}
	}
	if req.Private {
		for i, ct := range req.Contents {
			if ct.Type != model.Text {
				return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "contents[" + strconv.Itoa(i) + "]",
					Message: "a private note is text"}
			}
		}
		note, err := s.o.Engine.Note(c.UserContext(), conv.ID, model.AgentAuthor(s.caller(c).agent.ID), req.Contents)
		if err != nil {
			return err
		}
		return c.Status(fiber.StatusCreated).JSON(note)
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

// retryMessage sends a failed outbound message again (the assigned agent
// or an admin pressed Retry): 202 with the message, pending again.
func (s *Server) retryMessage(c *fiber.Ctx) error {
	conv, err := s.actionable(c)
	if err != nil {
		return err
	}
	msgID, err := strconv.ParseInt(c.Params("message_id"), 10, 64)
	if err != nil {
		return errorf(fiber.StatusNotFound, "not_found", "no such message in this conversation")
	}
	m, err := s.o.Engine.Retry(c.UserContext(), conv.ID, msgID)
	switch {
	case errors.Is(err, engine.ErrNoMessage):
		return errorf(fiber.StatusNotFound, "not_found", "no such message in this conversation")
	case errors.Is(err, engine.ErrNotFailed):
		return errorf(fiber.StatusConflict, "not_failed", "only a message marked Not delivered can be sent again")
	case errors.Is(err, engine.ErrEnded):
		return errorf(fiber.StatusConflict, "ended", "the conversation has ended")
	case errors.Is(err, engine.ErrWindow):
		return errorf(fiber.StatusConflict, "outside_window", err.Error())
	case errors.Is(err, engine.ErrChannelDown):
		return errorf(fiber.StatusServiceUnavailable, "unavailable", "the channel is unavailable; try again shortly")
	case err != nil:
		return err
	}
	s.log.Info("message retried", "conversation", conv.ID, "message", msgID, "by", s.caller(c).agent.ID)
	return c.Status(fiber.StatusAccepted).JSON(m)
}

// Limits of one agent message (or private note). Instagram shows at most
// 1,000 bytes per message, so a long text goes out in parts: 4,000
// characters is a few parts, never the hundreds of calls an unbounded paste
// would make; a canned response (at most 4,000 bytes) always fits.
const (
	maxAgentText     = 4000
	maxAgentContents = 10
)

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
	conv, err := s.actionable(c)
	if err != nil {
		return err
	}
	reason := model.EndAgent
	if s.caller(c).agent.Role == model.RoleAdmin && conv.Agent != s.caller(c).agent.ID {
		reason = model.EndAdmin
	}
	ended, err := s.o.Engine.End(c.UserContext(), conv.ID, reason, model.AgentName(s.caller(c).agent))
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
	if err := decodeJSON(c, &req, bodyRules{shape: `{"message_id": ID}`, optional: true}); err != nil {
		return err
	}
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
	if err := decodeJSON(c, &req, bodyRules{shape: `{"squad": "..."}`}); err != nil {
		return err
	}
	if req.Squad == "" {
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "squad", Message: `the body must be JSON {"squad": "..."}`}
	}
	known, _, err := s.squads(c)
	if err != nil {
		return err
	}
	if !slices.Contains(known, req.Squad) {
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "squad", Message: "no squad is named " + strconv.Quote(req.Squad)}
	}
	moved, err := s.o.Engine.Transfer(c.UserContext(), conv.ID, req.Squad, model.AgentName(s.caller(c).agent))
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
