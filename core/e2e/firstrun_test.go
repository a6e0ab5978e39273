package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// newBareServer starts `conversa` with no arguments in an empty directory,
// as a newcomer does: built-in defaults, data in ./data. Only the address
// differs (CONVERSA_TEST_LISTEN), so that tests run side by side.
func newBareServer(t *testing.T, env ...string) *server {
	t.Helper()
	s := &server{t: t, dir: t.TempDir(), env: append([]string{"CONVERSA_TEST_LISTEN=127.0.0.1:0"}, env...)}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// bannerEnd is the last line of the banner of a start on built-in defaults.
const bannerEnd = "running on built-in defaults"

// banner waits for the start banner printed on standard output to end
// (until marker shows) and returns it.
func (s *server) banner(marker string) string {
	s.t.Helper()
	if !waitUntil(20*time.Second, func() bool { return strings.Contains(s.stdout.String(), marker) }) {
		s.t.Fatalf("the banner has no %q:\n%s", marker, s.stdout)
	}
	return s.stdout.String()
}

var setupLink = regexp.MustCompile(`(\S+)/setup\?token=([A-Za-z0-9_-]+)`)

// setupToken is the token of the setup URL the banner printed; the URL
// must point at this server.
func (s *server) setupToken(banner string) string {
	s.t.Helper()
	m := setupLink.FindStringSubmatch(banner)
	if m == nil {
		s.t.Fatalf("the banner prints no setup URL:\n%s", banner)
	}
	if m[1] != s.URL {
		s.t.Errorf("setup URL %s is not on the server's address %s", m[0], s.URL)
	}
	// At least 128 bits of base64: 22 characters.
	if len(m[2]) < 22 {
		s.t.Errorf("setup token %q is too short to be unguessable", m[2])
	}
	return m[2]
}

type setupAnswer struct {
	Token string `json:"token"`
	CSRF  string `json:"csrf_token"`
	Agent struct {
		Login  string   `json:"login"`
		Name   string   `json:"name"`
		Role   string   `json:"role"`
		Squads []string `json:"squads"`
	} `json:"agent"`
	Error struct {
		Code  string `json:"code"`
		Field string `json:"field"`
	} `json:"error"`
}

func (s *server) setupNeeded() bool {
	s.t.Helper()
	var got struct {
		Needed *bool `json:"needed"`
	}
	if status := s.api("GET", "/api/v1/setup", "", nil, &got); status != 200 || got.Needed == nil {
		s.t.Fatalf("GET /api/v1/setup = %d %v, want 200 {needed}", status, got.Needed)
	}
	return *got.Needed
}

func setupBody(token, login, name, password string) map[string]string {
	return map[string]string{"token": token, "login": login, "name": name, "password": password}
}

// The first ten minutes (CONTRACT §9): `conversa` alone prints a setup URL,
// whose token creates the first admin once; a wrong token, a bad field, a
// second setup and a restart are refused or print nothing.
func TestFirstRunSetup(t *testing.T) {
	srv := newBareServer(t)
	token := srv.setupToken(srv.banner(bannerEnd))
	if !srv.setupNeeded() {
		t.Fatalf("GET /api/v1/setup on a new install = not needed")
	}
	if status, body := srv.do("GET", "/setup?token="+token, nil, nil); status != 200 || !strings.Contains(string(body), "/static/app.js") {
		t.Errorf("GET the setup URL = %d, want the console", status)
	}

	refusals := []struct {
		name        string
		body        map[string]string
		status      int
		code, field string
	}{
		{"wrong token", setupBody(token[:len(token)-1]+"x", "ana", "Ana Lima", "ana-password"), 403, "bad_setup_token", "token"},
		{"no token", setupBody("", "ana", "Ana Lima", "ana-password"), 403, "bad_setup_token", "token"},
		// Without the token nothing else is judged.
		{"wrong token and bad fields", setupBody("guess", "Ana Lima", "", "short"), 403, "bad_setup_token", "token"},
		{"bad login", setupBody(token, "Ana Lima", "Ana Lima", "ana-password"), 400, "invalid", "login"},
		{"no name", setupBody(token, "ana", " ", "ana-password"), 400, "invalid", "name"},
		{"short password", setupBody(token, "ana", "Ana Lima", "short"), 400, "invalid", "password"},
	}
	for _, r := range refusals {
		var got setupAnswer
		status := srv.api("POST", "/api/v1/setup", "", r.body, &got)
		if status != r.status || got.Error.Code != r.code || got.Error.Field != r.field {
			t.Errorf("setup with %s = %d %+v, want %d %s naming %s", r.name, status, got.Error, r.status, r.code, r.field)
		}
	}
	if status := srv.api("POST", "/api/v1/setup", "", "not an object", nil); status != 400 {
		t.Errorf("setup with a body that is not an object = %d, want 400", status)
	}
	if !srv.setupNeeded() {
		t.Fatalf("setup is no longer needed after refused attempts only")
	}

	// Two people open the URL at once: one admin, whoever wins.
	logins := []string{"ana", "bia", "caio", "duda"}
	answers := make([]setupAnswer, len(logins))
	statuses := make([]int, len(logins))
	var wg sync.WaitGroup
	for i, login := range logins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = srv.api("POST", "/api/v1/setup", "", setupBody(token, login, "Admin "+login, login+"-password"), &answers[i])
		}()
	}
	wg.Wait()
	admin := -1
	for i, st := range statuses {
		switch {
		case st == 201 && admin < 0:
			admin = i
		case st == 201:
			t.Errorf("a second concurrent setup (%s) also created an admin", logins[i])
		case st != 403 || answers[i].Error.Code != "setup_done":
			t.Errorf("concurrent setup %s = %d %+v, want 201 or 403 setup_done", logins[i], st, answers[i].Error)
		}
	}
	if admin < 0 {
		t.Fatalf("no concurrent setup succeeded: %v", statuses)
	}
	first, login := answers[admin], logins[admin]
	if first.Token == "" || first.CSRF == "" || first.Agent.Login != login || first.Agent.Role != "admin" ||
		!slices.Equal(first.Agent.Squads, []string{"geral"}) {
		t.Errorf("setup answer = %+v, want a token, a CSRF token and the admin %s in squad geral", first, login)
	}
	var me struct {
		Login string `json:"login"`
		Role  string `json:"role"`
	}
	if status := srv.api("GET", "/api/v1/me", first.Token, nil, &me); status != 200 || me.Login != login || me.Role != "admin" {
		t.Errorf("GET /me with the setup's token = %d %+v, want the admin %s", status, me, login)
	}
	srv.signIn(login, login+"-password")
	// The admin can take chats at once: they are in a squad.
	if status := srv.api("PUT", "/api/v1/me/status", first.Token, map[string]string{"status": "available"}, nil); status != 200 {
		t.Errorf("the first admin going Available = %d, want 200", status)
	}

	var again setupAnswer
	if status := srv.api("POST", "/api/v1/setup", "", setupBody(token, "mallory", "Mallory", "mallory-password"), &again); status != 403 || again.Error.Code != "setup_done" {
		t.Errorf("a second setup = %d %+v, want 403 setup_done", status, again.Error)
	}
	if srv.setupNeeded() {
		t.Errorf("GET /api/v1/setup after the first admin = needed")
	}
	var list struct {
		Agents []struct {
			Login string `json:"login"`
		} `json:"agents"`
	}
	srv.api("GET", "/api/v1/agents", first.Token, nil, &list)
	if len(list.Agents) != 1 || list.Agents[0].Login != login {
		t.Errorf("agents after setup = %+v, want %s alone", list.Agents, login)
	}

	// `conversa agents add` with no --config, in the same directory, adds
	// to the same install (README's first run).
	if out, code := runConversa(t, srv.dir, "eva-password\n", "agents", "add", "--login", "eva", "--name", "Eva", "--role", "agent"); code != 0 {
		t.Fatalf("agents add without --config = exit %d:\n%s", code, out)
	}
	srv.signIn("eva", "eva-password")

	srv.stop()
	srv.restart()
	banner := srv.banner(bannerEnd)
	if strings.Contains(banner, "/setup?token=") {
		t.Errorf("the banner prints a setup URL although an admin exists:\n%s", banner)
	}
	if status := srv.api("POST", "/api/v1/setup", "", setupBody(token, "mallory", "Mallory", "mallory-password"), &again); status != 403 {
		t.Errorf("the old token after a restart = %d, want 403", status)
	}
	srv.signIn(login, login+"-password")
}

// A restart before anyone set up prints a new URL; the earlier one works
// too (nothing tells which one the newcomer kept).
func TestSetupTokenOfAnEarlierStart(t *testing.T) {
	srv := newBareServer(t)
	old := srv.setupToken(srv.banner(bannerEnd))
	srv.stop()
	srv.restart()
	if fresh := srv.setupToken(srv.banner(bannerEnd)); fresh == old {
		t.Errorf("a restart printed the same setup token %q", old)
	}
	var got setupAnswer
	if status := srv.api("POST", "/api/v1/setup", "", setupBody(old, "ana", "Ana", "ana-password"), &got); status != 201 {
		t.Errorf("setup with the first start's token = %d %+v, want 201", status, got.Error)
	}
}

// Several nodes on one PostgreSQL database each print their own URL, and
// any of those tokens works on any node, once.
func TestSetupAcrossNodes(t *testing.T) {
	c := newCluster(t, 2, func(dbURL string) string {
		return fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\n\n[storage]\nurl = %q\n", dbURL)
	})
	a, b := c.nodes[0], c.nodes[1]
	tokenA := a.setupToken(a.banner("/setup?token="))
	tokenB := b.setupToken(b.banner("/setup?token="))
	if tokenA == tokenB {
		t.Fatalf("both nodes printed the same token")
	}
	var got setupAnswer
	if status := b.api("POST", "/api/v1/setup", "", setupBody(tokenA, "ana", "Ana", "ana-password"), &got); status != 201 {
		t.Fatalf("node B: setup with node A's token = %d %+v, want 201", status, got.Error)
	}
	if status := a.api("POST", "/api/v1/setup", "", setupBody(tokenB, "bia", "Bia", "bia-password"), &got); status != 403 || got.Error.Code != "setup_done" {
		t.Errorf("node A: setup with node B's token after the first admin = %d %+v, want 403 setup_done", status, got.Error)
	}
	for i, n := range c.nodes {
		if n.setupNeeded() {
			t.Errorf("node %d: setup still needed", i)
		}
	}
	a.signIn("ana", "ana-password")
	if status, _ := a.do("GET", "/healthz", nil, nil); status != http.StatusOK {
		t.Errorf("node A healthz = %d", status)
	}
}
