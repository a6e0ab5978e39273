package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The console's browser tests: the agent's day of the Dígitro Interact
// document (sign in, set available, a Direct message arrives with the
// user's name, reply, unsend, End), the operator creating a Zenvia
// integration, and the agent view on a phone.

var (
	agentAna  = agentSpec{Login: "ana", Name: "Ana Lima", Role: "agent", Password: "ana-secret-1"}
	adminOlga = agentSpec{Login: "olga", Name: "Olga Pereira", Role: "admin", Password: "olga-secret-1"}
)

// metaEvent reads a Meta fixture, lets edit change its first messaging
// item, and moves its timestamps to now.
func metaEvent(t *testing.T, name string, edit func(m map[string]any)) []byte {
	t.Helper()
	return metaEventAt(t, name, time.Now(), edit)
}

// metaEventAt is metaEvent with the timestamps set to at.
func metaEventAt(t *testing.T, name string, at time.Time, edit func(m map[string]any)) []byte {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(fixture(t, name), &body); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	m := body["entry"].([]any)[0].(map[string]any)["messaging"].([]any)[0].(map[string]any)
	if edit != nil {
		edit(m)
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return freshAt(b, at)
}

// handoffText makes the demo assistant queue the conversation for squad
// geral (its "human" intent).
const handoffText = "talk to a person"

// userMessage is fixture 01 with another text: the user's Direct message.
func userMessage(t *testing.T, text string) []byte {
	return metaEvent(t, "01-message-text.json", func(m map[string]any) {
		m["message"].(map[string]any)["text"] = text
	})
}

func mustPostMeta(t *testing.T, srv *server, body []byte) {
	t.Helper()
	if status, b := srv.postMeta("ig-meta", metaSecret, body); status != 200 {
		t.Fatalf("POST /webhooks/ig-meta = %d %s, want 200", status, b)
	}
}

// profileOf is the fake profile endpoint's answer for customerA. The
// picture is a missing file of the console's own server: the browser must
// not reach the Internet, and the avatar falls back to initials.
func profileOf(srv *server) string {
	return fmt.Sprintf(`{"name":"Ana Souza","username":"ana.souza.style","profile_pic":%q,"id":%q}`,
		srv.URL+"/static/no-such-avatar.jpg", customerA)
}

// chatItem selects the chat list's entry of a conversation.
func chatItem(id int) string {
	return fmt.Sprintf(`.chat-list li[data-conversation="%d"] a.chat-item`, id)
}

func TestConsoleAgentAnswersADirectMessage(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newConsoleServer(t, metaConfig(graph.URL, ""), nil, agentAna, adminOlga)
	graph.setProfile(customerA, profileOf(srv))
	adminToken := srv.bearer(adminOlga.Login, adminOlga.Password)
	ctx := newBrowser(t)
	shots := screenshotDir(t)

	browserSignIn(t, ctx, srv, agentAna.Login, agentAna.Password)
	if got := textOf(t, ctx, ".chats .pane-head h1"); got != "Chats" {
		t.Errorf("agent's first page heading = %q, want the chat list (Chats)", got)
	}
	if n := evalJS[int](t, ctx, `document.querySelectorAll('#mainnav a:not([hidden])').length`); n > 1 {
		t.Errorf("an agent sees %d navigation entries, want only Chats (the operator's pages are for admins)", n)
	}

	// Available: the server may now push chats to Ana.
	act(t, ctx, "choosing Available", chromedp.Click(chromedp.CSS("#status-switch .st-available")))
	waitFor(t, ctx, "the status switch to show Available", `document.querySelector('#status-switch').dataset.status === 'available'`)
	eventually(t, "Ana available on the server", func() bool {
		var out struct {
			Agents []struct{ ID, Status string } `json:"agents"`
		}
		srv.api("GET", "/api/v1/agents", adminToken, nil, &out)
		for _, a := range out.Agents {
			if a.ID == agentAna.Login {
				return a.Status == "available"
			}
		}
		return false
	})

	// The user writes on Instagram and asks for a person.
	mustPostMeta(t, srv, userMessage(t, handoffText))
	waitFor(t, ctx, "the new chat in Ana's list with the user's name",
		`[...document.querySelectorAll('.chat-list .chat-item-name')].some(e => e.textContent === 'Ana Souza')`)
	id := evalJS[int](t, ctx, `Number(document.querySelector('.chat-list li[data-conversation]').dataset.conversation)`)
	if id == 0 {
		t.Fatal("the chat list entry has no conversation id")
	}
	if got := evalJS[string](t, ctx, `document.title`); !strings.HasPrefix(got, "(1) ") {
		t.Errorf("title with a new, unopened chat = %q, want the badge \"(1) Conversa\"", got)
	}

	// Ana opens it: the user's name and message, and the assistant's
	// hand-off reply, are there.
	act(t, ctx, "opening the chat",
		chromedp.Click(chromedp.CSS(chatItem(id))),
		chromedp.WaitVisible(chromedp.CSS("#reply-text")))
	if got := textOf(t, ctx, ".chat-head .chat-name"); got != "Ana Souza" {
		t.Errorf("chat header name = %q, want Ana Souza (from the profile API)", got)
	}
	if got := textOf(t, ctx, ".chat-head .chat-sub a"); got != "@ana.souza.style" {
		t.Errorf("chat header username = %q, want @ana.souza.style", got)
	}
	// The profile's picture no longer loads: the initials stand in.
	waitFor(t, ctx, "the initials in place of the missing picture",
		`!document.querySelector('.chat-head .avatar img') && document.querySelector('.chat-head .avatar-initials')?.textContent === 'AS'`)
	waitFor(t, ctx, "the user's message in the chat",
		`[...document.querySelectorAll('.thread .msg-in .text')].some(e => e.textContent === `+jsString(handoffText)+`)`)
	waitFor(t, ctx, "the assistant's reply labelled as the assistant",
		`[...document.querySelectorAll('.thread .by-assistant .msg-author')].some(e => e.textContent === 'Assistant')`)
	waitFor(t, ctx, "the title badge cleared once the chat is open", `document.title === 'Conversa'`)

	// Ana replies from the reply box; Enter sends.
	reply := "Hi Ana! I'm Ana Lima. Yes, the blue jacket is available in M."
	act(t, ctx, "typing the reply and pressing Enter", chromedp.SendKeys(chromedp.CSS("#reply-text"), reply), pressEnter())
	eventually(t, "the reply at the Graph API", func() bool {
		for _, r := range graph.sends() {
			if r.Text() == reply {
				return true
			}
		}
		return false
	})
	for _, r := range graph.sends() {
		if r.Text() == reply && r.Recipient() != customerA {
			t.Errorf("reply sent to %q, want %q", r.Recipient(), customerA)
		}
	}
	waitFor(t, ctx, "Ana's reply in the chat, delivered",
		`[...document.querySelectorAll('.thread .by-agent')].some(e => e.textContent.includes(`+jsString(reply)+`) && e.querySelector('.delivery-sent, .delivery-delivered, .delivery-read'))`)
	waitFor(t, ctx, "the reply box emptied after sending", `document.querySelector('#reply-text').value === ''`)

	// The user unsends their message.
	mustPostMeta(t, srv, metaEvent(t, "15-message-deleted-unsend.json", nil))
	waitFor(t, ctx, "\"Message deleted\" in place of the user's message",
		`[...document.querySelectorAll('.thread .msg-in')].some(e => e.querySelector('.deleted')?.textContent === 'Message deleted')`)
	if evalJS[bool](t, ctx, `[...document.querySelectorAll('.thread .msg-in .text')].some(e => e.textContent === `+jsString(handoffText)+`)`) {
		t.Error("the unsent message's text is still shown")
	}
	screenshot(t, ctx, shots, "agent-view")

	// End, confirmed in the dialog: the chat leaves the list.
	act(t, ctx, "ending the conversation",
		chromedp.Click(chromedp.CSS(".chat-actions .button.danger")),
		chromedp.WaitVisible(chromedp.CSS("#dialog-ok")),
		chromedp.Click(chromedp.CSS("#dialog-ok")))
	waitFor(t, ctx, "the chat to leave the list", fmt.Sprintf(`!document.querySelector(%s)`, jsString(chatItem(id))))
	waitFor(t, ctx, "the chat panel to close", `!document.querySelector('#reply-text')`)
	var conv struct {
		State     string `json:"state"`
		EndReason string `json:"end_reason"`
	}
	if status := srv.api("GET", fmt.Sprintf("/api/v1/conversations/%d", id), adminToken, nil, &conv); status != 200 {
		t.Fatalf("GET the conversation = %d", status)
	}
	if conv.State != "ended" || conv.EndReason != "agent" {
		t.Errorf("conversation after End = %s (%s), want ended (agent)", conv.State, conv.EndReason)
	}
}

func TestConsoleShowsTheWindowRefusal(t *testing.T) {
	graph := newFakeGraph(t)
	// Inactivity off: a day passes, and must not end the conversation
	// before the agent tries to answer.
	srv := newConsoleServer(t, metaConfig(graph.URL, "inactivity_minutes = 0"), nil, agentAna)
	graph.setProfile(customerA, profileOf(srv))
	ctx := newBrowser(t)

	browserSignIn(t, ctx, srv, agentAna.Login, agentAna.Password)
	act(t, ctx, "choosing Available", chromedp.Click(chromedp.CSS("#status-switch .st-available")))
	waitFor(t, ctx, "Available", `document.querySelector('#status-switch').dataset.status === 'available'`)
	mustPostMeta(t, srv, userMessage(t, handoffText))
	waitFor(t, ctx, "the chat in the list", `document.querySelector('.chat-list .chat-item-name')?.textContent === 'Ana Souza'`)
	act(t, ctx, "opening the chat", chromedp.Click(chromedp.CSS(".chat-list a.chat-item")), chromedp.WaitVisible(chromedp.CSS("#reply-text")))
	srv.settle()
	// A day and an hour pass on the server: Instagram's 24-hour window has
	// closed, and so has Ana's session (12 hours): the console asks her to
	// sign in again.
	srv.clockForward(25 * time.Hour)
	act(t, ctx, "reloading the console", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#login-name")))
	browserSignIn(t, ctx, srv, agentAna.Login, agentAna.Password)
	act(t, ctx, "opening the chat again", chromedp.Click(chromedp.CSS(".chat-list a.chat-item")), chromedp.WaitVisible(chromedp.CSS("#reply-text")))

	late := "Sorry for the delay! Do you still need the jacket?"
	act(t, ctx, "replying", chromedp.SendKeys(chromedp.CSS("#reply-text"), late), pressEnter())
	waitFor(t, ctx, "the refusal above the reply box", `!document.querySelector('.composer-error').hidden`)
	if got := textOf(t, ctx, ".composer-error"); !strings.Contains(got, "Instagram will not deliver this reply") {
		t.Errorf("refusal = %q, want it to say Instagram will not deliver the reply", got)
	}
	if got := evalJS[string](t, ctx, `document.querySelector('#reply-text').value`); got != late {
		t.Errorf("reply box after the refusal = %q, want the text kept (%q)", got, late)
	}
	screenshot(t, ctx, screenshotDir(t), "window-refusal")
	if evalJS[bool](t, ctx, `[...document.querySelectorAll('.thread .by-agent')].some(e => e.textContent.includes(`+jsString(late)+`))`) {
		t.Error("the refused reply shows in the chat as if it were sent")
	}
	srv.settle()
	for _, r := range graph.sends() {
		if r.Text() == late {
			t.Errorf("the Graph API received the refused reply: %v", r.Body)
		}
	}
}

func TestConsoleStoryMentionShowsTheStoryOrAPlaceholder(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newConsoleServer(t, metaConfig(graph.URL, ""), nil, agentAna)
	graph.setProfile(customerA, profileOf(srv))
	ctx := newBrowser(t)

	browserSignIn(t, ctx, srv, agentAna.Login, agentAna.Password)
	act(t, ctx, "choosing Available", chromedp.Click(chromedp.CSS("#status-switch .st-available")))
	waitFor(t, ctx, "Available", `document.querySelector('#status-switch').dataset.status === 'available'`)

	// A story whose CDN link has expired (the console's server answers 404
	// for it), then one that loads.
	story := func(url, mid string) []byte {
		return metaEvent(t, "11-message-story-mention.json", func(m map[string]any) {
			msg := m["message"].(map[string]any)
			msg["mid"] = mid
			msg["attachments"].([]any)[0].(map[string]any)["payload"].(map[string]any)["url"] = url
		})
	}
	mustPostMeta(t, srv, story(srv.URL+"/static/expired-story.jpg", "mid-story-expired"))
	waitFor(t, ctx, "the story mention as a new chat", `document.querySelector('.chat-list .badge-story')?.textContent === 'Story mention'`)
	act(t, ctx, "opening the chat", chromedp.Click(chromedp.CSS(".chat-list a.chat-item")), chromedp.WaitVisible(chromedp.CSS(".thread")))
	waitFor(t, ctx, "the expired story's placeholder", `document.querySelector('.thread .story-gone')?.textContent === 'Story no longer available'`)

	mustPostMeta(t, srv, story(srv.URL+"/static/icon.svg", "mid-story-live"))
	waitFor(t, ctx, "the second story, loaded",
		`[...document.querySelectorAll('.thread .story-media img')].some(i => i.complete && i.naturalWidth > 0)`)
	if n := evalJS[int](t, ctx, `document.querySelectorAll('.thread .story-gone').length`); n != 1 {
		t.Errorf("placeholders = %d, want 1 (only the expired story)", n)
	}
}

func TestConsoleOperatorCreatesAZenviaIntegration(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newConsoleServer(t, metaConfig(graph.URL, ""), nil, adminOlga)
	adminToken := srv.bearer(adminOlga.Login, adminOlga.Password)
	ctx := newBrowser(t)
	shots := screenshotDir(t)

	browserSignIn(t, ctx, srv, adminOlga.Login, adminOlga.Password)
	act(t, ctx, "opening the new integration form",
		chromedp.Click(chromedp.CSS(`#mainnav a[data-section="integrations"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/integrations/new"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/integrations/new"]`)),
		chromedp.WaitVisible(chromedp.CSS("#int-set-sender_id")))
	// The choices come from the server (GET /api/v1/channels and
	// /assistants): the channel plugins and the configured assistants.
	waitFor(t, ctx, "the channels meta and zenvia", `['meta', 'zenvia'].every(v => [...document.querySelectorAll('#int-channel option')].some(o => o.value === v))`)
	waitFor(t, ctx, "the demo assistant", `[...document.querySelectorAll('#int-assistant option')].some(o => o.value === 'demo')`)
	// A new integration answers unsupported media unless told not to (S9
	// item 8): the field starts with the default reply.
	if got := evalJS[string](t, ctx, `document.querySelector('#int-unsupported_media_messages').value`); got != unsupportedReply {
		t.Errorf("the new form's unsupported-media messages = %q, want the default %q", got, unsupportedReply)
	}
	act(t, ctx, "filling the form",
		chromedp.SetValue(chromedp.CSS("#int-channel"), "zenvia"),
		chromedp.SendKeys(chromedp.CSS("#int-name"), "Loja Centro"),
		chromedp.WaitVisible(chromedp.CSS("#int-set-sender_id")),
		chromedp.SendKeys(chromedp.CSS("#int-set-sender_id"), "loja-centro-ig"),
		chromedp.SendKeys(chromedp.CSS("#int-set-api_token"), "zenvia-secret-token-9876"),
		chromedp.SetValue(chromedp.CSS("#int-inactivity_minutes"), "5"),
		chromedp.SendKeys(chromedp.CSS("#int-homologation_users"), "@tester.one\ntester.two"),
		chromedp.SetValue(chromedp.CSS("#int-unsupported_media_messages"), "Desculpe, só leio texto, áudio e vídeo."),
		chromedp.Click(chromedp.CSS(".integration-form button[type=submit]")))

	// Inactivity 5 is refused by the server, and said under its field.
	waitFor(t, ctx, "the inactivity error under its field", `!document.querySelector('#int-inactivity_minutes-error').hidden`)
	if got := textOf(t, ctx, "#int-inactivity_minutes-error"); !strings.Contains(got, "10") || !strings.Contains(got, "1440") {
		t.Errorf("inactivity error = %q, want the 10..1440 rule", got)
	}
	if got := evalJS[string](t, ctx, `document.querySelector('#int-inactivity_minutes').getAttribute('aria-invalid') || ''`); got != "true" {
		t.Errorf("inactivity field aria-invalid = %q, want true", got)
	}
	if status := srv.api("GET", "/api/v1/integrations/loja-centro", adminToken, nil, nil); status != 404 {
		t.Errorf("GET the refused integration = %d, want 404 (nothing created)", status)
	}

	act(t, ctx, "fixing inactivity and saving",
		chromedp.SetValue(chromedp.CSS("#int-inactivity_minutes"), "30"),
		chromedp.Click(chromedp.CSS(".integration-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#webhook-url")))

	var want struct {
		Webhook struct {
			URL     string            `json:"url"`
			Headers map[string]string `json:"headers"`
		} `json:"webhook"`
		InactivityMinutes        int      `json:"inactivity_minutes"`
		HomologationUsers        []string `json:"homologation_users"`
		UnsupportedMediaMessages []string `json:"unsupported_media_messages"`
	}
	if status := srv.api("GET", "/api/v1/integrations/loja-centro", adminToken, nil, &want); status != 200 {
		t.Fatalf("GET /api/v1/integrations/loja-centro = %d, want 200", status)
	}
	if !strings.HasSuffix(want.Webhook.URL, "/webhooks/loja-centro") || want.Webhook.Headers["Username"] == "" || want.Webhook.Headers["AuthenticationToken"] == "" {
		t.Fatalf("the API's webhook = %+v, want a URL and both headers", want.Webhook)
	}
	for sel, value := range map[string]string{
		"#webhook-url":                        want.Webhook.URL,
		"#webhook-header-Username":            want.Webhook.Headers["Username"],
		"#webhook-header-AuthenticationToken": want.Webhook.Headers["AuthenticationToken"],
	} {
		if got := textOf(t, ctx, sel); got != value {
			t.Errorf("page %s = %q, want %q (as the API has it)", sel, got, value)
		}
	}
	if n := evalJS[int](t, ctx, `document.querySelectorAll('.webhook button.copy').length`); n != 3 {
		t.Errorf("copy buttons on the webhook card = %d, want 3 (URL and two headers)", n)
	}
	// Inactivity ends the conversation; nothing "restarts" (S9 item 9).
	if got := textOf(t, ctx, "#summary-inactivity dd"); !strings.Contains(got, "After 30 minutes") || !strings.Contains(got, "the conversation ends") {
		t.Errorf("the service card says %q, want that after 30 minutes of silence the conversation ends", got)
	}
	// Both subscriptions Zenvia needs: messages, and the status reports
	// without which replies never show as delivered or read (S9 item 7).
	if help := textOf(t, ctx, ".webhook p"); !strings.Contains(help, "MESSAGE_STATUS") || !strings.Contains(help, "two webhook subscriptions") {
		t.Errorf("webhook instructions %q do not ask for the MESSAGE_STATUS subscription", help)
	}
	if want.InactivityMinutes != 30 || strings.Join(want.HomologationUsers, ",") != "tester.one,tester.two" {
		t.Errorf("stored inactivity %d, homologation users %v; want 30 and [tester.one tester.two]", want.InactivityMinutes, want.HomologationUsers)
	}
	if got := strings.Join(want.UnsupportedMediaMessages, "|"); got != "Desculpe, só leio texto, áudio e vídeo." {
		t.Errorf("stored unsupported-media messages %q, want the operator's text in place of the default", got)
	}
	page := evalJS[string](t, ctx, `document.body.innerText`)
	for _, shown := range []string{"@tester.one", "@tester.two", "30 minutes", "Desculpe, só leio texto, áudio e vídeo."} {
		if !strings.Contains(page, shown) {
			t.Errorf("integration page does not show %q", shown)
		}
	}
	if strings.Contains(page, "zenvia-secret-token-9876") {
		t.Error("integration page shows the API token in full; want it masked")
	}
	screenshot(t, ctx, shots, "integration-page")

	// Disable: confirmed, and the webhook stops answering.
	act(t, ctx, "disabling the integration",
		chromedp.Click(chromedp.CSS(".head-actions .button:not(.danger)")),
		chromedp.WaitVisible(chromedp.CSS("#dialog-ok")),
		chromedp.Click(chromedp.CSS("#dialog-ok")))
	waitFor(t, ctx, "the Disabled state", `[...document.querySelectorAll('.head-pills .pill')].some(p => p.textContent === 'Disabled')`)
	if status, _ := srv.do("POST", "/webhooks/loja-centro", []byte(`{}`), map[string]string{"Content-Type": "application/json"}); status != 404 {
		t.Errorf("POST to a disabled integration's webhook = %d, want 404", status)
	}
}

func TestConsoleAgentViewOnAPhone(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newConsoleServer(t, metaConfig(graph.URL, ""), nil, agentAna)
	graph.setProfile(customerA, profileOf(srv))
	ctx := newBrowser(t)
	shots := screenshotDir(t)

	act(t, ctx, "a phone-sized screen", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	browserSignIn(t, ctx, srv, agentAna.Login, agentAna.Password)
	act(t, ctx, "choosing Available", chromedp.Click(chromedp.CSS("#status-switch .st-available")))
	waitFor(t, ctx, "Available", `document.querySelector('#status-switch').dataset.status === 'available'`)
	mustPostMeta(t, srv, userMessage(t, handoffText))
	waitFor(t, ctx, "the chat in the list", `document.querySelector('.chat-list .chat-item-name')?.textContent === 'Ana Souza'`)

	fits := `document.documentElement.scrollWidth <= window.innerWidth`
	if !evalJS[bool](t, ctx, fits) {
		t.Errorf("the chat list is wider than the screen (%d > %d)", evalJS[int](t, ctx, `document.documentElement.scrollWidth`), evalJS[int](t, ctx, `window.innerWidth`))
	}
	if evalJS[bool](t, ctx, `!!document.querySelector('.chat-pane').offsetParent`) {
		t.Error("list view: the chat pane is showing beside the list; want one column")
	}
	screenshot(t, ctx, shots, "phone-list")

	act(t, ctx, "opening the chat",
		chromedp.Click(chromedp.CSS(".chat-list a.chat-item")),
		chromedp.WaitVisible(chromedp.CSS("#reply-text")),
		chromedp.WaitNotVisible(chromedp.CSS(".chat-list-pane")),
		chromedp.WaitVisible(chromedp.CSS(".chat-head .back")))
	waitFor(t, ctx, "the user's message", `[...document.querySelectorAll('.thread .msg-in .text')].some(e => e.textContent === `+jsString(handoffText)+`)`)
	if !evalJS[bool](t, ctx, fits) {
		t.Errorf("the chat is wider than the screen (%d > %d)", evalJS[int](t, ctx, `document.documentElement.scrollWidth`), evalJS[int](t, ctx, `window.innerWidth`))
	}
	// Everything the agent needs is on screen: End and the Send button.
	for _, sel := range []string{".chat-actions .button.danger", ".composer .send", ".chat-head .chat-name"} {
		inside := evalJS[bool](t, ctx, fmt.Sprintf(`(() => { const r = document.querySelector(%s).getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.right <= window.innerWidth && r.bottom <= window.innerHeight; })()`, jsString(sel)))
		if !inside {
			t.Errorf("%s is not fully on the phone's screen", sel)
		}
	}
	act(t, ctx, "typing a reply", chromedp.SendKeys(chromedp.CSS("#reply-text"), "Olá! Já vejo isso."), pressEnter())
	eventually(t, "the reply at the Graph API", func() bool {
		for _, r := range graph.sends() {
			if r.Text() == "Olá! Já vejo isso." {
				return true
			}
		}
		return false
	})
	screenshot(t, ctx, shots, "phone-chat")

	act(t, ctx, "going back to the list",
		chromedp.Click(chromedp.CSS(".chat-head .back")),
		chromedp.WaitVisible(chromedp.CSS(".chat-list a.chat-item")),
		chromedp.WaitNotVisible(chromedp.CSS(".chat-pane")))
	if got := evalJS[string](t, ctx, `location.pathname`); got != "/chats" {
		t.Errorf("after Back the address is %q, want /chats", got)
	}
}
