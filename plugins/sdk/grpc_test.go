package sdk_test

import (
	"context"
	"testing"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
	"github.com/conversa/conversa/plugins/sdk/sdktest"
)

// plainChannel is a channel without the optional calls.
type plainChannel struct{}

func (plainChannel) Describe(context.Context) (*proto.ChannelInfo, error) {
	return &proto.ChannelInfo{Name: "plain"}, nil
}
func (plainChannel) HandleWebhook(context.Context, *proto.WebhookRequest) (*proto.WebhookResponse, error) {
	return &proto.WebhookResponse{}, nil
}
func (plainChannel) Send(context.Context, *proto.SendRequest) (*proto.SendResponse, error) {
	return &proto.SendResponse{}, nil
}
func (plainChannel) Profile(context.Context, *proto.ProfileRequest) (*proto.ProfileResponse, error) {
	return &proto.ProfileResponse{}, nil
}

// actingChannel shows actions, and records them.
type actingChannel struct {
	plainChannel
	got chan *proto.ActionRequest
}

func (c actingChannel) Action(_ context.Context, r *proto.ActionRequest) (*proto.ActionResponse, error) {
	c.got <- r
	if r.GetAction() == sdk.ActionTypingOff {
		return &proto.ActionResponse{Unsupported: true}, nil
	}
	return &proto.ActionResponse{}, nil
}

// A plugin without Action (one built before it existed) has no actions:
// that is an answer, never an error.
func TestActionIsOptional(t *testing.T) {
	ch := sdktest.Channel(t, plainChannel{})
	a, ok := ch.(sdk.ActionSender)
	if !ok {
		t.Fatal("the host's client has no Action")
	}
	resp, err := a.Action(context.Background(), &proto.ActionRequest{Action: sdk.ActionTypingOn})
	if err != nil || !resp.GetUnsupported() {
		t.Errorf("Action on a channel without it = %v, %v; want unsupported and no error", resp, err)
	}
}

func TestActionReachesThePlugin(t *testing.T) {
	impl := actingChannel{got: make(chan *proto.ActionRequest, 2)}
	a := sdktest.Channel(t, impl).(sdk.ActionSender)
	req := &proto.ActionRequest{Action: sdk.ActionMarkSeen, Contact: &proto.Contact{Id: "u1"}, NowMs: 42}
	resp, err := a.Action(context.Background(), req)
	if err != nil || resp.GetUnsupported() || resp.GetError() != nil {
		t.Fatalf("Action = %v, %v; want done", resp, err)
	}
	if got := <-impl.got; got.GetAction() != sdk.ActionMarkSeen || got.GetContact().GetId() != "u1" || got.GetNowMs() != 42 {
		t.Errorf("the plugin got %v, want %v", got, req)
	}
	if resp, err := a.Action(context.Background(), &proto.ActionRequest{Action: sdk.ActionTypingOff}); err != nil || !resp.GetUnsupported() {
		t.Errorf("Action(typing_off) = %v, %v; want the plugin's unsupported", resp, err)
	}
}

// validatingChannel refuses an empty token.
type validatingChannel struct{ plainChannel }

func (validatingChannel) ValidateSettings(_ context.Context, r *proto.ValidateSettingsRequest) (*proto.ValidateSettingsResponse, error) {
	s, err := sdk.ParseSettings(r.GetIntegration().GetSettingsJson())
	if err != nil {
		return nil, err
	}
	if s.String("token") == "" {
		return &proto.ValidateSettingsResponse{Problems: []*proto.SettingsProblem{{Field: "token", Message: "Enter the token."}}}, nil
	}
	return &proto.ValidateSettingsResponse{}, nil
}

// A plugin without ValidateSettings raises no objection; one with it is
// asked over the wire and its problems name their fields.
func TestValidateSettings(t *testing.T) {
	plain, ok := sdktest.Channel(t, plainChannel{}).(sdk.SettingsValidator)
	if !ok {
		t.Fatal("the host's client has no ValidateSettings")
	}
	resp, err := plain.ValidateSettings(context.Background(), &proto.ValidateSettingsRequest{})
	if err != nil || len(resp.GetProblems()) != 0 {
		t.Errorf("ValidateSettings on a channel without it = %v, %v; want no problems and no error", resp, err)
	}
	v := sdktest.Channel(t, validatingChannel{}).(sdk.SettingsValidator)
	resp, err = v.ValidateSettings(context.Background(), &proto.ValidateSettingsRequest{Integration: &proto.Integration{SettingsJson: []byte(`{"token":""}`)}})
	if err != nil || len(resp.GetProblems()) != 1 || resp.GetProblems()[0].GetField() != "token" {
		t.Errorf("ValidateSettings(empty token) = %v, %v; want one problem naming token", resp, err)
	}
	resp, err = v.ValidateSettings(context.Background(), &proto.ValidateSettingsRequest{Integration: &proto.Integration{SettingsJson: []byte(`{"token":"t"}`)}})
	if err != nil || len(resp.GetProblems()) != 0 {
		t.Errorf("ValidateSettings(token) = %v, %v; want no problems", resp, err)
	}
}
