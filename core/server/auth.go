package server

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/conversa/conversa/core/agents"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// SessionCookie carries the console's session token.
const SessionCookie = "conversa_session"

// CSRFHeader must echo the session's CSRF token on every state-changing
// request authenticated by the cookie (the console). Bearer requests need it
// not: a browser never attaches a bearer token on its own.
const CSRFHeader = "X-CSRF-Token"

type caller struct {
	agent  *model.Agent
	token  string
	csrf   string
	cookie bool
}

func (s *Server) caller(c *fiber.Ctx) *caller { return c.Locals("caller").(*caller) }

// authenticate resolves the bearer token or session cookie; 401 without one.
func (s *Server) authenticate(c *fiber.Ctx) error {
	token, cookie := "", false
	if h := c.Get(fiber.HeaderAuthorization); strings.HasPrefix(h, "Bearer ") {
		token = strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
	} else if v := c.Cookies(SessionCookie); v != "" {
		token, cookie = v, true
	}
	if token == "" {
		return errorf(fiber.StatusUnauthorized, "unauthorized", "sign in first: POST /api/v1/login")
	}
	a, sess, err := s.o.Agents.Authenticate(c.UserContext(), token)
	if errors.Is(err, agents.ErrNoSession) {
		return errorf(fiber.StatusUnauthorized, "unauthorized", "the session is unknown or expired; sign in again")
	}
	if err != nil {
		return err
	}
	if cookie && c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
		if got := c.Get(CSRFHeader); got == "" || got != sess.CSRFToken {
			return errorf(fiber.StatusForbidden, "csrf", "missing or wrong "+CSRFHeader+" header")
		}
	}
	c.Locals("caller", &caller{agent: a, token: token, csrf: sess.CSRFToken, cookie: cookie})
	return c.Next()
}

// adminOnly refuses callers who are not admins (403).
func (s *Server) adminOnly(c *fiber.Ctx) error {
	if s.caller(c).agent.Role != model.RoleAdmin {
		return errorf(fiber.StatusForbidden, "forbidden", "only an admin may do this")
	}
	return c.Next()
}

type loginRequest struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

func (s *Server) login(c *fiber.Ctx) error {
	if err := s.notCrossSite(c); err != nil {
		return err
	}
	// A JSON body is what no other site's form can send (forms post
	// urlencoded, multipart or text/plain bodies), and a script elsewhere
	// that sets this type needs a CORS preflight this server never grants.
	if !isJSONType(c.Get(fiber.HeaderContentType)) {
		return errorf(fiber.StatusUnsupportedMediaType, "unsupported_media_type",
			`sign in with a JSON body {"login", "password"} (Content-Type: application/json)`)
	}
	var req loginRequest
	if err := decodeJSON(c, &req, bodyRules{shape: `{"login", "password"}`}); err != nil {
		return err
	}
	req.Login = strings.ToLower(strings.TrimSpace(req.Login))
	ip := s.clientIP(c)
	key, ipKey := ip+"\x00"+req.Login, ip
	ctx := c.UserContext()
	byLogin, err := s.logins.Blocked(ctx, key, loginFailures, loginWindow)
	if err != nil {
		return err
	}
	byAddress, err := s.logins.Blocked(ctx, ipKey, addressFailures, loginWindow)
	if err != nil {
		return err
	}
	if wait := max(byLogin, byAddress); wait > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(wait.Seconds())+1))
		return errorf(fiber.StatusTooManyRequests, "rate_limited", "too many failed sign-ins; try again later")
	}
	l, err := s.o.Agents.Login(ctx, req.Login, req.Password)
	if errors.Is(err, agents.ErrBadCredentials) {
		if err := errors.Join(s.logins.Failed(ctx, key), s.logins.Failed(ctx, ipKey)); err != nil {
			s.log.Error("recording a failed sign-in", "err", err)
		}
		s.log.Warn("failed sign-in", "login", req.Login, "ip", ip)
		return errorf(fiber.StatusUnauthorized, "bad_credentials", "wrong login or password")
	}
	if errors.Is(err, agents.ErrDeactivated) {
		s.log.Warn("sign-in refused: the agent is deactivated", "login", req.Login, "ip", ip)
		return errorf(fiber.StatusForbidden, "deactivated", "this account is deactivated; ask an admin")
	}
	if err != nil {
		return err
	}
	if err := s.logins.Reset(ctx, key); err != nil {
		s.log.Error("clearing failed sign-ins", "err", err)
	}
	return s.signedIn(c, fiber.StatusOK, l)
}

// notCrossSite refuses a sign-in another site's page made the browser send
// (login CSRF: the victim's console would be signed in as the attacker,
// and what they type would reach the attacker's account). Browsers say
// where a request comes from in Sec-Fetch-Site and Origin; clients that
// are not browsers send neither and are not concerned.
func (s *Server) notCrossSite(c *fiber.Ctx) error {
	refuse := errorf(fiber.StatusForbidden, "cross_site", "sign-in from another site's page is refused; open the console itself")
	switch strings.ToLower(c.Get("Sec-Fetch-Site")) {
	case "cross-site", "same-site":
		return refuse
	}
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return refuse // "null" (a sandboxed frame, a privacy redirect) or garbage
	}
	if strings.EqualFold(u.Host, string(c.Request().Host())) {
		return nil
	}
	// Behind a proxy that rewrites Host, the console's address is the
	// public URL.
	if p, err := url.Parse(s.o.PublicURL); err == nil && p.Host != "" && strings.EqualFold(u.Host, p.Host) {
		return nil
	}
	return refuse
}

// signedIn answers a sign-in: the bearer token, the CSRF token and the
// agent, and the console's session cookie.
func (s *Server) signedIn(c *fiber.Ctx, status int, l *agents.Login) error {
	// A browser-session cookie: the server's session slides with use, so a
	// long shift is not cut at a fixed hour.
	c.Cookie(&fiber.Cookie{Name: SessionCookie, Value: l.Token, Path: "/", HTTPOnly: true, SameSite: "Lax",
		Secure: s.o.SecureCookies})
	return c.Status(status).JSON(fiber.Map{"token": l.Token, "csrf_token": l.CSRF, "agent": l.Agent})
}

func (s *Server) logout(c *fiber.Ctx) error {
	if err := s.o.Agents.Logout(c.UserContext(), s.caller(c).token); err != nil {
		return err
	}
	c.ClearCookie(SessionCookie)
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) me(c *fiber.Ctx) error {
	cl := s.caller(c)
	return c.JSON(fiber.Map{"id": cl.agent.ID, "login": cl.agent.Login, "name": cl.agent.Name, "role": cl.agent.Role,
		"squads": cl.agent.Squads, "max_chats": cl.agent.MaxChats, "status": cl.agent.Status,
		"open_chats": cl.agent.OpenChats, "csrf_token": cl.csrf})
}

func (s *Server) setMyStatus(c *fiber.Ctx) error {
	var req struct {
		Status string `json:"status"`
	}
	if err := decodeJSON(c, &req, bodyRules{shape: `{"status": "available"|"paused"|"offline"}`}); err != nil {
		return err
	}
	a, err := s.o.Agents.SetStatus(c.UserContext(), s.caller(c).agent.ID, req.Status)
	if errors.Is(err, agents.ErrNoSquad) {
		return &apiError{Status: fiber.StatusConflict, Code: "no_squad", Field: "status",
			Message: "you are in no squad, so no chat would reach you: ask an admin to add you to one"}
	}
	if err != nil {
		return s.agentError(err)
	}
	return c.JSON(a)
}

func (s *Server) agentError(err error) error {
	var fe *agents.FieldError
	switch {
	case errors.As(err, &fe):
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Message: fe.Error(), Field: fe.Field}
	case errors.Is(err, agents.ErrLoginTaken):
		return &apiError{Status: fiber.StatusConflict, Code: "conflict", Message: err.Error(), Field: "login"}
	case errors.Is(err, store.ErrNotFound):
		return errorf(fiber.StatusNotFound, "not_found", "no such agent")
	}
	return err
}

// Sign-in limits: after 5 failures for one login from one address, or 30
// from one address whatever the login, within 5 minutes, further attempts
// wait out the window. Failures are counted across the nodes.
const (
	loginFailures   = 5
	addressFailures = 30
	loginWindow     = 5 * time.Minute
)
