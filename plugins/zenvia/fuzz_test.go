package zenvia

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	gproto "google.golang.org/protobuf/proto"

	"github.com/conversa/conversa/plugins/sdk"
)

var (
	eventKinds = map[string]bool{sdk.EventMessage: true, sdk.EventEcho: true, sdk.EventUnsend: true, sdk.EventEdit: true,
		sdk.EventReaction: true, sdk.EventUnreaction: true, sdk.EventStatus: true, sdk.EventRead: true,
		sdk.EventReferral: true, sdk.EventIgnored: true}
	contentTypes = map[string]bool{sdk.ContentText: true, sdk.ContentImage: true, sdk.ContentAudio: true,
		sdk.ContentVideo: true, sdk.ContentFile: true, sdk.ContentStoryMention: true, sdk.ContentStoryReply: true,
		sdk.ContentShare: true, sdk.ContentReaction: true, sdk.ContentQuickReplies: true, sdk.ContentSelect: true,
		sdk.ContentOptionList: true, sdk.ContentUnsupported: true}
)

// FuzzWebhook feeds authenticated bodies of any shape to the webhook parser,
// as the host would hand them over.
func FuzzWebhook(f *testing.F) {
	for _, dir := range []string{"testdata", filepath.Join("..", "..", "core", "e2e", "testdata", "zenvia")} {
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
	ch := New()
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := ch.HandleWebhook(context.Background(), webhookRequest(body))
		if err != nil {
			t.Fatalf("HandleWebhook = %v: nothing in a body may fail the call", err)
		}
		if !resp.GetAuthenticated() {
			t.Fatalf("a request with the right credentials was not authenticated: %q", resp.GetError())
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
		} else {
			// Anything that is a JSON object with a type is kept, if only
			// as an ignored event: Zenvia gives up retrying at some point.
			if resp.GetError() != "" || len(resp.GetEvents()) != 1 {
				t.Fatalf("accepted body: error %q, %d events; want exactly one event", resp.GetError(), len(resp.GetEvents()))
			}
		}
		for i, ev := range resp.GetEvents() {
			if !eventKinds[ev.GetKind()] {
				t.Errorf("event %d: kind %q is not one the engine knows", i, ev.GetKind())
			}
			if ev.GetDedupeKey() == "" {
				t.Errorf("event %d (%s): no dedupe key", i, ev.GetKind())
			}
			if !bytes.Equal(ev.GetRaw(), body) {
				t.Errorf("event %d: raw is not the body", i)
			}
			// A message or an echo files a conversation under its contact
			// (updates find their message by id instead).
			if (ev.GetKind() == sdk.EventMessage || ev.GetKind() == sdk.EventEcho) && ev.GetContactId() == "" {
				t.Errorf("event %d: a %s without a contact", i, ev.GetKind())
			}
			if ev.GetKind() == sdk.EventMessage && len(ev.GetContents()) == 0 {
				t.Errorf("event %d: a message without contents", i)
			}
			if ev.GetTimestampMs() < 0 {
				t.Errorf("event %d: timestamp %d", i, ev.GetTimestampMs())
			}
			for j, c := range ev.GetContents() {
				if !contentTypes[c.GetType()] {
					t.Errorf("event %d content %d: type %q is not one the engine knows", i, j, c.GetType())
				}
				if len(c.GetRaw()) > 0 && !bytes.Contains(body, c.GetRaw()) {
					t.Errorf("event %d content %d: raw %q is not a piece of the body", i, j, c.GetRaw())
				}
			}
			if !utf8.ValidString(ev.GetNote()) {
				t.Errorf("event %d: note is not UTF-8", i)
			}
		}
		// Deterministic: a retry of the same bytes is the same event, with
		// the same dedupe key.
		again, err := ch.HandleWebhook(context.Background(), webhookRequest(body))
		if err != nil || !gproto.Equal(resp, again) {
			t.Fatal("a retry of the same body parsed differently")
		}
	})
}
