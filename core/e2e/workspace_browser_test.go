package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The agent's workspace in a real browser: private notes, canned
// responses, labels and the contact panel.

// anaChatOnScreen is anaAvailableInTheConsole with one chat handed to her and
// open on screen; it returns the fake Graph API too.
func anaChatOnScreen(t *testing.T) (*server, *fakeGraph, context.Context, string, int) {
	t.Helper()
	return anaChatOnScreenWith(t, "")
}

// anaChatOnScreenWith is anaChatOnScreen with extra prepended to the
// configuration.
func anaChatOnScreenWith(t *testing.T, extra string) (*server, *fakeGraph, context.Context, string, int) {
	t.Helper()
	srv, graph, ctx, ana := anaInTheConsole(t, extra)
	mustPostMeta(t, srv, userMessage(t, handoffText))
	waitFor(t, ctx, "the chat in Ana's list", `!!document.querySelector('.chat-list li[data-conversation]')`)
	id := evalJS[int](t, ctx, `Number(document.querySelector('.chat-list li[data-conversation]').dataset.conversation)`)
	act(t, ctx, "opening the chat", chromedp.Click(chromedp.CSS(chatItem(id))), chromedp.WaitVisible(chromedp.CSS("#reply-text")))
	return srv, graph, ctx, ana, id
}

func TestConsolePrivateNoteNeverReachesTheProvider(t *testing.T) {
	srv, graph, ctx, ana, id := anaChatOnScreen(t)
	act(t, ctx, "writing a private note",
		chromedp.Click(chromedp.CSS("#mode-note")),
		chromedp.SendKeys(chromedp.CSS("#reply-text"), "she asked for a refund on the phone"),
		pressEnter())
	waitFor(t, ctx, "the note in the thread, shown as private",
		`[...document.querySelectorAll('.thread .by-private')].some(li => li.textContent.includes('refund on the phone') && li.textContent.includes('Private note'))`)
	act(t, ctx, "replying to the user",
		chromedp.Click(chromedp.CSS("#mode-reply")),
		chromedp.SendKeys(chromedp.CSS("#reply-text"), "Já estou vendo seu reembolso."),
		pressEnter())
	eventually(t, "the reply at the fake Graph API", func() bool {
		for _, r := range graph.sends() {
			if r.Text() == "Já estou vendo seu reembolso." {
				return true
			}
		}
		return false
	})
	for _, r := range graph.sends() {
		if strings.Contains(fmt.Sprint(r.Body), "refund on the phone") {
			t.Errorf("the private note reached the provider: %v", r.Body)
		}
	}
	c := srv.conversation(ana, int64(id))
	notes := 0
	for _, m := range c.Messages {
		if m.Private {
			notes++
		}
	}
	if notes != 1 {
		t.Errorf("the transcript has %d private notes, want 1", notes)
	}
}

func TestConsoleCannedResponseInsertedWithSlash(t *testing.T) {
	srv, graph, ctx, _, _ := anaChatOnScreen(t)
	srv.addAgent(adminOlga)
	olga := srv.bearer(adminOlga.Login, adminOlga.Password)
	const hours = "Atendemos de segunda a sexta, das 9h às 18h."
	for _, r := range []map[string]string{{"shortcut": "horario", "text": hours}, {"shortcut": "pix", "text": "Nossa chave Pix é o CNPJ."}} {
		if status := srv.api("POST", "/api/v1/canned_responses", olga, r, nil); status != 201 {
			t.Fatalf("POST canned = %d", status)
		}
	}
	act(t, ctx, "typing / and the start of a shortcut", chromedp.SendKeys(chromedp.CSS("#reply-text"), "/hor"))
	waitFor(t, ctx, "the canned responses offered, filtered", `(() => {
		const items = [...document.querySelectorAll('.canned-item')];
		return items.length === 1 && items[0].textContent.includes('/horario');
	})()`)
	act(t, ctx, "choosing it with Enter", pressEnter())
	if got := evalJS[string](t, ctx, `document.querySelector('#reply-text').value`); got != hours {
		t.Fatalf("reply box = %q, want the canned text %q", got, hours)
	}
	act(t, ctx, "sending", pressEnter())
	eventually(t, "the canned text at the fake Graph API", func() bool {
		for _, r := range graph.sends() {
			if r.Text() == hours {
				return true
			}
		}
		return false
	})
}

func TestConsoleLabelFilter(t *testing.T) {
	srv, _, ctx, ana, first := anaChatOnScreen(t)
	mustPostMeta(t, srv, metaText("7425819036458299", "second-user", handoffText, time.Now()))
	waitFor(t, ctx, "two chats in Ana's list", `document.querySelectorAll('.chat-list li[data-conversation]').length === 2`)

	// The keyboard moves between chats and into the reply box.
	key := func(k string, alt bool) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.activeElement && document.activeElement.blur();
			document.dispatchEvent(new KeyboardEvent('keydown', {key: %s, altKey: %v, bubbles: true}))`, jsString(k), alt))
	}
	here := fmt.Sprintf(`location.pathname === '/chats/%d'`, first)
	act(t, ctx, "j: the next chat", key("j", false))
	waitFor(t, ctx, "the other chat open", `location.pathname !== '/chats/`+fmt.Sprint(first)+`' && location.pathname.startsWith('/chats/')`)
	act(t, ctx, "Alt+ArrowDown: round to the first chat again", key("ArrowDown", true))
	waitFor(t, ctx, "the first chat open again", here+` && !!document.querySelector('#reply-text')`)
	act(t, ctx, "r: write a reply", key("r", false))
	waitFor(t, ctx, "the reply box focused", `document.activeElement && document.activeElement.id === 'reply-text'`)

	act(t, ctx, "labelling the open chat vip",
		chromedp.Click(chromedp.CSS(".chat-head .label-input")),
		chromedp.SendKeys(chromedp.CSS(".chat-head .label-input"), "VIP"),
		pressEnter())
	waitFor(t, ctx, "the label on the chat and in the list",
		fmt.Sprintf(`!!document.querySelector('.chat-head .label-chip[data-label="vip"]') && !!document.querySelector('.chat-list li[data-conversation="%d"] .label-chip[data-label="vip"]')`, first))
	var c workspaceConversation
	srv.api("GET", fmt.Sprintf("/api/v1/conversations/%d", first), ana, nil, &c)
	if len(c.Labels) != 1 || c.Labels[0] != "vip" {
		t.Fatalf("labels on the server = %v, want [vip]", c.Labels)
	}
	waitFor(t, ctx, "the filter offering vip with its count",
		`[...document.querySelectorAll('#chat-label-filter option')].some(o => o.value === 'vip' && o.textContent === 'vip (1)')`)
	act(t, ctx, "filtering by vip", chromedp.SetValue(chromedp.CSS("#chat-label-filter"), "vip"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#chat-label-filter').dispatchEvent(new Event('change'))`))
	waitFor(t, ctx, "only the vip chat listed", fmt.Sprintf(`(() => {
		const items = [...document.querySelectorAll('.chat-list li[data-conversation]')];
		return items.length === 1 && items[0].dataset.conversation === '%d';
	})()`, first))
}

func TestConsoleContactPanelOpensAnEarlierConversation(t *testing.T) {
	srv, _, ctx, ana, first := anaChatOnScreen(t)
	if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/end", first), ana, nil, nil); status != 200 {
		t.Fatalf("end = %d", status)
	}
	mustPostMeta(t, srv, metaText(customerA, "back-again", handoffText, time.Now()))
	waitFor(t, ctx, "the user's new chat in Ana's list",
		fmt.Sprintf(`[...document.querySelectorAll('.chat-list li[data-conversation]')].some(li => li.dataset.conversation !== '%d')`, first))
	second := evalJS[int](t, ctx, `Number(document.querySelector('.chat-list li[data-conversation]').dataset.conversation)`)
	act(t, ctx, "opening the new chat", chromedp.Click(chromedp.CSS(chatItem(second))), chromedp.WaitVisible(chromedp.CSS("#contact-panel")))
	waitFor(t, ctx, "the contact panel with both conversations", `document.querySelectorAll('#contact-panel .history-item').length === 2`)
	panel := textOf(t, ctx, "#contact-panel")
	for _, want := range []string{"Ana Souza", "@ana.souza.style", customerA, "ig-meta", "This conversation"} {
		if !strings.Contains(panel, want) {
			t.Errorf("the contact panel %q lacks %q", panel, want)
		}
	}
	screenshot(t, ctx, screenshotDir(t), "agent-contact-panel")
	act(t, ctx, "opening the earlier conversation from the panel",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#contact-panel .history-item[data-conversation="%d"]`, first))))
	waitFor(t, ctx, "the earlier conversation on screen, ended, with its messages", `(() => {
		const n = document.querySelector('.chat-notice');
		return location.pathname === '/chats/`+fmt.Sprint(first)+`' && n && !n.hidden && n.textContent.includes('ended') &&
			[...document.querySelectorAll('.thread .msg-in')].some(li => li.textContent.includes('`+handoffText+`'));
	})()`)
	if evalJS[bool](t, ctx, `!document.querySelector('.composer') || !document.querySelector('.composer').hidden`) {
		t.Error("the reply box shows on an ended conversation")
	}
	act(t, ctx, "the keyboard: ? shows the shortcuts", chromedp.Evaluate[chromedp.Void](
		`document.activeElement && document.activeElement.blur(); document.dispatchEvent(new KeyboardEvent('keydown', {key: '?', bubbles: true}))`))
	waitFor(t, ctx, "the shortcuts overlay", `!!document.querySelector('dialog[open] .shortcuts') && document.querySelector('dialog[open]').textContent.includes('Next / previous chat')`)
}

// Zenvia stamps messages to the whole second ("…:03Z"); the assistant's
// reply made in that second carries milliseconds ("…:03.075Z"). In the
// agent's chat and in the admin's transcript the user's message comes
// first (S9 item 1: compared as text, "." sorted before "Z").
func TestConsoleZenviaReplyShowsBelowTheMessageItAnswers(t *testing.T) {
	zenvia := newFakeZenvia(t)
	srv := newConsoleServer(t, zenviaConfig(zenvia.URL, "", zenviaCredentials), nil, agentAna, adminOlga)
	ctx := newBrowser(t)
	browserSignIn(t, ctx, srv, agentAna.Login, agentAna.Password)
	act(t, ctx, "choosing Available", chromedp.Click(chromedp.CSS("#status-switch .st-available")))
	ana := srv.bearer(agentAna.Login, agentAna.Password)
	eventually(t, "Ana available on the server", func() bool {
		var me struct{ Status string }
		srv.api("GET", "/api/v1/me", ana, nil, &me)
		return me.Status == "available"
	})
	for time.Now().Nanosecond() > 200e6 {
		time.Sleep(10 * time.Millisecond)
	}
	second := time.Now().UTC().Truncate(time.Second)
	srv.deliver(zenviaEvent(t, "zenvia/message_in_text_with_visitor.json", func(ev map[string]any) {
		msg := ev["message"].(map[string]any)
		msg["contents"] = []any{map[string]any{"type": "text", "text": handoffText}}
		msg["timestamp"] = second.Format("2006-01-02T15:04:05Z")
		ev["timestamp"] = second.Format("2006-01-02T15:04:05Z")
	}))
	waitFor(t, ctx, "the chat in Ana's list", `!!document.querySelector('.chat-list li[data-conversation]')`)
	id := evalJS[int](t, ctx, `Number(document.querySelector('.chat-list li[data-conversation]').dataset.conversation)`)
	var full struct {
		Messages []struct {
			Author    string    `json:"author"`
			CreatedAt time.Time `json:"created_at"`
		} `json:"messages"`
	}
	srv.api("GET", fmt.Sprintf("/api/v1/conversations/%d", id), ana, nil, &full)
	var reply time.Time
	for _, m := range full.Messages {
		if m.Author == "assistant" {
			reply = m.CreatedAt
		}
	}
	if !reply.Truncate(time.Second).Equal(second) {
		t.Skipf("the reply (%s) was not made in the message's second (%s): nothing to order here", reply, second)
	}
	order := `(() => {
		const all = [...document.querySelectorAll('.thread .msg-in, .thread .by-assistant')];
		return all.length >= 2 && all[0].classList.contains('msg-in') ? 'message first' : 'reply first';
	})()`
	act(t, ctx, "opening the chat", chromedp.Click(chromedp.CSS(chatItem(id))), chromedp.WaitVisible(chromedp.CSS("#reply-text")))
	waitFor(t, ctx, "the message and the reply", `document.querySelector('.thread .msg-in') && document.querySelector('.thread .by-assistant')`)
	if got := evalJS[string](t, ctx, order); got != "message first" {
		t.Errorf("agent's chat: %s; want the user's message (%s) above the reply (%s)", got, second.Format(time.RFC3339Nano), reply.Format(time.RFC3339Nano))
	}
	admin := newBrowser(t)
	browserSignIn(t, admin, srv, adminOlga.Login, adminOlga.Password)
	act(t, admin, "opening the transcript", chromedp.Navigate(fmt.Sprintf("%s/conversations/%d", srv.URL, id)))
	waitFor(t, admin, "the transcript's message and reply", `document.querySelector('.thread .msg-in') && document.querySelector('.thread .by-assistant')`)
	if got := evalJS[string](t, admin, order); got != "message first" {
		t.Errorf("admin's transcript: %s; want the user's message above the reply", got)
	}
}

// A chat opened once, left, then written to, still shows its unread
// message after the console reloads (S9 item 2).
func TestConsoleUnreadSurvivesAReload(t *testing.T) {
	srv, _, ctx, ana, id := anaChatOnScreen(t)
	act(t, ctx, "leaving the chat", chromedp.Navigate(srv.URL+"/chats"))
	waitFor(t, ctx, "the chat list", fmt.Sprintf(`!!document.querySelector(%s)`, jsString(chatItem(id))))
	mustPostMeta(t, srv, metaText(customerA, "after-leaving", "ainda está aí?", time.Now()))
	unread := fmt.Sprintf(`(document.querySelector('.chat-list li[data-conversation="%d"] .unread-count') || {}).textContent === '1'`, id)
	waitFor(t, ctx, "one unread message in the list", unread)
	act(t, ctx, "reloading the console", chromedp.Reload())
	waitFor(t, ctx, "still one unread message after the reload", unread)
	var c struct {
		Unread int `json:"unread"`
	}
	srv.api("GET", fmt.Sprintf("/api/v1/conversations/%d", id), ana, nil, &c)
	if c.Unread != 1 {
		t.Errorf("unread on the server = %d, want 1", c.Unread)
	}
}

// The user's reaction appears under their message while the chat is open,
// without a reload (S9 item 4).
func TestConsoleReactionAppearsLive(t *testing.T) {
	srv, _, ctx, _, _ := anaChatOnScreen(t)
	waitFor(t, ctx, "the user's message", `!!document.querySelector('.thread .msg-in')`)
	srv.deliverMeta("ig-meta", withMid(fresh(fixture(t, "19-reaction-react.json")), mid01))
	waitFor(t, ctx, "the reaction under the user's message",
		`[...document.querySelectorAll('.thread .msg-in .reactions .reaction')].some(r => r.textContent === '\u2764\ufe0f')`)
}
