package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/conversa/conversa/core/agents"
	"github.com/conversa/conversa/core/engine"
	"github.com/conversa/conversa/core/events"
	"github.com/conversa/conversa/core/media"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/scripting"
	"github.com/conversa/conversa/core/server"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/sqlite"
)

// bodyRoutes are the API's requests with a JSON body, each with a body that
// it accepts, for the seeds. {conv} is a conversation of the fuzz install.
var bodyRoutes = []struct {
	method, path string
	public       bool // no session
	// deterministic: the same refused request is refused alike (the login
	// and setup limiters count attempts).
	deterministic bool
	seed          string
}{
	{"POST", "/api/v1/login", true, false, `{"login": "boss", "password": "wrong-password"}`},
	{"POST", "/api/v1/setup", true, false, `{"token": "x", "login": "root", "name": "Root", "password": "long-enough-password"}`},
	{"PUT", "/api/v1/me/status", false, true, `{"status": "available"}`},
	{"POST", "/api/v1/conversations/{conv}/messages", false, true, `{"contents": [{"type": "text", "text": "Olá!"}]}`},
	{"POST", "/api/v1/conversations/{conv}/messages", false, true, `{"contents": [{"type": "text", "text": "note"}], "private": true}`},
	{"POST", "/api/v1/conversations/{conv}/read", false, true, `{"message_id": 1}`},
	{"POST", "/api/v1/conversations/{conv}/transfer", false, true, `{"squad": "geral"}`},
	{"PUT", "/api/v1/conversations/{conv}/labels", false, true, `{"labels": ["vip", "reembolso"]}`},
	{"POST", "/api/v1/conversations/{conv}/assign", false, true, `{"agent": "ana"}`},
	{"POST", "/api/v1/integrations", false, true, `{"id": "ig-2", "name": "Second", "channel": "meta", "settings": {"account_id": "1"}}`},
	{"PUT", "/api/v1/integrations/ig-fuzz", false, true, `{"id": "ig-fuzz", "name": "Fuzz", "channel": "meta", "squad": "geral", "inactivity_minutes": 60}`},
	{"POST", "/api/v1/agents", false, true, `{"login": "bia", "name": "Bia", "role": "agent", "password": "bia-password", "squads": ["geral"], "max_chats": 3}`},
	{"PUT", "/api/v1/agents/ana", false, true, `{"name": "Ana Lima", "role": "agent", "squads": ["geral", "vendas"], "max_chats": 4, "active": true}`},
	{"PUT", "/api/v1/agents/ana/status", false, true, `{"status": "paused"}`},
	{"POST", "/api/v1/canned_responses", false, true, `{"shortcut": "oi", "text": "Olá! Como posso ajudar?", "squad": ""}`},
	{"PUT", "/api/v1/canned_responses/1", false, true, `{"shortcut": "horario", "text": "Abrimos às 9h.", "squad": "geral"}`},
	{"POST", "/api/v1/scripts/check", false, true, `{"name": "routing.lua", "source": "function route(ev)\n  if conversa.in_hours(\"mon-fri 09:00-18:00\", \"America/Sao_Paulo\") then return {to = \"squad\", reply = \"oi\"} end\nend\n"}`},
	{"PUT", "/api/v1/scripts/routing.lua", false, true, `{"source": "function route(ev) return nil end"}`},
}

// fuzzServer is a whole server in process on a fresh SQLite database: an
// admin signed in, an agent, an integration and one of its conversations.
type fuzzServer struct {
	srv   *server.Server
	token string
	conv  int64
}

func newFuzzServer(f *testing.F) *fuzzServer {
	ctx := context.Background()
	dir := f.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "conversa.db"), sqlite.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	// No plugin: nothing here may depend on one running.
	host, err := pluginhost.New(pluginhost.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(host.Close)
	hooks, err := scripting.New(scripting.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { hooks.Close() })
	bus := events.New(256)
	eng, err := engine.New(engine.Options{Store: st, Plugins: host, Hooks: hooks, Bus: bus, PublicURL: "http://127.0.0.1:8080", Node: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	people := agents.New(agents.Options{Store: st, Bus: bus})
	eng.SetAssigner(people)
	library, err := media.Open(filepath.Join(dir, "media"), 1<<20, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, a := range []*model.Agent{
		{ID: "boss", Name: "Boss", Role: model.RoleAdmin},
		{ID: "ana", Name: "Ana", Role: model.RoleAgent, Squads: []string{"geral"}, MaxChats: 8},
	} {
		if err := agents.Create(ctx, st.Agents(), a, a.ID+"-password"); err != nil {
			f.Fatal(err)
		}
	}
	in := &model.Integration{ID: "ig-fuzz", Name: "Fuzz", Channel: "meta", Squad: "geral", Enabled: true, Source: model.SourceAPI,
		InactivityMinutes: 60, Settings: map[string]any{"account_id": "1"}}
	if err := st.Integrations().Put(ctx, in); err != nil {
		f.Fatal(err)
	}
	ct, err := st.Contacts().Upsert(ctx, "ig-fuzz", "7425819036458213", store.ContactHints{Name: "Zé"}, st.Now())
	if err != nil {
		f.Fatal(err)
	}
	conv := &model.Conversation{Integration: "ig-fuzz", ContactID: ct.ID, State: model.StateBot, Origin: model.OriginDirect}
	if _, err := st.Conversations().Start(ctx, conv); err != nil {
		f.Fatal(err)
	}
	if err := eng.Reload(ctx); err != nil {
		f.Fatal(err)
	}
	fs := &fuzzServer{conv: conv.ID, srv: server.New(server.Options{Engine: eng, Store: st, Plugins: host, Agents: people,
		Scripts: hooks, BodyLimitKB: 64, Version: "fuzz", Squads: []string{"geral", "vendas"}, Media: library,
		PublicURL: "http://127.0.0.1:8080"})}
	status, body := fs.do("POST", "/api/v1/login", "", []byte(`{"login": "boss", "password": "boss-password"}`))
	var login struct {
		Token string `json:"token"`
	}
	if status != 200 || json.Unmarshal(body, &login) != nil || login.Token == "" {
		f.Fatalf("login = %d %s", status, body)
	}
	fs.token = login.Token
	return fs
}

func (fs *fuzzServer) do(method, path, token string, body []byte) (int, []byte) {
	req := httptest.NewRequest(method, strings.ReplaceAll(path, "{conv}", fmt.Sprint(fs.conv)), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := fs.srv.App().Test(req, 10_000)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

var fixtureText = regexp.MustCompile(`"text":\s*"((?:[^"\\]|\\.)*)"`)

// FuzzAPIBodies sends any body to every API request that decodes one.
func FuzzAPIBodies(f *testing.F) {
	for i, r := range bodyRoutes {
		f.Add(uint8(i), []byte(r.seed))
		f.Add(uint8(i), []byte(`{"nme": "typo"}`))
	}
	// What the webhook fixtures' contacts wrote, as an agent's messages.
	names, _ := filepath.Glob(filepath.Join("..", "e2e", "testdata", "*.json"))
	if len(names) == 0 {
		f.Fatal("no fixtures in ../e2e/testdata")
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, m := range fixtureText.FindAllSubmatch(b, -1) {
			f.Add(uint8(3), []byte(`{"contents": [{"type": "text", "text": "`+string(m[1])+`"}]}`))
		}
	}
	fs := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := bodyRoutes[int(route)%len(bodyRoutes)]
		token := fs.token
		if r.public {
			token = ""
		}
		status, answer := fs.do(r.method, r.path, token, body)
		what := fmt.Sprintf("%s %s %q", r.method, r.path, body)
		// 503: a valid send waits for the channel plugin, which this
		// install does not run.
		if status == 0 || status >= 500 && (status != 503 || !bytes.Contains(answer, []byte(`"code":"unavailable"`))) {
			t.Fatalf("%s = %d %s: a body must never make the server fail", what, status, answer)
		}
		if !utf8.Valid(answer) {
			t.Fatalf("%s: the answer is not UTF-8: %q", what, answer)
		}
		if status >= 400 {
			var e struct {
				Error *struct {
					Code    string `json:"code"`
					Message string `json:"message"`
					Field   string `json:"field"`
				} `json:"error"`
			}
			if err := json.Unmarshal(answer, &e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%s = %d %s: want {\"error\": {\"code\", \"message\", \"field\"}}", what, status, answer)
			}
			if len(answer) > 4096 {
				t.Fatalf("%s = %d with a %d-byte error: it must not echo the body", what, status, len(answer))
			}
			// Our words, never a library's (S11: json's and bcrypt's texts
			// reached clients).
			for _, lib := range []string{"json:", "bcrypt", "unexpected end of JSON", "invalid character", "cannot unmarshal"} {
				if strings.Contains(e.Error.Message, lib) {
					t.Fatalf("%s = %d %q: a library's text reached the client", what, status, e.Error.Message)
				}
			}
			// Refused, nothing changed: the same request is refused alike.
			if r.deterministic {
				again, second := fs.do(r.method, r.path, token, body)
				if again != status || !bytes.Equal(second, answer) {
					t.Fatalf("%s = %d %s, then %d %s", what, status, answer, again, second)
				}
			}
		}
		// The session survives whatever the body did.
		if s, b := fs.do("GET", "/api/v1/me", fs.token, nil); s != http.StatusOK {
			t.Fatalf("after %s: GET /api/v1/me = %d %s", what, s, b)
		}
	})
}
