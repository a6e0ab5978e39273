package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The mids of fixture 01 (the user's text) and fixture 16 (an echo of a
// message typed in the Instagram app).
const (
	mid01 = "aWdfaXRlbToxOklHTWVzc2FnZUlEOjE3ODQxNDAwMTIzNDU2Nzg5OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAyMzg1MTIzNDU2NzozMTk4NzY1NDMyMTA5ODc2NTQzMjEwMDAwMDAwMDAwMQ"
	mid16 = "aWdfaXRlbToxOklHTWVzc2FnZUlEOjE3ODQxNDAwMTIzNDU2Nzg5OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAyMzg1MTIzNDU2NzozMTk4NzY1NDMyMTA5ODc2NTQzMjEwMDAwMDAwMDUwMA"
	// The story's CDN URL in fixture 11.
	storyURL = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17998877665544332&signature=AbzKq3XyExampleSigDoNotUse10"
)

var midField = regexp.MustCompile(`"mid": ?"[^"]*"`)

// withMid points a Meta fixture's message, unsend or reaction at mid.
func withMid(body []byte, mid string) []byte {
	return midField.ReplaceAll(body, []byte(fmt.Sprintf(`"mid": %q`, mid)))
}

// deliverMeta posts a signed body to an integration and expects 200.
func (s *server) deliverMeta(integration string, body []byte) {
	s.t.Helper()
	if status, b := s.postMeta(integration, metaSecret, body); status != 200 {
		s.t.Fatalf("POST /webhooks/%s = %d %s, want 200", integration, status, b)
	}
}

// profileLookups are the fake's GET requests for a user's profile.
func (f *fakeGraph) profileLookups(igsid string) []graphRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []graphRequest
	for _, r := range f.requests {
		if r.Method == "GET" && strings.HasSuffix(r.Path, "/"+igsid) {
			out = append(out, r)
		}
	}
	return out
}

func TestMetaStoryMentionOpensAConversationForTheSquad(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, `squad = "vendas"`))

	srv.deliverMeta("ig-meta", fresh(fixture(t, "11-message-story-mention.json")))
	srv.settle()
	var state, origin, squad string
	if !srv.one(`SELECT state, origin, squad FROM conversations`, nil, &state, &origin, &squad) {
		t.Fatal("no conversation for the story mention")
	}
	if state != "queued" || origin != "story_mention" || squad != "vendas" {
		t.Errorf("conversation = %s, origin %s, squad %s; want queued for the integration's squad vendas, origin story_mention",
			state, origin, squad)
	}
	cs := srv.contentsOf(`SELECT contents FROM messages WHERE direction = 'in'`)
	if len(cs) != 1 || cs[0].Type != "story_mention" || cs[0].URL != storyURL {
		t.Errorf("stored contents = %+v, want one story_mention with the story's URL %s", cs, storyURL)
	}
	mid := "aWdfaXRlbToxOklHTWVzc2FnZUlEOjE3ODQxNDAwMTIzNDU2Nzg5OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAyMzg1MTIzNDU2NzozMTk4NzY1NDMyMTA5ODc2NTQzMjEwMDAwMDAwMDAxMQ"
	if note := srv.note(mid); note != "queued for squad vendas" {
		t.Errorf("inbox note = %q, want the mention queued for squad vendas", note)
	}
	if n := len(graph.sends()); n != 0 {
		t.Errorf("Send API received %d requests, want none: the assistant does not answer story mentions", n)
	}
}

func TestMetaUnsendMarksTheMessageDeleted(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))

	srv.deliverMeta("ig-meta", fresh(fixture(t, "01-message-text.json")))
	srv.settle()
	sends := len(graph.sends())
	srv.deliverMeta("ig-meta", fresh(fixture(t, "15-message-deleted-unsend.json")))
	srv.settle()
	var deletedAt *int64
	if !srv.one(`SELECT deleted_at FROM messages WHERE provider_message_id = ?`, []any{mid01}, &deletedAt) {
		t.Fatal("the unsent message's row is gone; want it kept and marked deleted")
	}
	if deletedAt == nil {
		t.Error("deleted_at is not set after the unsend")
	}
	if n := srv.count(`SELECT count(*) FROM messages WHERE direction = 'in'`); n != 1 {
		t.Errorf("inbound messages = %d, want 1 (the unsend is not a message)", n)
	}
	if n := len(graph.sends()); n != sends {
		t.Errorf("Send API received %d more requests after the unsend, want none", n-sends)
	}

	// Instagram sends unsends of messages older than the integration.
	srv.deliverMeta("ig-meta", withMid(fresh(fixture(t, "15-message-deleted-unsend.json")), "never-seen-mid"))
	srv.settle()
	var note string
	var attempts int
	srv.one(`SELECT note, attempts FROM inbox WHERE dedupe_key = 'unsend:never-seen-mid'`, nil, &note, &attempts)
	if !strings.Contains(note, "not in the store") || attempts != 0 {
		t.Errorf("unsend of an unknown message: note %q after %d failed attempts; want it recorded, no failure", note, attempts)
	}
}

func TestMetaEchoes(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))

	srv.deliverMeta("ig-meta", fresh(fixture(t, "01-message-text.json")))
	eventually(t, "the assistant's reply at the Graph API", func() bool { return graph.delivered() > 0 })
	srv.settle()
	replies := srv.count(`SELECT count(*) FROM messages WHERE direction = 'out'`)
	var pid, text string
	srv.one(`SELECT provider_message_id, json_extract(contents, '$[0].text') FROM messages
		WHERE direction = 'out' ORDER BY id LIMIT 1`, nil, &pid, &text)
	if !strings.HasPrefix(pid, "m_fake_") {
		t.Fatalf("reply's provider id = %q, want the id the fake Send API returned", pid)
	}
	sends := len(graph.sends())

	// Meta echoes our own reply under the id the Send API returned.
	quoted, _ := json.Marshal(text)
	echo := bytes.Replace(withMid(fresh(fixture(t, "16-message-echo-text.json")), pid),
		[]byte(`"Yes! Size M is in stock. Want me to reserve one?"`), quoted, 1)
	srv.deliverMeta("ig-meta", echo)
	srv.settle()
	if n := srv.count(`SELECT count(*) FROM messages WHERE direction = 'out'`); n != replies {
		t.Errorf("outbound messages after the echo of our reply = %d, want %d: stored once", n, replies)
	}
	if note := srv.note(pid); note != "echo of our message" {
		t.Errorf("echo's inbox note = %q, want it recognized as our message", note)
	}

	// A message typed in the Instagram app is recorded, never answered.
	srv.deliverMeta("ig-meta", fresh(fixture(t, "16-message-echo-text.json")))
	srv.settle()
	var direction, author, status string
	if !srv.one(`SELECT direction, author, status FROM messages WHERE provider_message_id = ?`, []any{mid16},
		&direction, &author, &status) {
		t.Fatal("the echo of a message typed in the app was not recorded")
	}
	if direction != "out" || author != "business" || status != "sent" {
		t.Errorf("app-typed echo stored as %s by %s, %s; want out by business, sent", direction, author, status)
	}
	if n := len(graph.sends()); n != sends {
		t.Errorf("Send API received %d requests after the echoes, want none", n-sends)
	}
}

func TestMetaReactionIsAttachedToItsMessage(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))

	srv.deliverMeta("ig-meta", fresh(fixture(t, "01-message-text.json")))
	srv.settle()
	sends := len(graph.sends())
	srv.deliverMeta("ig-meta", withMid(fresh(fixture(t, "19-reaction-react.json")), mid01))
	srv.settle()
	var by, emoji string
	if !srv.one(`SELECT r.by, r.emoji FROM reactions r JOIN messages m ON m.id = r.message_id
		WHERE m.provider_message_id = ?`, []any{mid01}, &by, &emoji) {
		t.Fatal("no reaction attached to the message")
	}
	if by != "contact" || emoji != "\u2764\ufe0f" {
		t.Errorf("reaction = %q by %q, want ❤️ by the contact", emoji, by)
	}

	srv.deliverMeta("ig-meta", withMid(fresh(fixture(t, "20-reaction-unreact.json")), mid01))
	srv.settle()
	if n := srv.count(`SELECT count(*) FROM reactions`); n != 0 {
		t.Errorf("reactions after unreact = %d, want 0", n)
	}
	if n := len(graph.sends()); n != sends {
		t.Errorf("Send API received %d requests for reactions, want none", n-sends)
	}
}

func TestMetaContactNameComesFromTheProfile(t *testing.T) {
	graph := newFakeGraph(t)
	graph.setProfile(customerA, string(fixture(t, "send/resp-04-user-profile.json")))
	srv := newServer(t, metaConfig(graph.URL, ""))

	srv.deliverMeta("ig-meta", fresh(fixture(t, "01-message-text.json")))
	srv.settle()
	var name, username, avatar string
	srv.one(`SELECT name, username, avatar_url FROM contacts WHERE channel_user_id = ?`, []any{customerA}, &name, &username, &avatar)
	if name != "Ana Souza" || username != "ana.souza.style" || !strings.HasPrefix(avatar, "https://scontent.cdninstagram.com/") {
		t.Errorf("contact = %q @%q %q, want the profile's name, username and picture", name, username, avatar)
	}
	lookups := graph.profileLookups(customerA)
	if len(lookups) != 1 {
		t.Fatalf("profile lookups = %d, want 1", len(lookups))
	}
	q, _ := url.ParseQuery(lookups[0].Query)
	if lookups[0].Path != "/v25.0/"+customerA || q.Get("fields") != "name,username,profile_pic" ||
		lookups[0].Auth != "Bearer token-abc" {
		t.Errorf("profile lookup = GET %s?%s (auth %q), want /v25.0/%s?fields=name,username,profile_pic with the token",
			lookups[0].Path, lookups[0].Query, lookups[0].Auth, customerA)
	}

	// The profile is cached: the next message does not look it up again.
	srv.deliverMeta("ig-meta", withMid(fresh(fixture(t, "01-message-text.json")), "second-message"))
	srv.settle()
	if n := len(graph.profileLookups(customerA)); n != 1 {
		t.Errorf("profile lookups after a second message = %d, want still 1", n)
	}
}

func TestMetaProfileWithoutConsentIsRetriedAtTheNextMessage(t *testing.T) {
	graph := newFakeGraph(t)
	// The fake answers 230 (no consent) for a profile it does not have.
	srv := newServer(t, metaConfig(graph.URL, ""))

	srv.deliverMeta("ig-meta", fresh(fixture(t, "01-message-text.json")))
	srv.settle()
	if graph.delivered() == 0 {
		t.Error("no reply sent: a failed profile lookup must not keep the contact from being served")
	}
	var name string
	var profileAt int64
	srv.one(`SELECT name, profile_at FROM contacts WHERE channel_user_id = ?`, []any{customerA}, &name, &profileAt)
	if name != "" || profileAt != 0 {
		t.Errorf("contact after a consent error: name %q, profile_at %d; want no name and the lookup still due", name, profileAt)
	}

	graph.setProfile(customerA, string(fixture(t, "send/resp-04-user-profile.json")))
	srv.deliverMeta("ig-meta", withMid(fresh(fixture(t, "01-message-text.json")), "second-message"))
	srv.settle()
	if name := srv.str(`SELECT name FROM contacts WHERE channel_user_id = ?`, customerA); name != "Ana Souza" {
		t.Errorf("contact name after the next message = %q, want Ana Souza", name)
	}
	if n := len(graph.profileLookups(customerA)); n != 2 {
		t.Errorf("profile lookups = %d, want 2 (one per message until one works)", n)
	}
}

func TestMetaStaleProfileIsRefreshed(t *testing.T) {
	graph := newFakeGraph(t)
	// A user without a public name: the username stands in for it.
	graph.setProfile(customerA, string(fixture(t, "send/resp-05-user-profile-name-null.json")))
	srv := newServer(t, metaConfig(graph.URL, ""))

	srv.deliverMeta("ig-meta", fresh(fixture(t, "01-message-text.json")))
	srv.settle()
	var name, username, avatar string
	srv.one(`SELECT name, username, avatar_url FROM contacts WHERE channel_user_id = ?`, []any{customerA}, &name, &username, &avatar)
	if name != "" || username != "kx_92831" || avatar != "" {
		t.Errorf("contact with a null name = %q @%q %q, want no name, the username, no picture", name, username, avatar)
	}

	// Three days later the picture URL has expired: the profile is looked
	// up again at the user's next message.
	graph.setProfile(customerA, string(fixture(t, "send/resp-04-user-profile.json")))
	const later = 73 * time.Hour
	srv.advance(later)
	srv.deliverMeta("ig-meta", withMid(freshAt(fixture(t, "01-message-text.json"), time.Now().Add(later)), "three-days-later"))
	srv.settle()
	srv.one(`SELECT name, username FROM contacts WHERE channel_user_id = ?`, []any{customerA}, &name, &username)
	if name != "Ana Souza" || username != "ana.souza.style" {
		t.Errorf("contact after a stale profile = %q @%q, want the new lookup's Ana Souza @ana.souza.style", name, username)
	}
	if n := len(graph.profileLookups(customerA)); n != 2 {
		t.Errorf("profile lookups = %d, want 2", n)
	}
}

func TestMetaAssistantDoesNotAnswerAMessageOlderThan24Hours(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))

	srv.deliverMeta("ig-meta", freshAt(fixture(t, "01-message-text.json"), time.Now().Add(-25*time.Hour)))
	srv.settle()
	if n := srv.count(`SELECT count(*) FROM messages WHERE direction = 'in'`); n != 1 {
		t.Errorf("inbound messages = %d, want the old message recorded", n)
	}
	if note := srv.note(mid01); !strings.Contains(note, "24 h window") {
		t.Errorf("inbox note = %q, want why the assistant did not answer (the 24 h window)", note)
	}
	if n := srv.count(`SELECT count(*) FROM outbox`); n != 0 {
		t.Errorf("outbox rows = %d, want none", n)
	}
	if n := len(graph.sends()); n != 0 {
		t.Errorf("Send API received %d requests, want none", n)
	}
}

func TestMetaPendingReplyIsRefusedOnceTheWindowCloses(t *testing.T) {
	graph := newFakeGraph(t)
	// Meta rate-limits every attempt: the reply stays in the outbox.
	graph.setSendError(string(fixture(t, "send/err-06-app-rate-limit-4.json")))
	srv := newServer(t, metaConfig(graph.URL, ""))

	srv.deliverMeta("ig-meta", fresh(fixture(t, "01-message-text.json")))
	eventually(t, "a rate-limited send attempt", func() bool { return len(graph.sends()) > 0 })
	srv.advance(25 * time.Hour)
	srv.settle()

	var status, errText string
	srv.one(`SELECT status, error FROM messages WHERE direction = 'out' ORDER BY id LIMIT 1`, nil, &status, &errText)
	if status != "failed" || !strings.Contains(errText, "outside_window") {
		t.Errorf("reply after 25 h: status %q, error %q; want failed, outside the window", status, errText)
	}
	// The refusal is Conversa's, before any call: it is no attempt.
	var attempts, rows int
	srv.one(`SELECT sum(attempts), count(*) FROM outbox`, nil, &attempts, &rows)
	if sends := len(graph.sends()); attempts != sends {
		t.Errorf("outbox: %d attempts over %d rows, Send API calls %d; want the refusal to make no attempt",
			attempts, rows, sends)
	}
	if n := srv.count(`SELECT count(*) FROM messages m JOIN outbox o ON o.message_id = m.id WHERE m.status <> 'failed'`); n != 0 {
		t.Errorf("%d replies not failed, want every reply refused", n)
	}
}

func TestMetaExpiredTokenMarksTheIntegration(t *testing.T) {
	graph := newFakeGraph(t)
	graph.setSendError(string(fixture(t, "send/err-04-token-expired-190.json")))
	srv := newServer(t, metaConfig(graph.URL, ""))

	srv.deliverMeta("ig-meta", fresh(fixture(t, "01-message-text.json")))
	srv.settle()
	if reason := srv.str(`SELECT needs_reauth FROM integrations WHERE id = 'ig-meta'`); !strings.Contains(reason, "190") {
		t.Errorf("integrations.needs_reauth = %q, want the expired-token error", reason)
	}
	var status, errText string
	srv.one(`SELECT status, error FROM messages WHERE direction = 'out' ORDER BY id LIMIT 1`, nil, &status, &errText)
	if status != "failed" || !strings.Contains(errText, "Session has expired") {
		t.Errorf("reply: status %q, error %q; want failed with Meta's message", status, errText)
	}
	var attempts, rows int
	srv.one(`SELECT sum(attempts), count(*) FROM outbox`, nil, &attempts, &rows)
	if sends := len(graph.sends()); attempts != rows || sends != rows {
		t.Errorf("%d outbox rows, %d attempts, %d Send API calls; want one attempt each, no retry", rows, attempts, sends)
	}
}

func TestMetaOneCallbackURLServesSeveralAccounts(t *testing.T) {
	graph := newFakeGraph(t)
	const second = "17841400987654321"
	srv := newServer(t, metaConfig(graph.URL, "")+`
[[integrations]]
id = "ig-meta-2"
name = "Second shop"
channel = "meta"
assistant = "demo"
[integrations.settings]
account_id = "`+second+`"
access_token = "token-two"
app_secret = "`+metaSecret+`"
graph_url = "`+graph.URL+`"
`)
	// The second account's entry, posted to the first's callback URL.
	body := bytes.ReplaceAll(fresh(fixture(t, "01-message-text.json")), []byte(businessID), []byte(second))
	srv.deliverMeta("ig-meta", body)
	eventually(t, "the reply at the Graph API", func() bool { return graph.delivered() > 0 })
	srv.settle()

	for in, want := range map[string]int{"ig-meta": 0, "ig-meta-2": 1} {
		if n := srv.count(`SELECT count(*) FROM messages WHERE integration_id = ? AND direction = 'in'`, in); n != want {
			t.Errorf("%s has %d inbound messages, want %d", in, n, want)
		}
		if n := srv.count(`SELECT count(*) FROM conversations WHERE integration_id = ?`, in); n != want {
			t.Errorf("%s has %d conversations, want %d", in, n, want)
		}
	}
	if got := graph.sends()[0].Auth; got != "Bearer token-two" {
		t.Errorf("reply sent with %q, want the second account's token", got)
	}
}

func TestMetaStandbyMessageIsRecordedNotAnswered(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))

	srv.deliverMeta("ig-meta", fresh(fixture(t, "27-standby-message.json")))
	srv.settle()
	cs := srv.contentsOf(`SELECT contents FROM messages WHERE direction = 'in'`)
	if len(cs) != 1 || cs[0].Text != "Anyone there?" {
		t.Errorf("stored contents = %+v, want the user's text", cs)
	}
	mid := "aWdfaXRlbToxOklHTWVzc2FnZUlEOjE3ODQxNDAwMTIzNDU2Nzg5OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAyMzg1MTIzNDU2NzozMTk4NzY1NDMyMTA5ODc2NTQzMjEwMDAwMDAwMDAyOA"
	if note := srv.note(mid); !strings.Contains(note, "another app owns the thread") {
		t.Errorf("inbox note = %q, want why it was not answered (another app owns the thread)", note)
	}
	if n := srv.count(`SELECT count(*) FROM outbox`); n != 0 {
		t.Errorf("outbox rows = %d, want none", n)
	}
	if n := len(graph.sends()); n != 0 {
		t.Errorf("Send API received %d requests, want none: another app owns the thread", n)
	}
}
