package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The Zenvia fixtures' world: the sender id of the business's account and
// the user who writes.
const (
	zenviaSender = "brisk-harbor"
	zenviaUser   = "6741203958817234"
	zenviaToken  = "zenvia-api-token-1234"
	// The webhook credentials the operator pasted into Zenvia's console.
	zenviaHookUser  = "conversa-ig"
	zenviaHookToken = "hook-token-5678"
)

const unsupportedReply = "Sorry, I can only read text, audio and video here."

// zenviaConfig is a server with one Zenvia integration. assistant is the
// [[assistants]] part (empty: the demo), credentials the webhook settings.
func zenviaConfig(apiURL, assistant, credentials string) string {
	name := "demo"
	if assistant != "" {
		name = "shop"
	}
	return `
[server]
listen = "127.0.0.1:0"

[storage]
path = "{{DIR}}/data/conversa.db"

[scripts]
dir = "{{DIR}}/scripts"

[plugins]
dir = "{{DIR}}/plugins"
` + assistant + `
[[integrations]]
id = "ig-zenvia"
name = "Instagram via Zenvia"
channel = "zenvia"
assistant = "` + name + `"
unsupported_media_messages = ["` + unsupportedReply + `"]

[integrations.settings]
sender_id = "` + zenviaSender + `"
api_token = "` + zenviaToken + `"
api_url = "` + apiURL + `"
` + credentials
}

const zenviaCredentials = `webhook_username = "` + zenviaHookUser + `"
webhook_token = "` + zenviaHookToken + `"
`

// The shop assistant (CONTRACT §6): an image, a PDF, and a fallback that
// shows the assistant was asked.
const (
	shopAssistant = `
[[assistants]]
id = "shop"
backend = "rules"
[assistants.settings]
file = "{{DIR}}/shop.toml"
`
	shopRules = `
fallback = ["` + shopFallback + `"]

[[intents]]
name = "photo"
examples = ["photo", "foto"]
[[intents.replies]]
image = "https://cdn.example.com/jacket.jpg"

[[intents]]
name = "catalog"
examples = ["catalog", "catálogo"]
[[intents.replies]]
file = "https://cdn.example.com/catalog.pdf"
mime_type = "application/pdf"
`
	shopFallback = "I only understand words, and not those yet."
)

// newShopServer starts a Zenvia server whose integration answers with the
// shop assistant.
func newShopServer(t *testing.T, apiURL string) *server {
	t.Helper()
	srv := newServer(t, zenviaConfig(apiURL, shopAssistant, zenviaCredentials))
	// The rules plugin reads its file at each turn: it may come after the
	// start.
	if err := os.WriteFile(filepath.Join(srv.dir, "shop.toml"), []byte(shopRules), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv
}

// zenviaEvent reads a Zenvia fixture, gives the event and its message new
// ids (so that one fixture serves several deliveries) and moves its
// timestamps to now: the messaging window runs from the time the user wrote.
// edit, if given, changes anything else.
func zenviaEvent(t *testing.T, name string, edit func(ev map[string]any)) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(fixture(t, name), &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	ev["id"] = newID()
	ev["timestamp"] = now
	if msg, ok := ev["message"].(map[string]any); ok && ev["type"] == "MESSAGE" {
		msg["id"] = newID()
		msg["timestamp"] = now
	}
	if st, ok := ev["messageStatus"].(map[string]any); ok {
		st["timestamp"] = now
	}
	if edit != nil {
		edit(ev)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// zenviaText is the user's text message (with their visitor profile).
func zenviaText(t *testing.T, text string) []byte {
	return zenviaEvent(t, "zenvia/message_in_text_with_visitor.json", func(ev map[string]any) {
		ev["message"].(map[string]any)["contents"] = []any{map[string]any{"type": "text", "text": text}}
	})
}

// zenviaStatus is a MESSAGE_STATUS fixture about our message providerID.
func zenviaStatus(t *testing.T, name, providerID string) []byte {
	return zenviaEvent(t, name, func(ev map[string]any) {
		ev["messageId"] = providerID
		ev["message"].(map[string]any)["id"] = providerID
	})
}

// eventID is a Zenvia event's id: the key it is deduplicated on.
func eventID(t *testing.T, body []byte) string {
	t.Helper()
	var ev struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	return ev.ID
}

// postZenvia delivers a body to the Zenvia integration's webhook with the
// given credentials (an empty one is left out).
func (s *server) postZenvia(body []byte, username, token string) (int, []byte) {
	s.t.Helper()
	headers := map[string]string{"Content-Type": "application/json"}
	if username != "" {
		headers["Username"] = username
	}
	if token != "" {
		headers["AuthenticationToken"] = token
	}
	return s.do("POST", "/webhooks/ig-zenvia", body, headers)
}

// deliver posts a body with the configured credentials and expects 200.
func (s *server) deliver(body []byte) {
	s.t.Helper()
	if status, b := s.postZenvia(body, zenviaHookUser, zenviaHookToken); status != 200 {
		s.t.Fatalf("POST Zenvia webhook = %d %s, want 200", status, b)
	}
}

// waitSends waits until the fake Zenvia accepted n messages and returns
// them.
func waitSends(t *testing.T, zenvia *fakeZenvia, n int) []zenviaRequest {
	t.Helper()
	eventually(t, "messages accepted by Zenvia", func() bool { return len(zenvia.accepted()) >= n })
	return zenvia.accepted()
}

func TestZenviaTextGetsTheAssistantsReply(t *testing.T) {
	zenvia := newFakeZenvia(t)
	srv := newServer(t, zenviaConfig(zenvia.URL, "", zenviaCredentials))

	srv.deliver(zenviaEvent(t, "zenvia/message_in_text_with_visitor.json", nil))
	got := waitSends(t, zenvia, 1)[0]
	if got.Path != "/v2/channels/instagram/messages" || got.Token != zenviaToken {
		t.Errorf("reply went to %s with X-API-TOKEN %q, want /v2/channels/instagram/messages with %q", got.Path, got.Token, zenviaToken)
	}
	if got.From() != zenviaSender || got.To() != zenviaUser {
		t.Errorf("reply from %q to %q, want from the sender id %q to the user %q", got.From(), got.To(), zenviaSender, zenviaUser)
	}
	if cs := got.Contents(); len(cs) != 1 || cs[0]["type"] != "text" || got.Text() == "" {
		t.Errorf("reply contents = %v, want one text", cs)
	}
	if rep, ok := got.Body["representative"]; ok {
		t.Errorf("assistant's reply has representative %v, want none (a human's reply has one)", rep)
	}

	var name, username, avatar string
	if !srv.one(`SELECT name, username, avatar_url FROM contacts WHERE channel_user_id = ?`, []any{zenviaUser},
		&name, &username, &avatar) {
		t.Fatal("no contact stored for the user")
	}
	if name != "Marina Costa" || username != "marina.costa.rj" ||
		!strings.HasPrefix(avatar, "https://scontent-gru2-1.cdninstagram.com/") {
		t.Errorf("contact = %q @%q %q, want the visitor's name, username and picture", name, username, avatar)
	}
}

func TestZenviaQuickRepliesArriveAsNumberedText(t *testing.T) {
	zenvia := newFakeZenvia(t)
	srv := newServer(t, zenviaConfig(zenvia.URL, "", zenviaCredentials))

	srv.deliver(zenviaText(t, "hi"))
	sends := waitSends(t, zenvia, 1)
	want := "Hi! I'm the Conversa demo assistant. How can I help?\n1. Opening hours\n2. Prices\n3. Talk to a person"
	if got := sends[0].Text(); got != want {
		t.Errorf("reply to hi = %q, want %q", got, want)
	}
	srv.settle()

	// The user answers with the option's number.
	srv.deliver(zenviaText(t, "2"))
	sends = waitSends(t, zenvia, 3)
	for i, want := range []string{
		"Basic: $19 a month. Pro: $49 a month. Both come with a free 14-day trial.",
		"Want the full catalog?\n1. Catalog\n2. Talk to a person",
	} {
		if got := sends[1+i].Text(); got != want {
			t.Errorf("reply %d to \"2\" = %q, want %q", i+1, got, want)
		}
	}
}

func TestZenviaImageReplyIsAFileAndPDFATextWithItsURL(t *testing.T) {
	zenvia := newFakeZenvia(t)
	srv := newShopServer(t, zenvia.URL)

	srv.deliver(zenviaText(t, "photo"))
	image := waitSends(t, zenvia, 1)[0]
	if cs := image.Contents(); len(cs) != 1 || cs[0]["type"] != "file" || cs[0]["fileUrl"] != "https://cdn.example.com/jacket.jpg" {
		t.Errorf("image reply contents = %v, want one file with the image's URL", cs)
	}
	srv.settle()

	srv.deliver(zenviaText(t, "catalog"))
	pdf := waitSends(t, zenvia, 2)[1]
	if cs := pdf.Contents(); len(cs) != 1 || cs[0]["type"] != "text" ||
		!strings.Contains(pdf.Text(), "https://cdn.example.com/catalog.pdf") {
		t.Errorf("PDF reply contents = %v, want one text carrying the PDF's URL", cs)
	}
}

func TestZenviaMediaTheAssistantTakesAndMediaItDoesNot(t *testing.T) {
	zenvia := newFakeZenvia(t)
	srv := newShopServer(t, zenvia.URL)

	for i, c := range []struct {
		fixture string
		reply   string
		note    string
	}{
		// Text, audio and video reach the assistant: the shop answers what
		// it does not understand with its fallback.
		{"zenvia/message_in_text.json", shopFallback, "intent fallback"},
		{"zenvia/message_in_audio.json", shopFallback, "intent fallback"},
		{"zenvia/message_in_video.json", shopFallback, "intent fallback"},
		// Images and locations never do: the integration's
		// unsupported-media message answers them.
		{"zenvia/message_in_image.json", unsupportedReply, "unsupported media"},
		{"zenvia/message_in_location.json", unsupportedReply, "unsupported media"},
	} {
		body := zenviaEvent(t, c.fixture, nil)
		srv.deliver(body)
		got := waitSends(t, zenvia, i+1)[i]
		srv.settle()
		if got.Text() != c.reply {
			t.Errorf("%s: reply = %v, want the text %q", c.fixture, got.Contents(), c.reply)
		}
		if note := srv.note(eventID(t, body)); !strings.HasPrefix(note, c.note) {
			t.Errorf("%s: inbox note = %q, want %q", c.fixture, note, c.note)
		}
	}
	if n := len(zenvia.sends()); n != 5 {
		t.Errorf("Zenvia received %d requests for 5 messages, want 5", n)
	}
}

func TestZenviaWrongCredentialsAreRefusedAndNothingStored(t *testing.T) {
	zenvia := newFakeZenvia(t)
	srv := newServer(t, zenviaConfig(zenvia.URL, "", zenviaCredentials))
	body := zenviaText(t, "hi")

	for _, c := range []struct{ what, username, token string }{
		{"a wrong token", zenviaHookUser, "not-the-token"},
		{"a wrong username", "someone-else", zenviaHookToken},
		{"no token", zenviaHookUser, ""},
		{"no headers", "", ""},
	} {
		if status, b := srv.postZenvia(body, c.username, c.token); status != 401 {
			t.Errorf("POST with %s = %d %s, want 401", c.what, status, b)
		}
	}
	if n := srv.count(`SELECT count(*) FROM inbox`); n != 0 {
		t.Errorf("inbox has %d rows after refused requests, want 0", n)
	}
	if n := srv.count(`SELECT count(*) FROM messages`); n != 0 {
		t.Errorf("messages has %d rows after refused requests, want 0", n)
	}
	if n := len(zenvia.sends()); n != 0 {
		t.Errorf("Zenvia received %d requests, want none", n)
	}
}

func TestZenviaRepeatedEventIsStoredAndAnsweredOnce(t *testing.T) {
	zenvia := newFakeZenvia(t)
	srv := newServer(t, zenviaConfig(zenvia.URL, "", zenviaCredentials))
	body := zenviaText(t, "hi")

	// Zenvia retries with the same event id when our answer was slow.
	srv.deliver(body)
	srv.deliver(body)
	waitSends(t, zenvia, 1)
	srv.settle()
	if n := srv.count(`SELECT count(*) FROM inbox`); n != 1 {
		t.Errorf("inbox rows = %d, want 1", n)
	}
	if n := srv.count(`SELECT count(*) FROM messages WHERE direction = 'in'`); n != 1 {
		t.Errorf("inbound messages = %d, want 1", n)
	}
	if n := len(zenvia.sends()); n != 1 {
		t.Errorf("Zenvia received %d replies, want 1", n)
	}
}

func TestZenviaStatusEventsUpdateTheMessage(t *testing.T) {
	zenvia := newFakeZenvia(t)
	srv := newServer(t, zenviaConfig(zenvia.URL, "", zenviaCredentials))

	// The demo answers "prices" with two messages.
	srv.deliver(zenviaText(t, "prices"))
	sends := waitSends(t, zenvia, 2)
	srv.settle()
	read, rejected := sends[0].ID, sends[1].ID

	srv.deliver(zenviaStatus(t, "zenvia/status_read.json", read))
	srv.deliver(zenviaStatus(t, "zenvia/status_rejected.json", rejected))
	srv.settle()
	status := func(pid string) (string, string) {
		var st, errText string
		if !srv.one(`SELECT status, error FROM messages WHERE provider_message_id = ?`, []any{pid}, &st, &errText) {
			t.Fatalf("no message stored under Zenvia's id %s", pid)
		}
		return st, errText
	}
	if st, _ := status(read); st != "read" {
		t.Errorf("status after READ = %q, want read", st)
	}
	st, errText := status(rejected)
	if st != "failed" || !strings.HasPrefix(errText, "10: ") || !strings.Contains(errText, "outside of allowed window") {
		t.Errorf("after REJECTED: status %q, error %q; want failed with the cause's code 10 and reason", st, errText)
	}

	// A status about a message we never sent is recorded, not retried.
	unknown := zenviaStatus(t, "zenvia/status_read.json", newID())
	srv.deliver(unknown)
	srv.settle()
	var note string
	var attempts int
	srv.one(`SELECT note, attempts FROM inbox WHERE dedupe_key = ?`, []any{eventID(t, unknown)}, &note, &attempts)
	if !strings.Contains(note, "not in the store") || attempts != 0 {
		t.Errorf("status for an unknown message: note %q after %d failed attempts; want it recorded as not in the store, no failure", note, attempts)
	}
}

var webhookReady = regexp.MustCompile(`msg="webhook ready" integration=ig-zenvia .*`)

// zenviaCredentialsShown reads the webhook headers Zenvia must send where
// admins find them (the console's integration page reads the same API);
// the start-up log names the webhook's URL but never its credentials.
func zenviaCredentialsShown(t *testing.T, srv *server, admin string) (username, token string) {
	t.Helper()
	var line string
	eventually(t, "the webhook ready line of ig-zenvia in the log", func() bool {
		line = webhookReady.FindString(srv.logs.String())
		return line != ""
	})
	m := regexp.MustCompile(`\burl=(\S+)`).FindStringSubmatch(line)
	if m == nil || !strings.HasSuffix(m[1], "/webhooks/ig-zenvia") {
		t.Errorf("webhook ready line %q, want the url ending in /webhooks/ig-zenvia", line)
	}
	var in struct {
		Webhook struct {
			Headers map[string]string `json:"headers"`
		} `json:"webhook"`
	}
	if status := srv.api("GET", "/api/v1/integrations/ig-zenvia", admin, nil, &in); status != 200 {
		t.Fatalf("GET /api/v1/integrations/ig-zenvia = %d", status)
	}
	username, token = in.Webhook.Headers["Username"], in.Webhook.Headers["AuthenticationToken"]
	if username == "" || token == "" {
		t.Fatalf("webhook headers %v, want Username and AuthenticationToken", in.Webhook.Headers)
	}
	if strings.Contains(line, username) || strings.Contains(line, token) {
		t.Errorf("webhook ready line %q holds the webhook credentials", line)
	}
	return username, token
}

func TestZenviaGeneratedWebhookCredentialsSurviveARestart(t *testing.T) {
	zenvia := newFakeZenvia(t)
	srv := newServer(t, zenviaConfig(zenvia.URL, "", ""))

	admin := srv.admin()
	username, token := zenviaCredentialsShown(t, srv, admin)
	if len(username) < 16 || len(token) < 16 || username == token {
		t.Fatalf("generated credentials %q / %q, want two distinct random values", username, token)
	}
	if status, _ := srv.postZenvia(zenviaText(t, "hi"), username, "wrong"); status != 401 {
		t.Errorf("POST with a wrong token = %d, want 401", status)
	}
	if status, b := srv.postZenvia(zenviaText(t, "hi"), username, token); status != 200 {
		t.Fatalf("POST with the credentials shown = %d %s, want 200", status, b)
	}
	waitSends(t, zenvia, 1)
	srv.settle()

	srv.stop()
	srv.restart()
	u2, t2 := zenviaCredentialsShown(t, srv, srv.signIn("boss", "boss-password"))
	if u2 != username || t2 != token {
		t.Errorf("credentials after a restart = %q / %q, want the same %q / %q", u2, t2, username, token)
	}
	if status, b := srv.postZenvia(zenviaText(t, "prices"), username, token); status != 200 {
		t.Fatalf("POST after the restart = %d %s, want 200", status, b)
	}
	waitSends(t, zenvia, 2)
}

func TestZenviaValidationErrorFailsTheMessage(t *testing.T) {
	zenvia := newFakeZenvia(t)
	srv := newServer(t, zenviaConfig(zenvia.URL, "", zenviaCredentials))
	zenvia.failNext(zenviaAnswer{status: 400, body: string(fixture(t, "zenvia/send/error_400_validation.json"))})

	srv.deliver(zenviaText(t, "hi"))
	srv.settle()
	var status, errText string
	srv.one(`SELECT status, error FROM messages WHERE direction = 'out'`, nil, &status, &errText)
	if status != "failed" || !strings.HasPrefix(errText, "VALIDATION_ERROR: ") ||
		!strings.Contains(errText, "to: String too long (65), maximum length is 64") {
		t.Errorf("reply after a 400: status %q, error %q; want failed with Zenvia's code and message", status, errText)
	}
	if n := len(zenvia.sends()); n != 1 {
		t.Errorf("Zenvia received %d requests, want 1: a 400 is not retried", n)
	}
}

func TestZenviaServerErrorsAreRetriedUntilTheSendSucceeds(t *testing.T) {
	zenvia := newFakeZenvia(t)
	srv := newServer(t, zenviaConfig(zenvia.URL, "", zenviaCredentials))
	// A rate limit (retried after Retry-After), then a 500: Zenvia may have
	// taken the message, and it sends no echo that would tell, so the
	// message goes again, marked as possibly duplicated.
	zenvia.failNext(zenvia429, zenvia500)

	srv.deliver(zenviaText(t, "hi"))
	sent := waitSends(t, zenvia, 1)[0]
	srv.settle()

	all := zenvia.sends()
	if len(all) != 3 {
		t.Fatalf("Zenvia received %d requests, want 3 (429, 500, success)", len(all))
	}
	for i, r := range all {
		if r.ExternalID() == "" || r.ExternalID() != sent.ExternalID() || r.Text() != sent.Text() {
			t.Errorf("attempt %d = %v (externalId %q), want the same message as the last attempt (%q)", i+1, r.Body, r.ExternalID(), sent.ExternalID())
		}
	}
	var status, pid string
	var dup bool
	srv.one(`SELECT status, provider_message_id, possible_duplicate FROM messages WHERE direction = 'out'`, nil, &status, &pid, &dup)
	if status != "sent" || pid != sent.ID || !dup {
		t.Errorf("reply status %q under id %q (possible duplicate %v), want sent under Zenvia's id %q, marked as possibly duplicated",
			status, pid, dup, sent.ID)
	}
}
