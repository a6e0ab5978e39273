// Command brokenplugin is a channel plugin that gets the contract wrong on
// purpose, in ways real plugins do: the end-to-end tests check that
// `conversa plugins test` fails it, naming each broken case. Its fixtures
// are in testdata/contract.
//
// What it gets wrong:
//   - Describe lists an outbound content type that does not exist
//     ("sticker");
//   - a webhook whose signature does not match is only logged, then
//     accepted (a debugging leftover);
//   - an empty webhook body crashes the process (it sniffs body[0]);
//   - a body that is not JSON is answered with a gRPC Internal error
//     instead of malformed;
//   - Send logs the API token, calls the provider without the call's
//     context (so the host's deadline never reaches it), and reports a
//     provider's 500 as a permanent error.
//
// Everything else (the handshake, health, a good webhook, a send, a
// refused send) is right, so the suite must tell the cases apart.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

type settings struct {
	AppSecret string `json:"app_secret"`
	APIToken  string `json:"api_token"`
	APIURL    string `json:"api_url"`
}

func parse(b []byte) settings {
	var s settings
	_ = json.Unmarshal(b, &s)
	return s
}

type broken struct{ http *http.Client }

func (broken) Describe(context.Context) (*proto.ChannelInfo, error) {
	return &proto.ChannelInfo{
		Name:           "broken",
		Version:        "0.0.1",
		InboundTypes:   []string{sdk.ContentText},
		OutboundTypes:  []string{sdk.ContentText, "sticker"},
		SecretSettings: []string{"app_secret", "api_token"},
	}, nil
}

func (broken) HandleWebhook(_ context.Context, req *proto.WebhookRequest) (*proto.WebhookResponse, error) {
	s := parse(req.GetIntegrations()[0].GetSettingsJson())
	body := req.GetBody()
	if body[0] != '{' { // crashes on an empty body
		return nil, status.Error(codes.Internal, "body is not a JSON object")
	}
	var got string
	for _, h := range req.GetHeaders() {
		if strings.EqualFold(h.GetName(), "X-Signature") {
			got = h.GetValue()
		}
	}
	m := hmac.New(sha256.New, []byte(s.AppSecret))
	m.Write(body)
	if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); got != want {
		sdk.Logger().Warn("signature mismatch; accepting anyway while we debug")
	}
	var msg struct {
		ID   string `json:"id"`
		From string `json:"from"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return nil, status.Errorf(codes.Internal, "parse: %v", err)
	}
	return &proto.WebhookResponse{Authenticated: true, Events: []*proto.Event{{
		Kind: sdk.EventMessage, DedupeKey: "msg:" + msg.ID, ContactId: msg.From, MessageId: msg.ID,
		Contents: []*proto.Content{{Type: sdk.ContentText, Text: msg.Text}},
	}}}, nil
}

func (b broken) Send(_ context.Context, req *proto.SendRequest) (*proto.SendResponse, error) {
	s := parse(req.GetIntegration().GetSettingsJson())
	if time.Since(time.UnixMilli(req.GetContact().GetLastInboundMs())) > 24*time.Hour {
		return &proto.SendResponse{Error: &proto.SendError{Code: "outside_window", Message: "window closed", Refused: true}}, nil
	}
	sdk.Logger().Info("sending", "to", req.GetContact().GetId(), "token", s.APIToken)
	var text []string
	for _, c := range req.GetContents() {
		text = append(text, c.GetText())
	}
	body, _ := json.Marshal(map[string]string{"to": req.GetContact().GetId(), "text": strings.Join(text, "\n")})
	hreq, err := http.NewRequestWithContext(context.Background(), http.MethodPost, s.APIURL+"/messages", bytes.NewReader(body))
	if err != nil {
		return &proto.SendResponse{Error: &proto.SendError{Code: "request", Message: err.Error()}}, nil
	}
	hreq.Header.Set("Authorization", "Bearer "+s.APIToken)
	resp, err := b.http.Do(hreq)
	if err != nil {
		return &proto.SendResponse{Error: &proto.SendError{Code: "network", Message: "provider unreachable", Retryable: true}}, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return &proto.SendResponse{Error: &proto.SendError{Code: fmt.Sprint(resp.StatusCode), Message: "provider error"}}, nil
	}
	var ok struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(data, &ok)
	return &proto.SendResponse{MessageIds: []string{ok.ID}}, nil
}

func (broken) Profile(context.Context, *proto.ProfileRequest) (*proto.ProfileResponse, error) {
	return &proto.ProfileResponse{ErrorCode: "unsupported", ErrorMessage: "no profile API"}, nil
}

func main() {
	sdk.Serve(sdk.Plugin{Name: "broken", Version: "0.0.1", Channel: broken{http: &http.Client{}}})
}
