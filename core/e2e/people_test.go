package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// agentsAdd creates an agent with `conversa agents add` on the server's
// configuration (the server may be running: SQLite serializes the writes).
func (s *server) agentsAdd(login, role, password string, args ...string) {
	s.t.Helper()
	cmd := exec.Command(binary, append([]string{"agents", "add", "--config", s.config, "--login", login,
		"--name", strings.ToUpper(login[:1]) + login[1:], "--role", role}, args...)...)
	cmd.Dir = s.dir
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("conversa agents add %s: %v\n%s", login, err, out)
	}
}

// signIn logs in through the API and returns the bearer token.
func (s *server) signIn(login, password string) string {
	s.t.Helper()
	var resp struct {
		Token string `json:"token"`
	}
	if status := s.api("POST", "/api/v1/login", "", map[string]string{"login": login, "password": password}, &resp); status != 200 {
		s.t.Fatalf("login %s = %d", login, status)
	}
	return resp.Token
}

// admin creates an admin and signs them in.
func (s *server) admin() string {
	s.t.Helper()
	s.agentsAdd("boss", "admin", "boss-password")
	return s.signIn("boss", "boss-password")
}

type apiConversation struct {
	ID        int64  `json:"id"`
	State     string `json:"state"`
	Squad     string `json:"squad"`
	Agent     string `json:"agent"`
	Origin    string `json:"origin"`
	EndReason string `json:"end_reason"`
	Contact   struct {
		ChannelUserID string `json:"channel_user_id"`
		Username      string `json:"username"`
		Name          string `json:"name"`
	} `json:"contact"`
	Messages []struct {
		ID        int64  `json:"id"`
		Direction string `json:"direction"`
		Author    string `json:"author"`
		Status    string `json:"status"`
		Deleted   bool   `json:"deleted"`
		Contents  []struct {
			Type string `json:"type"`
			Text string `json:"text"`
			URL  string `json:"url"`
		} `json:"contents"`
	} `json:"messages"`
}

// conversations lists conversations through the API.
func (s *server) conversations(token, query string) []apiConversation {
	s.t.Helper()
	var resp struct {
		Conversations []apiConversation `json:"conversations"`
	}
	if status := s.api("GET", "/api/v1/conversations"+query, token, nil, &resp); status != 200 {
		s.t.Fatalf("GET conversations%s = %d", query, status)
	}
	return resp.Conversations
}

// drained reports whether the server has processed every event and sent
// (or given up on) every message: the moment to check that something did
// not happen.
func (s *server) drained() bool {
	return s.count(`SELECT count(*) FROM inbox WHERE processed_at IS NULL`) == 0 &&
		s.count(`SELECT count(*) FROM outbox WHERE done_at IS NULL`) == 0
}

// searchable reports whether the server's search index has caught up with
// every stored message and contact (SQLite indexes them moments after it
// stores them).
func (s *server) searchable() bool {
	return s.count(`SELECT (SELECT indexed_to FROM search_progress) >= (SELECT coalesce(max(id), 0) FROM messages)
		AND (SELECT contacts_indexed_to FROM search_progress) >= (SELECT coalesce(max(id), 0) FROM contacts)`) == 1
}

// metaText is the webhook body Meta sends for one text message from sender
// to the business, written at.
func metaText(sender, mid, text string, at time.Time) []byte {
	b, _ := json.Marshal(map[string]any{
		"object": "instagram",
		"entry": []any{map[string]any{
			"id": businessID, "time": at.UnixMilli(),
			"messaging": []any{map[string]any{
				"sender": map[string]string{"id": sender}, "recipient": map[string]string{"id": businessID},
				"timestamp": at.UnixMilli(),
				"message":   map[string]string{"mid": mid, "text": text},
			}},
		}},
	})
	return b
}

// profileJSON is the Graph API's answer for a user profile.
func profileJSON(id, name, username string) string {
	b, _ := json.Marshal(map[string]string{"id": id, "name": name, "username": username,
		"profile_pic": "https://scontent.cdninstagram.com/" + username + ".jpg"})
	return string(b)
}

// advance moves a server's clock forward (the harness builds conversa with the
// conversa_testclock tag, which serves POST /debug/clock).
func (s *server) advance(d time.Duration) {
	s.t.Helper()
	status, body := s.do("POST", fmt.Sprintf("/debug/clock?seconds=%d", int(d.Seconds())), nil, nil)
	if status != 204 {
		s.t.Fatalf("moving the clock = %d %s", status, body)
	}
}

// settingOf reads an integration's stored setting from the database,
// decrypted with the install's key when it is a secret.
func (s *server) settingOf(integration, key string) string {
	s.t.Helper()
	var v string
	if err := s.db().QueryRow(`SELECT coalesce(json_extract(settings, '$.'||?), '') FROM integrations WHERE id = ?`, key, integration).Scan(&v); err != nil {
		s.t.Fatal(err)
	}
	if strings.HasPrefix(v, "enc:v1:") {
		return s.decrypt(integration, key, v)
	}
	return v
}

// publicURL is what the server shows as the base of webhook URLs.
func (s *server) publicURL() string {
	b, _ := os.ReadFile(s.config)
	if m := regexp.MustCompile(`public_url = "([^"]+)"`).FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return s.URL // no public URL configured: the address the server bound
}

func newJar() http.CookieJar {
	jar, _ := cookiejar.New(nil)
	return jar
}

func decode(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
