package sdk_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
	"github.com/conversa/conversa/plugins/sdk/sdktest"
)

// exampleChannel is the channel of the README's "A channel in Go".
type exampleChannel struct {
	plainChannel
	sdk.ChannelBase
}

type exampleSettings struct{ token, url string }

func checkExampleSettings(raw []byte) (exampleSettings, sdk.Problems) {
	m, problems := sdk.ReadSettings(raw)
	s := exampleSettings{token: m.String("api_token"), url: m.String("api_url")}
	if s.token == "" {
		problems.Add("api_token", "Enter the API token from your provider's console.")
	}
	if s.url != "" && !sdk.IsHTTPURL(s.url) {
		problems.Add("api_url", "Enter the API URL as https:// and a host, or leave it blank.")
	}
	if s.url == "" {
		s.url = "https://api.example.com"
	}
	return s, problems
}

func (c *exampleChannel) ValidateSettings(_ context.Context, req *proto.ValidateSettingsRequest) (*proto.ValidateSettingsResponse, error) {
	_, problems := checkExampleSettings(req.GetIntegration().GetSettingsJson())
	return problems.Response(), nil
}

func (c *exampleChannel) Send(ctx context.Context, req *proto.SendRequest) (*proto.SendResponse, error) {
	return c.SendWith(ctx, req, c.prepare)
}

func (c *exampleChannel) CheckSend(ctx context.Context, req *proto.SendRequest) (*proto.SendResponse, error) {
	return c.CheckSendWith(ctx, req, c.prepare)
}

func (c *exampleChannel) prepare(_ context.Context, req *proto.SendRequest) (*sdk.Outgoing, *proto.SendError) {
	s, problems := checkExampleSettings(req.GetIntegration().GetSettingsJson())
	if refusal := problems.Refusal(); refusal != nil {
		return nil, refusal
	}
	if c.Now(req.GetNowMs()).Sub(time.UnixMilli(req.GetContact().GetLastInboundMs())) > 24*time.Hour {
		return nil, &proto.SendError{Code: "outside_window", Message: "more than 24 hours since the contact wrote"}
	}
	return &sdk.Outgoing{
		Secrets: []string{s.token},
		Deliver: func(ctx context.Context) (*proto.SendResponse, error) {
			hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/messages", bytes.NewReader([]byte(`{}`)))
			if err != nil {
				return nil, err
			}
			hreq.Header.Set("Authorization", "Bearer "+s.token)
			resp, err := c.HTTPClient().Do(hreq)
			if err != nil {
				return &proto.SendResponse{Error: &proto.SendError{Code: "network", Message: "the provider is unreachable", Retryable: true}}, nil
			}
			resp.Body.Close()
			return &proto.SendResponse{MessageIds: []string{resp.Header.Get("X-Message-Id")}}, nil
		},
	}, nil
}

// A channel built on ChannelBase: its options, its settings checked at
// save and refused over at send in the same words.
func ExampleChannelBase() {
	ch := &exampleChannel{ChannelBase: sdk.NewChannelBase(sdk.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}))}
	sdk.Serve(sdk.Plugin{Name: "example", Version: "1.0.0", Channel: ch})
}

// The README's channel does what the README says.
func TestExampleChannel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Message-Id", "m-1")
	}))
	defer srv.Close()
	ch := sdktest.Channel(t, &exampleChannel{ChannelBase: sdk.NewChannelBase()})
	ctx := context.Background()
	bad := &proto.Integration{Id: "ex", SettingsJson: []byte(`{"api_url":"ftp://x"}`)}
	v, err := ch.(sdk.SettingsValidator).ValidateSettings(ctx, &proto.ValidateSettingsRequest{Integration: bad})
	if err != nil || len(v.GetProblems()) != 2 {
		t.Fatalf("ValidateSettings = %v, %v; want api_token and api_url", v, err)
	}
	now := time.Now()
	req := &proto.SendRequest{Integration: bad, Contact: &proto.Contact{Id: "c", LastInboundMs: now.Add(-time.Hour).UnixMilli()}, NowMs: now.UnixMilli()}
	resp, err := ch.Send(ctx, req)
	if err != nil || resp.GetError().GetCode() != sdk.CodeSettings || !strings.Contains(resp.GetError().GetMessage(), v.GetProblems()[0].GetMessage()) {
		t.Errorf("Send(bad settings) = %v, %v; want the settings refusal in ValidateSettings' words", resp, err)
	}
	req.Integration = &proto.Integration{Id: "ex", SettingsJson: []byte(`{"api_token":"tok-example-1","api_url":"` + srv.URL + `"}`)}
	resp, err = ch.Send(ctx, req)
	if err != nil || resp.GetError() != nil || !slices.Equal(resp.GetMessageIds(), []string{"m-1"}) || len(resp.GetExchanges()) != 1 {
		t.Fatalf("Send = %v, %v; want m-1 and its exchange", resp, err)
	}
	for _, h := range resp.GetExchanges()[0].GetRequestHeaders() {
		if h.GetName() == "Authorization" && h.GetValue() != "Bearer "+sdk.Redacted {
			t.Errorf("Authorization kept as %q", h.GetValue())
		}
	}
}
