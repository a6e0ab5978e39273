package meta

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	gproto "google.golang.org/protobuf/proto"

	"github.com/conversa/conversa/plugins/sdk"
)

// seedFixtures adds every JSON fixture of dirs to the corpus.
func seedFixtures(f *testing.F, dirs ...string) {
	for _, dir := range dirs {
		names, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		if len(names) == 0 {
			f.Fatalf("no fixtures in %s", dir)
		}
		for _, name := range names {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

var (
	eventKinds = map[string]bool{sdk.EventMessage: true, sdk.EventEcho: true, sdk.EventUnsend: true, sdk.EventEdit: true,
		sdk.EventReaction: true, sdk.EventUnreaction: true, sdk.EventStatus: true, sdk.EventRead: true,
		sdk.EventReferral: true, sdk.EventIgnored: true}
	contentTypes = map[string]bool{sdk.ContentText: true, sdk.ContentImage: true, sdk.ContentAudio: true,
		sdk.ContentVideo: true, sdk.ContentFile: true, sdk.ContentStoryMention: true, sdk.ContentStoryReply: true,
		sdk.ContentShare: true, sdk.ContentReaction: true, sdk.ContentQuickReplies: true, sdk.ContentSelect: true,
		sdk.ContentOptionList: true, sdk.ContentUnsupported: true}
)

// FuzzWebhook feeds correctly signed bodies of any shape to the webhook
// parser, as the host would hand them over.
func FuzzWebhook(f *testing.F) {
	seedFixtures(f, "testdata", filepath.Join("..", "..", "core", "e2e", "testdata"))
	f.Add([]byte(`{"object":"instagram","entry":[{"id":"0","time":1,"changes":[{"field":"messages","value":{}}]}]}`))
	ch := New()
	in := integration("ig", business, testSecret)
	other := integration("ig-other", "17841400000000999", "another-app-secret")
	f.Fuzz(func(t *testing.T, body []byte) {
		req := post(body, sign(body, testSecret), in, other)
		resp, err := ch.HandleWebhook(context.Background(), req)
		// Nothing in a request may fail the call: a panic is recovered into
		// an error, which would make the host answer 500 forever.
		if err != nil {
			t.Fatalf("HandleWebhook = %v", err)
		}
		if !resp.GetAuthenticated() {
			t.Fatalf("a correctly signed body was not authenticated: %q", resp.GetError())
		}
		// The answer crosses gRPC: proto3 strings must be valid UTF-8.
		if _, err := gproto.Marshal(resp); err != nil {
			t.Fatalf("the response cannot be sent to the host: %v", err)
		}
		if resp.GetMalformed() {
			if resp.GetStatus() != 400 || resp.GetError() == "" || len(resp.GetEvents()) != 0 {
				t.Fatalf("malformed body: status %d, error %q, %d events; want 400 with a reason and no event",
					resp.GetStatus(), resp.GetError(), len(resp.GetEvents()))
			}
			if len(resp.GetError()) > 1024 {
				t.Fatalf("the reason is %d bytes long: it must not carry the body", len(resp.GetError()))
			}
		} else if resp.GetError() != "" || (resp.GetStatus() != 0 && resp.GetStatus() != 200) {
			t.Fatalf("accepted body with status %d and error %q", resp.GetStatus(), resp.GetError())
		}
		for i, ev := range resp.GetEvents() {
			if !eventKinds[ev.GetKind()] {
				t.Errorf("event %d: kind %q is not one the engine knows", i, ev.GetKind())
			}
			if ev.GetIntegration() != "ig" && ev.GetIntegration() != "ig-other" {
				t.Errorf("event %d: integration %q, want one of the request's", i, ev.GetIntegration())
			}
			if ev.GetIntegration() == "ig-other" {
				t.Errorf("event %d: routed to an integration whose secret did not sign the body", i)
			}
			if ev.GetDedupeKey() == "" {
				t.Errorf("event %d (%s): no dedupe key", i, ev.GetKind())
			}
			if len(ev.GetRaw()) == 0 || !bytes.Contains(body, ev.GetRaw()) {
				t.Errorf("event %d: raw %q is not a piece of the body", i, ev.GetRaw())
			}
			if ev.GetKind() != sdk.EventIgnored && ev.GetContactId() == "" {
				t.Errorf("event %d: a %s without a contact", i, ev.GetKind())
			}
			if ev.GetTimestampMs() < 0 {
				t.Errorf("event %d: timestamp %d", i, ev.GetTimestampMs())
			}
			for j, c := range ev.GetContents() {
				if !contentTypes[c.GetType()] {
					t.Errorf("event %d content %d: type %q is not one the engine knows", i, j, c.GetType())
				}
				if len(c.GetRaw()) > 0 && !bytes.Contains(body, c.GetRaw()) {
					t.Errorf("event %d content %d: raw is not a piece of the body", i, j)
				}
			}
			if !utf8.ValidString(ev.GetNote()) {
				t.Errorf("event %d: note is not UTF-8", i)
			}
		}
		// Parsing is deterministic: Meta redelivers the same bytes, and
		// the dedupe keys must come out the same.
		again, err := ch.HandleWebhook(context.Background(), post(body, sign(body, testSecret), in, other))
		if err != nil || !gproto.Equal(resp, again) {
			t.Fatalf("a second delivery of the same body parsed differently")
		}
	})
}

// FuzzWebhookSignature: a body signed with a secret no integration holds,
// or a mangled signature header, is refused before anything is parsed.
func FuzzWebhookSignature(f *testing.F) {
	seedFixtures(f, "testdata")
	ch := New()
	in := integration("ig", business, testSecret)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, sig := range []string{sign(body, "not-the-secret"), "sha256=" + strings.Repeat("0", 64), "sha1=abc", string(body[:min(len(body), 80)])} {
			resp, err := ch.HandleWebhook(context.Background(), post(body, sig, in))
			if err != nil {
				t.Fatalf("HandleWebhook = %v", err)
			}
			if resp.GetAuthenticated() || len(resp.GetEvents()) != 0 || resp.GetError() == "" {
				t.Fatalf("signature %q: authenticated %v, %d events, error %q; want refused", sig, resp.GetAuthenticated(), len(resp.GetEvents()), resp.GetError())
			}
			if _, err := gproto.Marshal(resp); err != nil {
				t.Fatalf("the refusal cannot be sent to the host: %v", err)
			}
		}
	})
}
