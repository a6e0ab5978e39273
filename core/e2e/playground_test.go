package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// The playground (CONTRACT §8): a test phone whose actions go through the
// real channel plugins, the inbox, routing, the demo assistant and the
// outbox, and whose replies are caught by the built-in fakes of the
// providers' send APIs.

func playgroundConfig(on string) string {
	return `
[server]
listen = "127.0.0.1:0"
` + on + `

[storage]
path = "{{DIR}}/data/conversa.db"

[scripts]
dir = "{{DIR}}/scripts"

[plugins]
dir = "{{DIR}}/plugins"
`
}

const playgroundOn = "playground = true"

type phoneMessage struct {
	Direction string `json:"direction"`
	Mid       string `json:"mid"`
	Deleted   bool   `json:"deleted"`
	Contents  []struct {
		Type    string `json:"type"`
		Text    string `json:"text"`
		URL     string `json:"url"`
		Options []struct {
			Title   string `json:"title"`
			Payload string `json:"payload"`
		} `json:"options"`
	} `json:"contents"`
	Reactions []struct {
		Emoji string `json:"emoji"`
		By    string `json:"by"`
	} `json:"reactions"`
}

// phoneSend posts a test user's action and returns the status and mid.
func (s *server) phoneSend(token string, body map[string]string) (int, string) {
	s.t.Helper()
	var out struct {
		Mid   string `json:"mid"`
		Error struct {
			Field string `json:"field"`
		} `json:"error"`
	}
	status := s.api("POST", "/api/v1/playground/messages", token, body, &out)
	if status == 400 {
		return status, out.Error.Field
	}
	return status, out.Mid
}

// mustPhoneSend is phoneSend that wants a 202.
func (s *server) mustPhoneSend(token string, body map[string]string) string {
	s.t.Helper()
	status, mid := s.phoneSend(token, body)
	if status != 202 || mid == "" {
		s.t.Fatalf("POST /api/v1/playground/messages %v = %d %q, want 202 with a mid", body, status, mid)
	}
	return mid
}

// phone is what the user sees on the phone.
func (s *server) phone(token, channel, user string) []phoneMessage {
	s.t.Helper()
	var out struct {
		Messages []phoneMessage `json:"messages"`
	}
	path := fmt.Sprintf("/api/v1/playground/messages?channel=%s&user=%s", channel, user)
	if status := s.api("GET", path, token, nil, &out); status != 200 {
		s.t.Fatalf("GET %s = %d, want 200", path, status)
	}
	return out.Messages
}

// phoneReply waits for the n-th message that reaches the user (1-based).
func (s *server) phoneReply(token, channel, user string, n int) phoneMessage {
	s.t.Helper()
	var got phoneMessage
	eventually(s.t, fmt.Sprintf("reply %d on %s's %s phone", n, user, channel), func() bool {
		seen := 0
		for _, m := range s.phone(token, channel, user) {
			if m.Direction == "out" {
				if seen++; seen == n {
					got = m
					return true
				}
			}
		}
		return false
	})
	return got
}

// playgroundConversation finds the test user's conversation through the
// conversations API.
func (s *server) playgroundConversation(admin, channel, user string) apiConversation {
	s.t.Helper()
	var id int64
	eventually(s.t, user+"'s conversation through "+channel, func() bool {
		for _, c := range s.conversations(admin, "?integration=playground-"+channel) {
			if c.Contact.Username == user {
				id = c.ID
				return true
			}
		}
		return false
	})
	var c apiConversation
	if status := s.api("GET", fmt.Sprintf("/api/v1/conversations/%d", id), admin, nil, &c); status != 200 {
		s.t.Fatalf("GET conversation %d = %d", id, status)
	}
	return c
}

// Before anyone can sign in, the phone is open to this machine; the demo
// assistant answers through each channel, rendered as that channel shows
// it: buttons on Meta, numbered text on Zenvia.
func TestPlaygroundDemoAssistantAnswersOnBothChannels(t *testing.T) {
	srv := newServer(t, playgroundConfig(playgroundOn))
	for _, channel := range []string{"meta", "zenvia"} {
		mid := srv.mustPhoneSend("", map[string]string{"channel": channel, "user": "ana", "kind": "text", "text": "hi"})
		reply := srv.phoneReply("", channel, "ana", 1)
		msgs := srv.phone("", channel, "ana")
		if msgs[0].Direction != "in" || msgs[0].Mid != mid || msgs[0].Contents[0].Text != "hi" {
			t.Errorf("%s: the phone's first message = %+v, want ana's hi (%s)", channel, msgs[0], mid)
		}
		if len(reply.Contents) == 0 {
			t.Fatalf("%s: the reply has no contents: %+v", channel, reply)
		}
		c := reply.Contents[0]
		switch channel {
		case "meta":
			if c.Type != "quick_replies" || len(c.Options) == 0 || c.Text == "" {
				t.Errorf("meta: the greeting = %+v, want a text with quick reply buttons", c)
			}
		case "zenvia":
			if c.Type != "text" || !strings.Contains(c.Text, "\n1. ") {
				t.Errorf("zenvia: the greeting = %+v, want its quick replies as numbered text", c)
			}
		}
	}
	// Tapping a Meta button sends its payload, as Meta's quick_reply event.
	greeting := srv.phoneReply("", "meta", "ana", 1)
	opt := greeting.Contents[0].Options[0]
	srv.mustPhoneSend("", map[string]string{"channel": "meta", "user": "ana", "kind": "text", "text": opt.Title, "payload": opt.Payload})
	if r := srv.phoneReply("", "meta", "ana", 2); len(r.Contents) == 0 {
		t.Errorf("no answer to the tapped quick reply %q", opt.Title)
	}

	admin := srv.admin()
	c := srv.playgroundConversation(admin, "meta", "ana")
	if c.Contact.Name != "Ana" || c.Contact.ChannelUserID == "" {
		t.Errorf("contact = %+v, want Ana as Meta's profile lookup names her", c.Contact)
	}
	var assistant int
	for _, m := range c.Messages {
		if m.Direction == "out" && m.Author == "assistant" {
			assistant++
			if m.Status != "sent" && m.Status != "delivered" {
				t.Errorf("assistant message %d status %q, want sent", m.ID, m.Status)
			}
		}
	}
	if assistant < 2 {
		t.Errorf("the conversation has %d assistant messages, want the 2 the phone shows:\n%+v", assistant, c.Messages)
	}
	// Meta's echo of each reply went through the real echo path: it
	// confirmed our message rather than adding one typed in Meta's app.
	eventually(t, "the echoes processed", srv.drained)
	if n := srv.count(`SELECT count(*) FROM inbox WHERE integration_id = 'playground-meta' AND kind = 'echo'`); n < 2 {
		t.Errorf("%d echoes reached the inbox, want one per reply", n)
	}
	if n := srv.count(`SELECT count(*) FROM messages WHERE author = 'business'`); n != 0 {
		t.Errorf("%d echoes were taken for messages typed in the provider's app, want 0", n)
	}
}

// A story mention, a reaction and an unsend become what production traffic
// would: a story-mention message, a reaction on the message, a deleted
// message; "agent" hands off, and the agent's answer reaches the phone.
func TestPlaygroundStoryReactionUnsendAndHandOff(t *testing.T) {
	srv := newServer(t, playgroundConfig(playgroundOn))
	admin := srv.admin()
	for _, channel := range []string{"meta", "zenvia"} {
		user := "bia." + channel
		send := func(kind string, fields ...string) string {
			body := map[string]string{"channel": channel, "user": user, "kind": kind}
			for i := 0; i+1 < len(fields); i += 2 {
				body[fields[i]] = fields[i+1]
			}
			return srv.mustPhoneSend(admin, body)
		}
		send("text", "text", "hi")
		reply := srv.phoneReply(admin, channel, user, 1)
		if channel == "meta" {
			send("reaction", "mid", reply.Mid, "emoji", "❤️")
		}
		send("text", "text", "agent")
		eventually(t, channel+": the conversation queued", func() bool {
			return srv.playgroundConversation(admin, channel, user).State == "queued"
		})
		// A story mention (which goes to people anyway) and an unsend.
		send("story_mention", "url", "https://example.com/story.jpg")
		oops := send("text", "text", "typo, ignore me")
		send("unsend", "mid", oops)

		var c apiConversation
		eventually(t, channel+": the story mention and the unsend in the conversation", func() bool {
			c = srv.playgroundConversation(admin, channel, user)
			for _, m := range c.Messages {
				if m.Deleted {
					return true
				}
			}
			return false
		})
		var mention, deleted bool
		for _, m := range c.Messages {
			if m.Direction == "in" && len(m.Contents) > 0 && m.Contents[0].Type == "story_mention" && m.Contents[0].URL == "https://example.com/story.jpg" {
				mention = true
			}
			if m.Direction == "in" && m.Deleted {
				deleted = true
			}
		}
		if !mention || !deleted {
			t.Errorf("%s: story mention %v, deleted message %v, want both in:\n%+v", channel, mention, deleted, c.Messages)
		}
		if channel == "meta" {
			var reacted struct {
				Messages []struct {
					Direction string `json:"direction"`
					Reactions []struct {
						Emoji string `json:"emoji"`
					} `json:"reactions"`
				} `json:"messages"`
			}
			srv.api("GET", fmt.Sprintf("/api/v1/conversations/%d", c.ID), admin, nil, &reacted)
			hearts := 0
			for _, m := range reacted.Messages {
				for _, r := range m.Reactions {
					if r.Emoji == "❤️" && m.Direction == "out" {
						hearts++
					}
				}
			}
			if hearts != 1 {
				t.Errorf("meta: %d hearts on the assistant's messages, want the one ana gave", hearts)
			}
		}
		phone := srv.phone(admin, channel, user)
		for _, m := range phone {
			if m.Mid == oops && !m.Deleted {
				t.Errorf("%s: the phone still shows the unsent message as sent", channel)
			}
		}

		// The admin answers the queued chat; the phone receives it.
		answer := "Olá! Aqui é a " + channel + " team."
		if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", c.ID), admin,
			map[string]any{"contents": []map[string]string{{"type": "text", "text": answer}}}, nil); status != 202 {
			t.Fatalf("%s: the admin's answer = %d, want 202", channel, status)
		}
		eventually(t, channel+": the agent's answer on the phone", func() bool {
			for _, m := range srv.phone(admin, channel, user) {
				if m.Direction == "out" && len(m.Contents) > 0 && m.Contents[0].Text == answer {
					return true
				}
			}
			return false
		})
	}
}

// Once an agent exists, only an admin may use the phone.
func TestPlaygroundNeedsAnAdminOnceAnAgentExists(t *testing.T) {
	srv := newServer(t, playgroundConfig(playgroundOn))
	msg := map[string]string{"channel": "meta", "user": "ana", "kind": "text", "text": "oi"}
	srv.mustPhoneSend("", msg)
	if status := srv.api("GET", "/api/v1/playground/messages?channel=meta&user=ana", "", nil, nil); status != 200 {
		t.Errorf("GET the phone without a token before any agent = %d, want 200", status)
	}
	srv.agentsAdd("ana", "agent", "ana-password")
	if status, _ := srv.phoneSend("", msg); status != 401 {
		t.Errorf("POST without a token once an agent exists = %d, want 401", status)
	}
	if status := srv.api("GET", "/api/v1/playground/messages?channel=meta&user=ana", "", nil, nil); status != 401 {
		t.Errorf("GET without a token once an agent exists = %d, want 401", status)
	}
	// A proxy in front makes every request look local: not a way in.
	headers := map[string]string{"Content-Type": "application/json", "X-Forwarded-For": "203.0.113.9"}
	if status, _ := srv.do("GET", "/api/v1/playground", nil, headers); status != 401 {
		t.Errorf("GET through a proxy = %d, want 401", status)
	}
	if status, _ := srv.phoneSend(srv.signIn("ana", "ana-password"), msg); status != 403 {
		t.Errorf("POST as an agent = %d, want 403", status)
	}
	if status, _ := srv.phoneSend(srv.admin(), msg); status != 202 {
		t.Errorf("POST as an admin = %d, want 202", status)
	}
}

func TestPlaygroundRefusesBadInput(t *testing.T) {
	srv := newServer(t, playgroundConfig(playgroundOn))
	for _, tc := range []struct {
		body  map[string]string
		field string
	}{
		{map[string]string{"user": "ana", "text": "oi"}, "channel"},
		{map[string]string{"channel": "telegram", "user": "ana", "text": "oi"}, "channel"},
		{map[string]string{"channel": "meta", "text": "oi"}, "user"},
		{map[string]string{"channel": "meta", "user": "ana", "kind": "sticker"}, "kind"},
		{map[string]string{"channel": "meta", "user": "ana", "kind": "text"}, "text"},
		{map[string]string{"channel": "meta", "user": "ana", "kind": "image"}, "url"},
		{map[string]string{"channel": "meta", "user": "ana", "kind": "reaction", "mid": "nope", "emoji": "❤️"}, "mid"},
		{map[string]string{"channel": "zenvia", "user": "ana", "kind": "reaction", "mid": "x", "emoji": "❤️"}, "kind"},
		{map[string]string{"channel": "meta", "user": "ana", "kind": "unsend"}, "mid"},
	} {
		if status, field := srv.phoneSend("", tc.body); status != 400 || field != tc.field {
			t.Errorf("POST %v = %d naming %q, want 400 naming %q", tc.body, status, field, tc.field)
		}
	}
	if status, _ := srv.do("POST", "/api/v1/playground/messages", []byte(`channel=meta&user=ana&text=oi`),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); status != 415 {
		t.Errorf("a form post = %d, want 415 (only JSON, which another site cannot send unasked)", status)
	}
	if status := srv.api("GET", "/api/v1/playground/messages?channel=meta", "", nil, nil); status != 400 {
		t.Errorf("GET without a user = %d, want 400", status)
	}
}

// The built-in integrations are marked, never reach a real provider, and
// cannot be turned into real ones.
func TestPlaygroundIntegrationsAreBuiltIn(t *testing.T) {
	srv := newServer(t, playgroundConfig(playgroundOn))
	admin := srv.admin()
	var list struct {
		Integrations []struct {
			ID         string         `json:"id"`
			Channel    string         `json:"channel"`
			Assistant  string         `json:"assistant"`
			Squad      string         `json:"squad"`
			Playground bool           `json:"playground"`
			Enabled    bool           `json:"enabled"`
			Available  bool           `json:"available"`
			Settings   map[string]any `json:"settings"`
		} `json:"integrations"`
	}
	srv.api("GET", "/api/v1/integrations", admin, nil, &list)
	got := map[string]bool{}
	for _, in := range list.Integrations {
		got[in.ID] = true
		if !in.Playground || !in.Enabled || !in.Available || in.Assistant != "demo" || in.Squad != "geral" {
			t.Errorf("%s = %+v, want a marked, enabled, available integration of the demo assistant and squad geral", in.ID, in)
		}
		url, _ := in.Settings["graph_url"].(string)
		if in.Channel == "zenvia" {
			url, _ = in.Settings["api_url"].(string)
		}
		if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.Contains(url, "/playground/fake/") {
			t.Errorf("%s sends to %q, want the built-in fake on loopback", in.ID, url)
		}
	}
	if !got["playground-meta"] || !got["playground-zenvia"] || len(got) != 2 {
		t.Errorf("integrations = %v, want playground-meta and playground-zenvia", got)
	}

	real := map[string]any{"id": "playground-meta", "name": "Mine", "channel": "meta",
		"settings": map[string]any{"graph_url": "https://graph.instagram.com", "access_token": "real", "app_secret": "real"}}
	var refusal struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if status := srv.api("PUT", "/api/v1/integrations/playground-meta", admin, real, &refusal); status != 403 || refusal.Error.Code != "playground" {
		t.Errorf("PUT a built-in = %d %+v, want 403 playground", status, refusal)
	}
	if status := srv.api("DELETE", "/api/v1/integrations/playground-zenvia", admin, nil, nil); status != 403 {
		t.Errorf("DELETE a built-in = %d, want 403", status)
	}
	real["id"] = "playground-zenvia"
	real["channel"] = "zenvia"
	var invalid struct {
		Error struct{ Field string } `json:"error"`
	}
	if status := srv.api("POST", "/api/v1/integrations", admin, real, &invalid); status != 400 || invalid.Error.Field != "id" {
		t.Errorf("POST an integration with a built-in's id = %d %+v, want 400 naming id", status, invalid)
	}
	var after struct {
		Settings map[string]any `json:"settings"`
	}
	srv.api("GET", "/api/v1/integrations/playground-meta", admin, nil, &after)
	if url, _ := after.Settings["graph_url"].(string); !strings.Contains(url, "/playground/fake/meta") {
		t.Errorf("after the refusals graph_url = %q, want the fake still", url)
	}
}

// Off (a config file that does not turn it on): no phone, no built-in
// integrations, even those made while it was on.
func TestPlaygroundOffHasNoPhoneAndNoBuiltIns(t *testing.T) {
	srv := newServer(t, playgroundConfig(playgroundOn))
	srv.mustPhoneSend("", map[string]string{"channel": "meta", "user": "ana", "kind": "text", "text": "hi"})
	srv.phoneReply("", "meta", "ana", 1)
	srv.stop()
	if err := os.WriteFile(srv.config, []byte(strings.ReplaceAll(playgroundConfig(""), "{{DIR}}", srv.dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	srv.restart()
	admin := srv.admin()
	for _, path := range []string{"/api/v1/playground", "/api/v1/playground/messages?channel=meta&user=ana"} {
		if status := srv.api("GET", path, admin, nil, nil); status != 404 {
			t.Errorf("GET %s with the playground off = %d, want 404", path, status)
		}
	}
	if status, _ := srv.phoneSend(admin, map[string]string{"channel": "meta", "user": "ana", "text": "hi"}); status != 404 {
		t.Errorf("POST to the phone with the playground off = %d, want 404", status)
	}
	var list struct {
		Integrations []struct {
			ID string `json:"id"`
		} `json:"integrations"`
	}
	srv.api("GET", "/api/v1/integrations", admin, nil, &list)
	if len(list.Integrations) != 0 {
		t.Errorf("integrations with the playground off = %+v, want none", list.Integrations)
	}
	for _, id := range []string{"playground-meta", "playground-zenvia"} {
		if status := srv.api("GET", "/api/v1/integrations/"+id, admin, nil, nil); status != 404 {
			t.Errorf("GET /api/v1/integrations/%s = %d, want 404", id, status)
		}
		if status, _ := srv.do("POST", "/webhooks/"+id, []byte(`{}`), map[string]string{"Content-Type": "application/json"}); status != 404 {
			t.Errorf("POST /webhooks/%s = %d, want 404", id, status)
		}
	}
	if status, _ := srv.do("POST", "/playground/fake/meta/v25.0/me/messages", []byte(`{}`), map[string]string{"Content-Type": "application/json"}); status == 200 {
		t.Errorf("the fake Meta answered 200 with the playground off")
	}
	// The conversation had while it was on is still there.
	if convs := srv.conversations(admin, "?integration=playground-meta"); len(convs) != 1 {
		t.Errorf("conversations of the playground = %d, want the one ana had", len(convs))
	}
}
