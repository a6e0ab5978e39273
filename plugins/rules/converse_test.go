package rules

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	gproto "google.golang.org/protobuf/proto"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
	"github.com/conversa/conversa/plugins/sdk/sdktest"
)

func dial(t *testing.T) sdk.Assistant { return sdktest.Assistant(t, New()) }

const shopSettings = `{"file": "testdata/shop.toml"}`

func text(s string) *proto.Content { return &proto.Content{Type: sdk.ContentText, Text: s} }

func withOptions(typ, prompt string, titles ...string) *proto.Content {
	c := &proto.Content{Type: typ, Text: prompt}
	for _, t := range titles {
		c.Options = append(c.Options, &proto.Option{Title: t, Payload: t})
	}
	return c
}

func say(settings string, session []byte, contents ...*proto.Content) *proto.ConverseRequest {
	return &proto.ConverseRequest{
		SettingsJson:   []byte(settings),
		AssistantId:    "a1",
		IntegrationId:  "ig",
		ConversationId: "c1",
		Contact:        &proto.Contact{Id: "u1", Username: "ana"},
		Channel:        "meta",
		Session:        session,
		Contents:       contents,
	}
}

func sameContents(a, b []*proto.Content) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !gproto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func show(cs []*proto.Content) string {
	var parts []string
	for _, c := range cs {
		b, _ := json.Marshal(c)
		parts = append(parts, string(b))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func TestDescribe(t *testing.T) {
	info, err := dial(t).Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.GetName() != "rules" || info.GetVersion() == "" || len(info.GetInboundTypes()) != 0 {
		t.Errorf("Describe() = %v, want name rules, a version, no inbound types", info)
	}
}

func TestConverseReplies(t *testing.T) {
	as := dial(t)
	tests := []struct {
		name       string
		in         []*proto.Content
		want       []*proto.Content
		intent     string
		confidence float64
		handoff    bool
		end        bool
	}{
		{"text and quick replies are one content", []*proto.Content{text("Hi")},
			[]*proto.Content{withOptions(sdk.ContentQuickReplies, "Hi!", "Opening hours", "Talk to a person")},
			"greet", 1, false, false},
		{"select", []*proto.Content{text("departments")},
			[]*proto.Content{withOptions(sdk.ContentSelect, "Which one?", "Sales", "Suporte técnico")},
			"departments", 1, false, false},
		{"option list by default, no prompt", []*proto.Content{text("MENU")},
			[]*proto.Content{withOptions(sdk.ContentOptionList, "", "Opening hours", "Sales")},
			"menu", 1, false, false},
		{"text then image, then a file reply", []*proto.Content{text("sales")},
			[]*proto.Content{
				text("Our sales team:"),
				{Type: sdk.ContentImage, Url: "https://cdn.example.com/team.jpg"},
				{Type: sdk.ContentFile, Url: "https://cdn.example.com/catalog.pdf", MimeType: "application/pdf"},
			}, "sales", 1, false, false},
		{"file without type", []*proto.Content{text("Suporte Técnico")},
			[]*proto.Content{{Type: sdk.ContentFile, Url: "https://cdn.example.com/manual.txt"}},
			"support", 1, false, false},
		{"handoff", []*proto.Content{text("atendente")},
			[]*proto.Content{text("Connecting you...")}, "human", 1, true, false},
		{"end without replies", []*proto.Content{text("bye!")}, nil, "bye", 1, false, true},
		{"contained", []*proto.Content{text("what are your opening hours?")},
			[]*proto.Content{text("9 to 5.")}, "hours", 0.7 + 0.2*2/5, false, false},
		{"caption of an image", []*proto.Content{{Type: sdk.ContentImage, Url: "https://x/y.jpg", Caption: "opening hours"}},
			[]*proto.Content{text("9 to 5.")}, "hours", 1, false, false},
		{"nothing matches", []*proto.Content{text("do you sell chips")},
			[]*proto.Content{text("Sorry?"), text("Type menu.")}, "fallback", 0, false, false},
		{"audio has nothing to match", []*proto.Content{{Type: sdk.ContentAudio, Url: "https://x/a.mp4"}},
			[]*proto.Content{text("Sorry?"), text("Type menu.")}, "fallback", 0, false, false},
		{"no contents", nil,
			[]*proto.Content{text("Sorry?"), text("Type menu.")}, "fallback", 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := as.Converse(context.Background(), say(shopSettings, nil, tt.in...))
			if err != nil {
				t.Fatal(err)
			}
			if !sameContents(res.GetReplies(), tt.want) {
				t.Errorf("replies = %s, want %s", show(res.GetReplies()), show(tt.want))
			}
			if res.GetIntent() != tt.intent || !near(res.GetConfidence(), tt.confidence) {
				t.Errorf("intent = %q %v, want %q %v", res.GetIntent(), res.GetConfidence(), tt.intent, tt.confidence)
			}
			if res.GetHandoff() != tt.handoff || res.GetEnd() != tt.end {
				t.Errorf("handoff, end = %v, %v; want %v, %v", res.GetHandoff(), res.GetEnd(), tt.handoff, tt.end)
			}
		})
	}
}

// turn is one user message in a conversation and what it must lead to.
type turn struct {
	in     *proto.Content
	intent string
}

// converse plays turns in order, carrying the session between them as the
// host does.
func converse(t *testing.T, as sdk.Assistant, settings string, turns []turn) {
	t.Helper()
	var session []byte
	for i, tr := range turns {
		res, err := as.Converse(context.Background(), say(settings, session, tr.in))
		if err != nil {
			t.Fatalf("turn %d (%q): %v", i, tr.in.GetText(), err)
		}
		if res.GetIntent() != tr.intent {
			t.Errorf("turn %d (%q, payload %q, session %s): intent %q, want %q",
				i, tr.in.GetText(), tr.in.GetPayload(), session, res.GetIntent(), tr.intent)
		}
		session = res.GetSession()
	}
}

func TestConverseNumberedAnswers(t *testing.T) {
	as := dial(t)
	tests := []struct {
		name  string
		turns []turn
	}{
		{"quick reply by number", []turn{{text("hi"), "greet"}, {text("2"), "human"}}},
		{"number with a dot", []turn{{text("hi"), "greet"}, {text("1."), "hours"}}},
		{"select by number", []turn{{text("departments"), "departments"}, {text("opção 2"), "support"}}},
		{"select by title, accents ignored", []turn{{text("departments"), "departments"}, {text("SUPORTE TECNICO"), "support"}}},
		{"option list by number", []turn{{text("menu"), "menu"}, {text("#2"), "sales"}}},
		{"out of range", []turn{{text("menu"), "menu"}, {text("3"), "fallback"}}},
		{"no options offered", []turn{{text("2"), "fallback"}}},
		{"options cleared by a reply without any", []turn{{text("hi"), "greet"}, {text("opening hours"), "hours"}, {text("2"), "fallback"}}},
		{"fallback keeps the options", []turn{{text("hi"), "greet"}, {text("what?"), "fallback"}, {text("1"), "hours"}}},
		{"last offer wins", []turn{{text("hi"), "greet"}, {text("menu"), "menu"}, {text("2"), "sales"}}},
		{"free text still matches while options are offered", []turn{{text("menu"), "menu"}, {text("atendente"), "human"}}},
		{"quick reply tap: payload first", []turn{
			{text("hi"), "greet"},
			{&proto.Content{Type: sdk.ContentText, Text: "Talk to a person", Payload: "Opening hours"}, "hours"},
		}},
		{"unknown payload: the text", []turn{
			{&proto.Content{Type: sdk.ContentText, Text: "opening hours", Payload: "LEGACY_BUTTON_7"}, "hours"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			converse(t, as, shopSettings, tt.turns)
		})
	}
}

func TestConverseSession(t *testing.T) {
	as := dial(t)
	ctx := context.Background()

	res, err := as.Converse(ctx, say(shopSettings, nil, text("departments")))
	if err != nil {
		t.Fatal(err)
	}
	var s session
	if err := json.Unmarshal(res.GetSession(), &s); err != nil {
		t.Fatalf("session %q: %v", res.GetSession(), err)
	}
	if len(s.Options) != 2 || s.Options[1].Title != "Suporte técnico" || s.Options[1].Payload != "Suporte técnico" {
		t.Errorf("session options = %+v, want Sales and Suporte técnico", s.Options)
	}

	res, err = as.Converse(ctx, say(shopSettings, res.GetSession(), text("nonsense")))
	if err != nil {
		t.Fatal(err)
	}
	var kept session
	if err := json.Unmarshal(res.GetSession(), &kept); err != nil || len(kept.Options) != 2 {
		t.Errorf("session after the fallback = %q, want the two options kept", res.GetSession())
	}

	res, err = as.Converse(ctx, say(shopSettings, []byte(`{"tracker":"another backend's"}`), text("1")))
	if err != nil {
		t.Fatalf("Converse(foreign session) = %v", err)
	}
	if res.GetIntent() != "fallback" {
		t.Errorf("Converse(foreign session, 1) = %q, want fallback", res.GetIntent())
	}
	res, err = as.Converse(ctx, say(shopSettings, []byte("\x00not json"), text("hi")))
	if err != nil || res.GetIntent() != "greet" {
		t.Errorf("Converse(garbage session, hi) = %q, %v; want greet", res.GetIntent(), err)
	}
}

func TestConverseErrors(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.toml")
	if err := os.WriteFile(broken, []byte("fallback = [\"?\"]\n[[intents]]\nname = \"a\"\nexamples = [\"b\"]\n[[intents.replies]]\nstyle = \"grid\"\noptions = [\"x\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	settings := func(file string) string {
		b, _ := json.Marshal(map[string]string{"file": file})
		return string(b)
	}
	as := dial(t)
	tests := []struct {
		name     string
		settings string
		code     codes.Code
		want     string
	}{
		{"invalid file", settings(broken), codes.FailedPrecondition, broken + `:6: intents[0].replies[0].style: "grid" is not`},
		{"missing file", settings(filepath.Join(dir, "nope.toml")), codes.FailedPrecondition, "nope.toml"},
		{"bad settings", `{"path": "x.toml"}`, codes.InvalidArgument, `unknown field "path"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := as.Converse(context.Background(), say(tt.settings, nil, text("b")))
			st, _ := status.FromError(err)
			if err == nil || st.Code() != tt.code || !strings.Contains(st.Message(), tt.want) {
				t.Errorf("Converse() = %v, want code %v and a message containing %q", err, tt.code, tt.want)
			}
		})
	}
}

// Concurrent turns share the file cache; run with -race.
func TestConverseConcurrent(t *testing.T) {
	as := New()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			res, err := as.Converse(context.Background(), say(shopSettings, nil, text("hi")))
			if err == nil && res.GetIntent() != "greet" {
				err = status.Errorf(codes.Unknown, "intent %q", res.GetIntent())
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Converse(hi) = %v", err)
	}
}

// The replies handed out are copies: a caller changing one cannot change
// what the next caller gets.
func TestConverseRepliesAreCopies(t *testing.T) {
	as := New()
	res, err := as.Converse(context.Background(), say(shopSettings, nil, text("hi")))
	if err != nil {
		t.Fatal(err)
	}
	res.Replies[0].Text = "changed"
	res.Replies[0].Options[0].Title = "changed"
	res, err = as.Converse(context.Background(), say(shopSettings, nil, text("hi")))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Replies[0]; got.GetText() != "Hi!" || got.GetOptions()[0].GetTitle() != "Opening hours" {
		t.Errorf("second Converse(hi) = %v, want the file's reply", got)
	}
}
