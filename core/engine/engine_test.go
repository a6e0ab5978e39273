package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/scripting"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/postgres"
	"github.com/conversa/conversa/core/store/postgres/pgtest"
	"github.com/conversa/conversa/core/store/sqlite"
)

// fakeChannel is a channel plugin with function fields; nil fields behave
// like a plain channel that accepts everything.
type fakeChannel struct {
	mu       sync.Mutex
	sent     []*pluginhost.SendRequest
	parse    func(*pluginhost.WebhookRequest) *pluginhost.WebhookResponse
	sendFunc func(*pluginhost.SendRequest) *pluginhost.SendResponse
	// echoes: the provider echoes sends (as Meta does).
	echoes bool
	// generated, required and secret settings, as a channel describes them.
	generated, required, secrets []string
	// validate, when set, is ValidateSettings (nil: no problems); it sees
	// the integration as the channel would receive it.
	validate func(*pluginhost.Integration) ([]pluginhost.SettingsProblem, error)
}

func (f *fakeChannel) Describe(context.Context) (*pluginhost.ChannelInfo, error) {
	return &pluginhost.ChannelInfo{Name: "fake", InboundTypes: []string{"text", "audio"}, OutboundTypes: []string{"text", "image", "quick_replies"},
		MaxQuickReplies: 3, MaxQuickReplyTitle: 20, EchoesSends: f.echoes, GeneratedSettings: f.generated,
		RequiredSettings: f.required, SecretSettings: f.secrets}, nil
}

func (f *fakeChannel) HandleWebhook(_ context.Context, r *pluginhost.WebhookRequest) (*pluginhost.WebhookResponse, error) {
	return f.parse(r), nil
}

func (f *fakeChannel) Send(_ context.Context, r *pluginhost.SendRequest) (*pluginhost.SendResponse, error) {
	f.mu.Lock()
	f.sent = append(f.sent, r)
	n := len(f.sent)
	fn := f.sendFunc
	f.mu.Unlock()
	if fn != nil {
		return fn(r), nil
	}
	return &pluginhost.SendResponse{MessageIDs: []string{fmt.Sprintf("out-%d", n)}}, nil
}

func (f *fakeChannel) Profile(context.Context, *pluginhost.ProfileRequest) (*pluginhost.ProfileResponse, error) {
	return &pluginhost.ProfileResponse{ErrorCode: "unsupported"}, nil
}

// CheckSend raises no objection, as a channel without the check.
func (f *fakeChannel) CheckSend(context.Context, *pluginhost.SendRequest) (*pluginhost.SendResponse, error) {
	return &pluginhost.SendResponse{}, nil
}

func (f *fakeChannel) Action(context.Context, *pluginhost.ActionRequest) (*pluginhost.ActionResponse, error) {
	return &pluginhost.ActionResponse{Unsupported: true}, nil
}

func (f *fakeChannel) ValidateSettings(_ context.Context, in *pluginhost.Integration) ([]pluginhost.SettingsProblem, error) {
	if f.validate == nil {
		return nil, nil
	}
	return f.validate(in)
}

func (f *fakeChannel) sends() []*pluginhost.SendRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*pluginhost.SendRequest(nil), f.sent...)
}

type fakeAssistant struct {
	mu    sync.Mutex
	heard []string
	reply func(*pluginhost.ConverseRequest) (*pluginhost.ConverseResponse, error)
}

func (f *fakeAssistant) Describe(context.Context) (*pluginhost.AssistantInfo, error) {
	return &pluginhost.AssistantInfo{Name: "fake"}, nil
}

func (f *fakeAssistant) Converse(_ context.Context, r *pluginhost.ConverseRequest) (*pluginhost.ConverseResponse, error) {
	f.mu.Lock()
	for _, c := range r.Contents {
		f.heard = append(f.heard, c.Text)
	}
	fn := f.reply
	f.mu.Unlock()
	if fn != nil {
		return fn(r)
	}
	return &pluginhost.ConverseResponse{Replies: []model.Content{{Type: "text", Text: "echo: " + r.Contents[0].Text}}}, nil
}

func (f *fakeAssistant) said() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.heard...)
}

type fakePlugins struct {
	ch *fakeChannel
	as *fakeAssistant
	// down, when set, reports the channel plugin down: calls fail before
	// reaching it.
	down *atomic.Bool
}

// downChannel is a channel whose process is down: no call reaches it.
type downChannel struct{}

func (downChannel) Describe(context.Context) (*pluginhost.ChannelInfo, error) {
	return nil, downError{}
}
func (downChannel) HandleWebhook(context.Context, *pluginhost.WebhookRequest) (*pluginhost.WebhookResponse, error) {
	return nil, downError{}
}
func (downChannel) Send(context.Context, *pluginhost.SendRequest) (*pluginhost.SendResponse, error) {
	return nil, downError{}
}
func (downChannel) Profile(context.Context, *pluginhost.ProfileRequest) (*pluginhost.ProfileResponse, error) {
	return nil, downError{}
}
func (downChannel) CheckSend(context.Context, *pluginhost.SendRequest) (*pluginhost.SendResponse, error) {
	return nil, downError{}
}
func (downChannel) Action(context.Context, *pluginhost.ActionRequest) (*pluginhost.ActionResponse, error) {
	return nil, downError{}
}
func (downChannel) ValidateSettings(context.Context, *pluginhost.Integration) ([]pluginhost.SettingsProblem, error) {
	return nil, downError{}
}

// downError is what the plugin host returns for a call that never reached
// the plugin.
type downError struct{}

func (downError) Error() string      { return "plugin fake is down" }
func (downError) NotAttempted() bool { return true }

func (p fakePlugins) Availability(name string) (bool, string) {
	if p.down != nil && p.down.Load() {
		return false, "plugin fake is down"
	}
	return true, ""
}

func (p fakePlugins) Channel(name string) (pluginhost.Channel, error) {
	if name != "fake" {
		return nil, errors.New("unknown plugin " + name)
	}
	if p.down != nil && p.down.Load() {
		return downChannel{}, nil
	}
	return p.ch, nil
}

func (p fakePlugins) Assistant(name string) (pluginhost.Assistant, error) {
	if name != "fake" {
		return nil, errors.New("unknown plugin " + name)
	}
	return p.as, nil
}

// plainHooks is the default behaviour of the three hooks, without Lua.
type plainHooks struct{}

func (plainHooks) Route(context.Context, *scripting.Event) scripting.Route { return scripting.Route{} }
func (plainHooks) Convert(_ context.Context, c model.Content, _ string) string {
	var b strings.Builder
	b.WriteString(c.Text)
	for i, o := range c.Options {
		fmt.Fprintf(&b, "\n%d. %s", i+1, o.Title)
	}
	return b.String()
}
func (plainHooks) Reply(_ context.Context, ev *scripting.Event) []string {
	return ev.Integration.UnsupportedMediaMessages
}

type rig struct {
	t    *testing.T
	path string
	st   *sqlite.DB
	e    *Engine
	ch   *fakeChannel
	as   *fakeAssistant
}

// textEvent makes a webhook parse into one text message from user.
func textEvents(user string, texts ...string) func(*pluginhost.WebhookRequest) *pluginhost.WebhookResponse {
	return func(*pluginhost.WebhookRequest) *pluginhost.WebhookResponse {
		r := &pluginhost.WebhookResponse{Authenticated: true}
		for _, t := range texts {
			r.Events = append(r.Events, &model.Event{Kind: "message", DedupeKey: "mid-" + t, MessageID: "mid-" + t,
				ContactID: user, Timestamp: time.Now(), Contents: []model.Content{{Type: "text", Text: t}}})
		}
		return r
	}
}

func newRig(t *testing.T, path string, ch *fakeChannel, as *fakeAssistant) *rig {
	t.Helper()
	return newRigWith(t, path, fakePlugins{ch: ch, as: as}, time.Second)
}

// newRigWith builds a rig on plugins, with echoWait as how long an
// unconfirmed send waits for its echo.
func newRigWith(t *testing.T, path string, plugins fakePlugins, echoWait time.Duration) *rig {
	t.Helper()
	return newRigOn(t, path, plugins, echoWait, nil)
}

// newRigOn builds a rig whose engine uses wrap(the store) when wrap is
// set (a store that misbehaves on purpose).
func newRigOn(t *testing.T, path string, plugins fakePlugins, echoWait time.Duration, wrap func(*sqlite.DB) store.Store) *rig {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "c.db")
	}
	ch, as := plugins.ch, plugins.as
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{ReclaimLeases: true})
	if err != nil {
		t.Fatal(err)
	}
	var engineStore store.Store = st
	if wrap != nil {
		engineStore = wrap(st)
	}
	e, err := New(Options{Store: engineStore, Plugins: plugins, Hooks: plainHooks{},
		Assistants: []Assistant{{ID: "bot", Backend: "fake"}}, RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		EchoWait: echoWait})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, path: path, st: st, e: e, ch: ch, as: as}
	ctx := context.Background()
	in := &model.Integration{ID: "ig", Name: "IG", Channel: "fake", Assistant: "bot", InactivityMinutes: 60, Enabled: true,
		Source: model.SourceAPI, UnsupportedMediaMessages: []string{"text only, please"}}
	if err := e.Validate(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := e.Put(ctx, in, false); err != nil {
		t.Fatal(err)
	}
	return r
}

// startedRig is a rig whose engine runs, stopped at the end of the test.
func startedRig(t *testing.T, ch *fakeChannel, as *fakeAssistant) *rig {
	t.Helper()
	r := newRig(t, "", ch, as)
	t.Cleanup(r.close)
	if err := r.e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) close() {
	r.e.Stop()
	r.st.Close()
}

func (r *rig) post() WebhookResult {
	r.t.Helper()
	res, err := r.e.Webhook(context.Background(), "ig", WebhookRequest{Method: "POST", Body: []byte("{}")})
	if err != nil {
		r.t.Fatal(err)
	}
	return res
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestPendingInboxResumesAfterRestart(t *testing.T) {
	ch := &fakeChannel{parse: textEvents("u1", "hello")}
	as := &fakeAssistant{}
	r := newRig(t, "", ch, as)
	// Acknowledged (stored) but never processed: the engine was not started.
	if res := r.post(); res.Status != 200 || res.Stored != 1 {
		t.Fatalf("Webhook = %+v, want 200 with 1 event stored", res)
	}
	r.close()

	r = newRig(t, r.path, ch, as)
	defer r.close()
	if err := r.e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reply sent", func() bool { return len(ch.sends()) == 1 })
	if got := ch.sends()[0].Contents[0].Text; got != "echo: hello" {
		t.Errorf("sent %q, want the assistant's reply", got)
	}
}

func TestEventsOfOneContactAreProcessedInOrder(t *testing.T) {
	var texts []string
	for i := range 20 {
		texts = append(texts, fmt.Sprint("m", i))
	}
	ch := &fakeChannel{parse: textEvents("u1", texts...)}
	as := &fakeAssistant{}
	r := startedRig(t, ch, as)
	r.post()
	eventually(t, "every reply", func() bool { return len(ch.sends()) == len(texts) })
	if got := strings.Join(as.said(), " "); got != strings.Join(texts, " ") {
		t.Errorf("assistant heard %q, want %q", got, strings.Join(texts, " "))
	}
	for i, s := range ch.sends() {
		if want := "echo: " + texts[i]; s.Contents[0].Text != want {
			t.Errorf("send %d = %q, want %q", i, s.Contents[0].Text, want)
		}
	}
}

func TestFailingAssistantHandsConversationToSquad(t *testing.T) {
	ch := &fakeChannel{parse: textEvents("u1", "hello")}
	as := &fakeAssistant{reply: func(*pluginhost.ConverseRequest) (*pluginhost.ConverseResponse, error) {
		return nil, errors.New("model server down")
	}}
	r := startedRig(t, ch, as)
	r.post()
	var convs []*model.Conversation
	eventually(t, "the conversation queued", func() bool {
		convs, _ = r.st.Conversations().List(context.Background(), store.ConversationFilter{State: model.StateQueued})
		return len(convs) == 1
	})
	if convs[0].Squad != "geral" {
		t.Errorf("queued for squad %q, want geral", convs[0].Squad)
	}
	if n := len(as.said()); n != r.e.o.AssistantAttempts {
		t.Errorf("assistant called %d times, want %d attempts", n, r.e.o.AssistantAttempts)
	}
	msgs, _ := r.st.Messages().List(context.Background(), convs[0].ID)
	var notes []string
	for _, m := range msgs {
		if m.Author == model.AuthorSystem && m.Status == model.StatusInternal {
			notes = append(notes, m.Contents[0].Text)
		}
	}
	if len(notes) != 2 || !strings.Contains(notes[0], "model server down") || notes[1] != "Handed off to squad geral" {
		t.Errorf("system notes = %q, want one naming the failure, then the hand-off", notes)
	}
}

func TestUnsupportedContentGetsTheIntegrationsReply(t *testing.T) {
	ch := &fakeChannel{parse: func(*pluginhost.WebhookRequest) *pluginhost.WebhookResponse {
		return &pluginhost.WebhookResponse{Authenticated: true, Events: []*model.Event{{Kind: "message", DedupeKey: "img", MessageID: "img",
			ContactID: "u1", Timestamp: time.Now(), Contents: []model.Content{{Type: "image", URL: "https://x/y.jpg"}}}}}
	}}
	as := &fakeAssistant{}
	r := startedRig(t, ch, as)
	r.post()
	eventually(t, "the unsupported-media reply", func() bool { return len(ch.sends()) == 1 })
	if got := ch.sends()[0].Contents[0].Text; got != "text only, please" {
		t.Errorf("sent %q, want the integration's unsupported-media message", got)
	}
	if n := len(as.said()); n != 0 {
		t.Errorf("assistant heard %d messages, want none", n)
	}
}

func TestQuickRepliesBeyondTheChannelsLimitBecomeText(t *testing.T) {
	ch := &fakeChannel{parse: textEvents("u1", "menu")}
	as := &fakeAssistant{reply: func(*pluginhost.ConverseRequest) (*pluginhost.ConverseResponse, error) {
		return &pluginhost.ConverseResponse{Replies: []model.Content{
			{Type: "quick_replies", Text: "Pick", Options: []model.Option{{Title: "A"}, {Title: "B"}}},
			{Type: "quick_replies", Text: "Too many", Options: []model.Option{{Title: "A"}, {Title: "B"}, {Title: "C"}, {Title: "D"}}},
			{Type: "select", Text: "Dept", Options: []model.Option{{Title: "Sales"}, {Title: "Support"}}},
		}}, nil
	}}
	r := startedRig(t, ch, as)
	r.post()
	eventually(t, "three replies", func() bool { return len(ch.sends()) == 3 })
	s := ch.sends()
	if s[0].Contents[0].Type != "quick_replies" {
		t.Errorf("reply 1 type = %s, want native quick_replies", s[0].Contents[0].Type)
	}
	if got, want := s[1].Contents[0].Text, "Too many\n1. A\n2. B\n3. C\n4. D"; got != want || s[1].Contents[0].Type != "text" {
		t.Errorf("reply 2 = %s %q, want text %q", s[1].Contents[0].Type, got, want)
	}
	if got, want := s[2].Contents[0].Text, "Dept\n1. Sales\n2. Support"; got != want {
		t.Errorf("reply 3 = %q, want %q", got, want)
	}
}

func TestUncertainSendIsConfirmedByItsEcho(t *testing.T) {
	ch := &fakeChannel{parse: textEvents("u1", "hello"), echoes: true}
	var once sync.Once
	ch.sendFunc = func(r *pluginhost.SendRequest) *pluginhost.SendResponse {
		resp := &pluginhost.SendResponse{MessageIDs: []string{"mid-out"}}
		once.Do(func() {
			resp = &pluginhost.SendResponse{Error: &pluginhost.SendError{Code: "timeout", Retryable: true, UnknownOutcome: true}}
		})
		return resp
	}
	as := &fakeAssistant{}
	r := newRigWith(t, "", fakePlugins{ch: ch, as: as}, time.Hour)
	t.Cleanup(r.close)
	if err := r.e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.post()
	eventually(t, "the uncertain attempt", func() bool { return len(ch.sends()) == 1 })
	// The provider did deliver it: its echo arrives with the id it got.
	r.postEcho("u1", "mid-echo", "echo: hello")
	eventually(t, "the outbox settled", func() bool {
		n, _ := r.st.Outbox().Backlog(context.Background())
		return n == 0
	})
	if n := len(ch.sends()); n != 1 {
		t.Errorf("sends = %d, want 1: the echo proved the first attempt went out", n)
	}
	convs, _ := r.st.Conversations().List(context.Background(), store.ConversationFilter{})
	msgs, _ := r.st.Messages().List(context.Background(), convs[0].ID)
	if len(msgs) != 2 || msgs[1].Status != model.StatusSent || msgs[1].ProviderMessageID != "mid-echo" {
		t.Errorf("messages = %+v, want the reply once, sent, under the echo's id", msgs)
	}
}

func TestStatusForAnUnknownMessageIsRecorded(t *testing.T) {
	ch := &fakeChannel{parse: func(*pluginhost.WebhookRequest) *pluginhost.WebhookResponse {
		return &pluginhost.WebhookResponse{Authenticated: true, Events: []*model.Event{{Kind: "status", DedupeKey: "st-1",
			MessageID: "never-seen", Status: "delivered"}}}
	}}
	r := startedRig(t, ch, &fakeAssistant{})
	r.post()
	eventually(t, "the status processed", func() bool {
		n, _ := r.st.Inbox().Backlog(context.Background())
		return n == 0
	})
	db, err := sql.Open("sqlite3", "file:"+r.path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var note string
	var attempts int
	if err := db.QueryRow(`SELECT note, attempts FROM inbox WHERE dedupe_key = 'st-1'`).Scan(&note, &attempts); err != nil {
		t.Fatal(err)
	}
	if attempts != 0 || !strings.Contains(note, "not in the store") {
		t.Errorf("inbox row: note %q after %d failed attempts; want it recorded with a note, not retried as an error", note, attempts)
	}
}

// BenchmarkWebhookIngest measures durable ingest: a webhook's events
// committed to the inbox (synchronous=FULL) before the answer, and logged
// in the delivery log, with many webhooks in flight. "group-commit" shares
// commits between concurrent webhooks; "commit-each" is the baseline, one
// fsync per webhook.
func BenchmarkWebhookIngest(b *testing.B) {
	for _, bc := range []struct {
		name string
		open func(b *testing.B) store.Store
	}{
		{"group-commit", func(b *testing.B) store.Store { return openSQLite(b, 0) }},
		{"commit-each", func(b *testing.B) store.Store { return openSQLite(b, 1) }},
		// PostgreSQL (skipped without CONVERSA_TEST_POSTGRES): every
		// webhook is its own transaction, as on several nodes.
		{"postgres", func(b *testing.B) store.Store {
			st, err := postgres.Open(context.Background(), pgtest.URL(b), postgres.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return st
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			st := bc.open(b)
			defer st.Close()
			var n sync.Mutex
			seq := 0
			ch := &fakeChannel{parse: func(*pluginhost.WebhookRequest) *pluginhost.WebhookResponse {
				n.Lock()
				seq++
				id := fmt.Sprint("mid-", seq)
				n.Unlock()
				return &pluginhost.WebhookResponse{Authenticated: true, Events: []*model.Event{{Kind: "message", DedupeKey: id,
					MessageID: id, ContactID: id, Contents: []model.Content{{Type: "text", Text: "hi"}}}}}
			}}
			e, err := New(Options{Store: st, Plugins: fakePlugins{ch: ch, as: &fakeAssistant{}}, Hooks: plainHooks{}})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			in := &model.Integration{ID: "ig", Name: "IG", Channel: "fake", Enabled: true, Source: model.SourceAPI}
			if err := e.Put(ctx, in, false); err != nil {
				b.Fatal(err)
			}
			// The delivery log's writer shares the database with ingest.
			e.dlog.start()
			defer e.dlog.close()
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := e.Webhook(ctx, "ig", WebhookRequest{Method: "POST"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func openSQLite(b *testing.B, batch int) store.Store {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "c.db"), sqlite.Options{MaxBatch: batch})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

func TestAssistantMediaPathsAreOnTheServer(t *testing.T) {
	const base = "https://conversa.example.com/"
	for _, tc := range []struct{ url, want string }{
		{"/static/demo/photo.jpg", "https://conversa.example.com/static/demo/photo.jpg"},
		{"https://cdn.example.com/a.png", "https://cdn.example.com/a.png"},
		{"//cdn.example.com/a.png", "//cdn.example.com/a.png"},
		{"", ""},
	} {
		if got := onServer(base, model.Content{Type: model.Image, URL: tc.url}).URL; got != tc.want {
			t.Errorf("onServer(%q, %q) = %q, want %q", base, tc.url, got, tc.want)
		}
	}
}
