package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/conversa/conversa/core/agents"
	"github.com/conversa/conversa/core/events"
	"github.com/conversa/conversa/core/model"
)

// heartbeat keeps idle event streams open through proxies and lets a dead
// client be noticed.
const heartbeat = 15 * time.Second

// liveEvents streams the caller's events as Server-Sent Events: assigned,
// queued, message, status, ended, agent. A client that reconnects with
// Last-Event-ID gets what it missed; when that cannot be known it gets a
// "reset" event and should reload.
func (s *Server) liveEvents(c *fiber.Ctx) error {
	cl := s.caller(c)
	a, token := cl.agent, cl.token
	id, admin := a.ID, a.Role == model.RoleAdmin
	filter := func(e events.Event) bool { return admin || e.Agent == id }
	lastID := c.Get("Last-Event-ID")
	if lastID == "" {
		lastID = c.Query("last_event_id")
	}
	sub, missed, reset := s.o.Engine.Bus().Subscribe(filter, lastID)
	release := s.o.Agents.Connected(id)
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderConnection, "keep-alive")
	c.Set("X-Accel-Buffering", "no")
	stop := s.sseStop
	// The writer runs after the handler returns: it must not touch c.
	c.Context().SetBodyStreamWriter(fasthttp.StreamWriter(func(w *bufio.Writer) {
		defer release()
		defer sub.Close()
		fmt.Fprintf(w, "retry: 3000\n\n")
		if reset {
			fmt.Fprintf(w, "event: reset\ndata: {}\n\n")
		}
		for _, e := range missed {
			if writeEvent(w, e) != nil {
				return
			}
		}
		if w.Flush() != nil {
			return
		}
		tick := time.NewTicker(heartbeat)
		defer tick.Stop()
		beats := 0
		for {
			select {
			case e, ok := <-sub.C:
				if !ok {
					// Too slow to keep up: the client reconnects and resumes.
					return
				}
				if writeEvent(w, e) != nil || w.Flush() != nil {
					return
				}
			case <-tick.C:
				if _, err := w.WriteString(": ping\n\n"); err != nil || w.Flush() != nil {
					return
				}
				// The session is looked at every beat and, every other one,
				// recorded as in use: the open stream keeps the agent present
				// on every node (the presence timer may run on another).
				beats++
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				var err error
				if beats%2 == 0 {
					err = s.o.Agents.KeepAlive(ctx, token)
				} else {
					err = s.o.Agents.Check(ctx, token)
				}
				cancel()
				if errors.Is(err, agents.ErrNoSession) {
					// Signed out, revoked or past its lifetime: the stream
					// ends with the session, and the console's reconnection
					// meets the sign-in page.
					return
				}
				if err != nil {
					s.log.Warn("keeping a console's session alive", "agent", id, "err", err)
				}
			case <-stop:
				return
			}
		}
	}))
	return nil
}

func writeEvent(w *bufio.Writer, e events.Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", e.ID, e.Type, b)
	return err
}
