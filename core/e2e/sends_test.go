package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Sends an agent can rely on (issue S9 items 5, 8 and 9): a message that
// was not delivered says why and can be sent again; an integration answers
// a photo unless told not to; no one goes Available where no chat can
// reach them.

// apiMessage is a Message of the API, with what a retry answers.
type apiMessage struct {
	ID        int64  `json:"id"`
	Direction string `json:"direction"`
	Author    string `json:"author"`
	Status    string `json:"status"`
	Error     string `json:"error"`
	Resent    bool   `json:"resent"`
	Contents  []struct {
		Text string `json:"text"`
	} `json:"contents"`
}

// messagesOf lists a conversation's messages through the API.
func (s *server) messagesOf(token string, conv int64) []apiMessage {
	s.t.Helper()
	var c struct {
		Messages []apiMessage `json:"messages"`
	}
	if status := s.api("GET", fmt.Sprintf("/api/v1/conversations/%d", conv), token, nil, &c); status != 200 {
		s.t.Fatalf("GET conversation %d = %d", conv, status)
	}
	return c.Messages
}

// messageOf is one message of a conversation through the API.
func (s *server) messageOf(token string, conv, id int64) apiMessage {
	s.t.Helper()
	for _, m := range s.messagesOf(token, conv) {
		if m.ID == id {
			return m
		}
	}
	s.t.Fatalf("conversation %d has no message %d", conv, id)
	return apiMessage{}
}

// agentSends posts an agent's text to a conversation and returns the
// message (202, pending).
func (s *server) agentSends(token string, conv int64, text string) apiMessage {
	s.t.Helper()
	var m apiMessage
	body := map[string]any{"contents": []map[string]string{{"type": "text", "text": text}}}
	if status := s.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", conv), token, body, &m); status != 202 {
		s.t.Fatalf("POST a message to conversation %d = %d", conv, status)
	}
	return m
}

// retry asks for a message to be sent again and returns the status and the
// decoded body (a message, or an error).
func (s *server) retry(token string, conv int64, msg string) (int, apiMessage, apiError) {
	s.t.Helper()
	var m apiMessage
	var e apiError
	status, b := s.do("POST", fmt.Sprintf("/api/v1/conversations/%d/messages/%s/retry", conv, msg), []byte("{}"),
		map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + token})
	if status == 202 {
		if err := json.Unmarshal(b, &m); err != nil {
			s.t.Fatalf("retry answer %q: %v", b, err)
		}
	} else if err := json.Unmarshal(b, &e); err != nil {
		s.t.Fatalf("retry error %q: %v", b, err)
	}
	return status, m, e
}

// ref is a message id in a URL.
func ref(n int64) string { return fmt.Sprint(n) }

// waitFailed waits until a message is marked not delivered.
func (s *server) waitFailed(token string, conv, msg int64) apiMessage {
	s.t.Helper()
	var m apiMessage
	eventually(s.t, fmt.Sprintf("message %d not delivered", msg), func() bool {
		m = s.messageOf(token, conv, msg)
		return m.Status == "failed"
	})
	return m
}

const tokenExpired = "send/err-04-token-expired-190.json"

// A reply refused for good (Meta's expired token) is failed with Meta's
// reason in the API; once the provider takes messages again, Retry sends
// it: the fake Graph API receives it and it is sent, and every console
// hears it is pending again. What cannot be retried is refused: a message
// that did not fail, one of another conversation, one whose conversation
// ended or whose messaging window closed.
func TestRetrySendsAFailedMessageAgain(t *testing.T) {
	graph := newFakeGraph(t)
	graph.setSendError(string(fixture(t, tokenExpired)))
	// Inactivity off: a day passes at the end, and must not end the chat.
	srv := newServer(t, metaConfig(graph.URL, "inactivity_minutes = 0"))
	srv.agentsAdd("ana", "agent", "ana-password")
	srv.agentsAdd("bia", "agent", "bia-password")
	ana := srv.signIn("ana", "ana-password")
	bia := srv.signIn("bia", "bia-password")
	if status := srv.api("PUT", "/api/v1/me/status", ana, map[string]string{"status": "available"}, nil); status != 200 {
		t.Fatalf("ana available = %d", status)
	}
	srv.postMeta("ig-meta", metaSecret, metaText("5001", "r1", handoffText, time.Now()))
	srv.postMeta("ig-meta", metaSecret, metaText("5002", "r2", handoffText, time.Now()))
	eventually(t, "both chats assigned to ana", func() bool { return len(srv.conversations(ana, "?state=assigned")) == 2 })
	var a, b int64
	for _, c := range srv.conversations(ana, "?state=assigned") {
		if c.Contact.ChannelUserID == "5001" {
			a = c.ID
		} else {
			b = c.ID
		}
	}

	sent := srv.agentSends(ana, a, "Your order has shipped")
	failed := srv.waitFailed(ana, a, sent.ID)
	if !strings.Contains(failed.Error, "Session has expired") {
		t.Errorf("the failed message's error = %q, want Meta's reason (Session has expired)", failed.Error)
	}
	srv.settle()
	var inbound, otherFailed int64
	for _, m := range srv.messagesOf(ana, a) {
		if m.Direction == "in" {
			inbound = m.ID
		}
	}
	for _, m := range srv.messagesOf(ana, b) {
		if m.Direction == "out" && m.Status == "failed" {
			otherFailed = m.ID
		}
	}
	if inbound == 0 || otherFailed == 0 {
		t.Fatalf("want the user's message in %d and a failed reply in %d; have %d, %d", a, b, inbound, otherFailed)
	}

	for _, tc := range []struct {
		name, token, msg string
		conv             int64
		status           int
		code             string
	}{
		{"no such message", ana, "999999", a, 404, "not_found"},
		{"not a number", ana, "abc", a, 404, "not_found"},
		{"another conversation's message", ana, ref(otherFailed), a, 404, "not_found"},
		{"another agent's chat", bia, ref(sent.ID), a, 404, "not_found"},
		{"the user's message", ana, ref(inbound), a, 409, "not_failed"},
	} {
		status, _, e := srv.retry(tc.token, tc.conv, tc.msg)
		if status != tc.status || e.Error.Code != tc.code || e.Error.Message == "" {
			t.Errorf("retry %s = %d %+v, want %d %s with a message", tc.name, status, e.Error, tc.status, tc.code)
		}
	}
	if n := len(graph.sends()); n != srv.count(`SELECT count(*) FROM outbox`) {
		t.Errorf("the refusals reached Meta: %d Send API calls for %d outbox rows", n, srv.count(`SELECT count(*) FROM outbox`))
	}

	// Meta takes messages again (the operator entered a new token).
	graph.setSendError("")
	stream := srv.events(ana, "")
	defer stream.close()
	before := len(graph.sends())
	status, again, e := srv.retry(ana, a, ref(sent.ID))
	if status != 202 || again.ID != sent.ID || again.Status != "pending" || again.Error != "" || !again.Resent {
		t.Fatalf("retry = %d %+v %+v, want 202 with message %d pending again, its error cleared, resent", status, again, e.Error, sent.ID)
	}
	for {
		ev := stream.next(t, "status")
		var e struct {
			Data apiMessage `json:"data"`
		}
		if json.Unmarshal([]byte(ev.data), &e) == nil && e.Data.ID == sent.ID && e.Data.Status == "pending" {
			if !e.Data.Resent {
				t.Errorf("live status event %s, want it marked resent", ev.data)
			}
			break
		}
	}
	eventually(t, "the retried message at the Graph API", func() bool {
		for _, r := range graph.sends()[before:] {
			if r.Text() == "Your order has shipped" && r.Recipient() == "5001" {
				return true
			}
		}
		return false
	})
	eventually(t, "the retried message sent", func() bool { return srv.messageOf(ana, a, sent.ID).Status == "sent" })
	if status, _, e := srv.retry(ana, a, ref(sent.ID)); status != 409 || e.Error.Code != "not_failed" {
		t.Errorf("retry of a sent message = %d %+v, want 409 not_failed", status, e.Error)
	}

	// An ended conversation's failed reply stays as it is.
	if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/end", b), ana, nil, nil); status != 200 {
		t.Fatalf("End = %d", status)
	}
	if status, _, e := srv.retry(ana, b, ref(otherFailed)); status != 409 || e.Error.Code != "ended" {
		t.Errorf("retry in an ended conversation = %d %+v, want 409 ended", status, e.Error)
	}

	// A day later Instagram would refuse it: the channel is asked first.
	graph.setSendError(string(fixture(t, tokenExpired)))
	late := srv.agentSends(ana, a, "Are you still there?")
	srv.waitFailed(ana, a, late.ID)
	graph.setSendError("")
	srv.advance(25 * time.Hour)
	admin := srv.admin() // ana's session lapsed; an admin may retry any open chat
	before = len(graph.sends())
	if status, _, e := srv.retry(admin, a, ref(late.ID)); status != 409 || e.Error.Code != "outside_window" {
		t.Errorf("retry after the window closed = %d %+v, want 409 outside_window", status, e.Error)
	}
	srv.settle()
	if m := srv.messageOf(admin, a, late.ID); m.Status != "failed" || len(graph.sends()) != before {
		t.Errorf("after the refusal: status %s, %d new Send API calls; want failed and none", m.Status, len(graph.sends())-before)
	}
}

// An admin in no squad cannot go Available (no chat would reach them),
// nor be set Available by another; paused and offline are theirs to set.
func TestNoSquadCannotBeAvailable(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	boss := srv.admin()
	srv.agentsAdd("lead", "admin", "lead-password", "--squads", "geral")
	lead := srv.signIn("lead", "lead-password")

	var e apiError
	if status := srv.api("PUT", "/api/v1/me/status", boss, map[string]string{"status": "available"}, &e); status != 409 ||
		e.Error.Code != "no_squad" || !strings.Contains(e.Error.Message, "no squad") {
		t.Errorf("PUT me/status available with no squad = %d %+v, want 409 no_squad saying why", status, e.Error)
	}
	e = apiError{}
	if status := srv.api("PUT", "/api/v1/agents/boss/status", lead, map[string]string{"status": "available"}, &e); status != 409 ||
		e.Error.Code != "no_squad" || !strings.Contains(e.Error.Message, "boss") {
		t.Errorf("PUT agents/boss/status available = %d %+v, want 409 no_squad naming boss", status, e.Error)
	}
	var me struct{ Status string }
	srv.api("GET", "/api/v1/me", boss, nil, &me)
	if me.Status != "offline" {
		t.Errorf("boss after the refusals = %s, want offline", me.Status)
	}
	if status := srv.api("PUT", "/api/v1/me/status", boss, map[string]string{"status": "paused"}, nil); status != 200 {
		t.Errorf("PUT me/status paused with no squad = %d, want 200", status)
	}
	if status := srv.api("PUT", "/api/v1/me/status", lead, map[string]string{"status": "available"}, nil); status != 200 {
		t.Errorf("PUT me/status available for an admin in geral = %d, want 200", status)
	}
}

// zenviaAPIConfig is a server with no integration: the operator creates
// them through the API, pointed at the test's fake on loopback.
const zenviaAPIConfig = `
[server]
listen = "127.0.0.1:0"
allow_private_urls = true

[storage]
path = "{{DIR}}/data/conversa.db"

[scripts]
dir = "{{DIR}}/scripts"

[plugins]
dir = "{{DIR}}/plugins"
`

// An integration created through the API without unsupported-media
// messages answers a photo with the default reply (S9 item 8); one created
// with an empty list does not answer it.
func TestZenviaIntegrationFromTheAPIAnswersAPhoto(t *testing.T) {
	zenvia := newFakeZenvia(t)
	srv := newServer(t, zenviaAPIConfig)
	admin := srv.admin()
	integration := func(id string, messages []string) map[string]any {
		in := map[string]any{"id": id, "name": "Loja " + id, "channel": "zenvia", "assistant": "demo",
			"settings": map[string]any{"sender_id": zenviaSender, "api_token": zenviaToken, "api_url": zenvia.URL,
				"webhook_username": zenviaHookUser, "webhook_token": zenviaHookToken}}
		if messages != nil {
			in["unsupported_media_messages"] = messages
		}
		return in
	}
	for _, tc := range []struct {
		id       string
		messages []string
		want     string
	}{
		{"ig-zenvia", nil, unsupportedReply},
		{"ig-quiet", []string{}, ""},
	} {
		var got struct {
			UnsupportedMediaMessages []string `json:"unsupported_media_messages"`
		}
		if status := srv.api("POST", "/api/v1/integrations", admin, integration(tc.id, tc.messages), &got); status != 201 {
			t.Fatalf("POST integration %s = %d", tc.id, status)
		}
		if strings.Join(got.UnsupportedMediaMessages, "|") != tc.want {
			t.Errorf("%s: unsupported_media_messages = %q, want %q", tc.id, got.UnsupportedMediaMessages, tc.want)
		}
	}

	// The quiet one: recorded, not answered.
	quiet := zenviaEvent(t, "zenvia/message_in_image.json", nil)
	if status, b := srv.do("POST", "/webhooks/ig-quiet", quiet, map[string]string{"Content-Type": "application/json",
		"Username": zenviaHookUser, "AuthenticationToken": zenviaHookToken}); status != 200 {
		t.Fatalf("POST the photo to ig-quiet = %d %s", status, b)
	}
	srv.settle()
	if n := len(zenvia.sends()); n != 0 {
		t.Errorf("ig-quiet answered the photo (%d requests); want no reply, its list is empty", n)
	}

	srv.deliver(zenviaEvent(t, "zenvia/message_in_image.json", nil))
	got := waitSends(t, zenvia, 1)[0]
	if got.Text() != unsupportedReply || got.From() != zenviaSender {
		t.Errorf("reply to the photo = %v from %q, want the default %q from %q", got.Contents(), got.From(), unsupportedReply, zenviaSender)
	}
}

// The console shows why a message was not delivered as text under it, not
// only in a tooltip, and a Retry button that gets it sent: the fake Graph
// API receives it and the bubble turns Sent.
func TestConsoleRetryShowsTheReasonAndSendsAgain(t *testing.T) {
	srv, graph, ctx, _, _ := anaChatOnScreen(t)
	srv.settle()

	graph.setSendError(string(fixture(t, tokenExpired)))
	const text = "Your order has shipped"
	act(t, ctx, "replying", chromedp.SendKeys(chromedp.CSS("#reply-text"), text), chromedp.Click(chromedp.CSS(".composer .send")))
	failedBubble := `[...document.querySelectorAll('.thread li.msg.by-agent')].find(li => li.textContent.includes(` + jsString(text) + `))`
	waitFor(t, ctx, "the reply marked Not delivered with its reason", `(`+failedBubble+`)?.querySelector('.msg-failure .failure-reason')`)
	reason := evalJS[string](t, ctx, `(`+failedBubble+`).querySelector('.failure-reason').innerText`)
	if !strings.Contains(reason, "Session has expired") {
		t.Errorf("the reason shown under the message = %q, want Meta's (Session has expired)", reason)
	}
	// Visible text, not a tooltip: it takes room on the page.
	if visible := evalJS[bool](t, ctx, `(() => { const r = (`+failedBubble+`).querySelector('.failure-reason').getBoundingClientRect(); return r.width > 0 && r.height > 0; })()`); !visible {
		t.Error("the reason under the message is not visible")
	}
	screenshot(t, ctx, screenshotDir(t), "message-not-delivered")

	graph.setSendError("")
	before := len(graph.sends())
	act(t, ctx, "pressing Retry", chromedp.Click(chromedp.CSS(".thread .msg-failure button.retry")))
	eventually(t, "the retried reply at the Graph API", func() bool {
		for _, r := range graph.sends()[before:] {
			if r.Text() == text {
				return true
			}
		}
		return false
	})
	waitFor(t, ctx, "the bubble to turn Sent", `(`+failedBubble+`)?.querySelector('.delivery-sent') && !(`+failedBubble+`).querySelector('.msg-failure')`)
}

// An admin in no squad who chooses Available is told why not, and the
// switch stays where it was.
func TestConsoleNoSquadAvailableIsRefused(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newConsoleServer(t, metaConfig(graph.URL, ""), nil, adminOlga)
	ctx := newBrowser(t)
	browserSignIn(t, ctx, srv, adminOlga.Login, adminOlga.Password)
	waitFor(t, ctx, "the chats hint about squads", `document.querySelector('.list-hint')?.textContent.includes('no squad')`)
	act(t, ctx, "choosing Available", chromedp.Click(chromedp.CSS("#status-switch .st-available")))
	waitFor(t, ctx, "the refusal", `[...document.querySelectorAll('.toast')].some(t => t.textContent.includes('no squad'))`)
	if got := evalJS[string](t, ctx, `document.querySelector('#status-switch').dataset.status`); got != "offline" {
		t.Errorf("the status switch after the refusal = %q, want offline", got)
	}
}
