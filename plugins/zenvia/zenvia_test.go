package zenvia

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"testing"

	pb "google.golang.org/protobuf/proto"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
	"github.com/conversa/conversa/plugins/sdk/sdktest"
)

func checkDescribe(t *testing.T, info *proto.ChannelInfo) {
	t.Helper()
	lists := []struct {
		name      string
		got, want []string
	}{
		{"inbound_types", info.InboundTypes, []string{"text", "audio", "video"}},
		{"outbound_types", info.OutboundTypes, []string{"text", "image", "file"}},
		{"secret_settings", info.SecretSettings, []string{"api_token", "webhook_token"}},
		{"generated_settings", info.GeneratedSettings, []string{"webhook_username", "webhook_token"}},
		{"required_settings", info.RequiredSettings, []string{"sender_id", "api_token"}},
		{"url_settings", info.UrlSettings, []string{"api_url"}},
	}
	for _, l := range lists {
		if !slices.Equal(l.got, l.want) {
			t.Errorf("Describe().%s = %v, want %v", l.name, l.got, l.want)
		}
	}
	if info.Name != "zenvia" || info.Version == "" {
		t.Errorf("Describe() name, version = %q, %q, want zenvia and a version", info.Name, info.Version)
	}
	wantHeaders := map[string]string{"Username": "webhook_username", "AuthenticationToken": "webhook_token"}
	if len(info.WebhookHeaders) != len(wantHeaders) {
		t.Errorf("Describe().webhook_headers = %v, want %v", info.WebhookHeaders, wantHeaders)
	}
	for k, v := range wantHeaders {
		if info.WebhookHeaders[k] != v {
			t.Errorf("Describe().webhook_headers[%q] = %q, want %q", k, info.WebhookHeaders[k], v)
		}
	}
	if len(info.WebhookFields) != 0 || info.AccountSetting != "" {
		t.Errorf("Describe() webhook_fields %v, account_setting %q, want none: each integration has its own URL",
			info.WebhookFields, info.AccountSetting)
	}
}

func TestDescribe(t *testing.T) {
	info, err := New().Describe(context.Background())
	if err != nil {
		t.Fatalf("Describe() error = %v", err)
	}
	checkDescribe(t, info)
}

func TestProfile(t *testing.T) {
	resp, err := New().Profile(context.Background(), &proto.ProfileRequest{
		Integration: &proto.Integration{SettingsJson: testSettingsJSON("")},
		ContactId:   marina,
	})
	if err != nil {
		t.Fatalf("Profile() error = %v", err)
	}
	if resp.ErrorCode != "unsupported" || resp.Retryable || resp.Name != "" {
		t.Errorf("Profile() = %v, want error_code unsupported, not retryable, no name", resp)
	}
}

func TestSendNoContact(t *testing.T) {
	fake, srv := startFakeZenvia(t, 200, []byte(`{"id":"m1"}`), nil)
	req := sendRequest(srv.URL, &proto.Content{Type: "text", Text: "oi"})
	req.Contact.Id = ""
	resp, err := newTestChannel().Send(context.Background(), req)
	if err != nil {
		t.Fatalf("Send() error = %v", err)
	}
	checkSendError(t, resp.Error, &proto.SendError{Code: "no_contact", Refused: true})
	if n := len(fake.recorded()); n != 0 {
		t.Errorf("refused Send() made %d requests, want 0", n)
	}
}

// The channel through the real gRPC adapters, as the host sees it.
func TestChannelOverGRPC(t *testing.T) {
	ch := sdktest.Channel(t, New(sdk.WithClock(sendNow)))
	ctx := context.Background()

	described, err := ch.Describe(ctx)
	if err != nil {
		t.Fatalf("Describe() error = %v", err)
	}
	checkDescribe(t, described)

	want := fixtureEvents()
	for _, name := range []string{"message_in_multiple_contents.json", "message_in_story_mention.json", "status_not_delivered.json", "message_in_bad_timestamp.json"} {
		body := readFixture(t, name)
		resp, err := ch.HandleWebhook(ctx, webhookRequest(body))
		if err != nil {
			t.Fatalf("HandleWebhook(%s) error = %v", name, err)
		}
		if !resp.Authenticated || len(resp.Events) != 1 {
			t.Fatalf("HandleWebhook(%s) = %v, want one authenticated event", name, resp)
		}
		if string(resp.Events[0].Raw) != string(body) {
			t.Errorf("HandleWebhook(%s).raw changed crossing gRPC", name)
		}
		for _, d := range diffEvent(resp.Events[0], want[name]) {
			t.Errorf("HandleWebhook(%s): %s", name, d)
		}
	}

	req := webhookRequest(readFixture(t, "message_in_text.json"))
	req.Headers = req.Headers[:1]
	resp, err := ch.HandleWebhook(ctx, req)
	if err != nil || resp.Authenticated || len(resp.Events) != 0 {
		t.Errorf("HandleWebhook() without credentials = %v, %v, want refused", resp, err)
	}

	fake, srv := startFakeZenvia(t, http.StatusOK, readFixture(t, filepath.Join("send", "response_200_minimal.json")), nil)
	sent, err := ch.Send(ctx, sendRequest(srv.URL, &proto.Content{Type: "text", Text: "oi"}))
	if err != nil {
		t.Fatalf("Send() error = %v", err)
	}
	if sent.Error != nil || !slices.Equal(sent.MessageIds, []string{"4b8f2d6a-0c3e-4a71-9d25-7e1b3f9c5a84"}) {
		t.Errorf("Send() = %v, want message id 4b8f2d6a-0c3e-4a71-9d25-7e1b3f9c5a84", sent)
	}
	if n := len(fake.recorded()); n != 1 {
		t.Errorf("fake Zenvia got %d requests, want 1", n)
	}

	_, srv500 := startFakeZenvia(t, http.StatusInternalServerError, readFixture(t, filepath.Join("send", "error_500_internal.json")), nil)
	failed, err := ch.Send(ctx, sendRequest(srv500.URL, &proto.Content{Type: "text", Text: "oi"}))
	if err != nil {
		t.Fatalf("Send() error = %v", err)
	}
	checkSendError(t, failed.Error, &proto.SendError{Code: "INTERNAL_ERROR", Retryable: true, UnknownOutcome: true})

	prof, err := ch.Profile(ctx, &proto.ProfileRequest{ContactId: marina})
	if err != nil || prof.ErrorCode != "unsupported" {
		t.Errorf("Profile() = %v, %v, want error_code unsupported", prof, err)
	}
}

// FuzzHandleWebhook: whatever Zenvia (or anyone holding the credentials)
// posts, the channel answers without panicking, with something the gRPC
// boundary can carry, and an accepted body always yields exactly one
// complete event.
func FuzzHandleWebhook(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		f.Add(readFixture(f, filepath.Base(file)))
	}
	f.Add([]byte(`{"type":"MESSAGE","message":{"contents":[null,1,[],{"type":{}}],"referral":{"source":{"type":"story_mention"}}}}`))
	f.Add([]byte(`{"type":"MESSAGE_STATUS","messageStatus":{"code":"REJECTED","causes":[7]},"messageId":1e999}`))
	f.Add([]byte("{\"type\":\"MESSAGE\",\"id\":\"\xff\"}"))
	ch := New()
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := ch.HandleWebhook(context.Background(), webhookRequest(body))
		if err != nil {
			t.Fatalf("HandleWebhook(%q) error = %v", body, err)
		}
		if _, err := pb.Marshal(resp); err != nil {
			t.Fatalf("HandleWebhook(%q) answer cannot cross gRPC: %v", body, err)
		}
		if !resp.Authenticated {
			t.Fatalf("HandleWebhook(%q) refused right credentials: %s", body, resp.Error)
		}
		if resp.Malformed {
			if len(resp.Events) != 0 {
				t.Errorf("malformed HandleWebhook(%q) gave %d events", body, len(resp.Events))
			}
			return
		}
		if len(resp.Events) != 1 {
			t.Fatalf("HandleWebhook(%q) gave %d events, want 1", body, len(resp.Events))
		}
		ev := resp.Events[0]
		if ev.Kind == "" || ev.DedupeKey == "" || string(ev.Raw) != string(body) {
			t.Errorf("HandleWebhook(%q) event kind %q, dedupe_key %q, raw kept %v; want all set",
				body, ev.Kind, ev.DedupeKey, string(ev.Raw) == string(body))
		}
		if (ev.Kind == sdk.EventMessage || ev.Kind == sdk.EventEcho) && len(ev.Contents) == 0 {
			t.Errorf("HandleWebhook(%q) %s event without contents", body, ev.Kind)
		}
		if ev.Kind == sdk.EventIgnored && ev.Note == "" {
			t.Errorf("HandleWebhook(%q) ignored event without a note", body)
		}
	})
}
