package e2e

import (
	"fmt"
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
	// An admin's answer that Meta refuses for good: Not delivered.
	var convs struct {
		Conversations []apiConversation `json:"conversations"`
	}
	eventually(t, "the conversation", func() bool {
		srv.api("GET", "/api/v1/conversations", admin, nil, &convs)
		return len(convs.Conversations) == 1
	})
	conv := convs.Conversations[0].ID
	graph.setSendError(`{"error":{"message":"The user is not available to receive this message.","type":"OAuthException","code":551}}`)
	var failed struct {
		ID int64 `json:"id"`
	}
	if status := srv.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", conv), admin,
		map[string]any{"contents": []map[string]string{{"type": "text", "text": "Are you there?"}}}, &failed); status != 202 {
		t.Fatalf("reply = %d, want 202", status)
	}
	eventually(t, "the reply failed", func() bool {
		var c struct {
			Messages []struct {
				ID     int64  `json:"id"`
				Status string `json:"status"`
			} `json:"messages"`
		}
		srv.api("GET", fmt.Sprintf("/api/v1/conversations/%d", conv), admin, nil, &c)
		for _, m := range c.Messages {
			if m.ID == failed.ID {
				return m.Status == "failed"
			}
		}
		return false
	})
	shots := screenshotDir(t)

	ctx := newBrowser(t)
	browserSignIn(t, ctx, srv, adminOlga.Login, adminOlga.Password)
	act(t, ctx, "opening the integration", chromedp.Navigate(srv.URL+"/integrations/"+logsIntegration))
	waitFor(t, ctx, "the two webhooks and the failed send in Deliveries", `document.querySelectorAll(".deliveries tr.delivery[data-direction=in]").length === 2 && document.querySelector(".deliveries tr.delivery[data-outcome=failed]")`)
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

	// Why didn't the answer arrive? From the transcript to its deliveries.
	act(t, ctx, "opening the transcript", chromedp.Navigate(fmt.Sprintf("%s/conversations/%d", srv.URL, conv)))
	waitFor(t, ctx, "the link from the failed reply", `document.querySelector(".msg-failure a.deliveries-link")`)
	act(t, ctx, "following it", chromedp.Click(chromedp.CSS(".msg-failure a.deliveries-link")))
	waitFor(t, ctx, "the reply's one failed attempt", fmt.Sprintf(`document.querySelector("#deliveries-message")?.value === "%d" && document.querySelectorAll(".deliveries tr.delivery").length === 1 && document.querySelector(".deliveries tr.delivery[data-outcome=failed][data-direction=out]")`, failed.ID))
	if got := textOf(t, ctx, ".deliveries tr.delivery .error-cell"); !strings.Contains(got, "not available to receive") {
		t.Errorf("the failed attempt says %q, want Meta's reason", got)
	}
	act(t, ctx, "expanding the failed attempt", chromedp.Click(chromedp.CSS(".deliveries tr.delivery[data-outcome=failed] button[aria-expanded]")))
	waitFor(t, ctx, "Meta's call and answer", `document.querySelector(".deliveries tr.delivery-detail:not([hidden]) pre.http")`)
	call := textOf(t, ctx, ".deliveries tr.delivery-detail:not([hidden])")
	for _, want := range []string{"POST " + graph.URL + "/v25.0/me/messages?", "access_token=[redacted]", "Are you there?", "HTTP 400", "not available to receive"} {
		if !strings.Contains(call, want) {
			t.Errorf("the expanded attempt lacks %q:\n%s", want, call)
		}
	}
	if strings.Contains(call, logsAccessToken) {
		t.Errorf("the expanded attempt shows the access token:\n%s", call)
	}
	screenshot(t, ctx, shots, "deliveries-of-a-message")

	act(t, ctx, "opening Audit", chromedp.Click(chromedp.CSS(`#mainnav a[href="/audit"]`)))
	waitFor(t, ctx, "the integration's creation in the audit log", `[...document.querySelectorAll(".audit-table tbody tr")].some(r => r.dataset.action === "integration.create" && r.textContent.includes("`+logsIntegration+`") && r.textContent.includes("olga"))`)
	// Only the changes to agents (olga's creation with conversa agents
	// add), then only the command line's.
	act(t, ctx, "showing only agents", chromedp.SetValue(chromedp.CSS("#audit-action"), "agent"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#audit-action").dispatchEvent(new Event("change"))`))
	waitFor(t, ctx, "only agent changes", `(() => { const rows = [...document.querySelectorAll(".audit-table tbody tr")]; return rows.length > 0 && rows.every(r => r.dataset.action.startsWith("agent.")) })()`)
	act(t, ctx, "showing only the command line's", chromedp.Click(chromedp.CSS(`.audit-table tbody tr button.link-button`)))
	waitFor(t, ctx, "one actor's changes", `(() => { const rows = [...document.querySelectorAll(".audit-table tbody tr")]; return document.querySelector("#audit-actor").value === "command line" && rows.length === 1 && rows[0].dataset.action === "agent.create" })()`)
	screenshot(t, ctx, shots, "audit")

	page := evalJS[string](t, ctx, `document.body.innerText`)
	for _, secret := range []string{logsAccessToken, metaSecret, logsVerifyToken} {
		if strings.Contains(page, secret) {
			t.Errorf("the Audit page shows the secret %q", secret)
		}
	}
}
