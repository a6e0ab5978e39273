// Command formcheck is a third-party channel plugin for the end-to-end
// tests of settings checked at save: it publishes a settings form
// (ChannelInfo.settings) and checks an integration's settings
// (ValidateSettings), as a channel written apart from Conversa would.
// Installed in the plugins directory as conversa-plugin-formcheck. It
// accepts webhooks and sends without calling any provider: the tests are
// about its settings.
package main

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

type channel struct{}

func (channel) Describe(context.Context) (*proto.ChannelInfo, error) {
	return &proto.ChannelInfo{
		Name: "formcheck", Version: "1.0.0",
		InboundTypes: []string{sdk.ContentText}, OutboundTypes: []string{sdk.ContentText},
		SecretSettings:    []string{"api_token", "webhook_secret"},
		GeneratedSettings: []string{"webhook_secret"},
		RequiredSettings:  []string{"region", "api_token"},
		WebhookHeaders:    map[string]string{"X-Formcheck-Secret": "webhook_secret"},
		Settings: []*proto.SettingField{
			{Name: "region", Label: "Data region", Type: "select", Required: true,
				Help: "Where the provider keeps the account's data.", Choices: []string{"eu", "us"},
				ChoiceLabels: []string{"Europe", "United States"}},
			{Name: "api_token", Label: "API token", Type: "secret", Required: true,
				Help: "In the provider's console, under Developers → Tokens.", Placeholder: "tok_…"},
			{Name: "api_url", Label: "API address", Type: "url", Placeholder: "https://api.formcheck.example"},
			{Name: "max_per_minute", Label: "Sends per minute", Type: "number", Help: "From 1 to 1000; empty: no limit."},
			{Name: "sandbox", Label: "Sandbox account", Type: "bool"},
		},
	}, nil
}

// ValidateSettings checks the settings' form, as the contract asks: no
// provider is called.
func (channel) ValidateSettings(_ context.Context, req *proto.ValidateSettingsRequest) (*proto.ValidateSettingsResponse, error) {
	s, err := sdk.ParseSettings(req.GetIntegration().GetSettingsJson())
	if err != nil {
		return &proto.ValidateSettingsResponse{Problems: []*proto.SettingsProblem{{Message: "the settings are not a JSON object"}}}, nil
	}
	var ps []*proto.SettingsProblem
	add := func(field, format string, args ...any) {
		ps = append(ps, &proto.SettingsProblem{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if r := s.String("region"); r != "" && r != "eu" && r != "us" {
		add("region", "%q is not a data region: choose eu or us", r)
	}
	if tok := s.String("api_token"); tok != "" && !strings.HasPrefix(tok, "tok_") {
		add("api_token", "an API token starts with tok_: copy it whole from the provider's console")
	}
	if u := s.String("api_url"); u != "" {
		if p, err := url.Parse(u); err != nil || p.Host == "" || (p.Scheme != "https" && p.Scheme != "http") {
			add("api_url", "must be an http(s) address such as https://api.formcheck.example")
		}
	}
	if m := s.String("max_per_minute"); m != "" {
		if n, err := strconv.Atoi(m); err != nil || n < 1 || n > 1000 {
			add("max_per_minute", "must be a whole number from 1 to 1000")
		}
	}
	return &proto.ValidateSettingsResponse{Problems: ps}, nil
}

func (channel) HandleWebhook(_ context.Context, req *proto.WebhookRequest) (*proto.WebhookResponse, error) {
	ins := req.GetIntegrations()
	if len(ins) == 0 {
		return &proto.WebhookResponse{}, nil
	}
	s, _ := sdk.ParseSettings(ins[0].GetSettingsJson())
	for _, h := range req.GetHeaders() {
		if strings.EqualFold(h.GetName(), "X-Formcheck-Secret") && h.GetValue() == s.String("webhook_secret") && h.GetValue() != "" {
			return &proto.WebhookResponse{Authenticated: true}, nil
		}
	}
	return &proto.WebhookResponse{Error: "wrong webhook secret"}, nil
}

func (channel) Send(context.Context, *proto.SendRequest) (*proto.SendResponse, error) {
	return &proto.SendResponse{Error: &proto.SendError{Code: "no_provider", Message: "formcheck sends nothing", Refused: true}}, nil
}

func (channel) Profile(context.Context, *proto.ProfileRequest) (*proto.ProfileResponse, error) {
	return &proto.ProfileResponse{ErrorCode: "unsupported"}, nil
}

func main() {
	sdk.Serve(sdk.Plugin{Name: "formcheck", Version: "1.0.0", Channel: channel{}})
}
