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
	// publisher wait; it reconnects and resumes with its Last-Event-ID. A
	// queued event costs the stream 24 bytes (the frame is shared): 2,048
	// ride out a 2 s stall at 1,000 events/s, within the ring (4,096) a
	// client resumes from.
	streamQueue = 2048
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
	// The connection ends with the stream (fasthttp does not serve it
	// again once taken over): the client is told, or it could send its
	// next request on a connection about to close.
	rc.Response.Header.SetConnectionClose()
	if chunked {
		rc.Response.Header.SetContentLength(-1) // Transfer-Encoding: chunked
	} else {
		rc.Response.Header.SetContentLength(-2) // the body ends with the connection
	}
	s.streams.Add(1)
	rc.HijackSetNoResponse(true)
	// The hijack handler runs after the handler returns: it must not touch
	// c. The request context itself stays valid until it returns.
	rc.Hijack(func(conn net.Conn) {
		defer s.streams.Add(-1)
		// Written to directly (fasthttp's wrapper only changes how the
		// connection is read), so that a batch goes out in one writev.
		if u, ok := conn.(interface{ UnsafeConn() net.Conn }); ok {
			conn = u.UnsafeConn()
		}
		_, vectored := conn.(*net.TCPConn)
		st := &stream{s: s, conn: conn, chunked: chunked, vectored: vectored, agent: id, token: token,
			head: rc.Response.Header.Header()}
		st.run(func(e events.Event) bool { return admin || e.Agent == id }, lastID)
	})
	return nil
}

// stream is one client's event stream on a hijacked connection.
type stream struct {
	s        *Server
	conn     net.Conn
	chunked  bool
	vectored bool
	agent    string
	token    string
	// head is the response header, sent with the first write.
	head []byte
	// line, vec and flat are the write's scratch space: the chunk's size
	// line, the pieces of a vectored write, the bytes of a plain one.
	line []byte
	vec  [][]byte
	flat []byte
}

func (st *stream) run(filter func(events.Event) bool, lastID string) {
	s := st.s
	sub, missed, reset := s.o.Engine.Bus().SubscribeFeed(filter, lastID, events.FeedOptions{Limit: streamQueue,
		// Cut off a client that stopped reading now, even mid-write.
		OnDrop: func() { st.conn.SetWriteDeadline(time.Now()) }})
	defer sub.Close()
	release := s.o.Agents.Connected(st.agent)
	defer release()

	first := [][]byte{[]byte("retry: 3000\n\n")}
	if reset {
		first = append(first, []byte("event: reset\ndata: {}\n\n"))
	}
	for _, e := range missed {
		first = append(first, e.Frame())
	}
	if st.write(first) != nil {
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
			err := st.write(frames)
			clear(frames) // a frame may go once every stream has it
			if err != nil {
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
			if st.write([][]byte{ping}) != nil {
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

var (
	ping = []byte(": ping\n\n")
	crlf = []byte("\r\n")
)

// write sends parts as one chunk (after the response header, the first
// time) in one write: a writev of the pieces on TCP, their copy otherwise.
func (st *stream) write(parts [][]byte) error {
	size := 0
	for _, p := range parts {
		size += len(p)
	}
	st.line = append(st.line[:0], st.head...)
	st.head = nil
	if st.chunked {
		st.line = strconv.AppendInt(st.line, int64(size), 16)
		st.line = append(st.line, crlf...)
	}
	st.vec = append(append(st.vec[:0], st.line), parts...)
	if st.chunked {
		st.vec = append(st.vec, crlf)
	}
	st.conn.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	var err error
	if st.vectored {
		bufs := net.Buffers(st.vec)
		_, err = bufs.WriteTo(st.conn)
	} else {
		st.flat = st.flat[:0]
		for _, p := range st.vec {
			st.flat = append(st.flat, p...)
		}
		_, err = st.conn.Write(st.flat)
		if cap(st.flat) > 64<<10 {
			st.flat = nil // a burst's buffer is not kept by an idle stream
		}
	}
	clear(st.vec)
	return err
}

// end finishes the response (the last chunk) when the stream ends cleanly.
func (st *stream) end() {
	if st.chunked {
		st.conn.SetWriteDeadline(time.Now().Add(time.Second))
		st.conn.Write([]byte("0\r\n\r\n"))
	}
}
