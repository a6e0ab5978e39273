package playground

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conversa/conversa/core/config"
	"github.com/conversa/conversa/core/engine"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/plugins/meta"
	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
	"github.com/conversa/conversa/plugins/zenvia"
)

// fakeEngine keeps integrations in memory and hands webhooks to the real
// channel plugins, in process: what they parse is what the engine would
// store.
type fakeEngine struct {
	mu           sync.Mutex
	integrations map[string]*model.Integration
	channels     map[string]sdk.Channel
	events       []*proto.Event
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{integrations: map[string]*model.Integration{},
		channels: map[string]sdk.Channel{Meta: meta.New(), Zenvia: zenvia.New()}}
}

func (f *fakeEngine) Integration(id string) *model.Integration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.integrations[id]
}

func (f *fakeEngine) Put(_ context.Context, in *model.Integration, _ bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := *in
	c.Settings = maps.Clone(in.Settings)
	old := f.integrations[in.ID]
	// The engine keeps or generates what the channel generates.
	for _, k := range []string{"verify_token", "webhook_username", "webhook_token"} {
		if _, ok := c.Settings[k]; !ok {
			if old != nil && old.Settings[k] != nil {
				c.Settings[k] = old.Settings[k]
			} else {
				c.Settings[k] = randomToken()
			}
		}
	}
	f.integrations[in.ID] = &c
	return nil
}

func (f *fakeEngine) Disable(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := *f.integrations[id]
	c.Enabled = false
	f.integrations[id] = &c
	return nil
}

func (f *fakeEngine) Webhook(ctx context.Context, id string, r engine.WebhookRequest) (engine.WebhookResult, error) {
	in := f.Integration(id)
	if in == nil || !in.Enabled {
		return engine.WebhookResult{}, engine.ErrUnknownIntegration
	}
	settings, _ := json.Marshal(in.Settings)
	req := &proto.WebhookRequest{Method: r.Method, Path: r.Path, Body: r.Body,
		Integrations: []*proto.Integration{{Id: in.ID, SettingsJson: settings}}}
	for name, vals := range r.Headers {
		for _, v := range vals {
			req.Headers = append(req.Headers, &proto.Header{Name: name, Value: v})
		}
	}
	resp, err := f.channels[in.Channel].HandleWebhook(ctx, req)
	if err != nil {
		return engine.WebhookResult{}, err
	}
	if !resp.Authenticated {
		return engine.WebhookResult{Status: 401, Refusal: resp.Error}, nil
	}
	if resp.Malformed {
		return engine.WebhookResult{Status: 400, Refusal: resp.Error}, nil
	}
	f.mu.Lock()
	f.events = append(f.events, resp.Events...)
	f.mu.Unlock()
	return engine.WebhookResult{Status: 200}, nil
}

func (f *fakeEngine) takeEvents() []*proto.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.events
	f.events = nil
	return out
}

func newPlayground(t *testing.T) (*Playground, *fakeEngine) {
	t.Helper()
	eng := newFakeEngine()
	p := New(Options{Engine: eng, LocalURL: "http://127.0.0.1:9", Assistant: "demo", EchoDelay: time.Millisecond})
	t.Cleanup(p.Close)
	if err := p.Install(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p, eng
}

func TestInstallKeepsSecretsAndFollowsTheListener(t *testing.T) {
	eng := newFakeEngine()
	first := New(Options{Engine: eng, LocalURL: "http://127.0.0.1:1111", Assistant: "demo"})
	if err := first.Install(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := eng.Integration(config.PlaygroundMeta).Setting("app_secret")
	second := New(Options{Engine: eng, LocalURL: "http://127.0.0.1:2222/", Assistant: "demo"})
	if err := second.Install(context.Background()); err != nil {
		t.Fatal(err)
	}
	in := eng.Integration(config.PlaygroundMeta)
	if got := in.Setting("app_secret"); got != before || got == "" {
		t.Errorf("app_secret after a second Install = %q, want the first one %q", got, before)
	}
	if got, want := in.Setting("graph_url"), "http://127.0.0.1:2222/playground/fake/meta"; got != want {
		t.Errorf("graph_url = %q, want %q", got, want)
	}
	z := eng.Integration(config.PlaygroundZenvia)
	if got, want := z.Setting("api_url"), "http://127.0.0.1:2222/playground/fake/zenvia"; got != want {
		t.Errorf("api_url = %q, want %q", got, want)
	}
	for _, in := range []*model.Integration{in, z} {
		if in.Source != model.SourcePlayground || in.Assistant != "demo" || in.Squad != "geral" || !in.Enabled {
			t.Errorf("%s = source %q assistant %q squad %q enabled %v, want playground, demo, geral, on",
				in.ID, in.Source, in.Assistant, in.Squad, in.Enabled)
		}
	}
	if err := Off(context.Background(), eng); err != nil {
		t.Fatal(err)
	}
	if eng.Integration(config.PlaygroundMeta).Enabled || eng.Integration(config.PlaygroundZenvia).Enabled {
		t.Errorf("Off left a built-in integration enabled")
	}
}

// Every kind becomes the webhook the real channel plugin accepts and reads
// as that kind of event.
func TestSendBuildsWebhooksThePluginsRead(t *testing.T) {
	for _, tc := range []struct {
		channel, kind string
		in            Input
		wantKind      string
		wantContent   string
	}{
		{Meta, KindText, Input{Text: "oi"}, sdk.EventMessage, "text"},
		{Meta, KindText, Input{Text: "Prices", Payload: "PRICES"}, sdk.EventMessage, "text"},
		{Meta, KindImage, Input{URL: "https://example.com/a.png"}, sdk.EventMessage, "image"},
		{Meta, KindStoryMention, Input{URL: "https://example.com/story.jpg"}, sdk.EventMessage, "story_mention"},
		{Meta, KindStoryReply, Input{URL: "https://example.com/story.jpg", Text: "quero"}, sdk.EventMessage, "story_reply"},
		{Zenvia, KindText, Input{Text: "oi"}, sdk.EventMessage, "text"},
		{Zenvia, KindImage, Input{URL: "https://example.com/a.png"}, sdk.EventMessage, "image"},
		{Zenvia, KindStoryMention, Input{URL: "https://example.com/story.jpg"}, sdk.EventMessage, "story_mention"},
		{Zenvia, KindStoryReply, Input{URL: "https://example.com/story.jpg", Text: "quero"}, sdk.EventMessage, "story_reply"},
	} {
		t.Run(tc.channel+"/"+tc.kind, func(t *testing.T) {
			p, eng := newPlayground(t)
			in := tc.in
			in.Channel, in.User, in.Kind = tc.channel, "ana.souza", tc.kind
			mid, err := p.Send(context.Background(), in)
			if err != nil {
				t.Fatalf("Send(%+v) = %v", in, err)
			}
			evs := eng.takeEvents()
			if len(evs) != 1 {
				t.Fatalf("the plugin read %d events, want 1", len(evs))
			}
			ev := evs[0]
			if ev.Kind != tc.wantKind || ev.MessageId != mid || ev.ContactId != userID(tc.channel, "ana.souza") {
				t.Errorf("event = kind %q mid %q contact %q (%s), want %q %q %q", ev.Kind, ev.MessageId, ev.ContactId, ev.Note,
					tc.wantKind, mid, userID(tc.channel, "ana.souza"))
			}
			if len(ev.Contents) != 1 || ev.Contents[0].Type != tc.wantContent {
				t.Fatalf("contents = %v, want one %s", ev.Contents, tc.wantContent)
			}
			c := ev.Contents[0]
			if c.Text != in.Text || (in.URL != "" && c.Url != in.URL) || c.Payload != in.Payload {
				t.Errorf("content = %+v, want text %q url %q payload %q", c, in.Text, in.URL, in.Payload)
			}
			if tc.channel == Zenvia && (ev.ContactUsername != "ana.souza" || ev.ContactName != "Ana Souza") {
				t.Errorf("contact = %q %q, want ana.souza, Ana Souza (Zenvia's visitor)", ev.ContactUsername, ev.ContactName)
			}
			th, _ := p.Messages(tc.channel, "ana.souza")
			if len(th.Messages) != 1 || th.Messages[0].Direction != "in" || th.Messages[0].Mid != mid || th.Messages[0].Contents[0].Type != tc.wantContent {
				t.Errorf("thread = %+v, want the user's %s", th.Messages, tc.wantContent)
			}
		})
	}
}

func TestReactionAndUnsend(t *testing.T) {
	for _, channel := range []string{Meta, Zenvia} {
		t.Run(channel, func(t *testing.T) {
			p, eng := newPlayground(t)
			ctx := context.Background()
			mid, err := p.Send(ctx, Input{Channel: channel, User: "ana", Text: "oi"})
			if err != nil {
				t.Fatal(err)
			}
			eng.takeEvents()
			if channel == Meta {
				if _, err := p.Send(ctx, Input{Channel: channel, User: "ana", Kind: KindReaction, Emoji: "❤️", Mid: mid}); err != nil {
					t.Fatal(err)
				}
				evs := eng.takeEvents()
				if len(evs) != 1 || evs[0].Kind != sdk.EventReaction || evs[0].MessageId != mid {
					t.Errorf("reaction events = %v, want one reaction to %s", evs, mid)
				}
			}
			if _, err := p.Send(ctx, Input{Channel: channel, User: "ana", Kind: KindUnsend, Mid: mid}); err != nil {
				t.Fatal(err)
			}
			evs := eng.takeEvents()
			if len(evs) != 1 || evs[0].Kind != sdk.EventUnsend || evs[0].MessageId != mid {
				t.Errorf("unsend events = %v, want one unsend of %s", evs, mid)
			}
			th, _ := p.Messages(channel, "ana")
			if len(th.Messages) != 1 || !th.Messages[0].Deleted {
				t.Fatalf("thread = %+v, want the message marked deleted", th.Messages)
			}
			if channel == Meta && (len(th.Messages[0].Reactions) != 1 || th.Messages[0].Reactions[0].Emoji != "❤️") {
				t.Errorf("reactions = %+v, want the user's heart", th.Messages[0].Reactions)
			}
			_, err = p.Send(ctx, Input{Channel: channel, User: "ana", Kind: KindUnsend, Mid: mid})
			if fe := (*FieldError)(nil); !errors.As(err, &fe) || fe.Field != "mid" {
				t.Errorf("unsending twice: err = %v, want a mid field error", err)
			}
		})
	}
}

func TestSendRefusesBadInput(t *testing.T) {
	p, _ := newPlayground(t)
	for _, tc := range []struct {
		in    Input
		field string
	}{
		{Input{User: "ana", Text: "oi"}, "channel"},
		{Input{Channel: "whatsapp", User: "ana", Text: "oi"}, "channel"},
		{Input{Channel: Meta, Text: "oi"}, "user"},
		{Input{Channel: Meta, User: "ana souza", Text: "oi"}, "user"},
		{Input{Channel: Meta, User: "ana", Kind: "sticker"}, "kind"},
		{Input{Channel: Meta, User: "ana", Kind: KindText}, "text"},
		{Input{Channel: Meta, User: "ana", Text: strings.Repeat("a", 1001)}, "text"},
		{Input{Channel: Meta, User: "ana", Kind: KindImage}, "url"},
		{Input{Channel: Meta, User: "ana", Kind: KindImage, URL: "javascript:alert(1)"}, "url"},
		{Input{Channel: Meta, User: "ana", Kind: KindStoryReply, URL: "https://example.com/s.jpg"}, "text"},
		{Input{Channel: Meta, User: "ana", Kind: KindReaction, Mid: "x"}, "emoji"},
		{Input{Channel: Meta, User: "ana", Kind: KindReaction, Emoji: "❤️"}, "mid"},
		{Input{Channel: Meta, User: "ana", Kind: KindReaction, Emoji: "❤️", Mid: "unknown"}, "mid"},
		{Input{Channel: Zenvia, User: "ana", Kind: KindReaction, Emoji: "❤️", Mid: "x"}, "kind"},
		{Input{Channel: Meta, User: "ana", Kind: KindUnsend}, "mid"},
	} {
		_, err := p.Send(context.Background(), tc.in)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("Send(%+v) = %v, want an error about %s", tc.in, err, tc.field)
		}
	}
}

// The real plugins send through the fakes: what they send is recorded in
// the user's thread as the user would see it, and Meta's echo comes back.
func TestFakesAnswerTheRealPlugins(t *testing.T) {
	p, eng := newPlayground(t)
	ctx := context.Background()
	if _, err := p.Send(ctx, Input{Channel: Meta, User: "ana", Text: "oi"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Send(ctx, Input{Channel: Zenvia, User: "ana", Text: "oi"}); err != nil {
		t.Fatal(err)
	}
	eng.takeEvents()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		req := Request{Method: r.Method, Query: r.URL.Query(), Header: r.Header, Body: b}
		var res Response
		switch {
		case strings.HasPrefix(r.URL.Path, FakePrefix+"/meta"):
			req.Path = strings.TrimPrefix(r.URL.Path, FakePrefix+"/meta")
			res = p.FakeMeta(req)
		default:
			req.Path = strings.TrimPrefix(r.URL.Path, FakePrefix+"/zenvia")
			res = p.FakeZenvia(req)
		}
		w.WriteHeader(res.Status)
		w.Write(res.Body)
	}))
	defer srv.Close()
	settings := func(id string) []byte {
		in := eng.Integration(id)
		s := maps.Clone(in.Settings)
		s["graph_url"] = srv.URL + FakePrefix + "/meta"
		s["api_url"] = srv.URL + FakePrefix + "/zenvia"
		b, _ := json.Marshal(s)
		return b
	}
	now := time.Now()
	qr := &proto.Content{Type: sdk.ContentQuickReplies, Text: "Hi! How can I help?",
		Options: []*proto.Option{{Title: "Prices"}, {Title: "Talk to a person"}}}

	// Meta: quick replies as buttons, and the echo of the message.
	resp, err := meta.New().Send(ctx, &proto.SendRequest{
		Integration: &proto.Integration{Id: config.PlaygroundMeta, SettingsJson: settings(config.PlaygroundMeta)},
		Contact:     &proto.Contact{Id: userID(Meta, "ana"), LastInboundMs: now.UnixMilli()},
		Contents:    []*proto.Content{qr}, AuthorKind: sdk.AuthorAssistant, NowMs: now.UnixMilli()})
	if err != nil || resp.Error != nil || len(resp.MessageIds) != 1 {
		t.Fatalf("meta Send = %v, %v, want one message id", resp, err)
	}
	th, _ := p.Messages(Meta, "ana")
	last := th.Messages[len(th.Messages)-1]
	if last.Direction != "out" || last.Mid != resp.MessageIds[0] || last.Contents[0].Type != model.QuickReplies ||
		len(last.Contents[0].Options) != 2 || last.Contents[0].Options[1].Title != "Talk to a person" {
		t.Errorf("ana's last Meta message = %+v, want the quick replies with their buttons", last)
	}
	var echo *proto.Event
	for deadline := time.Now().Add(5 * time.Second); echo == nil && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, ev := range eng.takeEvents() {
			if ev.Kind == sdk.EventEcho {
				echo = ev
			}
		}
	}
	if echo == nil || echo.MessageId != resp.MessageIds[0] || echo.ContactId != userID(Meta, "ana") {
		t.Errorf("echo = %v, want the echo of %s to ana", echo, resp.MessageIds[0])
	}

	// Meta's profile lookup names the test user.
	prof, err := meta.New().Profile(ctx, &proto.ProfileRequest{
		Integration: &proto.Integration{Id: config.PlaygroundMeta, SettingsJson: settings(config.PlaygroundMeta)},
		ContactId:   userID(Meta, "ana")})
	if err != nil || prof.Username != "ana" || prof.Name != "Ana" {
		t.Errorf("Profile = %+v, %v, want ana / Ana", prof, err)
	}

	// Zenvia: what the engine sends is what the user reads.
	zresp, err := zenvia.New().Send(ctx, &proto.SendRequest{
		Integration: &proto.Integration{Id: config.PlaygroundZenvia, SettingsJson: settings(config.PlaygroundZenvia)},
		Contact:     &proto.Contact{Id: userID(Zenvia, "ana"), LastInboundMs: now.UnixMilli()},
		Contents:    []*proto.Content{{Type: sdk.ContentText, Text: "Hi!\n1. Prices\n2. Talk to a person"}, {Type: sdk.ContentImage, Url: "https://example.com/a.png"}},
		AuthorKind:  sdk.AuthorAssistant, NowMs: now.UnixMilli()})
	if err != nil || zresp.Error != nil || len(zresp.MessageIds) != 1 {
		t.Fatalf("zenvia Send = %v, %v, want one message id", zresp, err)
	}
	zth, _ := p.Messages(Zenvia, "ana")
	zlast := zth.Messages[len(zth.Messages)-1]
	if zlast.Mid != zresp.MessageIds[0] || len(zlast.Contents) != 2 || zlast.Contents[0].Text != "Hi!\n1. Prices\n2. Talk to a person" ||
		zlast.Contents[1].Type != model.Image {
		t.Errorf("ana's last Zenvia message = %+v, want the text and the image", zlast)
	}

	// Without the integration's token the fakes refuse, as the providers do.
	if r := p.FakeMeta(Request{Method: "POST", Path: "/v25.0/me/messages", Header: http.Header{"Authorization": {"Bearer nope"}},
		Body: []byte(`{"recipient":{"id":"1"},"message":{"text":"x"}}`)}); r.Status != 400 || !strings.Contains(string(r.Body), `"code":190`) {
		t.Errorf("FakeMeta with a wrong token = %d %s, want 400 code 190", r.Status, r.Body)
	}
	if r := p.FakeZenvia(Request{Method: "POST", Path: "/v2/channels/instagram/messages", Header: http.Header{"X-Api-Token": {"nope"}},
		Body: []byte(`{}`)}); r.Status != 401 {
		t.Errorf("FakeZenvia with a wrong token = %d %s, want 401", r.Status, r.Body)
	}
}
