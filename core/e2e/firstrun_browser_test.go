package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The newcomer opens the setup URL the banner printed, creates the first
// admin on the setup page and lands signed in; after that the same URL
// shows the sign-in page.
func TestSetupPageInBrowser(t *testing.T) {
	srv := newBareServer(t)
	token := srv.setupToken(srv.banner(bannerEnd))
	ctx := newBrowser(t)
	shots := screenshotDir(t)

	// A mistyped address: the page says what to do about the token.
	act(t, ctx, "opening a setup URL with a wrong token",
		chromedp.Navigate(srv.URL+"/setup?token=wrong"),
		chromedp.WaitVisible(chromedp.CSS("#setup-name")),
		chromedp.SendKeys(chromedp.CSS("#setup-name"), "Ana Lima"),
		chromedp.SendKeys(chromedp.CSS("#setup-password"), "ana-password"),
		chromedp.SendKeys(chromedp.CSS("#setup-repeat"), "ana-password"),
		chromedp.Click(chromedp.CSS(".setup-form button[type=submit]")),
	)
	waitFor(t, ctx, "the token's error", `!document.querySelector('#setup-token-error').hidden && document.querySelector('#setup-token').offsetParent !== null`)
	if msg := textOf(t, ctx, "#setup-token-error"); !strings.Contains(msg, "not valid") {
		t.Errorf("wrong token error = %q, want it to say the token is not valid", msg)
	}
	if !srv.setupNeeded() {
		t.Fatalf("a refused setup created someone")
	}

	act(t, ctx, "opening the printed setup URL",
		chromedp.Navigate(srv.URL+"/setup?token="+token),
		chromedp.WaitVisible(chromedp.CSS("#setup-name")),
	)
	if hidden := evalJS[bool](t, ctx, `document.querySelector('#setup-token').offsetParent === null`); !hidden {
		t.Errorf("the token field shows although the URL carries the token")
	}
	act(t, ctx, "filling in the admin with passwords that differ",
		chromedp.SendKeys(chromedp.CSS("#setup-name"), "Ana Lima"),
		chromedp.SendKeys(chromedp.CSS("#setup-password"), "ana-password"),
		chromedp.SendKeys(chromedp.CSS("#setup-repeat"), "ana-passwort"),
	)
	if got := evalJS[string](t, ctx, `document.querySelector('#setup-login').value`); got != "ana.lima" {
		t.Errorf("login suggested from the name Ana Lima = %q, want ana.lima", got)
	}
	act(t, ctx, "submitting", chromedp.Click(chromedp.CSS(".setup-form button[type=submit]")))
	waitFor(t, ctx, "the repeat error", `!document.querySelector('#setup-repeat-error').hidden`)
	if msg := textOf(t, ctx, "#setup-repeat-error"); !strings.Contains(msg, "differ") {
		t.Errorf("repeat error = %q, want it to say the passwords differ", msg)
	}
	screenshot(t, ctx, shots, "setup-page")

	evalJS[bool](t, ctx, `(document.querySelector('#setup-repeat').value = '') === ''`)
	act(t, ctx, "correcting the repeat and submitting",
		chromedp.SendKeys(chromedp.CSS("#setup-repeat"), "ana-password"),
		chromedp.Click(chromedp.CSS(".setup-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#status-switch")),
	)
	if name := textOf(t, ctx, "#me-name"); name != "Ana Lima" {
		t.Errorf("signed in as %q, want Ana Lima", name)
	}
	if search := evalJS[string](t, ctx, `location.search`); search != "" {
		t.Errorf("the address still carries %q after setup", search)
	}
	if admin := evalJS[bool](t, ctx, `!document.querySelector('#mainnav a[data-section=agents]').hidden`); !admin {
		t.Errorf("the new account does not see the admin pages")
	}
	screenshot(t, ctx, shots, "setup-signed-in")
	if srv.setupNeeded() {
		t.Errorf("setup still needed after the setup page")
	}

	// A reload keeps the session (the cookie the setup set).
	act(t, ctx, "reloading", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#status-switch")))

	// Signed out, the old setup URL is just the sign-in page.
	act(t, ctx, "signing out", chromedp.Click(chromedp.CSS("#logout-button")), chromedp.WaitVisible(chromedp.CSS("#login-name")))
	act(t, ctx, "opening the setup URL again",
		chromedp.Navigate(srv.URL+"/setup?token="+token),
		chromedp.WaitVisible(chromedp.CSS("#login-name")),
	)
	if n := evalJS[int](t, ctx, `document.querySelectorAll('#setup-name').length`); n != 0 {
		t.Errorf("the setup page shows once an admin exists")
	}
	browserSignIn(t, ctx, srv, "ana.lima", "ana-password")
}
