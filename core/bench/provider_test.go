package bench

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func TestMetaProviderRecordsRepliesByRecipient(t *testing.T) {
	rec := NewRecorder(NewClock())
	rec.slots.at(0)
	rec.slots.at(1)
	p, err := StartProvider("meta", rec)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	send := p.URL + "/v25.0/me/messages"
	status, got := post(t, send, `{"recipient":{"id":"`+User(1)+`"},"messaging_type":"RESPONSE","message":{"text":"Oi!"}}`)
	if status != 200 || got["message_id"] == "" || got["recipient_id"] != User(1) {
		t.Errorf("send = %d %v, want 200 with a message id", status, got)
	}
	if s := rec.slots.lookup(1); s.reply.Load() == 0 || rec.replied.Load() != 1 {
		t.Errorf("the reply to %s was not recorded", User(1))
	}
	if rec.slots.lookup(0).reply.Load() != 0 {
		t.Errorf("a reply to user 1 was recorded for user 0")
	}
	// A second reply to the same user is a duplicate; a typing action is
	// no reply; an unknown recipient is counted apart.
	post(t, send, `{"recipient":{"id":"`+User(1)+`"},"message":{"text":"again"}}`)
	post(t, send, `{"recipient":{"id":"`+User(0)+`"},"sender_action":"typing_on"}`)
	post(t, send, `{"recipient":{"id":"12345"},"message":{"text":"?"}}`)
	if rec.extra.Load() != 1 || rec.unknown.Load() != 1 || rec.replied.Load() != 1 || p.Actions.Load() != 1 {
		t.Errorf("extra %d, unknown %d, replied %d, actions %d; want 1, 1, 1, 1",
			rec.extra.Load(), rec.unknown.Load(), rec.replied.Load(), p.Actions.Load())
	}
	if status, _ := post(t, send, `not json`); status != 400 {
		t.Errorf("a malformed send = %d, want 400", status)
	}
	resp, err := http.Get(p.URL + "/v25.0/" + User(0) + "?fields=name,username,profile_pic")
	if err != nil {
		t.Fatal(err)
	}
	var prof map[string]string
	json.NewDecoder(resp.Body).Decode(&prof)
	resp.Body.Close()
	if resp.StatusCode != 200 || prof["id"] != User(0) || prof["username"] == "" {
		t.Errorf("profile = %d %v, want the user's profile", resp.StatusCode, prof)
	}
}

func TestZenviaProviderRecordsRepliesByRecipient(t *testing.T) {
	rec := NewRecorder(NewClock())
	rec.slots.at(2)
	p, err := StartProvider("zenvia", rec)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	status, got := post(t, p.URL+"/v2/channels/instagram/messages",
		`{"from":"`+ZenviaSender+`","to":"`+User(2)+`","contents":[{"type":"text","text":"Oi!"}]}`)
	if status != 200 || got["id"] == "" {
		t.Errorf("send = %d %v, want 200 with an id", status, got)
	}
	if rec.slots.lookup(2).reply.Load() == 0 {
		t.Errorf("the reply to %s was not recorded", User(2))
	}
	if status, _ := post(t, p.URL+"/v1/other", `{}`); status != 404 {
		t.Errorf("an unknown path = %d, want 404", status)
	}
}

func TestMetaProviderEchoesWhatItAccepts(t *testing.T) {
	got := make(chan *http.Request, 1)
	bodies := make(chan []byte, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer hook.Close()
	rec := NewRecorder(NewClock())
	rec.slots.at(4)
	p, err := StartProvider("meta", rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.EchoTo(hook.URL+"/webhooks/x", "s3cret"); err != nil {
		t.Fatal(err)
	}
	_, sent := post(t, p.URL+"/v25.0/me/messages", `{"recipient":{"id":"`+User(4)+`"},"message":{"text":"Oi \"você\"!"}}`)
	r, body := <-got, <-bodies
	p.Close()
	m := hmac.New(sha256.New, []byte("s3cret"))
	m.Write(body)
	if sig := r.Header.Get("X-Hub-Signature-256"); sig != "sha256="+hex.EncodeToString(m.Sum(nil)) {
		t.Errorf("echo signature %q does not match its body", sig)
	}
	var ev struct {
		Entry []struct {
			Messaging []struct {
				Sender, Recipient struct{ ID string }
				Message           struct {
					Mid    string
					IsEcho bool `json:"is_echo"`
					Text   string
				}
			}
		}
	}
	if err := json.Unmarshal(body, &ev); err != nil || len(ev.Entry) != 1 || len(ev.Entry[0].Messaging) != 1 {
		t.Fatalf("echo body %s: %v", body, err)
	}
	msg := ev.Entry[0].Messaging[0]
	if msg.Sender.ID != BusinessID || msg.Recipient.ID != User(4) || !msg.Message.IsEcho ||
		msg.Message.Mid != sent["message_id"] || msg.Message.Text != `Oi "você"!` {
		t.Errorf("echo %+v, want the accepted message %v from the business to %s", msg, sent["message_id"], User(4))
	}
	if ok, failed := p.Echoes(); ok != 1 || failed != 0 {
		t.Errorf("echoes delivered %d, given up %d; want 1, 0", ok, failed)
	}
}
