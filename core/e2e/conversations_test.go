package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The conversation engine's behaviours (issue S5), each through the real
// binary with fake providers.

func TestHomologationServesOnlyListedUsers(t *testing.T) {
	graph := newFakeGraph(t)
	graph.setProfile("1001", profileJSON("1001", "Tess Ter", "tester"))
	graph.setProfile("1002", profileJSON("1002", "Some One", "someone_else"))
	srv := newServer(t, metaConfig(graph.URL, `homologation_users = ["@Tester"]`))

	for _, u := range []string{"1001", "1002"} {
		if status, b := srv.postMeta("ig-meta", metaSecret, metaText(u, "mid-"+u, "hi", time.Now())); status != 200 {
			t.Fatalf("POST = %d %s", status, b)
		}
	}
	eventually(t, "both messages processed", func() bool { return srv.drained() && len(graph.sends()) > 0 })
	for _, s := range graph.sends() {
		if s.Recipient() != "1001" {
			t.Errorf("a reply went to %s, want replies only to the homologation user 1001", s.Recipient())
		}
	}
	if n := srv.count(`SELECT count(*) FROM messages m JOIN contacts c ON c.id = (SELECT contact_id FROM conversations WHERE id = m.conversation_id)
		WHERE c.channel_user_id = '1002' AND m.direction = 'in'`); n != 1 {
		t.Errorf("someone_else's recorded messages = %d, want 1 (recorded, not answered)", n)
	}
	if n := srv.count(`SELECT count(*) FROM conversations WHERE state IN ('queued', 'assigned')`); n != 0 {
		t.Errorf("%d conversations went to humans, want none: nobody answers outsiders", n)
	}
}

func TestInactivityEndsConversationAndNextMessageStartsFresh(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, "inactivity_minutes = 10"))
	if status, _ := srv.postMeta("ig-meta", metaSecret, metaText(customerA, "m1", "hi", time.Now())); status != 200 {
		t.Fatal("POST failed")
	}
	eventually(t, "the first reply", func() bool { return len(graph.sends()) > 0 && srv.drained() })
	if n := srv.count(`SELECT count(*) FROM conversations WHERE state = 'bot'`); n != 1 {
		t.Fatalf("open conversations with the assistant = %d, want 1", n)
	}

	// Nobody writes for 11 minutes: the timer ends it on its own.
	srv.advance(11 * time.Minute)
	eventually(t, "the conversation ended for inactivity", func() bool {
		return srv.count(`SELECT count(*) FROM conversations WHERE state = 'ended' AND end_reason = 'inactivity'`) == 1
	})

	before := len(graph.sends())
	at := time.Now().Add(11 * time.Minute)
	if status, _ := srv.postMeta("ig-meta", metaSecret, metaText(customerA, "m2", "hello", at)); status != 200 {
		t.Fatal("POST failed")
	}
	eventually(t, "the reply in a new conversation", func() bool { return len(graph.sends()) > before && srv.drained() })
	if n := srv.count(`SELECT count(*) FROM conversations`); n != 2 {
		t.Errorf("conversations = %d, want 2: the next message starts a new one", n)
	}
	if n := srv.count(`SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
		WHERE c.state = 'bot' AND m.direction = 'in'`); n != 1 {
		t.Errorf("the new conversation holds %d inbound messages, want only the new one", n)
	}
}

func TestHandoffQueuesForTheSquad(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, `squad = "vendas"`))
	srv.postMeta("ig-meta", metaSecret, metaText(customerA, "m1", "I want to talk to a person", time.Now()))
	eventually(t, "the conversation queued", func() bool {
		return srv.count(`SELECT count(*) FROM conversations WHERE state = 'queued' AND squad = 'vendas'`) == 1
	})
	eventually(t, "the handoff reply", func() bool { return len(graph.sends()) == 1 })
	if got := graph.sends()[0].Text(); !strings.Contains(got, "person") {
		t.Errorf("handoff reply = %q, want the demo's connecting message", got)
	}
	// With humans now, the assistant no longer answers.
	srv.postMeta("ig-meta", metaSecret, metaText(customerA, "m2", "hello?", time.Now()))
	eventually(t, "the second message processed", srv.drained)
	if n := len(graph.sends()); n != 1 {
		t.Errorf("sends after the handoff = %d, want 1: the assistant must not talk over humans", n)
	}
}

func TestCrashingAssistantHandsConversationToSquad(t *testing.T) {
	graph := newFakeGraph(t)
	config := strings.Replace(metaConfig(graph.URL, ""), `dir = "{{DIR}}/plugins"`, `dir = "{{PLUGINS}}"`, 1) + `
[[assistants]]
id = "demo"
backend = "crashy"
`
	srv := newTrustingServer(t, config, "crashy")
	srv.postMeta("ig-meta", metaSecret, metaText(customerA, "m1", "hi", time.Now()))
	eventually(t, "the conversation queued for the squad", func() bool {
		return srv.count(`SELECT count(*) FROM conversations WHERE state = 'queued' AND squad = 'geral'`) == 1
	})
	if n := srv.count(`SELECT count(*) FROM messages WHERE author = 'system' AND status = 'internal' AND contents LIKE '%assistant did not answer%'`); n != 1 {
		t.Errorf("system notes = %d, want one telling the agents the assistant failed", n)
	}
	if !strings.Contains(srv.logs.String(), "about to crash") {
		t.Error("the plugin's own log line did not reach the server's log")
	}
}

func TestThirdPartyPluginAnswers(t *testing.T) {
	graph := newFakeGraph(t)
	config := strings.Replace(metaConfig(graph.URL, ""), `dir = "{{DIR}}/plugins"`, `dir = "{{PLUGINS}}"`, 1) + `
[[assistants]]
id = "demo"
backend = "echo"
`
	srv := newTrustingServer(t, config, "echo")
	srv.postMeta("ig-meta", metaSecret, metaText(customerA, "m1", "olá mundo", time.Now()))
	eventually(t, "the echo", func() bool { return len(graph.sends()) == 1 })
	if got := graph.sends()[0].Text(); got != "You said: olá mundo" {
		t.Errorf("reply = %q, want the example plugin's echo", got)
	}
	if !strings.Contains(strings.Join(srv.children(), "\n"), "conversa-plugin-echo") {
		t.Errorf("children %v: want the third-party plugin's process", srv.children())
	}
}

// fakeRasa answers like a Rasa server's REST channel and records requests.
type fakeRasa struct {
	*httptest.Server
	mu       sync.Mutex
	received []map[string]any
}

func newFakeRasa(t *testing.T) *fakeRasa {
	f := &fakeRasa{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req map[string]any
		json.Unmarshal(b, &req)
		f.mu.Lock()
		f.received = append(f.received, req)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		msg, _ := req["message"].(string)
		sender, _ := req["sender"].(string)
		switch {
		case r.URL.Path != "/webhooks/rest/webhook":
			w.WriteHeader(http.StatusNotFound)
		case strings.Contains(msg, "human"):
			fmt.Fprintf(w, `[{"recipient_id":%q,"text":"A colleague will take it from here."},{"recipient_id":%q,"custom":{"handoff":true}}]`, sender, sender)
		default:
			fmt.Fprintf(w, `[{"recipient_id":%q,"text":"Rasa heard: %s","buttons":[{"title":"Yes","payload":"/affirm"},{"title":"No","payload":"/deny"}]}]`, sender, msg)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func TestRasaBackend(t *testing.T) {
	graph := newFakeGraph(t)
	rasa := newFakeRasa(t)
	srv := newServer(t, metaConfig(graph.URL, "")+`
[[assistants]]
id = "demo"
backend = "rasa"
[assistants.settings]
url = "`+rasa.URL+`/webhooks/rest/webhook"
timeout_ms = 5000
`)
	srv.postMeta("ig-meta", metaSecret, metaText(customerA, "m1", "hello", time.Now()))
	eventually(t, "Rasa's answer at the Graph API", func() bool { return len(graph.sends()) == 1 })
	got := graph.sends()[0]
	if got.Text() != "Rasa heard: hello" {
		t.Errorf("reply text = %q, want Rasa's", got.Text())
	}
	msg, _ := got.Body["message"].(map[string]any)
	if qr, _ := msg["quick_replies"].([]any); len(qr) != 2 {
		t.Errorf("reply %v: want Rasa's two buttons as native quick replies", got.Body)
	}
	rasa.mu.Lock()
	first := rasa.received[0]
	rasa.mu.Unlock()
	if first["message"] != "hello" || !strings.HasPrefix(fmt.Sprint(first["sender"]), "ig-meta:") {
		t.Errorf("Rasa received %v, want the text and a per-conversation sender", first)
	}
	srv.postMeta("ig-meta", metaSecret, metaText(customerA, "m2", "a human please", time.Now()))
	eventually(t, "Rasa's handoff queued the conversation", func() bool {
		return srv.count(`SELECT count(*) FROM conversations WHERE state = 'queued'`) == 1
	})
}
