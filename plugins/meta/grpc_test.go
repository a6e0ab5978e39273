package meta

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
	"github.com/conversa/conversa/plugins/sdk/sdktest"
)

// grpcChannel dispenses the channel through the real gRPC adapters.
func grpcChannel(t *testing.T, ch sdk.Channel) sdk.Channel { return sdktest.Channel(t, ch) }

func TestOverGRPC(t *testing.T) {
	g := newFakeGraph(t, reply{}, reply{status: 200, body: string(readFixture(t, "send/resp-04-user-profile.json"))})
	ch := grpcChannel(t, New())
	ctx := context.Background()

	info, err := ch.Describe(ctx)
	if err != nil || info.GetName() != "meta" {
		t.Fatalf("Describe = %v, %v", info, err)
	}

	body := readFixture(t, "12-message-story-reply.json")
	resp, err := ch.HandleWebhook(ctx, post(body, sign(body, testSecret), integration("ig", business, testSecret)))
	if err != nil {
		t.Fatalf("HandleWebhook: %v", err)
	}
	if !resp.GetAuthenticated() || len(resp.GetEvents()) != 1 {
		t.Fatalf("HandleWebhook = %v", resp)
	}
	ev := resp.GetEvents()[0]
	c := ev.GetContents()[0]
	if ev.GetKind() != sdk.EventMessage || c.GetType() != sdk.ContentStoryReply || c.GetStoryId() != "18012345678901234" ||
		c.GetText() != "Where can I buy this?" || string(ev.GetRaw()) == "" {
		t.Errorf("event = %v", ev)
	}

	hs, err := ch.HandleWebhook(ctx, &proto.WebhookRequest{
		Integrations: []*proto.Integration{integration("ig", business, testSecret)},
		Method:       "GET", Query: "hub.mode=subscribe&hub.challenge=42&hub.verify_token=verify-me",
	})
	if err != nil || string(hs.GetBody()) != "42" || hs.GetStatus() != 200 {
		t.Errorf("handshake = %v, %v", hs, err)
	}

	bad, err := ch.HandleWebhook(ctx, post(body, sign(body, "wrong"), integration("ig", business, testSecret)))
	if err != nil || bad.GetAuthenticated() || len(bad.GetEvents()) != 0 {
		t.Errorf("HandleWebhook(bad signature) = %v, %v; want refused", bad, err)
	}

	sent, err := ch.Send(ctx, sendReq(metaSettings(g.srv.URL, nil), time.Hour, sdk.AuthorAssistant, text("hello")))
	if err != nil || sent.GetError() != nil || !reflect.DeepEqual(sent.GetMessageIds(), []string{"mid-1"}) {
		t.Errorf("Send = %v, %v", sent, err)
	}
	refusedResp, err := ch.Send(ctx, sendReq(metaSettings(g.srv.URL, nil), 48*time.Hour, sdk.AuthorAssistant, text("late")))
	if err != nil || refusedResp.GetError().GetCode() != "outside_window" || !refusedResp.GetError().GetRefused() {
		t.Errorf("Send(late) = %v, %v; want outside_window", refusedResp, err)
	}

	p, err := ch.Profile(ctx, &proto.ProfileRequest{Integration: metaSettings(g.srv.URL, nil), ContactId: customerA})
	if err != nil || p.GetName() != "Ana Souza" || p.GetUsername() != "ana.souza.style" {
		t.Errorf("Profile = %v, %v", p, err)
	}
}

func TestDescribe(t *testing.T) {
	info, err := New().Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	check := func(field string, got, want []string) {
		if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
			t.Errorf("%s = %v, want %v", field, got, want)
		}
	}
	check("inbound_types", info.GetInboundTypes(), []string{"text", "image", "audio", "video", "file", "share", "story_mention", "story_reply"})
	check("outbound_types", info.GetOutboundTypes(), []string{"text", "image", "audio", "video", "file", "quick_replies"})
	check("secret_settings", info.GetSecretSettings(), []string{"access_token", "app_secret"})
	check("generated_settings", info.GetGeneratedSettings(), []string{"verify_token"})
	check("required_settings", info.GetRequiredSettings(), []string{"access_token", "app_secret"})
	check("url_settings", info.GetUrlSettings(), []string{"graph_url"})
	if info.GetName() != "meta" || info.GetMaxQuickReplies() != 13 || info.GetMaxQuickReplyTitle() != 20 ||
		info.GetAccountSetting() != "account_id" || len(info.GetWebhookHeaders()) != 0 || !info.GetEchoesSends() ||
		!reflect.DeepEqual(info.GetWebhookFields(), map[string]string{"verify_token": "verify_token"}) {
		t.Errorf("Describe = %v", info)
	}
}
