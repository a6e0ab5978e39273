package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// An admin opens routing.lua on the System page, types a syntax error and
// sees it with its line, fixes it and sees the problem clear, saves, and
// runs the cases: the shipped cases for story mentions and replies fail
// against the new script, each with what differed.
func TestScriptEditorInTheConsole(t *testing.T) {
	srv := newConsoleServer(t, metaConfig("http://127.0.0.1:1", ""), nil, adminOlga)
	shots := screenshotDir(t)
	ctx := newBrowser(t)
	browserSignIn(t, ctx, srv, adminOlga.Login, adminOlga.Password)

	act(t, ctx, "opening System", chromedp.Navigate(srv.URL+"/system"))
	waitFor(t, ctx, "the scripts with their Edit buttons", `document.querySelector('button[data-edit="routing.lua"]')`)
	act(t, ctx, "opening routing.lua", chromedp.Click(chromedp.CSS(`button[data-edit="routing.lua"]`)))
	waitFor(t, ctx, "the built-in routing.lua in the editor", `document.querySelector("#script-source").value.includes("function route(ev)")`)
	waitFor(t, ctx, "the default checked clean", `document.querySelector("#script-problems li.ok")`)

	// typeSource replaces the editor's text by typing src.
	typeSource := func(what, src string) {
		t.Helper()
		evalJS[bool](t, ctx, `(() => { const el = document.querySelector("#script-source"); el.value = ""; el.focus(); return true })()`)
		act(t, ctx, what, chromedp.SendKeys(chromedp.CSS("#script-source"), src))
	}
	typeSource("typing a syntax error", "function route(ev)\n  if ev.message.text == \"oi\" then\n    return {to = \"none\",\n  end\nend\n")
	waitFor(t, ctx, "the problem with its line", `document.querySelector('#script-problems li.bad[data-line="4"]')`)
	if got := textOf(t, ctx, "#script-problems li.bad"); !strings.HasPrefix(got, "Line 4: ") {
		t.Errorf("the problem reads %q, want it to start with its line", got)
	}
	if got := textOf(t, ctx, ".code-gutter .bad"); got != "4" {
		t.Errorf("the gutter marks line %q, want 4", got)
	}
	screenshot(t, ctx, shots, "script-editor-problem")

	// Saving it anyway is refused.
	act(t, ctx, "saving the broken script", chromedp.Click(chromedp.CSS("#script-save")))
	waitFor(t, ctx, "the save refused", `document.querySelector("#script-status").textContent.includes("Not saved")`)

	typeSource("fixing it", "function route(ev)\n  if ev.message.text == \"oi\" then\n    return {to = \"none\"}\n  end\nend\n")
	waitFor(t, ctx, "the problem cleared", `document.querySelector("#script-problems li.ok") && !document.querySelector("#script-problems li.bad") && !document.querySelector(".code-gutter .bad")`)
	act(t, ctx, "saving", chromedp.Click(chromedp.CSS("#script-save")))
	waitFor(t, ctx, "the saved version running", `document.querySelector("#script-status").textContent.includes("Saved: version 2")`)
	waitFor(t, ctx, "the table showing the file", `document.querySelector('tr[data-script="routing.lua"]').textContent.includes("file")`)

	act(t, ctx, "running the cases", chromedp.Click(chromedp.CSS("#run-cases")))
	waitFor(t, ctx, "the case results", `document.querySelectorAll("#case-results li").length === 8`)
	fails := evalJS[[]string](t, ctx, `[...document.querySelectorAll("#case-results li.bad")].map(li => li.textContent)`)
	if len(fails) != 2 || !strings.Contains(fails[0], `route_story_mention_goes_to_the_squad.json: FAIL want {"squad":"geral","to":"squad"}, got nil`) {
		t.Errorf("the failing cases read %q, want the two story cases, with what differed", fails)
	}
	if n := evalJS[int](t, ctx, `document.querySelectorAll("#case-results li.ok").length`); n != 6 {
		t.Errorf("%d cases ok, want 6", n)
	}
	evalJS[bool](t, ctx, `(document.querySelector("#case-results").scrollIntoView(), true)`)
	screenshot(t, ctx, shots, "script-editor-cases")
}
