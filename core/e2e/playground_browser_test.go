package e2e

import (
	"context"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// front brings a tab to the front: a tab behind another neither paints
// nor takes clicks.
func front(t *testing.T, ctx context.Context) {
	t.Helper()
	act(t, ctx, "bringing the tab to the front", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.BringToFront, cdp.Empty{})
		return err
	}))
}

// The playground page in a real browser.

// phoneSays types a message on the phone and sends it.
func phoneSays(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	act(t, ctx, "saying "+text+" on the phone",
		chromedp.Click(chromedp.CSS("#pg-text")),
		chromedp.SendKeys(chromedp.CSS("#pg-text"), text),
		pressEnter())
}

// phoneReplies counts the business's messages on the phone.
const phoneReplies = `document.querySelectorAll('#pg-thread .pg-out:not(.pg-typing)').length`

// Before anyone can sign in, the phone works from this machine: a text gets
// the demo assistant's reply, with its quick replies as buttons on Meta and
// as numbered text on Zenvia; a photo, a reaction and an unsend show as on
// Instagram.
func TestConsolePlaygroundBeforeAnyAgent(t *testing.T) {
	srv := newServer(t, playgroundConfig(playgroundOn))
	ctx := newBrowser(t)
	shots := screenshotDir(t)
	act(t, ctx, "opening the playground", chromedp.Navigate(srv.URL+"/playground"), chromedp.WaitVisible(chromedp.CSS("#pg-text")))
	if evalJS[bool](t, ctx, `!!document.querySelector('#login-name')`) {
		t.Fatal("the playground asked to sign in while no agent exists")
	}
	act(t, ctx, "choosing Meta", chromedp.Click(chromedp.CSS(`label:has(#pg-channel-meta)`)))
	phoneSays(t, ctx, "hi")
	waitFor(t, ctx, "ana's message and the assistant's reply", `(() => {
		const ins = [...document.querySelectorAll('#pg-thread .pg-in')];
		return ins.some(li => li.textContent.includes('hi')) && `+phoneReplies+` >= 1;
	})()`)
	waitFor(t, ctx, "the greeting's quick replies as buttons", `document.querySelectorAll('#pg-quick:not([hidden]) button.pg-qr').length >= 2`)
	screenshot(t, ctx, shots, "playground-meta-quick-replies")

	first := textOf(t, ctx, "#pg-quick button.pg-qr")
	act(t, ctx, "tapping the first quick reply", chromedp.Click(chromedp.CSS("#pg-quick button.pg-qr")))
	waitFor(t, ctx, "the tapped reply sent and answered", `(() => {
		const ins = [...document.querySelectorAll('#pg-thread .pg-in')];
		return ins.some(li => li.textContent.includes(`+jsString(first)+`)) && `+phoneReplies+` >= 2;
	})()`)

	act(t, ctx, "sending a sample photo",
		chromedp.Click(chromedp.CSS(`.pg-tool[data-mode="photo"]`)),
		chromedp.Click(chromedp.CSS(`.pg-sample[data-sample="Cake"]`)))
	waitFor(t, ctx, "the photo on the phone", `!!document.querySelector('#pg-thread .pg-in img.pg-media[src$="/static/playground/cake.svg"]')`)

	act(t, ctx, "reacting with a heart to the assistant's first reply",
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#pg-thread .pg-out [data-action="react"]').click()`))
	act(t, ctx, "picking the heart", chromedp.Click(chromedp.CSS(`#pg-thread .pg-emoji[data-emoji="❤️"]`)))
	waitFor(t, ctx, "the heart on the reply", `[...document.querySelectorAll('#pg-thread .pg-out .pg-reactions')].some(r => r.textContent.includes('❤️'))`)

	phoneSays(t, ctx, "oops, wrong chat")
	waitFor(t, ctx, "the message to unsend", `[...document.querySelectorAll('#pg-thread .pg-in')].some(li => li.textContent.includes('oops, wrong chat'))`)
	act(t, ctx, "unsending it", chromedp.Evaluate[chromedp.Void](
		`[...document.querySelectorAll('#pg-thread .pg-in')].find(li => li.textContent.includes('oops, wrong chat')).querySelector('[data-action="unsend"]').click()`))
	waitFor(t, ctx, "the message shown as unsent", `!!document.querySelector('#pg-thread .pg-in .pg-unsent') &&
		![...document.querySelectorAll('#pg-thread .pg-in')].some(li => li.textContent.includes('oops, wrong chat'))`)

	act(t, ctx, "switching to Zenvia", chromedp.Click(chromedp.CSS(`label:has(#pg-channel-zenvia)`)))
	waitFor(t, ctx, "an empty Zenvia thread", `!!document.querySelector('#pg-thread .pg-empty')`)
	phoneSays(t, ctx, "hi")
	waitFor(t, ctx, "the greeting as numbered text", `[...document.querySelectorAll('#pg-thread .pg-out .pg-bubble')].some(b => /\n1\. /.test(b.textContent))`)
	if evalJS[bool](t, ctx, `!!document.querySelector('#pg-quick:not([hidden]) button')`) {
		t.Error("quick reply buttons show on Zenvia, which renders them as text")
	}
	screenshot(t, ctx, shots, "playground-zenvia-numbered")
}

// An admin's console: the Playground link leads to the phone; "agent"
// hands the chat to the agents, where the admin answers it beside the
// phone, and the answer arrives on it.
func TestConsolePlaygroundBesideTheAgentView(t *testing.T) {
	olga := agentSpec{Login: "olga", Name: "Olga Pereira", Role: "admin", Password: "olga-secret-1", Squads: "geral"}
	srv := newConsoleServer(t, playgroundConfig(playgroundOn), nil, olga)
	agent := newBrowser(t)
	shots := screenshotDir(t)
	browserSignIn(t, agent, srv, olga.Login, olga.Password)
	act(t, agent, "choosing Available", chromedp.Click(chromedp.CSS("#status-switch .st-available")))
	waitFor(t, agent, "the Playground link in the top bar", `(() => { const a = document.querySelector('#nav-playground'); return a && !a.hidden; })()`)

	// A second tab of the same browser (same session) holds the phone.
	phone, cancel := chromedp.NewContext(agent)
	t.Cleanup(cancel)
	// Opened without a deadline: the tab lives as long as phone does.
	if err := chromedp.Do(phone); err != nil {
		t.Fatalf("opening a second tab: %v", err)
	}
	front(t, phone)
	act(t, phone, "opening the playground from the console", chromedp.Navigate(srv.URL+"/chats"), chromedp.WaitVisible(chromedp.CSS("#nav-playground")),
		chromedp.Click(chromedp.CSS("#nav-playground")), chromedp.WaitVisible(chromedp.CSS("#pg-text")))
	act(t, phone, "choosing Meta", chromedp.Click(chromedp.CSS(`label:has(#pg-channel-meta)`)))
	phoneSays(t, phone, "agent")
	waitFor(t, phone, "the hand-off reply on the phone", phoneReplies+` >= 1`)

	front(t, agent)
	waitFor(t, agent, "the chat in Olga's list", `!!document.querySelector('.chat-list li[data-conversation]')`)
	act(t, agent, "opening the chat", chromedp.Click(chromedp.CSS(".chat-list li[data-conversation] a.chat-item")), chromedp.WaitVisible(chromedp.CSS("#reply-text")))
	const answer = "Oi! Aqui é a Olga, como posso ajudar?"
	act(t, agent, "answering", chromedp.SendKeys(chromedp.CSS("#reply-text"), answer), pressEnter())
	screenshot(t, agent, shots, "playground-agent-view")
	front(t, phone)
	waitFor(t, phone, "the agent's answer on the phone", `[...document.querySelectorAll('#pg-thread .pg-out')].some(li => li.textContent.includes(`+jsString(answer)+`))`)
	screenshot(t, phone, shots, "playground-phone-agent-answer")

	// At half of a 1280-pixel screen, the phone still fits beside the agent.
	act(t, phone, "narrowing the phone's window", chromedp.EmulateViewport(640, 860))
	if w := evalJS[float64](t, phone, `document.querySelector('.pg-phone').getBoundingClientRect().right`); w > 640 {
		t.Errorf("the phone ends at %.0f px in a 640 px window", w)
	}
	if !evalJS[bool](t, phone, `(() => { const r = document.querySelector('#pg-text').getBoundingClientRect(); return r.bottom <= innerHeight && r.width > 120; })()`) {
		t.Error("the phone's message box is out of view in a 640 px window")
	}
	screenshot(t, phone, shots, "playground-phone-640")

	// The integrations page marks the built-ins.
	front(t, agent)
	act(t, agent, "opening Integrations", chromedp.Click(chromedp.CSS(`#mainnav a[data-section="integrations"]`)))
	waitFor(t, agent, "both built-ins marked Playground", `(() => {
		const rows = [...document.querySelectorAll('tr[data-integration]')];
		return rows.length === 2 && rows.every(r => r.dataset.integration.startsWith('playground-') && r.querySelector('.badge-playground'));
	})()`)
}
