package server

import (
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/conversa/conversa/core/agents"
	"github.com/conversa/conversa/core/model"
)

func (s *Server) listAgents(c *fiber.Ctx) error {
	all, err := s.o.Store.Agents().List(c.UserContext())
	if err != nil {
		return err
	}
	if all == nil {
		all = []*model.Agent{}
	}
	return c.JSON(fiber.Map{"agents": all})
}

type agentInput struct {
	Login    string   `json:"login"`
	Name     string   `json:"name"`
	Role     string   `json:"role"`
	Password string   `json:"password"`
	Squads   []string `json:"squads"`
	MaxChats int      `json:"max_chats"`
	// Active (PUT only): false deactivates the agent, true brings them
	// back; absent keeps it.
	Active *bool `json:"active"`
}

// agentShape is an agent's body, as errors describe it.
const agentShape = `{"login", "name", "role", "password", "squads", "max_chats", "active"}`

func (s *Server) createAgent(c *fiber.Ctx) error {
	var req agentInput
	if err := decodeJSON(c, &req, bodyRules{shape: agentShape}); err != nil {
		return err
	}
	if req.Role == "" {
		req.Role = model.RoleAgent
	}
	a := &model.Agent{ID: req.Login, Name: req.Name, Role: req.Role, Squads: req.Squads, MaxChats: req.MaxChats}
	if err := agents.CreateBy(c.UserContext(), s.o.Store, a, req.Password, s.actor(c)); err != nil {
		return s.agentError(err)
	}
	created, err := s.o.Store.Agents().Get(c.UserContext(), a.ID)
	if err != nil {
		return err
	}
	s.log.Info("agent created", "agent", a.ID, "role", a.Role, "by", s.caller(c).agent.ID)
	return c.Status(fiber.StatusCreated).JSON(created)
}

func (s *Server) updateAgent(c *fiber.Ctx) error {
	var req agentInput
	if err := decodeJSON(c, &req, bodyRules{shape: agentShape}); err != nil {
		return err
	}
	cl := s.caller(c)
	a := &model.Agent{ID: c.Params("id"), Name: req.Name, Role: req.Role, Squads: req.Squads, MaxChats: req.MaxChats}
	if req.Active != nil && !*req.Active && a.ID == cl.agent.ID {
		return &apiError{Status: fiber.StatusConflict, Code: "self", Field: "active",
			Message: "you cannot deactivate yourself; another admin can"}
	}
	if err := s.o.Agents.Update(c.UserContext(), a, agents.Change{Password: req.Password, Active: req.Active, Session: cl.token,
		By: s.actor(c)}); err != nil {
		return s.agentError(err)
	}
	updated, err := s.o.Store.Agents().Get(c.UserContext(), a.ID)
	if err != nil {
		return err
	}
	return c.JSON(updated)
}

// setAgentStatus lets an admin change someone's status (e.g. set offline an
// agent who left without signing out, re-queueing their chats).
func (s *Server) setAgentStatus(c *fiber.Ctx) error {
	var req struct {
		Status string `json:"status"`
	}
	if err := decodeJSON(c, &req, bodyRules{shape: `{"status": "available"|"paused"|"offline"}`}); err != nil {
		return err
	}
	a, err := s.o.Agents.SetStatusBy(c.UserContext(), c.Params("id"), req.Status, s.actor(c))
	if errors.Is(err, agents.ErrDeactivated) {
		return &apiError{Status: fiber.StatusConflict, Code: "deactivated", Field: "status",
			Message: c.Params("id") + " is deactivated: activate them first"}
	}
	if errors.Is(err, agents.ErrNoSquad) {
		return &apiError{Status: fiber.StatusConflict, Code: "no_squad", Field: "status",
			Message: c.Params("id") + " is in no squad, so no chat would reach them: add them to one first"}
	}
	if err != nil {
		return s.agentError(err)
	}
	return c.JSON(a)
}

func (s *Server) listPlugins(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"plugins": s.o.Plugins.Statuses()})
}

func (s *Server) listScripts(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"scripts": s.o.Scripts.Statuses()})
}

// squads lists every squad: configured, named by an integration, or joined
// by an agent.
func (s *Server) squads(c *fiber.Ctx) ([]string, []*model.Agent, error) {
	set := map[string]bool{model.DefaultSquad: true}
	for _, q := range s.o.Squads {
		set[q] = true
	}
	for _, in := range s.o.Engine.Integrations() {
		set[in.Squad] = true
	}
	all, err := s.o.Store.Agents().List(c.UserContext())
	if err != nil {
		return nil, nil, err
	}
	for _, a := range all {
		for _, q := range a.Squads {
			set[q] = true
		}
	}
	names := make([]string, 0, len(set))
	for q := range set {
		names = append(names, q)
	}
	sort.Strings(names)
	return names, all, nil
}

func (s *Server) listSquads(c *fiber.Ctx) error {
	names, all, err := s.squads(c)
	if err != nil {
		return err
	}
	type squad struct {
		Name      string   `json:"name"`
		Agents    []string `json:"agents"`
		Available int      `json:"available"`
	}
	out := []squad{}
	for _, n := range names {
		sq := squad{Name: n, Agents: []string{}}
		for _, a := range all {
			for _, q := range a.Squads {
				if q == n {
					sq.Agents = append(sq.Agents, a.ID)
					if a.Status == model.AgentAvailable {
						sq.Available++
					}
				}
			}
		}
		out = append(out, sq)
	}
	return c.JSON(fiber.Map{"squads": out})
}

// queuedConversation is a waiting conversation as an agent sees it in the
// queues: which integration and how urgent, not who (the contact, the
// labels), since the conversation itself is not theirs to open.
type queuedConversation struct {
	ID          int64      `json:"id"`
	Integration string     `json:"integration"`
	State       string     `json:"state"`
	Squad       string     `json:"squad"`
	Origin      string     `json:"origin"`
	Priority    int        `json:"priority"`
	StartedAt   time.Time  `json:"started_at"`
	QueuedAt    *time.Time `json:"queued_at,omitempty"`
}

// queues shows who is waiting in each squad, and for how long: an admin
// sees every squad and the contacts waiting; an agent only their own
// squads, and the conversations without their contacts.
func (s *Server) queues(c *fiber.Ctx) error {
	names, all, err := s.squads(c)
	if err != nil {
		return err
	}
	me := s.caller(c).agent
	admin := me.Role == model.RoleAdmin
	if !admin {
		names = slices.DeleteFunc(names, func(n string) bool { return !slices.Contains(me.Squads, n) })
	}
	queued, err := s.o.Store.Conversations().Queued(c.UserContext())
	if err != nil {
		return err
	}
	type waiting struct {
		Conversation any   `json:"conversation"`
		WaitSeconds  int64 `json:"wait_seconds"`
	}
	type queue struct {
		Squad   string    `json:"squad"`
		Waiting []waiting `json:"waiting"`
		// Total counts every conversation waiting; Waiting shows the
		// first limit of them, so a long queue costs no more to show.
		Total     int `json:"waiting_total"`
		Available int `json:"agents_available"`
		FreeSlots int `json:"free_slots"`
	}
	limit := c.QueryInt("limit", 100)
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	now := s.o.Engine.Now()
	out := []queue{}
	for _, n := range names {
		q := queue{Squad: n, Waiting: []waiting{}}
		for _, cv := range queued {
			if cv.Squad == n {
				q.Total++
				if len(q.Waiting) >= limit {
					continue
				}
				since := cv.StartedAt
				if cv.QueuedAt != nil {
					since = *cv.QueuedAt
				}
				var shown any = cv
				if !admin {
					shown = queuedConversation{ID: cv.ID, Integration: cv.Integration, State: cv.State, Squad: cv.Squad,
						Origin: cv.Origin, Priority: cv.Priority, StartedAt: cv.StartedAt, QueuedAt: cv.QueuedAt}
				}
				q.Waiting = append(q.Waiting, waiting{Conversation: shown, WaitSeconds: int64(now.Sub(since) / time.Second)})
			}
		}
		for _, a := range all {
			if a.Status != model.AgentAvailable {
				continue
			}
			for _, sq := range a.Squads {
				if sq == n {
					q.Available++
					q.FreeSlots += max(a.MaxChats-a.OpenChats, 0)
				}
			}
		}
		out = append(out, q)
	}
	return c.JSON(fiber.Map{"queues": out})
}
