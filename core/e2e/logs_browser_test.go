package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// An admin opens an integration's Deliveries to learn why a message did
// not arrive (a forged webhook beside the real one), expands a delivery to
// read its request and response, then reads the Audit page.
func TestDeliveriesAndAuditInTheConsole(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newConsoleServer(t, logsConfig, nil, adminOlga)
	admin := srv.bearer(adminOlga.Login, adminOlga.Password)
	createLogsIntegration(t, srv, admin, graph.URL)
	body := fresh(fixture(t, "01-message-text.json"))
	if status, _ := srv.postMeta(logsIntegration, "not-the-app-secret", body); status != 401 {
		t.Fatalf("forged webhook = %d, want 401", status)
	}
	if status, _ := srv.postMeta(logsIntegration, metaSecret, body); status != 200 {
		t.Fatalf("webhook = %d, want 200", status)
	}
	shots := screenshotDir(t)

	ctx := newBrowser(t)
	browserSignIn(t, ctx, srv, adminOlga.Login, adminOlga.Password)
	act(t, ctx, "opening the integration", chromedp.Navigate(srv.URL+"/integrations/"+logsIntegration))
	waitFor(t, ctx, "the two webhooks in Deliveries", `document.querySelectorAll(".deliveries tr.delivery").length === 2`)
	if got := textOf(t, ctx, ".deliveries tr.delivery[data-outcome=unauthorized] .pill"); got != "Refused: credentials" {
		t.Errorf("the forged webhook's outcome reads %q, want %q", got, "Refused: credentials")
	}
	act(t, ctx, "expanding the stored webhook",
		chromedp.ScrollIntoView(chromedp.CSS(".deliveries tr.delivery[data-outcome=stored] button[aria-expanded]")),
		chromedp.Click(chromedp.CSS(".deliveries tr.delivery[data-outcome=stored] button[aria-expanded]")))
	waitFor(t, ctx, "its request and response", `[...document.querySelectorAll(".deliveries tr.delivery-detail:not([hidden]) pre.http")].map(p => p.textContent).join("\n").includes("blue jacket")`)
	detail := textOf(t, ctx, ".deliveries tr.delivery-detail:not([hidden])")
	for _, want := range []string{"POST /webhooks/" + logsIntegration, "X-Hub-Signature-256: [redacted]", "HTTP 200"} {
		if !strings.Contains(detail, want) {
			t.Errorf("the expanded delivery lacks %q:\n%s", want, detail)
		}
	}
	section := textOf(t, ctx, ".deliveries")
	for _, secret := range []string{logsAccessToken, metaSecret, logsVerifyToken, sign(metaSecret, body)} {
		if strings.Contains(section, secret) {
			t.Errorf("the Deliveries section shows the secret %q", secret)
		}
	}
	screenshot(t, ctx, shots, "deliveries")

	act(t, ctx, "showing only refusals", chromedp.SetValue(chromedp.CSS("#deliveries-outcome"), "unauthorized"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#deliveries-outcome").dispatchEvent(new Event("change"))`))
	waitFor(t, ctx, "only the forged webhook", `document.querySelectorAll(".deliveries tr.delivery").length === 1 && document.querySelector(".deliveries tr.delivery[data-outcome=unauthorized]")`)

	act(t, ctx, "opening Audit", chromedp.Click(chromedp.CSS(`#mainnav a[href="/audit"]`)))
	waitFor(t, ctx, "the integration's creation in the audit log", `[...document.querySelectorAll(".audit-table tbody tr")].some(r => r.dataset.action === "integration.create" && r.textContent.includes("`+logsIntegration+`") && r.textContent.includes("olga"))`)
	screenshot(t, ctx, shots, "audit")

	page := evalJS[string](t, ctx, `document.body.innerText`)
	for _, secret := range []string{logsAccessToken, metaSecret, logsVerifyToken} {
		if strings.Contains(page, secret) {
			t.Errorf("the Audit page shows the secret %q", secret)
		}
	}
}
