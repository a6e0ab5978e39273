package sdktest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/conversa/conversa/plugins/proto"
)

func wantEvents(t *testing.T, doc string) []map[string]any {
	t.Helper()
	var w []map[string]any
	d := json.NewDecoder(strings.NewReader(doc))
	d.UseNumber()
	if err := d.Decode(&w); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestMatchEvents(t *testing.T) {
	got := []*proto.Event{{
		Kind: "message", DedupeKey: "k1", ContactId: "123", MessageId: "m1", TimestampMs: 1767607200000,
		Contents: []*proto.Content{{Type: "text", Text: "oi"}, {Type: "image", Url: "https://x/y.jpg", MimeType: "image/jpeg"}},
	}}
	for _, tc := range []struct {
		want    string
		problem string // "" = matches
	}{
		{`[{"kind": "message"}]`, ""},
		{`[{"kind": "message", "contact_id": "123", "message_id": "m1", "timestamp_ms": 1767607200000}]`, ""},
		{`[{"contents": [{"type": "text", "text": "oi"}, {"type": "image", "mime_type": "image/jpeg"}]}]`, ""},
		{`[{"passive": false, "reply_to": ""}]`, ""},
		{`[{"kind": "echo"}]`, `kind = "message", want "echo"`},
		{`[{"timestamp_ms": 1}]`, `timestamp_ms = "1767607200000", want 1`},
		{`[{"contents": [{"type": "text", "text": "oi"}]}]`, "contents has 2 elements, want 1"},
		{`[{"contents": [{"type": "text", "text": "tchau"}, {}]}]`, `contents[0].text = "oi", want "tchau"`},
		{`[{"contact": "123"}]`, "contact: no such field"},
		{`[{"kind": "message"}, {"kind": "status"}]`, "got 1 events [message], want 2"},
		{`[]`, "got 1 events [message], want 0"},
	} {
		bad := strings.Join(matchEvents(got, wantEvents(t, tc.want)), "; ")
		if tc.problem == "" && bad != "" {
			t.Errorf("matchEvents(%s) = %q, want a match", tc.want, bad)
		}
		if tc.problem != "" && !strings.Contains(bad, tc.problem) {
			t.Errorf("matchEvents(%s) = %q, want %q", tc.want, bad, tc.problem)
		}
	}
}

func TestEventProblems(t *testing.T) {
	bad := eventProblems([]*proto.Event{
		{Kind: "message", DedupeKey: "k", Contents: []*proto.Content{{Type: "text"}}},
		{Kind: "sticker", DedupeKey: "k2"},
		{Kind: "status"},
		{Kind: "message", DedupeKey: "k3", Contents: []*proto.Content{{Type: "gif"}}},
	})
	got := strings.Join(bad, "; ")
	for _, want := range []string{`event 1: unknown kind "sticker"`, "event 2 (status): empty dedupe_key", `event 3: contents[0]: unknown type "gif"`} {
		if !strings.Contains(got, want) {
			t.Errorf("eventProblems = %q, want %q", got, want)
		}
	}
	if strings.Contains(got, "event 0") {
		t.Errorf("eventProblems = %q, blames the good event", got)
	}
}

func TestMatchSendError(t *testing.T) {
	yes, no := true, false
	code := "190/463"
	reauth := &proto.SendError{Code: "190/463", Reauthorize: true}
	for _, tc := range []struct {
		got  *proto.SendError
		want *sendErrWant
		ok   bool
	}{
		{nil, nil, true},
		{reauth, nil, false},
		{nil, &sendErrWant{Reauthorize: &yes}, false},
		{reauth, &sendErrWant{Reauthorize: &yes, Retryable: &no, Code: &code}, true},
		{reauth, &sendErrWant{Retryable: &yes}, false},
		{reauth, &sendErrWant{}, true},
		{&proto.SendError{Refused: true}, &sendErrWant{Refused: &yes, UnknownOutcome: &no}, true},
	} {
		bad := matchSendError(tc.got, tc.want)
		if (len(bad) == 0) != tc.ok {
			t.Errorf("matchSendError(%v, %+v) = %q, want ok %v", tc.got, tc.want, bad, tc.ok)
		}
	}
}

func TestProviderWantCheck(t *testing.T) {
	calls := []*providerCall{{Method: "POST", Path: "/v25.0/me/messages", RawQuery: "a=1", Body: []byte(`{"text":"Hello"}`),
		Header: map[string][]string{"Authorization": {"Bearer t"}}}}
	w := &providerWant{Method: "post", Path: "/v25.0/me/messages", BodyContains: []string{"Hello"}, QueryContains: []string{"a=1"},
		Headers: map[string]string{"Authorization": "Bearer t"}}
	if bad := w.check(calls); len(bad) > 0 {
		t.Errorf("check = %q, want a match", bad)
	}
	w = &providerWant{Path: "/other", BodyContains: []string{"Bye"}, Headers: map[string]string{"X-Api-Token": "t"}}
	if bad := w.check(calls); len(bad) != 3 {
		t.Errorf("check = %q, want 3 problems", bad)
	}
	if bad := w.check(nil); len(bad) != 1 {
		t.Errorf("check with no call = %q, want one problem", bad)
	}
	var none *providerWant
	if bad := none.check(nil); len(bad) != 0 {
		t.Errorf("nil want checked %q", bad)
	}
}
