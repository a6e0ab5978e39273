package e2e

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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
	eventually(t, "the contact searchable", srv.searchable)
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

// A provider's whole-second timestamp ("…:03Z") and the reply made in the
// same second ("…:03.075Z"): the user's message comes first in the agent's
// thread. Compared as text, "." sorts before "Z" and the reply showed above
// the message it answers (S9 item 1, seen with Zenvia, whose timestamps are
// whole seconds; Meta's here, set to a whole second).
func TestConsoleThreadOrdersAWholeSecondBeforeItsMilliseconds(t *testing.T) {
	srv, ctx, ana := anaAvailableInTheConsole(t)

	// Early in a second, so the assistant's reply is made within it.
	for time.Now().Nanosecond() > 300e6 {
		time.Sleep(10 * time.Millisecond)
	}
	second := time.Now().Truncate(time.Second)
	mustPostMeta(t, srv, metaEventAt(t, "01-message-text.json", second, func(m map[string]any) {
		m["message"].(map[string]any)["text"] = handoffText
	}))
	waitFor(t, ctx, "the chat in Ana's list", `!!document.querySelector('.chat-list li[data-conversation]')`)
	id := evalJS[int](t, ctx, `Number(document.querySelector('.chat-list li[data-conversation]').dataset.conversation)`)
	var conv struct {
		Messages []struct {
			Direction string    `json:"direction"`
			CreatedAt time.Time `json:"created_at"`
		} `json:"messages"`
	}
	srv.api("GET", fmt.Sprintf("/api/v1/conversations/%d", id), ana, nil, &conv)
	if len(conv.Messages) < 2 || !conv.Messages[1].CreatedAt.Truncate(time.Second).Equal(second) {
		t.Skipf("the reply was not made in the message's second (%+v): nothing to order here", conv.Messages)
	}
	act(t, ctx, "opening the chat", chromedp.Click(chromedp.CSS(chatItem(id))), chromedp.WaitVisible(chromedp.CSS("#reply-text")))
	waitFor(t, ctx, "the message and the assistant's reply", `document.querySelector('.thread .msg-in') && document.querySelector('.thread .by-assistant')`)
	first := evalJS[string](t, ctx, `(() => {
		const all = [...document.querySelectorAll('.thread .msg-in, .thread .by-assistant')];
		return all[0].classList.contains('msg-in') ? 'message' : 'reply';
	})()`)
	if first != "message" {
		t.Errorf("the thread shows the %s first; want the user's message (%s) above the reply made %s later",
			first, second.Format(time.RFC3339Nano), conv.Messages[1].CreatedAt.Sub(second))
	}
}

// Transfer to one's own squad, the dialog's default, when no one else in
// it is free: the squad gives the chat straight back, and it stays in the
// agent's list (it used to vanish until a reload; S9 item 3).
func TestConsoleTransferToOwnSquadKeepsTheChat(t *testing.T) {
	srv, ctx, ana := anaAvailableInTheConsole(t)
	mustPostMeta(t, srv, userMessage(t, handoffText))
	waitFor(t, ctx, "the chat in Ana's list", `!!document.querySelector('.chat-list li[data-conversation]')`)
	id := evalJS[int](t, ctx, `Number(document.querySelector('.chat-list li[data-conversation]').dataset.conversation)`)
	act(t, ctx, "opening the chat", chromedp.Click(chromedp.CSS(chatItem(id))), chromedp.WaitVisible(chromedp.CSS("#reply-text")))
	act(t, ctx, "transferring to her own squad (the default)",
		chromedp.Click(chromedp.CSS("#chat-transfer")),
		chromedp.WaitVisible(chromedp.CSS("#transfer-squad")),
		chromedp.Click(chromedp.CSS("#dialog-ok")))
	eventually(t, "the conversation back with Ana on the server", func() bool {
		var c struct{ State, Agent string }
		srv.api("GET", fmt.Sprintf("/api/v1/conversations/%d", id), ana, nil, &c)
		return c.State == "assigned" && c.Agent == agentAna.Login
	})
	time.Sleep(time.Second) // every live event about it has arrived
	if !evalJS[bool](t, ctx, fmt.Sprintf(`!!document.querySelector(%s)`, jsString(chatItem(id)))) {
		t.Error("the chat left Ana's list although the squad gave it back to her")
	}
}

// anaAvailableInTheConsole starts a Meta install with agent Ana, signs her
// in in a real browser and sets her Available (on the server too); it
// returns the server, the browser and her bearer token.
func anaAvailableInTheConsole(t *testing.T) (*server, context.Context, string) {
	t.Helper()
	srv, _, ctx, ana := anaInTheConsole(t, "")
	return srv, ctx, ana
}

// anaInTheConsole is anaAvailableInTheConsole with the fake Graph API the
// install sends to; extra is prepended to its configuration.
func anaInTheConsole(t *testing.T, extra string) (*server, *fakeGraph, context.Context, string) {
	t.Helper()
	graph := newFakeGraph(t)
	srv := newConsoleServer(t, extra+metaConfig(graph.URL, ""), nil, agentAna)
	graph.setProfile(customerA, profileOf(srv))
	ctx := newBrowser(t)
	browserSignIn(t, ctx, srv, agentAna.Login, agentAna.Password)
	act(t, ctx, "choosing Available", chromedp.Click(chromedp.CSS("#status-switch .st-available")))
	waitFor(t, ctx, "the status switch to show Available", `document.querySelector('#status-switch').dataset.status === 'available'`)
	ana := srv.bearer(agentAna.Login, agentAna.Password)
	eventually(t, "Ana available on the server", func() bool {
		var me struct{ Status string }
		srv.api("GET", "/api/v1/me", ana, nil, &me)
		return me.Status == "available"
	})
	return srv, graph, ctx, ana
}
