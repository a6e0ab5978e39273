package meta

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/conversa/conversa/plugins/sdk"
)

// Every call of a send comes back for the delivery log, its credentials
// hidden: the token in the query or the Authorization header, and the
// appsecret_proof made from the app secret.
func TestSendReportsItsExchanges(t *testing.T) {
	for _, login := range []string{LoginInstagram, LoginFacebook} {
		t.Run(login, func(t *testing.T) {
			g := newFakeGraph(t, reply{}, reply{status: 400, header: map[string]string{"Retry-After": "1"},
				body: `{"error":{"message":"Calls to this api have exceeded the rate limit.","type":"OAuthException","code":4}}`})
			in := metaSettings(g.srv.URL, map[string]any{"login": login})
			resp, err := New().Send(context.Background(), sendReq(in, time.Hour, sdk.AuthorAgent,
				text(strings.Repeat("palavra ", 200)))) // two parts: two calls
			if err != nil {
				t.Fatal(err)
			}
			ex := resp.GetExchanges()
			if len(ex) != 2 {
				t.Fatalf("exchanges = %v, want the two calls", ex)
			}
			first, second := ex[0], ex[1]
			if first.Method != "POST" || !strings.Contains(first.Url, "/v25.0/me/messages") || first.Status != 200 ||
				!strings.Contains(string(first.ResponseBody), "mid-1") || !strings.Contains(string(first.RequestBody), "palavra") {
				t.Errorf("first exchange = %v, want the POST with its body and Meta's answer", first)
			}
			if second.Status != 400 || !strings.Contains(string(second.ResponseBody), "rate limit") {
				t.Errorf("second exchange = %v, want Meta's 400 and its error", second)
			}
			var all strings.Builder
			for _, e := range ex {
				all.WriteString(e.Url + "\n" + string(e.RequestBody) + "\n" + string(e.ResponseBody) + "\n")
				for _, h := range append(e.RequestHeaders, e.ResponseHeaders...) {
					all.WriteString(h.Name + ": " + h.Value + "\n")
				}
			}
			leaks := []string{"IGQWtoken", testSecret, appSecretProof(testSecret, "IGQWtoken")}
			for _, s := range leaks {
				if strings.Contains(all.String(), s) {
					t.Errorf("exchanges keep %q:\n%s", s, all.String())
				}
			}
			if !strings.Contains(all.String(), sdk.Redacted) {
				t.Errorf("exchanges show no redacted credential:\n%s", all.String())
			}
		})
	}
}

// A send refused before any call has no exchanges.
func TestRefusedSendHasNoExchanges(t *testing.T) {
	g := newFakeGraph(t)
	resp, _ := New().Send(context.Background(), sendReq(metaSettings(g.srv.URL, nil), 8*24*time.Hour, sdk.AuthorAgent, text("late")))
	if resp.GetError() == nil || len(resp.GetExchanges()) != 0 {
		t.Errorf("Send outside the window = %v, want a refusal with no exchanges", resp)
	}
}
