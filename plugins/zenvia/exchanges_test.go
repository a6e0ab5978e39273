package zenvia

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// A send's call comes back for the delivery log, the X-API-TOKEN hidden.
func TestSendReportsItsExchange(t *testing.T) {
	_, srv := startFakeZenvia(t, http.StatusInternalServerError, []byte(`{"code":"INTERNAL_ERROR","message":"Internal error"}`), nil)
	resp, err := newTestChannel().Send(context.Background(), sendRequest(srv.URL, &proto.Content{Type: sdk.ContentText, Text: "Olá"}))
	if err != nil {
		t.Fatal(err)
	}
	ex := resp.GetExchanges()
	if len(ex) != 1 {
		t.Fatalf("exchanges = %v, want the one call", ex)
	}
	e := ex[0]
	if e.Method != "POST" || e.Url != srv.URL+"/v2/channels/instagram/messages" || e.Status != 500 ||
		!strings.Contains(string(e.RequestBody), "Olá") || !strings.Contains(string(e.ResponseBody), "INTERNAL_ERROR") {
		t.Errorf("exchange = %v, want the POST, its body and Zenvia's 500", e)
	}
	token := ""
	for _, h := range e.RequestHeaders {
		if strings.EqualFold(h.Name, "X-API-TOKEN") {
			token = h.Value
		}
		if strings.Contains(h.Value, "zenvia-api-token") {
			t.Errorf("header %s keeps the API token: %q", h.Name, h.Value)
		}
	}
	if token != sdk.Redacted {
		t.Errorf("X-API-TOKEN = %q, want %q", token, sdk.Redacted)
	}
}
