package meta

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	gproto "google.golang.org/protobuf/proto"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// The ids the fixtures use (testdata/README.md).
const (
	business  = "17841400123456789"
	customerA = "7425819036458213"
	customerB = "7425819036458214"
	// The app secret of testdata/signatures.md.
	testSecret = "3f7a1c9e5b2d4f6081a2c3e4d5f60718"
)

// fmid is the mid the reference fixtures give message n: base64 of an
// invented IG message id ending in n.
func fmid(n int) string {
	return base64.RawStdEncoding.EncodeToString([]byte(fmt.Sprintf(
		"ig_item:1:IGMessageID:17841400123456789:340282366841710301244276023851234567:319876543210987654321%011d", n)))
}

// lmid is the mid the local fixtures give message n.
func lmid(n int) string { return "aWdfaXRlbToxOklHTWVzc2FnZUlEOmxvY2FsOjAwMD" + fmt.Sprint(n) }

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sign(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func settingsJSON(kv map[string]any) []byte {
	b, err := json.Marshal(kv)
	if err != nil {
		panic(err)
	}
	return b
}

func integration(id, account, secret string) *proto.Integration {
	return &proto.Integration{Id: id, SettingsJson: settingsJSON(map[string]any{
		"account_id": account, "app_secret": secret, "access_token": "tok", "verify_token": "verify-me",
	})}
}

func post(body []byte, signature string, ins ...*proto.Integration) *proto.WebhookRequest {
	req := &proto.WebhookRequest{Integrations: ins, Method: "POST", Path: "/webhooks/ig", Body: body}
	if signature != "" {
		req.Headers = []*proto.Header{{Name: "Content-Type", Value: "application/json"}, {Name: "X-Hub-Signature-256", Value: signature}}
	}
	return req
}

// Content builders for expectations.
func text(s string) *proto.Content { return &proto.Content{Type: sdk.ContentText, Text: s} }
func media(typ, url string) *proto.Content {
	return &proto.Content{Type: typ, Url: url}
}
func unsup(orig string) *proto.Content {
	return &proto.Content{Type: sdk.ContentUnsupported, OriginalType: orig}
}

type wantEvent struct {
	kind, integration, account, contact, messageID, replyTo, dedupe string
	ts                                                              int64
	contents                                                        []*proto.Content
	// A substring the note must contain ("" means the note must be empty).
	note string
	// Record only: another app owns the thread.
	passive bool
}

// checkEvents compares events field by field, and checks that every raw
// (event and content) is a piece of the body as received.
func checkEvents(t *testing.T, body []byte, got []*proto.Event, want []wantEvent) {
	t.Helper()
	if len(got) != len(want) {
		for i, ev := range got {
			t.Logf("event %d: %s %q note %q", i, ev.GetKind(), ev.GetDedupeKey(), ev.GetNote())
		}
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i, w := range want {
		ev := got[i]
		check := func(field, g, w string) {
			if g != w {
				t.Errorf("event %d: %s = %q, want %q", i, field, g, w)
			}
		}
		check("kind", ev.GetKind(), w.kind)
		check("integration", ev.GetIntegration(), w.integration)
		check("account_id", ev.GetAccountId(), w.account)
		check("contact_id", ev.GetContactId(), w.contact)
		check("message_id", ev.GetMessageId(), w.messageID)
		check("reply_to", ev.GetReplyTo(), w.replyTo)
		if prefix, ok := strings.CutSuffix(w.dedupe, "*"); ok {
			if !strings.HasPrefix(ev.GetDedupeKey(), prefix) || len(ev.GetDedupeKey()) <= len(prefix) {
				t.Errorf("event %d: dedupe_key = %q, want %q followed by more", i, ev.GetDedupeKey(), prefix)
			}
		} else {
			check("dedupe_key", ev.GetDedupeKey(), w.dedupe)
		}
		if ev.GetPassive() != w.passive {
			t.Errorf("event %d: passive = %v, want %v", i, ev.GetPassive(), w.passive)
		}
		if ev.GetTimestampMs() != w.ts {
			t.Errorf("event %d: timestamp_ms = %d, want %d", i, ev.GetTimestampMs(), w.ts)
		}
		if w.note == "" && ev.GetNote() != "" {
			t.Errorf("event %d: note = %q, want none", i, ev.GetNote())
		}
		if w.note != "" && !strings.Contains(ev.GetNote(), w.note) {
			t.Errorf("event %d: note = %q, want it to contain %q", i, ev.GetNote(), w.note)
		}
		if len(ev.GetRaw()) == 0 || !bytes.Contains(body, ev.GetRaw()) {
			t.Errorf("event %d: raw %q is not a piece of the body", i, ev.GetRaw())
		}
		if len(ev.GetContents()) != len(w.contents) {
			t.Errorf("event %d: %d contents, want %d: %v", i, len(ev.GetContents()), len(w.contents), ev.GetContents())
			continue
		}
		for j, c := range ev.GetContents() {
			if len(c.GetRaw()) > 0 && !bytes.Contains(body, c.GetRaw()) {
				t.Errorf("event %d content %d: raw %q is not a piece of the body", i, j, c.GetRaw())
			}
			if c.GetType() != sdk.ContentText && c.GetType() != sdk.ContentReaction &&
				c.GetType() != sdk.ContentStoryReply && len(c.GetRaw()) == 0 {
				t.Errorf("event %d content %d: %s without raw", i, j, c.GetType())
			}
			noRaw := gproto.Clone(c).(*proto.Content)
			noRaw.Raw = nil
			if !gproto.Equal(noRaw, w.contents[j]) {
				t.Errorf("event %d content %d = %v, want %v", i, j, noRaw, w.contents[j])
			}
		}
	}
}

type fixtureCase struct {
	file string
	// Settings of the integration the URL names; the default serves the
	// fixtures' business account.
	in   *proto.Integration
	want []wantEvent
}

func fixtureCases() []fixtureCase {
	ig := integration("ig", business, testSecret)
	cdn := func(asset, sig string) string {
		return "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=" + asset + "&signature=AbzKq3XyExampleSigDoNotUse" + sig
	}
	// msg is the common shape of an inbound message event.
	msg := func(n int, ts int64, contents ...*proto.Content) wantEvent {
		return wantEvent{kind: sdk.EventMessage, integration: "ig", account: business, contact: customerA,
			messageID: fmid(n), dedupe: fmid(n), ts: ts, contents: contents}
	}
	lmsg := func(n int, contact string, ts int64, contents ...*proto.Content) wantEvent {
		return wantEvent{kind: sdk.EventMessage, integration: "ig", account: business, contact: contact,
			messageID: lmid(n), dedupe: lmid(n), ts: ts, contents: contents}
	}
	ignoredEv := func(contact string, ts int64, key, note string) wantEvent {
		return wantEvent{kind: sdk.EventIgnored, integration: "ig", account: business, contact: contact, ts: ts,
			dedupe: "ignored:" + key + ":*", note: note}
	}
	withReply := func(w wantEvent, to string) wantEvent { w.replyTo = to; return w }
	withNote := func(w wantEvent, note string) wantEvent { w.note = note; return w }
	passive := func(w wantEvent) wantEvent { w.passive = true; return w }

	pairURL := "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18139494541428836&signature=Pair"
	return []fixtureCase{
		{file: "01-message-text.json", want: []wantEvent{
			msg(1, 1767607200000, text("Hi! Is the blue jacket still available in size M?"))}},
		{file: "03-message-image.json", want: []wantEvent{
			msg(3, 1767607320000, media(sdk.ContentImage, cdn("18034712345678901", "1")))}},
		{file: "04-message-images-multiple.json", want: []wantEvent{
			msg(4, 1767607325000, media(sdk.ContentImage, cdn("18034712345678902", "2")), media(sdk.ContentImage, cdn("18034712345678903", "3")))}},
		{file: "05-message-video.json", want: []wantEvent{
			msg(5, 1767607330000, media(sdk.ContentVideo, cdn("18034712345678904", "4")))}},
		{file: "06-message-audio-voice-note.json", want: []wantEvent{
			msg(6, 1767607340000, media(sdk.ContentAudio, cdn("18034712345678905", "5")))}},
		{file: "07-message-file-pdf.json", want: []wantEvent{
			msg(7, 1767607350000, media(sdk.ContentFile, cdn("18034712345678906", "6")))}},
		{file: "08-message-share-legacy.json", want: []wantEvent{
			msg(8, 1767607360000, media(sdk.ContentShare, cdn("18139494541428835", "7")))}},
		{file: "10-message-ig-reel.json", want: []wantEvent{
			msg(10, 1767607380000, &proto.Content{Type: sdk.ContentShare, Url: cdn("18051234567890123", "9"),
				Title: "3 ways to style a denim jacket #ootd", StoryId: "18051234567890123"})}},
		{file: "11-message-story-mention.json", want: []wantEvent{
			msg(11, 1767607390000, media(sdk.ContentStoryMention, cdn("17998877665544332", "10")))}},
		{file: "12-message-story-reply.json", want: []wantEvent{
			msg(12, 1767607400000, &proto.Content{Type: sdk.ContentStoryReply, Url: cdn("18012345678901234", "11"),
				StoryId: "18012345678901234", Text: "Where can I buy this?"})}},
		{file: "13-message-reply-to-message.json", want: []wantEvent{
			withReply(msg(13, 1767607410000, text("Yes, this one please")), fmid(900))}},
		{file: "14-message-quick-reply.json", want: []wantEvent{
			msg(14, 1767607420000, &proto.Content{Type: sdk.ContentText, Text: "Size M", Payload: "SIZE_M"})}},
		{file: "15-message-deleted-unsend.json", want: []wantEvent{
			{kind: sdk.EventUnsend, integration: "ig", account: business, contact: customerA, messageID: fmid(1),
				dedupe: "unsend:" + fmid(1), ts: 1767607430000}}},
		{file: "16-message-echo-text.json", want: []wantEvent{
			{kind: sdk.EventEcho, integration: "ig", account: business, contact: customerA, messageID: fmid(500),
				dedupe: fmid(500), ts: 1767607440000, contents: []*proto.Content{text("Yes! Size M is in stock. Want me to reserve one?")}}}},
		{file: "17-message-unsupported.json", want: []wantEvent{
			msg(17, 1767607450000, unsup("is_unsupported"))}},
		{file: "19-reaction-react.json", want: []wantEvent{
			{kind: sdk.EventReaction, integration: "ig", account: business, contact: customerA, messageID: fmid(500),
				dedupe: "reaction:" + fmid(500) + ":" + customerA + ":react:love:1767607470000", ts: 1767607470000,
				contents: []*proto.Content{{Type: sdk.ContentReaction, Emoji: "\u2764\ufe0f", Mid: fmid(500)}}}}},
		{file: "20-reaction-unreact.json", want: []wantEvent{
			{kind: sdk.EventUnreaction, integration: "ig", account: business, contact: customerA, messageID: fmid(500),
				dedupe: "reaction:" + fmid(500) + ":" + customerA + ":unreact::1767607480000", ts: 1767607480000,
				contents: []*proto.Content{{Type: sdk.ContentReaction, Mid: fmid(500)}}}}},
		{file: "21-messaging-postback.json", want: []wantEvent{
			{kind: sdk.EventMessage, integration: "ig", account: business, contact: customerA, messageID: fmid(21),
				dedupe: "postback:" + fmid(21), ts: 1767607490000,
				contents: []*proto.Content{{Type: sdk.ContentText, Text: "Track my order", Payload: "ICEBREAKER_TRACK_ORDER"}}}}},
		{file: "22-messaging-seen.json", want: []wantEvent{
			{kind: sdk.EventRead, integration: "ig", account: business, contact: customerA, messageID: fmid(500),
				dedupe: "read:" + fmid(500) + ":" + customerA, ts: 1767607500000}}},
		{file: "23-messaging-referral-igme.json", want: []wantEvent{
			{kind: sdk.EventReferral, integration: "ig", account: business, contact: customerA,
				dedupe: "referral:" + customerA + ":1767607510000", ts: 1767607510000,
				note: "referral source=SHORTLINK type=OPEN_THREAD ref=autumn_sale_qr"}}},
		{file: "24-message-referral-ctd-ad.json", want: []wantEvent{
			withNote(msg(24, 1767607520000, text("Hi, I saw your ad")),
				"referral source=ADS type=OPEN_THREAD ref=fall_campaign_v2 ad_id=120210987654321098")}},
		{file: "25-message-edit.json", want: []wantEvent{
			{kind: sdk.EventEdit, integration: "ig", account: business, contact: customerA, messageID: fmid(14),
				dedupe: "edit:" + fmid(14) + ":1", ts: 1767607530000, contents: []*proto.Content{text("Size L actually")}}}},
		{file: "27-standby-message.json", want: []wantEvent{
			passive(withNote(msg(28, 1767607610000, text("Anyone there?")), "standby: another app owns the thread"))}},
		{file: "30-message-echo-template.json", want: []wantEvent{
			{kind: sdk.EventEcho, integration: "ig", account: business, contact: customerA, messageID: fmid(501),
				dedupe: fmid(501), ts: 1767607630000, contents: []*proto.Content{unsup("template")}}}},

		// The dashboard's test button: account id 0. An integration that
		// names no account takes it as a message...
		{file: "local-changes-test-button.json", in: integration("ig", "", testSecret), want: []wantEvent{
			{kind: sdk.EventMessage, integration: "ig", account: "0", contact: "12334", messageID: "random_mid",
				dedupe: "random_mid", ts: 1527459824000, contents: []*proto.Content{text("random_text")}}}},
		{file: "local-batch-several-entries.json", want: []wantEvent{
			lmsg(101, customerA, 1767607800000, text("first from A")),
			lmsg(102, customerB, 1767607800100, text("first from B")),
			lmsg(103, customerA, 1767607801000, &proto.Content{Type: sdk.ContentImage,
				Url: "https://cdn.example.com/a/photo.JPG?sig=1", MimeType: "image/jpeg", Name: "photo.JPG"}),
			{kind: sdk.EventRead, integration: "ig", account: business, contact: customerB, messageID: lmid(500),
				dedupe: "read:" + lmid(500) + ":" + customerB, ts: 1767607801100}}},
		{file: "local-batch-broken-item.json", want: []wantEvent{
			lmsg(201, customerA, 1767607900000, text("before the broken one")),
			{kind: sdk.EventIgnored, integration: "ig", account: business, dedupe: "bad:*", note: "item: "},
			{kind: sdk.EventIgnored, integration: "ig", account: business, dedupe: "bad:*", note: "item is not a JSON object"},
			ignoredEv(customerA, 1767607900200, "message", "message is not a JSON object"),
			ignoredEv(customerA, 1767607900300, "message", "message without mid"),
			lmsg(203, customerA, 1767607900400, text("after the broken ones"))}},
		{file: "local-unsend-string-true.json", want: []wantEvent{
			{kind: sdk.EventUnsend, integration: "ig", account: business, contact: customerA, messageID: lmid(301),
				dedupe: "unsend:" + lmid(301), ts: 1767608000000}}},
		{file: "local-share-ig-post-pair.json", want: []wantEvent{
			lmsg(401, customerA, 1767608100000, &proto.Content{Type: sdk.ContentShare, Url: pairURL,
				Title: "New autumn collection", StoryId: "18139494541428836"})}},
		{file: "local-ig-post-only.json", want: []wantEvent{
			lmsg(402, customerA, 1767608110000, &proto.Content{Type: sdk.ContentShare,
				Url: "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18139494541428837", Title: "Denim week", StoryId: "18139494541428837"})}},
		{file: "local-ig-story-and-reel.json", want: []wantEvent{
			lmsg(403, customerA, 1767608120000,
				&proto.Content{Type: sdk.ContentShare, Url: "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18012345678900001", StoryId: "18012345678900001"},
				&proto.Content{Type: sdk.ContentShare, Url: "https://www.facebook.com/reel/99887766", Title: "FB reel", StoryId: "99887766"})}},
		{file: "local-attachments-unknown.json", want: []wantEvent{
			lmsg(501, customerA, 1767608200000, unsup("hologram"), unsup("ephemeral"), unsup("unsupported_type"),
				unsup("fallback"), unsup("image"),
				&proto.Content{Type: sdk.ContentVideo, Url: "https://cdn.example.com/v/clip.mp4", MimeType: "video/mp4", Name: "clip.mp4"})}},
		{file: "local-echo-unsend.json", want: []wantEvent{
			{kind: sdk.EventUnsend, integration: "ig", account: business, contact: customerA, messageID: lmid(500),
				dedupe: "unsend:" + lmid(500), ts: 1767608300000}}},
		{file: "local-ignored-kinds.json", want: []wantEvent{
			ignoredEv(customerA, 1767608400000, "optin", "optin event"),
			ignoredEv(customerA, 1767608400100, "pass_thread_control", "pass_thread_control event"),
			ignoredEv(customerA, 1767608400200, "something_new", "something_new event"),
			{kind: sdk.EventMessage, integration: "ig", account: business, contact: customerA,
				dedupe: "postback:" + customerA + ":1767608400300:GET_STARTED", ts: 1767608400300,
				contents: []*proto.Content{{Type: sdk.ContentText, Text: "Get started", Payload: "GET_STARTED"}}},
			ignoredEv(customerA, 1767608400400, "reaction", `reaction with action "sparkle"`)}},
		// ...one that serves an account records it as ignored.
		{file: "local-changes-test-button.json", in: ig, want: []wantEvent{
			{kind: sdk.EventIgnored, integration: "ig", account: "0", contact: "12334", messageID: "random_mid",
				dedupe: "unrouted:random_mid", ts: 1527459824000, contents: []*proto.Content{text("random_text")},
				note: "entry for unknown account 0"}}},
	}
}

func TestHandleWebhookFixtures(t *testing.T) {
	ch := New()
	keys := map[string]string{}
	seen := map[string]bool{}
	for _, tc := range fixtureCases() {
		in := tc.in
		if in == nil {
			in = integration("ig", business, testSecret)
		}
		body := readFixture(t, tc.file)
		seen[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			resp, err := ch.HandleWebhook(context.Background(), post(body, sign(body, testSecret), in))
			if err != nil {
				t.Fatalf("HandleWebhook: %v", err)
			}
			if !resp.GetAuthenticated() || resp.GetMalformed() || resp.GetError() != "" {
				t.Fatalf("HandleWebhook = authenticated %v, malformed %v, error %q; want a clean accept",
					resp.GetAuthenticated(), resp.GetMalformed(), resp.GetError())
			}
			if resp.GetStatus() != 0 && resp.GetStatus() != 200 {
				t.Errorf("status = %d, want 200", resp.GetStatus())
			}
			checkEvents(t, body, resp.GetEvents(), tc.want)
			for _, ev := range resp.GetEvents() {
				if prev, dup := keys[ev.GetDedupeKey()]; dup && !strings.HasPrefix(ev.GetDedupeKey(), "unrouted:") {
					t.Errorf("dedupe key %q of %s also came from %s", ev.GetDedupeKey(), tc.file, prev)
				}
				keys[ev.GetDedupeKey()] = tc.file
			}
		})
	}

	// Every webhook fixture in testdata is covered, here or in TestRouting.
	seen["local-multi-account.json"] = true
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			missing = append(missing, filepath.Base(f))
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("fixtures without a case: %v", missing)
	}
}

func TestFixtureMids(t *testing.T) {
	// fmid must reproduce the fixtures' ids, or every case above compares
	// against the wrong value.
	body := string(readFixture(t, "01-message-text.json"))
	if !strings.Contains(body, `"`+fmid(1)+`"`) {
		t.Errorf("fmid(1) = %q, not in 01-message-text.json", fmid(1))
	}
}

// TestSignatureVectors checks the vectors of testdata/signatures.md.
func TestSignatureVectors(t *testing.T) {
	text01 := readFixture(t, "01-message-text.json")
	mention := readFixture(t, "11-message-story-mention.json")
	const (
		sig01       = "sha256=2dc0b6e289a0096da622839f5d5d7aff447b5ac9e1b28c6fe1233582a3511bfb"
		sig01NoLF   = "sha256=70e039cc3223c69f5d7b54d18c3066c1fc8de8a859043c3dfa685ab44fddce7a"
		sigMention  = "sha256=4e3a374398d8142804b0fb22d3990384c9a372a3e0e14ab9e35ddc5d7cb453d9"
		sig01Upper  = "SHA256=2DC0B6E289A0096DA622839F5D5D7AFF447B5AC9E1B28C6FE1233582A3511BFB"
		wrongSecret = "3f7a1c9e5b2d4f6081a2c3e4d5f60719"
	)
	var reserialized bytes.Buffer
	if err := json.Compact(&reserialized, text01); err != nil {
		t.Fatal(err)
	}
	var decoded any
	if err := json.Unmarshal(mention, &decoded); err != nil {
		t.Fatal(err)
	}
	remarshaled, err := json.Marshal(decoded)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		body   []byte
		header string
		secret string
		ok     bool
	}{
		{"01 as written", text01, sig01, testSecret, true},
		{"01 without its final LF", text01[:len(text01)-1], sig01NoLF, testSecret, true},
		{"11 as written", mention, sigMention, testSecret, true},
		{"hex in upper case", text01, sig01Upper, testSecret, true},
		{"01's signature on 01 without LF", text01[:len(text01)-1], sig01, testSecret, false},
		{"01's signature on 11", mention, sig01, testSecret, false},
		{"re-serialized 01", reserialized.Bytes(), sig01, testSecret, false},
		{"re-marshaled 11", remarshaled, sigMention, testSecret, false},
		{"another secret", text01, sig01, wrongSecret, false},
		{"no header", text01, "", testSecret, false},
		{"sha1 header", text01, "sha1=2dc0b6e289a0096da622839f5d5d7aff447b5ac9", testSecret, false},
		{"not hex", text01, "sha256=zz" + sig01[9:], testSecret, false},
		{"short", text01, sig01[:len(sig01)-2], testSecret, false},
		{"no prefix", text01, sig01[len("sha256="):], testSecret, false},
		{"empty secret", text01, sign(text01, ""), "", false},
	}
	ch := New()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := ch.HandleWebhook(context.Background(), post(tc.body, tc.header, integration("ig", business, tc.secret)))
			if err != nil {
				t.Fatalf("HandleWebhook: %v", err)
			}
			if resp.GetAuthenticated() != tc.ok {
				t.Fatalf("authenticated = %v, want %v (error %q)", resp.GetAuthenticated(), tc.ok, resp.GetError())
			}
			if !tc.ok {
				if len(resp.GetEvents()) != 0 {
					t.Errorf("refused delivery carries %d events", len(resp.GetEvents()))
				}
				if resp.GetError() == "" {
					t.Errorf("refused delivery without an error saying why")
				}
				if strings.Contains(resp.GetError(), tc.secret) && tc.secret != "" {
					t.Errorf("error %q leaks the secret", resp.GetError())
				}
			}
			if tc.ok && len(resp.GetEvents()) != 1 {
				t.Errorf("got %d events, want 1", len(resp.GetEvents()))
			}
		})
	}
}

func TestSignatureHeaderNameIsCaseInsensitive(t *testing.T) {
	body := readFixture(t, "01-message-text.json")
	req := post(body, "", integration("ig", business, testSecret))
	req.Headers = []*proto.Header{{Name: "x-hub-signature-256", Value: sign(body, testSecret)}}
	resp, err := New().HandleWebhook(context.Background(), req)
	if err != nil || !resp.GetAuthenticated() {
		t.Errorf("HandleWebhook(lower-case header) = %v, %v; want authenticated", resp, err)
	}
}

func TestHandshake(t *testing.T) {
	ig := integration("ig", business, testSecret)
	noToken := &proto.Integration{Id: "ig", SettingsJson: settingsJSON(map[string]any{"app_secret": testSecret})}
	tests := []struct {
		name  string
		in    *proto.Integration
		query string
		ok    bool
	}{
		{"valid", ig, "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=verify-me", true},
		{"parameters in another order", ig, "hub.verify_token=verify-me&hub.challenge=7&hub.mode=subscribe", true},
		{"wrong token", ig, "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=verify-you", false},
		{"token prefix", ig, "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=verify", false},
		{"no token", ig, "hub.mode=subscribe&hub.challenge=1158201444", false},
		{"wrong mode", ig, "hub.mode=unsubscribe&hub.challenge=1158201444&hub.verify_token=verify-me", false},
		{"script challenge", ig, "hub.mode=subscribe&hub.challenge=%3Cscript%3Ealert(1)%3C%2Fscript%3E&hub.verify_token=verify-me", false},
		{"challenge with a newline", ig, "hub.mode=subscribe&hub.challenge=123%0A456&hub.verify_token=verify-me", false},
		{"empty challenge", ig, "hub.mode=subscribe&hub.challenge=&hub.verify_token=verify-me", false},
		{"65 digits", ig, "hub.mode=subscribe&hub.challenge=" + strings.Repeat("1", 65) + "&hub.verify_token=verify-me", false},
		{"64 digits", ig, "hub.mode=subscribe&hub.challenge=" + strings.Repeat("1", 64) + "&hub.verify_token=verify-me", true},
		{"integration without verify_token", noToken, "hub.mode=subscribe&hub.challenge=1&hub.verify_token=", false},
		{"bad query", ig, "hub.mode=subscribe&hub.challenge=1&hub.verify_token=%zz", false},
	}
	ch := New()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := ch.HandleWebhook(context.Background(), &proto.WebhookRequest{
				Integrations: []*proto.Integration{tc.in}, Method: "GET", Query: tc.query,
			})
			if err != nil {
				t.Fatalf("HandleWebhook: %v", err)
			}
			if resp.GetAuthenticated() != tc.ok {
				t.Fatalf("authenticated = %v, want %v (%q)", resp.GetAuthenticated(), tc.ok, resp.GetError())
			}
			if len(resp.GetEvents()) != 0 {
				t.Errorf("handshake produced events")
			}
			if !tc.ok {
				if resp.GetStatus() != 403 {
					t.Errorf("status = %d, want 403", resp.GetStatus())
				}
				if len(resp.GetBody()) != 0 {
					t.Errorf("refusal echoes %q", resp.GetBody())
				}
				return
			}
			q := strings.Split(tc.query, "hub.challenge=")[1]
			challenge := strings.SplitN(q, "&", 2)[0]
			if resp.GetStatus() != 200 || string(resp.GetBody()) != challenge || resp.GetContentType() != "text/plain" {
				t.Errorf("response = %d %q %q, want 200 %q text/plain", resp.GetStatus(), resp.GetContentType(), resp.GetBody(), challenge)
			}
		})
	}
}

func TestRouting(t *testing.T) {
	body := readFixture(t, "local-multi-account.json")
	const (
		acct1, acct2, acctNobody = "17841400000000001", "17841400000000002", "17841400000000099"
		other                    = "another-app-secret"
	)
	one := integration("ig-one", acct1, testSecret)
	two := integration("ig-two", acct2, testSecret)
	twoOtherApp := integration("ig-two", acct2, other)
	catchAll := integration("ig-any", "", testSecret)
	msg := func(in, acct, contact string, n int, ts int64, txt string) wantEvent {
		return wantEvent{kind: sdk.EventMessage, integration: in, account: acct, contact: contact, messageID: lmid(n),
			dedupe: lmid(n), ts: ts, contents: []*proto.Content{text(txt)}}
	}
	unknown := func(in, acct, contact string, n int, ts int64, txt string) wantEvent {
		return wantEvent{kind: sdk.EventIgnored, integration: in, account: acct, contact: contact, messageID: lmid(n),
			dedupe: "unrouted:" + lmid(n), ts: ts, contents: []*proto.Content{text(txt)},
			note: "entry for unknown account " + acct}
	}
	tests := []struct {
		name   string
		secret string
		ins    []*proto.Integration
		want   []wantEvent
	}{
		{"each entry to its account", testSecret, []*proto.Integration{one, two}, []wantEvent{
			msg("ig-one", acct1, customerA, 601, 1767608500000, "to account one"),
			msg("ig-two", acct2, customerB, 602, 1767608500100, "to account two"),
			unknown("ig-one", acctNobody, customerA, 603, 1767608500200, "to an account nobody serves"),
		}},
		{"the URL names the second account", testSecret, []*proto.Integration{two, one}, []wantEvent{
			msg("ig-one", acct1, customerA, 601, 1767608500000, "to account one"),
			msg("ig-two", acct2, customerB, 602, 1767608500100, "to account two"),
			unknown("ig-two", acctNobody, customerA, 603, 1767608500200, "to an account nobody serves"),
		}},
		{"an account whose secret did not sign", testSecret, []*proto.Integration{one, twoOtherApp}, []wantEvent{
			msg("ig-one", acct1, customerA, 601, 1767608500000, "to account one"),
			unknown("ig-one", acct2, customerB, 602, 1767608500100, "to account two"),
			unknown("ig-one", acctNobody, customerA, 603, 1767608500200, "to an account nobody serves"),
		}},
		{"signed by the other app only", other, []*proto.Integration{one, twoOtherApp}, []wantEvent{
			unknown("ig-one", acct1, customerA, 601, 1767608500000, "to account one"),
			msg("ig-two", acct2, customerB, 602, 1767608500100, "to account two"),
			unknown("ig-one", acctNobody, customerA, 603, 1767608500200, "to an account nobody serves"),
		}},
		{"the URL's integration names no account", testSecret, []*proto.Integration{catchAll, two}, []wantEvent{
			msg("ig-any", acct1, customerA, 601, 1767608500000, "to account one"),
			msg("ig-two", acct2, customerB, 602, 1767608500100, "to account two"),
			msg("ig-any", acctNobody, customerA, 603, 1767608500200, "to an account nobody serves"),
		}},
	}
	ch := New()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := ch.HandleWebhook(context.Background(), post(body, sign(body, tc.secret), tc.ins...))
			if err != nil {
				t.Fatalf("HandleWebhook: %v", err)
			}
			if !resp.GetAuthenticated() {
				t.Fatalf("not authenticated: %q", resp.GetError())
			}
			checkEvents(t, body, resp.GetEvents(), tc.want)
		})
	}

	t.Run("no candidate verifies", func(t *testing.T) {
		resp, err := ch.HandleWebhook(context.Background(), post(body, sign(body, "nobody's"), one, twoOtherApp))
		if err != nil {
			t.Fatalf("HandleWebhook: %v", err)
		}
		if resp.GetAuthenticated() || len(resp.GetEvents()) != 0 {
			t.Errorf("HandleWebhook = authenticated %v with %d events, want refused with none", resp.GetAuthenticated(), len(resp.GetEvents()))
		}
	})
}

func TestMalformedBodies(t *testing.T) {
	entry01 := `{"time":1767607200612,"id":"17841400123456789","messaging":[{"sender":{"id":"7425819036458213"},"recipient":{"id":"17841400123456789"},"timestamp":1767607200000,"message":{"mid":"m1","text":"hi"}}]}`
	tests := []struct {
		name      string
		body      string
		malformed bool
		events    int
	}{
		{"not JSON", "hello", true, 0},
		{"truncated JSON", `{"object":"instagram","entry":[`, true, 0},
		{"an array", `[]`, true, 0},
		{"null", `null`, true, 0},
		{"no entry", `{"object":"instagram"}`, true, 0},
		{"entry null", `{"object":"instagram","entry":null}`, true, 0},
		{"entry an object", `{"object":"instagram","entry":{}}`, true, 0},
		{"empty body", ``, true, 0},
		{"no entries", `{"object":"instagram","entry":[]}`, false, 0},
		{"another object value", `{"object":"page","entry":[` + entry01 + `]}`, false, 1},
		{"no object field", `{"entry":[` + entry01 + `]}`, false, 1},
		{"a bad entry among good ones", `{"entry":[42,` + entry01 + `,{"id":{"x":1}}]}`, false, 3},
		{"messaging not a list", `{"entry":[{"id":"17841400123456789","messaging":{"a":1}},` + entry01 + `]}`, false, 2},
		{"an empty item", `{"entry":[{"id":"17841400123456789","messaging":[{}]}]}`, false, 1},
		{"a null entry", `{"entry":[null,` + entry01 + `]}`, false, 1},
	}
	ch := New()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			resp, err := ch.HandleWebhook(context.Background(), post(body, sign(body, testSecret), integration("ig", business, testSecret)))
			if err != nil {
				t.Fatalf("HandleWebhook: %v", err)
			}
			if !resp.GetAuthenticated() {
				t.Fatalf("not authenticated: %q", resp.GetError())
			}
			if resp.GetMalformed() != tc.malformed {
				t.Errorf("malformed = %v, want %v (%q)", resp.GetMalformed(), tc.malformed, resp.GetError())
			}
			if tc.malformed && resp.GetStatus() != 400 {
				t.Errorf("status = %d, want 400", resp.GetStatus())
			}
			if len(resp.GetEvents()) != tc.events {
				t.Errorf("got %d events, want %d", len(resp.GetEvents()), tc.events)
			}
			for _, ev := range resp.GetEvents() {
				if ev.GetIntegration() != "ig" || ev.GetDedupeKey() == "" || len(ev.GetRaw()) == 0 {
					t.Errorf("event %v lacks integration, dedupe key or raw", ev)
				}
			}
		})
	}
}

func TestOtherMethods(t *testing.T) {
	resp, err := New().HandleWebhook(context.Background(), &proto.WebhookRequest{
		Integrations: []*proto.Integration{integration("ig", business, testSecret)}, Method: "PUT",
	})
	if err != nil {
		t.Fatalf("HandleWebhook: %v", err)
	}
	if resp.GetAuthenticated() || resp.GetStatus() != 405 {
		t.Errorf("PUT = authenticated %v status %d, want refused with 405", resp.GetAuthenticated(), resp.GetStatus())
	}
}

func TestToMillis(t *testing.T) {
	tests := []struct{ in, want int64 }{
		{0, 0}, {-5, 0}, {1527459824, 1527459824000}, {1767607200000, 1767607200000},
	}
	for _, tc := range tests {
		if got := toMillis(tc.in); got != tc.want {
			t.Errorf("toMillis(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func fixtureFiles(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	return files
}

// FuzzHandleWebhook feeds arbitrary bodies, correctly signed (so the parser
// is reached) or not: the channel must never panic or fail the call, never
// hand out events for a refused delivery, and every event it does hand out
// must be complete enough for the host to store.
func FuzzHandleWebhook(f *testing.F) {
	for _, file := range fixtureFiles(f) {
		f.Add(readFixture(f, filepath.Base(file)), true)
	}
	f.Add(readFixture(f, "01-message-text.json"), false)
	f.Add([]byte(`{"entry":[{"id":1,"messaging":[{"message":{"mid":1,"attachments":{"type":1}}}]}]}`), true)
	ch := New()
	ins := []*proto.Integration{integration("ig", business, testSecret), integration("ig-2", "17841400000000002", testSecret)}
	f.Fuzz(func(t *testing.T, body []byte, signed bool) {
		sig := "sha256=" + strings.Repeat("0", 64)
		if signed {
			sig = sign(body, testSecret)
		}
		resp, err := ch.HandleWebhook(context.Background(), post(body, sig, ins...))
		if err != nil {
			t.Fatalf("HandleWebhook: %v", err)
		}
		if !resp.GetAuthenticated() && len(resp.GetEvents()) > 0 {
			t.Fatalf("unauthenticated response with %d events", len(resp.GetEvents()))
		}
		if resp.GetAuthenticated() != signed {
			t.Fatalf("authenticated = %v for signed = %v", resp.GetAuthenticated(), signed)
		}
		if resp.GetMalformed() && len(resp.GetEvents()) > 0 {
			t.Fatalf("malformed response with %d events", len(resp.GetEvents()))
		}
		for _, ev := range resp.GetEvents() {
			if ev.GetKind() == "" || ev.GetDedupeKey() == "" || ev.GetIntegration() == "" || len(ev.GetRaw()) == 0 {
				t.Fatalf("incomplete event %v", ev)
			}
			if ev.GetKind() != sdk.EventIgnored && ev.GetContactId() == "" {
				t.Fatalf("%s event without a contact: %v", ev.GetKind(), ev)
			}
		}
	})
}

func BenchmarkHandleWebhook(b *testing.B) {
	body := readFixture(b, "01-message-text.json")
	req := post(body, sign(body, testSecret), integration("ig", business, testSecret))
	ch := New()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		resp, err := ch.HandleWebhook(context.Background(), req)
		if err != nil || len(resp.GetEvents()) != 1 {
			b.Fatalf("HandleWebhook = %v, %v", resp, err)
		}
	}
}
