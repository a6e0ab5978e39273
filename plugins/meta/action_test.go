package meta

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

func actionReq(in *proto.Integration, lastInboundAgo time.Duration, action string) *proto.ActionRequest {
	return &proto.ActionRequest{
		Integration: in, Action: action, NowMs: nowMs,
		Contact: &proto.Contact{Id: customerA, LastInboundMs: nowMs - lastInboundAgo.Milliseconds()},
	}
}

// Sender actions go as Meta's samples show them, authenticated as sends.
func TestActionFixtures(t *testing.T) {
	for _, tc := range []struct{ action, fixture, login string }{
		{sdk.ActionTypingOn, "req-13-sender-action-typing-on.json", LoginInstagram},
		{sdk.ActionMarkSeen, "req-14-sender-action-mark-seen.json", LoginInstagram},
		{sdk.ActionTypingOn, "req-13-sender-action-typing-on.json", LoginFacebook},
	} {
		t.Run(tc.action+" "+tc.login, func(t *testing.T) {
			g := newFakeGraph(t, reply{status: 200, body: string(readFixture(t, "send/resp-02-sender-action-or-reaction-success.json"))})
			in := metaSettings(g.srv.URL, map[string]any{"login": tc.login})
			resp, err := New().(sdk.ActionSender).Action(context.Background(), actionReq(in, time.Hour, tc.action))
			if err != nil || resp.GetError() != nil || resp.GetUnsupported() {
				t.Fatalf("Action = %v, %v, want success", resp, err)
			}
			reqs := g.requests()
			if len(reqs) != 1 || reqs[0].method != http.MethodPost || reqs[0].path != "/v25.0/me/messages" {
				t.Fatalf("requests = %+v, want one POST /v25.0/me/messages", reqs)
			}
			checkAuth(t, reqs[0], tc.login)
			if want := readFixture(t, "send/"+tc.fixture); !sameJSON(t, reqs[0].body, want) {
				t.Errorf("body =\n%s\nwant\n%s", reqs[0].body, want)
			}
		})
	}
}

func TestActionRefusals(t *testing.T) {
	g := newFakeGraph(t)
	in := metaSettings(g.srv.URL, nil)
	ch := New().(sdk.ActionSender)
	for _, tc := range []struct {
		name string
		req  *proto.ActionRequest
		code string
	}{
		{"after 24 hours", actionReq(in, 25*time.Hour, sdk.ActionTypingOn), "outside_window"},
		{"never wrote", actionReq(in, 0, sdk.ActionMarkSeen), "outside_window"},
		{"no contact id", &proto.ActionRequest{Integration: in, Action: sdk.ActionTypingOn, NowMs: nowMs,
			Contact: &proto.Contact{LastInboundMs: nowMs}}, "no_recipient"},
		{"no token", actionReq(metaSettings(g.srv.URL, map[string]any{"access_token": ""}), time.Hour, sdk.ActionTypingOn), "settings"},
	} {
		if tc.name == "never wrote" {
			tc.req.Contact.LastInboundMs = 0
		}
		resp, err := ch.Action(context.Background(), tc.req)
		if err != nil || resp.GetError().GetCode() != tc.code || !resp.GetError().GetRefused() {
			t.Errorf("%s: Action = %v, %v, want refused %s", tc.name, resp, err, tc.code)
		}
	}
	resp, err := ch.Action(context.Background(), actionReq(in, time.Hour, "react"))
	if err != nil || !resp.GetUnsupported() || resp.GetError() != nil {
		t.Errorf("Action(react) = %v, %v, want unsupported", resp, err)
	}
	if n := len(g.requests()); n != 0 {
		t.Errorf("refused actions made %d requests, want none", n)
	}
}

func TestActionErrors(t *testing.T) {
	for _, tc := range []struct {
		name        string
		rep         reply
		code        string
		reauthorize bool
	}{
		{"expired token", reply{status: 400, body: string(readFixture(t, "send/err-04-token-expired-190.json"))}, "190/463", true},
		{"outside the window after all", reply{status: 400, body: string(readFixture(t, "send/err-01-outside-window-ig-10-2534022.json"))}, "10/2534022", false},
		{"server error", reply{status: 502, body: "bad gateway"}, "http_502", false},
	} {
		g := newFakeGraph(t, tc.rep)
		resp, err := New().(sdk.ActionSender).Action(context.Background(), actionReq(metaSettings(g.srv.URL, nil), time.Minute, sdk.ActionTypingOn))
		if err != nil || resp.GetError().GetCode() != tc.code || resp.GetError().GetReauthorize() != tc.reauthorize {
			t.Errorf("%s: Action = %v, %v, want error %s (reauthorize %v)", tc.name, resp, err, tc.code, tc.reauthorize)
		}
	}
}

// A document other than a PDF cannot be an Instagram attachment: it goes
// as a text carrying its link. PDFs, and files whose type is not given,
// stay attachments.
func TestSendDocumentsAsLinks(t *testing.T) {
	docURL := "https://conversa.example.com/media/0123/Proposta.docx"
	for _, tc := range []struct {
		name    string
		content *proto.Content
		want    string
	}{
		{"docx", &proto.Content{Type: sdk.ContentFile, Url: docURL, Name: "Proposta.docx",
			MimeType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
			`{"recipient":{"id":"` + customerA + `"},"message":{"text":"Proposta.docx\n` + docURL + `"}}`},
		{"csv with a caption", &proto.Content{Type: sdk.ContentFile, Url: docURL, Name: "a.csv", Caption: "Your order", MimeType: "text/csv"},
			`{"recipient":{"id":"` + customerA + `"},"message":{"text":"Your order\n` + docURL + `"}}`},
		{"pdf", &proto.Content{Type: sdk.ContentFile, Url: docURL, Name: "a.pdf", MimeType: "application/pdf"},
			`{"recipient":{"id":"` + customerA + `"},"message":{"attachment":{"type":"file","payload":{"url":"` + docURL + `"}}}}`},
		{"untyped file", &proto.Content{Type: sdk.ContentFile, Url: docURL},
			`{"recipient":{"id":"` + customerA + `"},"message":{"attachment":{"type":"file","payload":{"url":"` + docURL + `"}}}}`},
		{"image as a file", &proto.Content{Type: sdk.ContentFile, Url: docURL, MimeType: "image/png"},
			`{"recipient":{"id":"` + customerA + `"},"message":{"attachment":{"type":"image","payload":{"url":"` + docURL + `"}}}}`},
	} {
		g := newFakeGraph(t)
		resp, err := New().Send(context.Background(), sendReq(metaSettings(g.srv.URL, nil), time.Hour, sdk.AuthorAgent, tc.content))
		if err != nil || resp.GetError() != nil {
			t.Fatalf("%s: Send = %v, %v", tc.name, resp, err)
		}
		if reqs := g.requests(); len(reqs) != 1 || !sameJSON(t, reqs[0].body, []byte(tc.want)) {
			t.Errorf("%s: sent %+v, want one request %s", tc.name, reqs, tc.want)
		}
	}
}

// Action reaches the plugin over the real gRPC adapters.
func TestActionOverGRPC(t *testing.T) {
	g := newFakeGraph(t)
	ch := grpcChannel(t, New()).(sdk.ActionSender)
	resp, err := ch.Action(context.Background(), actionReq(metaSettings(g.srv.URL, nil), time.Hour, sdk.ActionMarkSeen))
	if err != nil || resp.GetError() != nil || resp.GetUnsupported() || len(g.requests()) != 1 {
		t.Errorf("Action over gRPC = %v, %v with %d requests, want one mark_seen", resp, err, len(g.requests()))
	}
}
