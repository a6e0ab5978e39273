package server

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/conversa/conversa/core/agents"
	"github.com/conversa/conversa/core/events"
	"github.com/conversa/conversa/core/model"
)

// heartbeat keeps idle event streams open through proxies and lets a dead
// client be noticed (a variable for the tests).
var heartbeat = 15 * time.Second

const (
	// streamQueue bounds the events waiting for one stream. A client that
	// falls this far behind is cut off rather than let memory grow or the
	// publisher wait; it reconnects and resumes with its Last-Event-ID.
	streamQueue = 1024
	// streamCoalesce is about how long a stream waits after a write before
	// the next: what is published meanwhile goes out in one write. The
	// first event after a quiet spell goes at once.
	streamCoalesce = 10 * time.Millisecond
	// streamWriteTimeout ends a stream whose client takes no bytes for
	// this long.
	streamWriteTimeout = 15 * time.Second
)

// liveEvents streams the caller's events as Server-Sent Events: assigned,
// queued, message, status, ended, agent. A client that reconnects with
// Last-Event-ID gets what it missed; when that cannot be known it gets a
// "reset" event and should reload.
//
// The stream takes the connection over from fasthttp once the handler has
// returned (its streamed-body path costs a pipe, a second goroutine and a
// write per event): one goroutine per stream sleeps until events are
// queued for it, then writes them all, already encoded, as one chunk.
func (s *Server) liveEvents(c *fiber.Ctx) error {
	cl := s.caller(c)
	a, token := cl.agent, cl.token
	id, admin := a.ID, a.Role == model.RoleAdmin
	lastID := c.Get("Last-Event-ID")
	if lastID == "" {
		lastID = c.Query("last_event_id")
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no")
	rc := c.Context()
	chunked := rc.Request.Header.IsHTTP11()
	if chunked {
		c.Set(fiber.HeaderConnection, "keep-alive")
		rc.Response.Header.SetContentLength(-1) // Transfer-Encoding: chunked
	} else {
		rc.Response.Header.SetContentLength(-2) // the body ends with the connection
	}
	s.streams.Add(1)
	rc.HijackSetNoResponse(true)
	// The hijack handler runs after the handler returns: it must not touch
	// c. The request context itself stays valid until it returns.
	rc.Hijack(func(conn net.Conn) {
		defer s.streams.Done()
		st := &stream{s: s, conn: conn, chunked: chunked, agent: id, token: token}
		st.out = append(st.out, rc.Response.Header.Header()...)
		st.run(func(e events.Event) bool { return admin || e.Agent == id }, lastID)
	})
	return nil
}

// stream is one client's event stream on a hijacked connection.
type stream struct {
	s       *Server
	conn    net.Conn
	chunked bool
	agent   string
	token   string
	// out is what the next write sends; the chunk being written starts at
	// chunkAt.
	out     []byte
	chunkAt int
}

func (st *stream) run(filter func(events.Event) bool, lastID string) {
	s := st.s
	sub, missed, reset := s.o.Engine.Bus().SubscribeFeed(filter, lastID, events.FeedOptions{Limit: streamQueue,
		// Cut off a client that stopped reading now, even mid-write.
		OnDrop: func() { st.conn.SetWriteDeadline(time.Now()) }})
	defer sub.Close()
	release := s.o.Agents.Connected(st.agent)
	defer release()

	st.begin()
	st.out = append(st.out, "retry: 3000\n\n"...)
	if reset {
		st.out = append(st.out, "event: reset\ndata: {}\n\n"...)
	}
	for _, e := range missed {
		st.out = append(st.out, e.Frame()...)
	}
	if st.flush() != nil {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	pause := time.NewTimer(streamCoalesce)
	pause.Stop()
	defer pause.Stop()
	var frames [][]byte
	beats := 0
	for {
		select {
		case <-sub.Ready():
			var ok bool
			if frames, ok = sub.Take(frames); !ok {
				// Too slow to keep up: the client reconnects and resumes.
				st.end()
				return
			}
			if len(frames) == 0 {
				continue
			}
			st.begin()
			for i, f := range frames {
				st.out = append(st.out, f...)
				frames[i] = nil // the frame may go once every stream has it
			}
			if st.flush() != nil {
				return
			}
			// Let what comes next gather for a moment: one write for many
			// events instead of one per event, and fewer wake-ups competing
			// with the engine for the CPU. The pause varies a little, so
			// that streams woken by one event drift apart instead of all
			// waking at once every time.
			pause.Reset(streamCoalesce*3/4 + rand.N(streamCoalesce/2))
			select {
			case <-pause.C:
			case <-s.sseStop:
				st.end()
				return
			}
		case <-tick.C:
			st.begin()
			st.out = append(st.out, ": ping\n\n"...)
			if st.flush() != nil {
				return
			}
			// The session is looked at every beat and, every other one,
			// recorded as in use: the open stream keeps the agent present
			// on every node (the presence timer may run on another).
			beats++
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			var err error
			if beats%2 == 0 {
				err = s.o.Agents.KeepAlive(ctx, st.token)
			} else {
				err = s.o.Agents.Check(ctx, st.token)
			}
			cancel()
			if errors.Is(err, agents.ErrNoSession) {
				// Signed out, revoked or past its lifetime: the stream ends
				// with the session, and the console's reconnection meets
				// the sign-in page.
				st.end()
				return
			}
			if err != nil {
				s.log.Warn("keeping a console's session alive", "agent", st.agent, "err", err)
			}
		case <-s.sseStop:
			st.end()
			return
		}
	}
}

// chunkRoom is what begin reserves in front of a chunk for its size line.
const chunkRoom = 10

// begin starts a chunk in out (after what is already there: the response
// header before the first one).
func (st *stream) begin() {
	if st.chunked {
		st.chunkAt = len(st.out)
		st.out = append(st.out, make([]byte, chunkRoom)...)
	}
}

// flush ends the chunk begun last and writes out in one write.
func (st *stream) flush() error {
	buf := st.out
	if st.chunked {
		start := st.chunkAt
		size := len(buf) - start - chunkRoom
		line := strconv.AppendInt(make([]byte, 0, chunkRoom), int64(size), 16)
		line = append(line, "\r\n"...)
		// The size line goes right before the data; the room it does not
		// fill is cut out by moving the bytes before it (only the response
		// header, on the first write).
		pad := chunkRoom - len(line)
		copy(buf[start+pad:], line)
		copy(buf[pad:], buf[:start])
		buf = append(buf[pad:], "\r\n"...)
	}
	st.conn.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	_, err := st.conn.Write(buf)
	st.out = st.out[:0]
	if cap(st.out) > 64<<10 {
		st.out = nil // a burst's buffer is not kept by an idle stream
	}
	return err
}

// end finishes the response (the last chunk) when the stream ends cleanly.
func (st *stream) end() {
	if st.chunked {
		st.conn.SetWriteDeadline(time.Now().Add(time.Second))
		st.conn.Write([]byte("0\r\n\r\n"))
	}
}
