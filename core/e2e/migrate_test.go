package e2e

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// conversationDetails reads every conversation through the REST API as an
// admin sees it, messages included, keyed by id: what must survive a move
// to another database unchanged.
func (s *server) conversationDetails(token string) map[int64]map[string]any {
	s.t.Helper()
	out := map[int64]map[string]any{}
	for _, c := range s.conversations(token, "?limit=1000") {
		var detail map[string]any
		if status := s.api("GET", fmt.Sprintf("/api/v1/conversations/%d", c.ID), token, nil, &detail); status != 200 {
			s.t.Fatalf("GET conversation %d = %d", c.ID, status)
		}
		out[c.ID] = detail
	}
	return out
}

// withPassword returns dbURL with a password in it, and that password: the
// one it has, else a made-up one (the test server trusts loopback
// connections, so any password is accepted), so that the test can check the
// command never prints it.
func withPassword(t *testing.T, dbURL string) (string, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := u.User.Password(); ok {
		return dbURL, p
	}
	const secret = "e2e-s3cret-pw"
	u.User = url.UserPassword(u.User.Username(), secret)
	return u.String(), secret
}

func TestMigrateSQLiteInstallToPostgres(t *testing.T) {
	dbURL, secret := withPassword(t, pgDatabase(t))
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	admin := srv.admin()
	srv.agentsAdd("ana", "agent", "ana-password")
	ana := srv.signIn("ana", "ana-password")
	if status := srv.api("PUT", "/api/v1/me/status", ana, map[string]string{"status": "available"}, nil); status != 200 {
		t.Fatalf("set available = %d", status)
	}

	// An install with some history: a chat handed to ana, who answers and
	// ends it; a chat the assistant keeps; a user's second conversation.
	srv.postMeta("ig-meta", metaSecret, metaText("6001", "mig-1", "talk to a person", time.Now()))
	eventually(t, "the handoff assigned to ana", func() bool { return len(srv.conversations(ana, "?state=assigned")) == 1 })
	first := srv.conversations(ana, "?state=assigned")[0]
	if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", first.ID), ana,
		map[string]any{"contents": []map[string]string{{"type": "text", "text": "Olá, aqui é a Ana 😊"}}}, nil); status != 202 {
		t.Fatalf("ana's reply = %d", status)
	}
	srv.settle()
	if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/end", first.ID), ana, nil, nil); status != 200 {
		t.Fatalf("End = %d", status)
	}
	srv.postMeta("ig-meta", metaSecret, metaText("6001", "mig-2", "oi de novo", time.Now()))
	srv.postMeta("ig-meta", metaSecret, metaText("6002", "mig-3", "menu", time.Now()))
	srv.settle()
	before := srv.conversationDetails(admin)
	if len(before) != 3 {
		t.Fatalf("conversations before the move = %d, want 3", len(before))
	}
	var maxMessage int64
	for _, c := range before {
		for _, m := range c["messages"].([]any) {
			maxMessage = max(maxMessage, int64(m.(map[string]any)["id"].(float64)))
		}
	}
	srv.stop()

	// The command's refusals, each exit 1 with one line and no password.
	refusedIn := func(dir, why, want string, args ...string) {
		t.Helper()
		out, code := runConversa(t, dir, "", append([]string{"migrate"}, args...)...)
		if code != 1 || !strings.Contains(out, want) || strings.Count(strings.TrimSpace(out), "\n") != 0 || strings.Contains(out, secret) {
			t.Errorf("migrate %s = exit %d:\n%s\nwant exit 1 with one line about %q, without the password", why, code, out, want)
		}
	}
	refused := func(why, want string, args ...string) { t.Helper(); refusedIn(srv.dir, why, want, args...) }
	refused("without --to", "--to", "--config", srv.config)
	refused("to a MySQL URL", "PostgreSQL URL", "--config", srv.config, "--to", "mysql://root:"+secret+"@127.0.0.1/conversa")
	refused("to a server that does not answer", "connect", "--config", srv.config,
		"--to", "postgres://postgres:"+secret+"@127.0.0.1:1/conversa?sslmode=disable&connect_timeout=5")
	// Without --config: the default path, ./data/conversa.db, here absent.
	empty := t.TempDir()
	refusedIn(empty, "of a missing SQLite file", "no SQLite database", "--to", dbURL)
	if _, err := os.Stat(filepath.Join(empty, "data")); err == nil {
		t.Error("migrate created a database where there was none")
	}

	out, code := runConversa(t, srv.dir, "", "migrate", "--config", srv.config, "--to", dbURL)
	if code != 0 {
		t.Fatalf("migrate = exit %d:\n%s", code, out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("migrate printed the database password:\n%s", out)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\s+conversations\s+3$`),
		regexp.MustCompile(`(?m)^\s+agents\s+2$`),
		regexp.MustCompile(`(?m)^\s+messages\s+\d+$`),
		regexp.MustCompile(`\[storage\]`),
	} {
		if !want.MatchString(out) {
			t.Errorf("migrate summary does not match %s:\n%s", want, out)
		}
	}

	// The same install on PostgreSQL: the SQLite configuration is kept
	// aside, the server's now names the database.
	sqliteConfig := filepath.Join(srv.dir, "conversa-sqlite.toml")
	cfg, err := os.ReadFile(srv.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sqliteConfig, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	pgConfig := regexp.MustCompile(`(?m)^path = .*$`).ReplaceAllString(string(cfg), fmt.Sprintf("url = %q", dbURL))
	if err := os.WriteFile(srv.config, []byte(pgConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(srv.dir, "data"), filepath.Join(srv.dir, "sqlite-data")); err != nil {
		t.Fatal(err) // so nothing can read the old file by mistake
	}
	// The secrets moved encrypted: the install keeps its key file.
	if err := os.Mkdir(filepath.Join(srv.dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(srv.dir, "sqlite-data", "secret.key"), filepath.Join(srv.dir, "data", "secret.key")); err != nil {
		t.Fatal(err)
	}
	srv.restart()

	// Signed-in sessions moved too: the tokens from before still work.
	if status := srv.api("GET", "/api/v1/me", ana, nil, nil); status != 200 {
		t.Errorf("ana's token after the move = %d, want 200", status)
	}
	after := srv.conversationDetails(admin)
	for id, want := range before {
		if got := after[id]; !reflect.DeepEqual(got, want) {
			t.Errorf("conversation %d after the move:\n got  %v\n want %v", id, got, want)
		}
	}
	if len(after) != len(before) {
		t.Errorf("conversations after the move = %d, want %d", len(after), len(before))
	}
	srv.signIn("ana", "ana-password") // the password hash moved

	// The install goes on: a new message gets an id after the copied ones.
	srv.postMeta("ig-meta", metaSecret, metaText("6002", "mig-4", "oi", time.Now()))
	eventually(t, "the new message stored and answered", func() bool {
		for _, c := range srv.conversationDetails(admin) {
			var in, out bool
			for _, m := range c["messages"].([]any) {
				m := m.(map[string]any)
				if int64(m["id"].(float64)) > maxMessage {
					in = in || m["direction"] == "in"
					out = out || m["direction"] == "out"
				}
			}
			if in && out {
				return true
			}
		}
		return false
	})
	srv.stop()

	// Nothing to migrate from a PostgreSQL configuration; and the database
	// now holds data, so migrating into it again is refused.
	refused("of a PostgreSQL configuration", "already uses PostgreSQL", "--config", srv.config, "--to", dbURL)
	os.RemoveAll(filepath.Join(srv.dir, "data"))
	os.Rename(filepath.Join(srv.dir, "sqlite-data"), filepath.Join(srv.dir, "data"))
	refused("into the populated database", "already holds data", "--config", sqliteConfig, "--to", dbURL)
}
