package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The agent's workspace (issue S9): defects a first day finds, each
// through the real binary.

// Opening a chat marks what the agent has seen, not what has yet to come:
// a message that arrives after the chat was opened (and the console
// reloaded) counts as unread.
func TestUnreadSurvivesOpeningTheChat(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	srv.agentsAdd("ana", "agent", "ana-password")
	ana := srv.signIn("ana", "ana-password")
	srv.api("PUT", "/api/v1/me/status", ana, map[string]string{"status": "available"}, nil)
	srv.postMeta("ig-meta", metaSecret, metaText("3001", "u1", "talk to a person", time.Now()))
	eventually(t, "the chat assigned to ana", func() bool { return len(srv.conversations(ana, "?state=assigned")) == 1 })
	id := srv.conversations(ana, "?state=assigned")[0].ID

	// The console opens the chat: "read", with no message id (all of it).
	if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/read", id), ana, nil, nil); status != 204 {
		t.Fatalf("POST read = %d, want 204", status)
	}
	unread := func() int {
		var c struct {
			Unread int `json:"unread"`
		}
		srv.api("GET", fmt.Sprintf("/api/v1/conversations/%d", id), ana, nil, &c)
		return c.Unread
	}
	if n := unread(); n != 0 {
		t.Fatalf("unread right after opening = %d, want 0", n)
	}
	srv.postMeta("ig-meta", metaSecret, metaText("3001", "u2", "are you there?", time.Now()))
	eventually(t, "the new message stored", func() bool {
		return srv.count(`SELECT count(*) FROM messages WHERE conversation_id = ? AND direction = 'in'`, id) == 2
	})
	if n := unread(); n != 1 {
		t.Errorf("unread after a new message = %d, want 1: opening the chat earlier must not mark later messages read", n)
	}
}

// Agents search the way they see a username: with its @.
func TestSearchFindsAnAtUsername(t *testing.T) {
	graph := newFakeGraph(t)
	graph.setProfile("4001", profileJSON("4001", "Ana Souza", "ana.souza"))
	srv := newServer(t, metaConfig(graph.URL, ""))
	admin := srv.admin()
	srv.postMeta("ig-meta", metaSecret, metaText("4001", "s1", "hi", time.Now()))
	eventually(t, "the conversation with its profile", func() bool {
		return srv.count(`SELECT count(*) FROM contacts WHERE username = 'ana.souza'`) == 1
	})
	for _, q := range []string{"ana.souza", "@ana.souza", "@Ana.Souza", " @ana.souza "} {
		if got := srv.conversations(admin, "?q="+url.QueryEscape(q)); len(got) != 1 {
			t.Errorf("search %q = %d conversations, want 1", q, len(got))
		}
	}
}

// A reaction reaches the console live: the message event it causes carries
// the message's reactions (it used to carry none until a reload).
func TestReactionArrivesLive(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	admin := srv.admin()
	srv.deliverMeta("ig-meta", fresh(fixture(t, "01-message-text.json")))
	srv.settle()
	stream := srv.events(admin, "")
	defer stream.close()
	srv.deliverMeta("ig-meta", withMid(fresh(fixture(t, "19-reaction-react.json")), mid01))
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-stream.events:
			if !ok {
				t.Fatal("event stream closed")
			}
			if e.typ == "message" && strings.Contains(e.data, `"reactions"`) {
				if !strings.Contains(e.data, "\u2764\ufe0f") || !strings.Contains(e.data, `"contact"`) {
					t.Errorf("live reaction event %s, want ❤️ by the contact", e.data)
				}
				return
			}
		case <-deadline:
			t.Fatal("no live message event carrying the reaction")
		}
	}
}
