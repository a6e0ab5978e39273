package server

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/conversa/conversa/core/engine"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// The agent's workspace: labels, the contact panel, assignment to one
// agent and canned responses (CONTRACT §5).

// Limits of what agents type.
const (
	maxLabels          = 20
	maxLabelLen        = 32
	maxShortcutLen     = 32
	maxCannedTextBytes = 4000
)

// normalLabel is a label as stored: trimmed and lower case, letters,
// digits, "-" and "_" ("vip", "reembolso", "pós-venda"); "" when invalid.
func normalLabel(s string) (string, string) {
	l := strings.ToLower(strings.TrimSpace(s))
	switch {
	case l == "":
		return "", "a label cannot be empty"
	case utf8.RuneCountInString(l) > maxLabelLen:
		return "", "a label has at most " + strconv.Itoa(maxLabelLen) + " characters"
	}
	for _, r := range l {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '_' {
			return "", "a label has only letters, digits, - and _ (" + strconv.Quote(s) + ")"
		}
	}
	return l, ""
}

func (s *Server) setLabels(c *fiber.Ctx) error {
	conv, err := s.conversationFor(c)
	if err != nil {
		return err
	}
	if err := s.mayAct(c, conv); err != nil {
		return err
	}
	var req struct {
		Labels []string `json:"labels"`
	}
	if err := decodeJSON(c, &req, bodyRules{shape: `{"labels": ["vip", ...]}`}); err != nil {
		return err
	}
	if req.Labels == nil {
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "labels", Message: `the body must be JSON {"labels": ["vip", ...]}`}
	}
	var labels []string
	for i, l := range req.Labels {
		n, problem := normalLabel(l)
		if problem != "" {
			return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "labels[" + strconv.Itoa(i) + "]", Message: problem}
		}
		if !slices.Contains(labels, n) {
			labels = append(labels, n)
		}
	}
	if len(labels) > maxLabels {
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "labels",
			Message: "a conversation has at most " + strconv.Itoa(maxLabels) + " labels"}
	}
	out, err := s.o.Engine.SetLabels(c.UserContext(), conv.ID, labels)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// listLabels counts the labels in use: an agent's own conversations, or
// all of them for an admin.
func (s *Server) listLabels(c *fiber.Ctx) error {
	a := s.caller(c).agent
	agent := ""
	if a.Role != model.RoleAdmin {
		agent = a.ID
	}
	counts, err := s.o.Store.Labels().Counts(c.UserContext(), agent)
	if err != nil {
		return err
	}
	if counts == nil {
		counts = []store.LabelCount{}
	}
	return c.JSON(fiber.Map{"labels": counts})
}

// getContact is the contact panel: who the user is and their
// conversations, newest first. An agent sees the contacts they serve now.
func (s *Server) getContact(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil {
		return errorf(fiber.StatusNotFound, "not_found", "no such contact")
	}
	ct, err := s.o.Store.Contacts().Get(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(fiber.StatusNotFound, "not_found", "no such contact")
	}
	if err != nil {
		return err
	}
	a := s.caller(c).agent
	if a.Role != model.RoleAdmin {
		ok, err := s.servesContact(c, a, ct.ID)
		if err != nil {
			return err
		}
		if !ok {
			return errorf(fiber.StatusNotFound, "not_found", "no such contact")
		}
	}
	convs, err := s.o.Store.Conversations().List(c.UserContext(), store.ConversationFilter{Contact: ct.ID, Limit: 100})
	if err != nil {
		return err
	}
	for _, cv := range convs {
		cv.Contact = nil // the contact is the object itself
	}
	if convs == nil {
		convs = []*model.Conversation{}
	}
	return c.JSON(fiber.Map{"id": ct.ID, "integration": ct.Integration, "channel_user_id": ct.ChannelUserID,
		"username": ct.Username, "name": ct.Name, "avatar_url": ct.AvatarURL, "conversations": convs})
}

// assign gives a conversation to one agent: an admin choosing, or the
// assigned agent handing it over.
func (s *Server) assign(c *fiber.Ctx) error {
	conv, err := s.actionable(c)
	if err != nil {
		return err
	}
	var req struct {
		Agent string `json:"agent"`
	}
	if err := decodeJSON(c, &req, bodyRules{shape: `{"agent": "LOGIN"}`}); err != nil {
		return err
	}
	if req.Agent == "" {
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "agent", Message: `the body must be JSON {"agent": "LOGIN"}`}
	}
	target, err := s.o.Store.Agents().Get(c.UserContext(), req.Agent)
	if errors.Is(err, store.ErrNotFound) {
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "agent", Message: "no agent signs in as " + strconv.Quote(req.Agent)}
	}
	if err != nil {
		return err
	}
	if conv.State == model.StateAssigned && conv.Agent == target.ID {
		return c.JSON(conv)
	}
	out, err := s.o.Engine.AssignTo(c.UserContext(), conv.ID, target.ID, model.AgentName(s.caller(c).agent))
	switch {
	case errors.Is(err, engine.ErrEnded):
		return errorf(fiber.StatusConflict, "ended", "the conversation has ended")
	case errors.Is(err, store.ErrNoCapacity):
		why := model.AgentName(target) + " is not available"
		if target.Status == model.AgentAvailable {
			why = model.AgentName(target) + " has no free slot (" + strconv.Itoa(target.MaxChats) + " chats open)"
		}
		return errorf(fiber.StatusConflict, "agent_full", why)
	case err != nil:
		return err
	}
	return c.JSON(out)
}

// listCanned: agents read those of their squads and those for everyone;
// admins read all.
func (s *Server) listCanned(c *fiber.Ctx) error {
	a := s.caller(c).agent
	rs, err := s.o.Store.CannedResponses().List(c.UserContext(), a.Squads, a.Role == model.RoleAdmin)
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []*model.CannedResponse{}
	}
	return c.JSON(fiber.Map{"canned_responses": rs})
}

// cannedFrom reads and checks a canned response's body.
func (s *Server) cannedFrom(c *fiber.Ctx) (*model.CannedResponse, error) {
	var req struct {
		Shortcut string `json:"shortcut"`
		Text     string `json:"text"`
		Squad    string `json:"squad"`
	}
	if err := decodeJSON(c, &req, bodyRules{shape: `{"shortcut", "text", "squad"}`}); err != nil {
		return nil, err
	}
	r := &model.CannedResponse{Shortcut: strings.ToLower(strings.TrimPrefix(strings.TrimSpace(req.Shortcut), "/")),
		Text: strings.TrimSpace(req.Text), Squad: strings.TrimSpace(req.Squad)}
	bad := func(field, msg string) error {
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: field, Message: msg}
	}
	switch {
	case r.Shortcut == "":
		return nil, bad("shortcut", "a canned response needs a shortcut")
	case utf8.RuneCountInString(r.Shortcut) > maxShortcutLen:
		return nil, bad("shortcut", "a shortcut has at most "+strconv.Itoa(maxShortcutLen)+" characters")
	case strings.IndexFunc(r.Shortcut, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '_'
	}) >= 0:
		return nil, bad("shortcut", "a shortcut has only letters, digits, - and _")
	case r.Text == "":
		return nil, bad("text", "a canned response needs text")
	case len(r.Text) > maxCannedTextBytes:
		return nil, bad("text", "a canned response has at most "+strconv.Itoa(maxCannedTextBytes)+" bytes")
	}
	if r.Squad != "" {
		known, _, err := s.squads(c)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(known, r.Squad) {
			return nil, bad("squad", "no squad is named "+strconv.Quote(r.Squad))
		}
	}
	return r, nil
}

func cannedConflict(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return &apiError{Status: fiber.StatusConflict, Code: "conflict", Field: "shortcut",
			Message: "that squad already has a canned response with this shortcut"}
	}
	return err
}

func (s *Server) createCanned(c *fiber.Ctx) error {
	r, err := s.cannedFrom(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	err = s.o.Store.Tx(ctx, func(tx store.Tx) error {
		if err := tx.CannedResponses().Create(ctx, r); err != nil {
			return err
		}
		return tx.Audit().Add(ctx, s.actor(c).Entry("canned_response.create", strconv.FormatInt(r.ID, 10), cannedDetail(r)))
	})
	if err != nil {
		return cannedConflict(err)
	}
	return c.Status(fiber.StatusCreated).JSON(r)
}

func (s *Server) updateCanned(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil {
		return errorf(fiber.StatusNotFound, "not_found", "no such canned response")
	}
	r, err := s.cannedFrom(c)
	if err != nil {
		return err
	}
	r.ID = id
	ctx := c.UserContext()
	err = s.o.Store.Tx(ctx, func(tx store.Tx) error {
		if err := tx.CannedResponses().Update(ctx, r); err != nil {
			return err
		}
		return tx.Audit().Add(ctx, s.actor(c).Entry("canned_response.update", c.Params("id"), cannedDetail(r)))
	})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errorf(fiber.StatusNotFound, "not_found", "no such canned response")
		}
		return cannedConflict(err)
	}
	return c.JSON(r)
}

func (s *Server) deleteCanned(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil {
		return errorf(fiber.StatusNotFound, "not_found", "no such canned response")
	}
	ctx := c.UserContext()
	err = s.o.Store.Tx(ctx, func(tx store.Tx) error {
		old, err := tx.CannedResponses().Get(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.CannedResponses().Delete(ctx, id); err != nil {
			return err
		}
		return tx.Audit().Add(ctx, s.actor(c).Entry("canned_response.delete", c.Params("id"), cannedDetail(old)))
	})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errorf(fiber.StatusNotFound, "not_found", "no such canned response")
		}
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// cannedDetail names a canned response in the audit log.
func cannedDetail(r *model.CannedResponse) string {
	d := "/" + r.Shortcut
	if r.Squad != "" {
		d += " (squad " + r.Squad + ")"
	}
	return d
}
