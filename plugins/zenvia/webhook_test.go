package zenvia

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

const (
	testUsername = "nlu-instagram-4711"
	testToken    = "3b1f0c7e9a2d4e68b5c1f9a07d3e6b24"
	testSender   = "brisk-harbor"

	marina        = "6741203958817234"
	rafael        = "5982201744613390"
	marinaPicture = "https://scontent-gru2-1.cdninstagram.com/v/t51.2885-19/440912345_1123344556677889_1234567890123456789_n.jpg?stp=dst-jpg_s200x200&_nc_cat=1&ccb=1-7&_nc_sid=c4dd86&oh=00_AfAexample&oe=67A1B2C3"
)

func testSettingsJSON(apiURL string) []byte {
	b, err := json.Marshal(map[string]string{
		"sender_id":        testSender,
		"api_token":        "zenvia-api-token",
		"api_url":          apiURL,
		"webhook_username": testUsername,
		"webhook_token":    testToken,
		"unknown_setting":  "ignored",
	})
	if err != nil {
		panic(err)
	}
	return b
}

// webhookRequest is a POST as Zenvia sends it, with the right credentials.
func webhookRequest(body []byte) *proto.WebhookRequest {
	return &proto.WebhookRequest{
		Integrations: []*proto.Integration{{Id: "ig-zenvia", SettingsJson: testSettingsJSON("")}},
		Method:       "POST",
		Path:         "/webhooks/ig-zenvia",
		Headers: []*proto.Header{
			{Name: "Content-Type", Value: "application/json"},
			{Name: "Username", Value: testUsername},
			{Name: "Authenticationtoken", Value: testToken},
		},
		Body: body,
	}
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ms is an RFC 3339 time as Unix milliseconds.
func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func marinaEvent(e *proto.Event) *proto.Event {
	e.ContactId = marina
	e.ContactUsername = "marina.costa.rj"
	e.ContactName = "Marina Costa"
	e.ContactAvatarUrl = marinaPicture
	e.AccountId = testSender
	return e
}

// fixtureEvents is what every inbound fixture normalizes to (Raw is checked
// apart: it is always the body).
func fixtureEvents() map[string]*proto.Event {
	return map[string]*proto.Event{
		"message_in_text.json": {
			Kind: sdk.EventMessage, DedupeKey: "0b1e5a3c-6f2d-4e8a-9c71-2d4f8b6a1e90",
			ContactId: marina, AccountId: testSender,
			MessageId: "5d2a9c4e-1b7f-4a36-8e02-c9f1a7d3b604", TimestampMs: ms("2025-03-14T13:22:07Z"),
			Contents: []*proto.Content{{Type: "text", Text: "Oi! Vocês entregam em Niterói?"}},
		},
		"message_in_text_with_visitor.json": marinaEvent(&proto.Event{
			Kind: sdk.EventMessage, DedupeKey: "7c9e2f14-3a6b-4d05-b8e7-5f1c2d9a0b37",
			MessageId: "a3f81c26-94d0-4b7e-a215-6e0b9c4d7f18", TimestampMs: ms("2025-03-14T13:25:40Z"),
			Contents: []*proto.Content{{Type: "text", Text: "Quero saber o preço do kit presente"}},
		}),
		"message_in_image.json": marinaEvent(&proto.Event{
			Kind: sdk.EventMessage, DedupeKey: "e2a7c5d1-8b34-4f9e-a06c-3d1b7e5f9a82",
			MessageId: "4f6b1d93-2c8e-47a0-b5d1-9e3a6c0f2b75", TimestampMs: ms("2025-03-14T13:27:11Z"),
			Contents: []*proto.Content{{
				Type:     "image",
				Url:      "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17912345678901234&signature=AbzExampleSignatureImage",
				MimeType: "image/jpeg",
			}},
		}),
		"message_in_audio.json": marinaEvent(&proto.Event{
			Kind: sdk.EventMessage, DedupeKey: "1d4f7a92-5e0c-4b6a-8d3f-0a7e2c9b5d14",
			MessageId: "9b2e6d40-7a1c-4f85-a3e9-1c5d8b2f6a07", TimestampMs: ms("2025-03-14T13:28:29Z"),
			Contents: []*proto.Content{{
				Type:     "audio",
				Url:      "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18023456789012345&signature=AbzExampleSignatureAudio",
				MimeType: "audio/mp4",
			}},
		}),
		"message_in_video.json": marinaEvent(&proto.Event{
			Kind: sdk.EventMessage, DedupeKey: "6a0c3e58-2d9f-4b71-9e46-8f2a5c1d7b03",
			MessageId: "c8d5a217-6f3b-4e90-b4c2-7a1e9d0f5b68", TimestampMs: ms("2025-03-14T13:31:00Z"),
			Contents: []*proto.Content{{
				Type:     "video",
				Url:      "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17834567890123456&signature=AbzExampleSignatureVideo",
				MimeType: "video/mp4",
			}},
		}),
		"message_in_file_no_mimetype.json": {
			Kind: sdk.EventMessage, DedupeKey: "3f8b1e6d-0c7a-4d29-95b3-6e2d4a8c1f70",
			ContactId: marina, AccountId: testSender,
			MessageId: "7e1a4c9b-3d62-4f08-a7c5-2b9e0d6f4a31", TimestampMs: ms("2025-03-14T13:33:18Z"),
			Contents: []*proto.Content{{
				Type: "file",
				Url:  "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17945678901234567&signature=AbzExampleSignatureNoMime",
			}},
		},
		"message_in_unsupported.json": marinaEvent(&proto.Event{
			Kind: sdk.EventMessage, DedupeKey: "9d2c6b14-7e3a-4f51-8b0d-4a6e1c9f2d85",
			MessageId: "2b7f0e5a-9c14-4d63-b8a2-5e1d7c3f9a06", TimestampMs: ms("2025-03-14T13:35:43Z"),
			Contents: []*proto.Content{{Type: "unsupported", OriginalType: "unsupported", Raw: []byte(`{"type":"unsupported"}`)}},
		}),
		"message_in_location.json": {
			Kind: sdk.EventMessage, DedupeKey: "4b8e1a37-2f6c-4d90-a5e3-7c0b9d2f6e14",
			ContactId: marina, AccountId: testSender,
			MessageId: "f0a3d6c9-1e4b-4a72-9d85-3b6e0c2a7f19", TimestampMs: ms("2025-03-14T13:36:09Z"),
			Contents: []*proto.Content{{
				Type: "unsupported", OriginalType: "location",
				Raw: []byte(`{"type":"location","longitude":-43.1729,"latitude":-22.9068,"name":"Centro","address":"Rio de Janeiro - RJ"}`),
			}},
		},
		"message_in_story_mention.json": marinaEvent(&proto.Event{
			Kind: sdk.EventMessage, DedupeKey: "5e9a2d70-4c1b-4f36-b8e2-0d7a3c6f1b94",
			MessageId: "8c1f5b3e-6a90-4d27-a4e1-9b2d0f7c5e63", TimestampMs: ms("2025-03-14T14:02:50Z"),
			Contents: []*proto.Content{{
				Type:    "story_mention",
				Url:     "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18056789012345678&signature=AbzExampleSignatureStory",
				StoryId: "18056789012345678",
			}},
		}),
		"message_in_quick_reply_click.json": marinaEvent(&proto.Event{
			Kind: sdk.EventMessage, DedupeKey: "b1d5f9a3-7e2c-4b60-9f18-2a4c6e8d0b71",
			MessageId: "e6a0c4d8-3f1b-4e75-a926-8d2b5f1c7e03", TimestampMs: ms("2025-03-14T14:12:33Z"),
			ReplyTo:  "2f9c7a15-8d4e-4b36-a1c0-5e7d3b9f0a62",
			Contents: []*proto.Content{{Type: "text", Text: "Falar com atendente", Payload: "HANDOFF"}},
		}),
		"message_in_optin_response.json": marinaEvent(&proto.Event{
			Kind: sdk.EventIgnored, DedupeKey: "0e4b8d2f-6a1c-4e57-93b0-7d5f1a3c9e26",
			MessageId: "3d7b1f5a-9e2c-4a68-b0d4-6f8a2c4e0b17", TimestampMs: ms("2025-03-14T15:01:11Z"),
			Note: "recurring-notification opt-in (optin_response): nothing to answer; optInStatus=OPTIN frequency=WEEKLY payload=promo-semanal",
		}),
		"message_out_echo.json": {
			Kind: sdk.EventEcho, DedupeKey: "2a6e0c4d-8b1f-4d37-b9e5-3c7a1e5f9b08",
			ContactId: marina, AccountId: testSender,
			MessageId: "6b0f4d8a-2e5c-4a91-8d37-9f1b3e7c5a24", TimestampMs: ms("2025-03-14T13:22:09Z"),
			Contents: []*proto.Content{{Type: "text", Text: "Entregamos sim! Qual o seu CEP?"}},
		},
		"status_sent.json": {
			Kind: sdk.EventStatus, Status: sdk.StatusSent, DedupeKey: "7f1b5d9c-3a6e-4c20-8b74-0e2d6a4c8f15",
			ContactId: marina, AccountId: testSender,
			MessageId: "6b0f4d8a-2e5c-4a91-8d37-9f1b3e7c5a24", TimestampMs: ms("2025-03-14T13:22:09Z"),
		},
		"status_delivered.json": {
			Kind: sdk.EventStatus, Status: sdk.StatusDelivered, DedupeKey: "8a2c6e0d-4b7f-4d31-9c85-1f3e7b5d9a26",
			ContactId: marina, AccountId: testSender,
			MessageId: "6b0f4d8a-2e5c-4a91-8d37-9f1b3e7c5a24", TimestampMs: ms("2025-03-14T13:22:10Z"),
		},
		"status_read.json": {
			Kind: sdk.EventStatus, Status: sdk.StatusRead, DedupeKey: "9b3d7f1e-5c80-4e42-ad96-2a4f8c6e0b37",
			ContactId: marina, AccountId: testSender,
			MessageId: "6b0f4d8a-2e5c-4a91-8d37-9f1b3e7c5a24", TimestampMs: ms("2025-03-14T13:23:55Z"),
		},
		"status_rejected.json": {
			Kind: sdk.EventStatus, Status: sdk.StatusFailed, DedupeKey: "ac4e8a2f-6d91-4f53-be07-3b5a9d7f1c48",
			ContactId: marina, AccountId: testSender,
			MessageId: "0c5f9b3d-7e2a-4d84-a1c6-8e0b4d2f6a59", TimestampMs: ms("2025-03-15T16:40:02Z"),
			ErrorCode:    "10",
			ErrorMessage: "(#10) This message is sent outside of allowed window.: The recipient has not messaged the account in the last 24 hours",
		},
		"status_not_delivered.json": {
			Kind: sdk.EventStatus, Status: sdk.StatusFailed, DedupeKey: "bd5f9b3a-7e02-4a64-8f18-4c6b0e8a2d59",
			ContactId: rafael, AccountId: testSender,
			MessageId: "1d6a0c4e-8f3b-4e95-b2d7-9f1c5e3a7b60", TimestampMs: ms("2025-03-15T16:45:31Z"),
			ErrorCode:    "551",
			ErrorMessage: "This person isn't available right now.: Recipient blocked the account or the account is unavailable",
		},

		// Our own fixtures.
		"message_in_multiple_contents.json": {
			Kind: sdk.EventMessage, DedupeKey: "c7e1a935-2b4d-4f80-9e16-5a3d7c0b8f42",
			ContactId: rafael, ContactUsername: "rafa.nunes", ContactName: "Rafael Nunes", AccountId: testSender,
			MessageId: "d94b2e70-5c1a-4a83-b6f2-0e8c3d7a1b59", TimestampMs: ms("2025-03-14T13:40:01Z"),
			Contents: []*proto.Content{
				{Type: "text", Text: "Segue o comprovante e um áudio"},
				{Type: "image", Url: "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17990011223344556&signature=AbzExampleMultiImage", MimeType: "image/png"},
				{Type: "audio", Url: "https://cdn.example.com/inbound/voice/nota-0314.M4A?expires=1741960800"},
				{Type: "file", Url: "https://cdn.example.com/inbound/docs/comprovante.pdf", MimeType: "application/pdf", Name: "comprovante.pdf"},
				{Type: "unsupported", OriginalType: "location", Raw: []byte(`{"type":"location","latitude":-22.9068,"longitude":-43.1729}`)},
			},
		},
		"message_in_file_unknown_extension.json": {
			Kind: sdk.EventMessage, DedupeKey: "a5d3f817-0e2c-4b94-8a61-3f7b9c1e5d02",
			ContactId: rafael, AccountId: testSender,
			MessageId: "f1c8e3a6-4d27-4b05-9a93-6e2d0b7c4f18", TimestampMs: ms("2025-03-14T13:42:17.508Z"),
			Contents: []*proto.Content{{Type: "file", Url: "https://cdn.example.com/inbound/docs/orcamento.xyz"}},
		},
		"message_in_timestamp_offset.json": {
			Kind: sdk.EventMessage, DedupeKey: "3e9c1b57-6f4a-4d28-b0e3-8a2f5d7c9e61",
			ContactId: marina, AccountId: testSender,
			MessageId: "0a7d4c1e-9b35-4f62-8e07-2c5b1a9d6f30", TimestampMs: ms("2025-03-14T13:22:07.123Z"),
			Contents: []*proto.Content{{Type: "text", Text: "Qual o horário de funcionamento?"}},
		},
		"message_in_bad_timestamp.json": {
			Kind: sdk.EventMessage, DedupeKey: "6c2f8a14-3b7e-4d59-a0c8-1e5d9b3f7a26",
			ContactId: marina, AccountId: testSender,
			MessageId: "b3e0d6a2-7c41-4f18-9d5e-4a8c2f0b6e73", TimestampMs: 0,
			Contents: []*proto.Content{{Type: "text", Text: "ainda estão abertos?"}},
		},
		"message_in_story_reply.json": {
			Kind: sdk.EventMessage, DedupeKey: "e8b4c2a0-1d7f-4e36-95a2-7c0e3b6d9f14",
			ContactId: marina, ContactUsername: "marina.costa.rj", ContactName: "Marina Costa", AccountId: testSender,
			MessageId: "7f3a9d15-2e8c-4b60-a4d1-5b9e0c3f7a82", TimestampMs: ms("2025-03-14T14:20:04Z"),
			Contents: []*proto.Content{{
				Type:    "story_reply",
				Text:    "Esse kit ainda tem?",
				Url:     "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18071234567890123&signature=AbzExampleOwnStory",
				StoryId: "18071234567890123",
			}},
		},
		"message_in_reply_to_message.json": {
			Kind: sdk.EventMessage, DedupeKey: "4d1a7e93-8c2b-4f05-b6e4-0a9d3c7f1e58",
			ContactId: marina, AccountId: testSender,
			MessageId: "9e5c3a71-0b8d-4e26-a7f4-1d6b2c8e0a93", TimestampMs: ms("2025-03-14T14:25:39Z"),
			ReplyTo:  "6b0f4d8a-2e5c-4a91-8d37-9f1b3e7c5a24",
			Contents: []*proto.Content{{Type: "text", Text: "Esse aqui, o de R$ 89,90"}},
		},
		"message_in_sharing.json": {
			Kind: sdk.EventMessage, DedupeKey: "2b8f6d04-9a3c-4e71-85d2-6c0a4e8b2f37",
			ContactId: marina, AccountId: testSender,
			MessageId: "5a1e9c37-4f0b-4d82-b3a6-8e2c0d5f9b14", TimestampMs: ms("2025-03-14T14:31:11Z"),
			Contents: []*proto.Content{{
				Type: "unsupported", OriginalType: "sharing",
				Raw: []byte(`{"source":{"id":"3301234567890123456","type":"sharing","url":"https://www.instagram.com/p/DExamplePost/"}}`),
			}},
		},
		"message_in_other_channel.json": {
			Kind: sdk.EventIgnored, DedupeKey: "8e0c4a62-1f5d-4b93-a7e8-2d6b0f4c8a15",
			TimestampMs: ms("2025-03-14T14:35:00.120Z"),
			Note:        `event for channel "whatsapp", this integration serves instagram`,
		},
		"status_old_shape.json": {
			Kind: sdk.EventStatus, Status: sdk.StatusDelivered, DedupeKey: "f3a9d1c5-7b2e-4e64-9c08-4d6f2a8e0b91",
			MessageId: "6b0f4d8a-2e5c-4a91-8d37-9f1b3e7c5a24", TimestampMs: ms("2025-03-14T13:22:10Z"),
		},
		"status_numeric_error_code.json": {
			Kind: sdk.EventStatus, Status: sdk.StatusFailed, DedupeKey: "0d6b2f8a-4c1e-4a73-b9d5-3e7a1c5f9b42",
			MessageId: "2e7c3a9f-5d1b-4f86-a0c4-6b8d2e0f4a17", TimestampMs: ms("2025-03-15T16:50:44Z"),
			ErrorCode: "500", ErrorMessage: "Internal error at the provider",
		},
		"status_deleted.json": {
			Kind: sdk.EventUnsend, DedupeKey: "5b9e3d7a-0c4f-4b21-8e66-1a5c9f3d7b08",
			ContactId: marina, AccountId: testSender,
			MessageId: "a3f81c26-94d0-4b7e-a215-6e0b9c4d7f18", TimestampMs: ms("2025-03-14T13:24:15Z"),
		},
		"status_clicked.json": {
			Kind: sdk.EventIgnored, DedupeKey: "9c5a1e37-6d2b-4f80-a4e9-0b7d3f1c5a68",
			ContactId: marina, AccountId: testSender,
			MessageId: "6b0f4d8a-2e5c-4a91-8d37-9f1b3e7c5a24", TimestampMs: ms("2025-03-14T13:26:01Z"),
			Note: "message status CLICKED is not tracked",
		},
		"event_contact.json": {
			Kind: sdk.EventIgnored, DedupeKey: "1f7b3d9e-5a0c-4c62-b8e4-2d6a0f4b8c39",
			TimestampMs: ms("2025-03-14T13:50:00Z"),
			Note:        "event type CONTACT is not handled",
		},
	}
}

func TestHandleWebhookFixtures(t *testing.T) {
	want := fixtureEvents()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	ch := New()
	for _, f := range files {
		name := filepath.Base(f)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("fixture %s has no expected event: add one", name)
			}
			body := readFixture(t, name)
			resp, err := ch.HandleWebhook(context.Background(), webhookRequest(body))
			if err != nil {
				t.Fatalf("HandleWebhook(%s) error = %v", name, err)
			}
			if !resp.Authenticated || resp.Malformed || resp.Status != 0 {
				t.Fatalf("HandleWebhook(%s) = authenticated %v, malformed %v, status %d (%s), want true, false, 0",
					name, resp.Authenticated, resp.Malformed, resp.Status, resp.Error)
			}
			if len(resp.Events) != 1 {
				t.Fatalf("HandleWebhook(%s) gave %d events, want 1", name, len(resp.Events))
			}
			got := resp.Events[0]
			if !bytes.Equal(got.Raw, body) {
				t.Errorf("HandleWebhook(%s).raw is not the body as received", name)
			}
			for _, d := range diffEvent(got, w) {
				t.Errorf("HandleWebhook(%s): %s", name, d)
			}
		})
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("expected event for %s, but testdata has no such fixture", name)
		}
	}
}

// diffEvent lists the fields of got that differ from want, Raw aside.
func diffEvent(got, want *proto.Event) []string {
	var d []string
	field := func(name string, g, w any) {
		if g != w {
			d = append(d, fmt.Sprintf("%s = %#v, want %#v", name, g, w))
		}
	}
	field("kind", got.Kind, want.Kind)
	field("dedupe_key", got.DedupeKey, want.DedupeKey)
	field("integration", got.Integration, want.Integration)
	field("contact_id", got.ContactId, want.ContactId)
	field("contact_username", got.ContactUsername, want.ContactUsername)
	field("contact_name", got.ContactName, want.ContactName)
	field("contact_avatar_url", got.ContactAvatarUrl, want.ContactAvatarUrl)
	field("message_id", got.MessageId, want.MessageId)
	field("timestamp_ms", got.TimestampMs, want.TimestampMs)
	field("reply_to", got.ReplyTo, want.ReplyTo)
	field("status", got.Status, want.Status)
	field("error_code", got.ErrorCode, want.ErrorCode)
	field("error_message", got.ErrorMessage, want.ErrorMessage)
	field("account_id", got.AccountId, want.AccountId)
	field("note", got.Note, want.Note)
	if len(got.Contents) != len(want.Contents) {
		d = append(d, fmt.Sprintf("%d contents %v, want %d %v", len(got.Contents), got.Contents, len(want.Contents), want.Contents))
		return d
	}
	for i := range want.Contents {
		g, w := got.Contents[i], want.Contents[i]
		p := fmt.Sprintf("contents[%d].", i)
		field(p+"type", g.Type, w.Type)
		field(p+"text", g.Text, w.Text)
		field(p+"url", g.Url, w.Url)
		field(p+"mime_type", g.MimeType, w.MimeType)
		field(p+"name", g.Name, w.Name)
		field(p+"caption", g.Caption, w.Caption)
		field(p+"payload", g.Payload, w.Payload)
		field(p+"story_id", g.StoryId, w.StoryId)
		field(p+"emoji", g.Emoji, w.Emoji)
		field(p+"mid", g.Mid, w.Mid)
		field(p+"original_type", g.OriginalType, w.OriginalType)
		field(p+"title", g.Title, w.Title)
		if len(g.Options) != 0 {
			d = append(d, fmt.Sprintf("%soptions = %v, want none", p, g.Options))
		}
		if !jsonEqual(g.Raw, w.Raw) {
			d = append(d, fmt.Sprintf("%sraw = %s, want %s", p, g.Raw, w.Raw))
		}
	}
	return d
}

// jsonEqual compares two JSON texts by value; two empty ones are equal.
func jsonEqual(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return bytes.Equal(xs, ys)
}

func TestHandleWebhookAuthentication(t *testing.T) {
	body := readFixture(t, "message_in_text.json")
	withHeaders := func(settings []byte, headers ...string) *proto.WebhookRequest {
		r := webhookRequest(body)
		if settings != nil {
			r.Integrations[0].SettingsJson = settings
		}
		r.Headers = nil
		for i := 0; i+1 < len(headers); i += 2 {
			r.Headers = append(r.Headers, &proto.Header{Name: headers[i], Value: headers[i+1]})
		}
		return r
	}
	noCreds := []byte(`{"sender_id":"brisk-harbor","api_token":"t"}`)
	tests := []struct {
		name      string
		req       *proto.WebhookRequest
		wantAuth  bool
		wantError string // substring of the refusal reason
	}{
		{"right headers", withHeaders(nil, "Username", testUsername, "AuthenticationToken", testToken), true, ""},
		{"header names in any case", withHeaders(nil, "USERNAME", testUsername, "authenticationtoken", testToken), true, ""},
		{"missing Username", withHeaders(nil, "AuthenticationToken", testToken), false, "missing Username header"},
		{"missing AuthenticationToken", withHeaders(nil, "Username", testUsername), false, "missing AuthenticationToken header"},
		{"empty AuthenticationToken", withHeaders(nil, "Username", testUsername, "AuthenticationToken", ""), false, "missing AuthenticationToken header"},
		{"wrong AuthenticationToken", withHeaders(nil, "Username", testUsername, "AuthenticationToken", testToken+"x"), false, "wrong AuthenticationToken header"},
		{"wrong Username", withHeaders(nil, "Username", "someone", "AuthenticationToken", testToken), false, "wrong Username header"},
		{"token in the Username header", withHeaders(nil, "Username", testToken, "AuthenticationToken", testUsername), false, "wrong Username header; wrong AuthenticationToken header"},
		{"no headers", withHeaders(nil), false, "missing Username header; missing AuthenticationToken header"},
		{"integration without credentials, no headers", withHeaders(noCreds), false, "no webhook credentials"},
		{"integration without credentials, empty headers", withHeaders(noCreds, "Username", "", "AuthenticationToken", ""), false, "no webhook credentials"},
		{"integration with only a username", withHeaders([]byte(`{"webhook_username":"u"}`), "Username", "u", "AuthenticationToken", ""), false, "no webhook credentials"},
		{"settings not JSON", withHeaders([]byte(`{"webhook_token":`), "Username", testUsername, "AuthenticationToken", testToken), false, "settings"},
		{"no integration", func() *proto.WebhookRequest {
			r := withHeaders(nil, "Username", testUsername, "AuthenticationToken", testToken)
			r.Integrations = nil
			return r
		}(), false, "no integration"},
	}
	ch := New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := ch.HandleWebhook(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("HandleWebhook() error = %v", err)
			}
			if resp.Authenticated != tt.wantAuth {
				t.Fatalf("HandleWebhook().authenticated = %v (%s), want %v", resp.Authenticated, resp.Error, tt.wantAuth)
			}
			if tt.wantAuth {
				if len(resp.Events) != 1 {
					t.Errorf("HandleWebhook() gave %d events, want 1", len(resp.Events))
				}
				return
			}
			if len(resp.Events) != 0 {
				t.Errorf("refused HandleWebhook() gave %d events, want none", len(resp.Events))
			}
			if resp.Status != 401 {
				t.Errorf("refused HandleWebhook().status = %d, want 401", resp.Status)
			}
			if !strings.Contains(resp.Error, tt.wantError) {
				t.Errorf("HandleWebhook().error = %q, want it to contain %q", resp.Error, tt.wantError)
			}
			for _, secret := range []string{testToken, testUsername} {
				if strings.Contains(resp.Error, secret) {
					t.Errorf("HandleWebhook().error = %q reveals a credential", resp.Error)
				}
			}
		})
	}
}

func TestHandleWebhookMethod(t *testing.T) {
	ch := New()
	for _, method := range []string{"GET", "PUT", "HEAD", ""} {
		req := webhookRequest(readFixture(t, "message_in_text.json"))
		req.Method = method
		resp, err := ch.HandleWebhook(context.Background(), req)
		if err != nil {
			t.Fatalf("HandleWebhook(%q) error = %v", method, err)
		}
		if resp.Authenticated || resp.Status != 405 || len(resp.Events) != 0 {
			t.Errorf("HandleWebhook(%q) = authenticated %v, status %d, %d events; want false, 405, 0",
				method, resp.Authenticated, resp.Status, len(resp.Events))
		}
	}
}

func TestHandleWebhookMalformed(t *testing.T) {
	tests := []struct {
		name, body, wantError string
	}{
		{"empty", ``, "not a JSON object"},
		{"not JSON", `MESSAGE`, "not a JSON object"},
		{"truncated", `{"type":"MESSAGE","message":{`, "not a JSON object"},
		{"array", `[{"type":"MESSAGE"}]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"string", `"MESSAGE"`, "not a JSON object"},
		{"no type", `{"id":"x","message":{}}`, "no type"},
		{"empty type", `{"id":"x","type":" "}`, "no type"},
		{"numeric type", `{"id":"x","type":3}`, "no type"},
	}
	ch := New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := ch.HandleWebhook(context.Background(), webhookRequest([]byte(tt.body)))
			if err != nil {
				t.Fatalf("HandleWebhook(%q) error = %v", tt.body, err)
			}
			if !resp.Authenticated || !resp.Malformed || resp.Status != 400 || len(resp.Events) != 0 {
				t.Errorf("HandleWebhook(%q) = authenticated %v, malformed %v, status %d, %d events; want true, true, 400, 0",
					tt.body, resp.Authenticated, resp.Malformed, resp.Status, len(resp.Events))
			}
			if !strings.Contains(resp.Error, tt.wantError) {
				t.Errorf("HandleWebhook(%q).error = %q, want it to contain %q", tt.body, resp.Error, tt.wantError)
			}
		})
	}
}

// Shapes no fixture holds, each on the smallest event that shows it.
func TestHandleWebhookShapes(t *testing.T) {
	const noID = `{"type":"MESSAGE","message":{"id":"m1","from":"c1","to":"brisk-harbor","contents":[{"type":"text","text":"a"}]}}`
	noIDSum := sha256.Sum256([]byte(noID))
	tests := []struct {
		name string
		body string
		want *proto.Event
	}{
		{
			name: "no event id: digest of the body",
			body: noID,
			want: &proto.Event{Kind: "message", DedupeKey: "sha256:" + hex.EncodeToString(noIDSum[:]), ContactId: "c1", AccountId: "brisk-harbor", MessageId: "m1",
				Contents: []*proto.Content{{Type: "text", Text: "a"}}},
		},
		{
			name: "no direction: from the sender id is an echo",
			body: `{"id":"e1","type":"MESSAGE","message":{"id":"m1","from":"brisk-harbor","to":"c1","contents":[{"type":"text","text":"a"}]}}`,
			want: &proto.Event{Kind: "echo", DedupeKey: "e1", ContactId: "c1", AccountId: "brisk-harbor", MessageId: "m1",
				Contents: []*proto.Content{{Type: "text", Text: "a"}}},
		},
		{
			name: "event direction only",
			body: `{"id":"e1","type":"MESSAGE","direction":"OUT","message":{"id":"m1","from":"brisk-harbor","to":"c1","contents":[{"type":"text","text":"a"}]}}`,
			want: &proto.Event{Kind: "echo", DedupeKey: "e1", ContactId: "c1", AccountId: "brisk-harbor", MessageId: "m1",
				Contents: []*proto.Content{{Type: "text", Text: "a"}}},
		},
		// One subscription serves every sender id of the Zenvia account:
		// what another Instagram account receives or sends is kept, and
		// never answered from this one.
		{
			name: "a message to another sender id",
			body: `{"id":"e1","type":"MESSAGE","direction":"IN","message":{"id":"m1","from":"c1","to":"quiet-meadow","direction":"IN","contents":[{"type":"text","text":"oi"}]}}`,
			want: &proto.Event{Kind: "ignored", DedupeKey: "e1", ContactId: "c1", AccountId: "quiet-meadow", MessageId: "m1",
				Contents: []*proto.Content{{Type: "text", Text: "oi"}},
				Note:     `event for sender id "quiet-meadow"; this integration's sender_id is "brisk-harbor": not answered`},
		},
		{
			name: "an echo from another sender id",
			body: `{"id":"e1","type":"MESSAGE","direction":"OUT","message":{"id":"m1","from":"quiet-meadow","to":"c1","contents":[{"type":"text","text":"a"}]}}`,
			want: &proto.Event{Kind: "ignored", DedupeKey: "e1", ContactId: "c1", AccountId: "quiet-meadow", MessageId: "m1",
				Contents: []*proto.Content{{Type: "text", Text: "a"}},
				Note:     `event for sender id "quiet-meadow"; this integration's sender_id is "brisk-harbor": not answered`},
		},
		{
			name: "a status of another sender id's message",
			body: `{"id":"e1","type":"MESSAGE_STATUS","message":{"id":"m1","from":"quiet-meadow","to":"c1","direction":"OUT"},"messageStatus":{"code":"READ"}}`,
			want: &proto.Event{Kind: "ignored", Status: "read", DedupeKey: "e1", ContactId: "c1", AccountId: "quiet-meadow", MessageId: "m1",
				Note: `event for sender id "quiet-meadow"; this integration's sender_id is "brisk-harbor": not answered`},
		},
		{
			name: "the sender id in another case",
			body: `{"id":"e1","type":"MESSAGE","message":{"id":"m1","from":"c1","to":"Brisk-Harbor","direction":"IN","contents":[{"type":"text","text":"oi"}]}}`,
			want: &proto.Event{Kind: "message", DedupeKey: "e1", ContactId: "c1", AccountId: "Brisk-Harbor", MessageId: "m1",
				Contents: []*proto.Content{{Type: "text", Text: "oi"}}},
		},
		{
			name: "numbers where strings are expected",
			body: `{"id":"e1","type":"MESSAGE","message":{"id":42,"from":6741203958817234,"to":"brisk-harbor","visitor":{"name":["x"],"userName":"@marina"},"contents":[{"type":"text","text":7}],"timestamp":1741958527}}`,
			want: &proto.Event{Kind: "message", DedupeKey: "e1", ContactId: "6741203958817234", AccountId: "brisk-harbor", MessageId: "42",
				ContactUsername: "marina", TimestampMs: 1741958527000,
				Contents: []*proto.Content{{Type: "text", Text: "7"}}},
		},
		{
			name: "message that is not an object",
			body: `{"id":"e1","type":"MESSAGE","timestamp":"2025-03-14T13:22:08Z","message":"hello"}`,
			want: &proto.Event{Kind: "ignored", DedupeKey: "e1", TimestampMs: ms("2025-03-14T13:22:08Z"), Note: "MESSAGE event without a message object"},
		},
		{
			name: "contents not an array, no contents",
			body: `{"id":"e1","type":"MESSAGE","message":{"id":"m1","from":"c1","to":"brisk-harbor","contents":{"type":"text"}}}`,
			want: &proto.Event{Kind: "message", DedupeKey: "e1", ContactId: "c1", AccountId: "brisk-harbor", MessageId: "m1",
				Contents: []*proto.Content{{Type: "unsupported", OriginalType: "empty"}}},
		},
		{
			name: "content that is not an object",
			body: `{"id":"e1","type":"MESSAGE","message":{"id":"m1","from":"c1","to":"brisk-harbor","contents":["hi",{"type":"TEXT","text":"a"}]}}`,
			want: &proto.Event{Kind: "message", DedupeKey: "e1", ContactId: "c1", AccountId: "brisk-harbor", MessageId: "m1",
				Contents: []*proto.Content{{Type: "unsupported", Raw: []byte(`"hi"`)}, {Type: "text", Text: "a"}}},
		},
		{
			name: "optin with a text: the text is kept",
			body: `{"id":"e1","type":"MESSAGE","message":{"id":"m1","from":"c1","to":"brisk-harbor","contents":[{"type":"optin_response","optInStatus":"OPTOUT"},{"type":"text","text":"pare"}]}}`,
			want: &proto.Event{Kind: "message", DedupeKey: "e1", ContactId: "c1", AccountId: "brisk-harbor", MessageId: "m1",
				Contents: []*proto.Content{{Type: "text", Text: "pare"}}},
		},
		{
			name: "story mention without source url: the file's",
			body: `{"id":"e1","type":"MESSAGE","message":{"id":"m1","from":"c1","to":"brisk-harbor","contents":[{"type":"file","fileUrl":"https://x/story.mp4","fileMimeType":"video/mp4"}],"referral":{"source":{"id":"st1","type":"story_mention"}}}}`,
			want: &proto.Event{Kind: "message", DedupeKey: "e1", ContactId: "c1", AccountId: "brisk-harbor", MessageId: "m1",
				Contents: []*proto.Content{{Type: "story_mention", Url: "https://x/story.mp4", MimeType: "video/mp4", StoryId: "st1"}}},
		},
		{
			name: "story reply with media and no text",
			body: `{"id":"e1","type":"MESSAGE","message":{"id":"m1","from":"c1","to":"brisk-harbor","contents":[{"type":"file","fileUrl":"https://x/a.jpg"}],"referral":{"source":{"id":"st1","type":"story","url":"https://x/story"}}}}`,
			want: &proto.Event{Kind: "message", DedupeKey: "e1", ContactId: "c1", AccountId: "brisk-harbor", MessageId: "m1",
				Contents: []*proto.Content{{Type: "story_reply", Url: "https://x/story", StoryId: "st1"}, {Type: "image", Url: "https://x/a.jpg"}}},
		},
		{
			name: "ad referral kept in raw only",
			body: `{"id":"e1","type":"MESSAGE","message":{"id":"m1","from":"c1","to":"brisk-harbor","contents":[{"type":"text","text":"quero"}],"referral":{"source":{"id":"ad1","type":"ad"}}}}`,
			want: &proto.Event{Kind: "message", DedupeKey: "e1", ContactId: "c1", AccountId: "brisk-harbor", MessageId: "m1",
				Contents: []*proto.Content{{Type: "text", Text: "quero"}}},
		},
		{
			name: "status without message id",
			body: `{"id":"e1","type":"MESSAGE_STATUS","messageStatus":{"code":"SENT","timestamp":"2025-03-14T13:22:09Z"}}`,
			want: &proto.Event{Kind: "ignored", DedupeKey: "e1", TimestampMs: ms("2025-03-14T13:22:09Z"), Note: "MESSAGE_STATUS without a message id"},
		},
		{
			name: "status without code",
			body: `{"id":"e1","type":"MESSAGE_STATUS","messageId":"m1"}`,
			want: &proto.Event{Kind: "ignored", DedupeKey: "e1", MessageId: "m1", Note: "MESSAGE_STATUS without a status code"},
		},
		{
			name: "failure without causes: description",
			body: `{"id":"e1","type":"MESSAGE_STATUS","messageId":"m1","messageStatus":{"code":"not_delivered","description":"The provider was unable to deliver the message"}}`,
			want: &proto.Event{Kind: "status", Status: "failed", DedupeKey: "e1", MessageId: "m1",
				ErrorCode: "NOT_DELIVERED", ErrorMessage: "The provider was unable to deliver the message"},
		},
		{
			name: "failure of a later content",
			body: `{"id":"e1","type":"MESSAGE_STATUS","messageId":"m0","contentIndex":0,"message":{"id":"m1","contentIndex":1,"to":"c1"},"messageStatus":{"code":"REJECTED","causes":[{"channelErrorCode":"2018047","reason":"Upload attachment failure"}]}}`,
			want: &proto.Event{Kind: "status", Status: "failed", DedupeKey: "e1", MessageId: "m1", ContactId: "c1",
				ErrorCode: "2018047", ErrorMessage: "contents[1]: Upload attachment failure"},
		},
		{
			name: "failure with the old singular cause",
			body: `{"id":"e1","type":"MESSAGE_STATUS","messageId":"m1","messageStatus":{"code":"REJECTED","cause":"blocked","description":"The message was rejected by the provider"}}`,
			want: &proto.Event{Kind: "status", Status: "failed", DedupeKey: "e1", MessageId: "m1",
				ErrorCode: "REJECTED", ErrorMessage: "blocked"},
		},
	}
	ch := New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := ch.HandleWebhook(context.Background(), webhookRequest([]byte(tt.body)))
			if err != nil || !resp.Authenticated || resp.Malformed || len(resp.Events) != 1 {
				t.Fatalf("HandleWebhook(%s) = %v, %v; want one event", tt.body, resp, err)
			}
			for _, d := range diffEvent(resp.Events[0], tt.want) {
				t.Errorf("HandleWebhook(%s): %s", tt.body, d)
			}
		})
	}
}

func TestHandleWebhookDedupeDigestIsStable(t *testing.T) {
	body := []byte(`{"type":"MESSAGE","message":{"id":"m1","from":"c1","to":"brisk-harbor","contents":[{"type":"text","text":"a"}]}}`)
	other := []byte(`{"type":"MESSAGE","message":{"id":"m2","from":"c1","to":"brisk-harbor","contents":[{"type":"text","text":"a"}]}}`)
	ch := New()
	key := func(b []byte) string {
		resp, err := ch.HandleWebhook(context.Background(), webhookRequest(b))
		if err != nil || len(resp.Events) != 1 {
			t.Fatalf("HandleWebhook(%s) = %v, %v", b, resp, err)
		}
		return resp.Events[0].DedupeKey
	}
	if a, b := key(body), key(body); a != b {
		t.Errorf("dedupe key of the same body = %q then %q, want equal", a, b)
	}
	if a, b := key(body), key(other); a == b {
		t.Errorf("dedupe keys of different bodies both %q, want different", a)
	}
}

func TestMediaType(t *testing.T) {
	tests := []struct {
		mime, url, want string
	}{
		{"image/jpeg", "", "image"},
		{"IMAGE/WEBP", "https://x/a.pdf", "image"},
		{"audio/ogg; codecs=opus", "", "audio"},
		{"video/quicktime", "", "video"},
		{"application/pdf", "https://x/a.jpg", "file"},
		{"application/octet-stream", "https://x/a.jpg", "image"},
		{"", "https://x/a.JPEG", "image"},
		{"", "https://x/a.png?x=1.mp4", "image"},
		{"", "https://x/v.mov", "video"},
		{"", "https://x/v.3gp", "video"},
		{"", "https://x/n.opus", "audio"},
		{"", "https://x/n.amr", "audio"},
		{"", "https://x/doc.xyz", "file"},
		{"", "https://x/dir.mp4/", "file"},
		{"", "https://x/noext", "file"},
		{"", "::not a url", "file"},
		{"", "", "file"},
	}
	for _, tt := range tests {
		if got := mediaType(tt.mime, tt.url); got != tt.want {
			t.Errorf("mediaType(%q, %q) = %q, want %q", tt.mime, tt.url, got, tt.want)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		raw    string
		want   int64
		wantOK bool
	}{
		{`"2025-03-14T13:22:07Z"`, ms("2025-03-14T13:22:07Z"), true},
		{`"2025-03-14T13:22:07.417Z"`, ms("2025-03-14T13:22:07.417Z"), true},
		{`"2025-03-14T13:22:07+00:00"`, ms("2025-03-14T13:22:07Z"), true},
		{`"2025-03-14T10:22:07-03:00"`, ms("2025-03-14T13:22:07Z"), true},
		{`"2025-03-14T10:22:07.123456-03:00"`, ms("2025-03-14T13:22:07.123Z"), true},
		{`"2025-03-14t13:22:07z"`, ms("2025-03-14T13:22:07Z"), true},
		{`"2025-03-14 13:22:07Z"`, ms("2025-03-14T13:22:07Z"), true},
		{`"2025-03-14T10:22:07-0300"`, ms("2025-03-14T13:22:07Z"), true},
		{`"2025-03-14T10:22:07-03"`, ms("2025-03-14T13:22:07Z"), true},
		{`"2025-03-14T13:22:07"`, ms("2025-03-14T13:22:07Z"), true},
		{`1741958527`, 1741958527000, true},
		{`1741958527123`, 1741958527123, true},
		{`"yesterday"`, 0, false},
		{`""`, 0, false},
		{`null`, 0, false},
		{`-5`, 0, false},
		{`1e300`, 0, false},
		{`"0001-01-01T00:00:00Z"`, 0, false},
		{``, 0, false},
	}
	for _, tt := range tests {
		got, ok := parseTimestamp(json.RawMessage(tt.raw))
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseTimestamp(%s) = %d, %v, want %d, %v", tt.raw, got, ok, tt.want, tt.wantOK)
		}
	}
}
