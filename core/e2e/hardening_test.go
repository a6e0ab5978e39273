package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// Regression tests of the hostile-input findings (S11) that are observable
// from outside: each drives the real binary and failed before its fix.

// One Zenvia subscription delivers the events of every Instagram account
// (sender id) of the customer to the same URL: an event for another sender
// id is acknowledged and kept with the reason, and never answered from this
// integration's account.
func TestZenviaEventForAnotherSenderIDIsNotAnswered(t *testing.T) {
	zenvia := newFakeZenvia(t)
	srv := newServer(t, zenviaConfig(zenvia.URL, "", zenviaCredentials))

	other := zenviaEvent(t, "zenvia/message_in_text_with_visitor.json", func(ev map[string]any) {
		ev["message"].(map[string]any)["to"] = "quiet-meadow"
	})
	var ev struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(other, &ev); err != nil {
		t.Fatal(err)
	}
	srv.deliver(other)
	srv.settle()
	if n := len(zenvia.sends()); n != 0 {
		t.Errorf("Zenvia received %d sends for an event to another sender id, want none", n)
	}
	if note := srv.note(ev.ID); !strings.Contains(note, `"quiet-meadow"`) || !strings.Contains(note, "not answered") {
		t.Errorf("inbox note = %q, want why it was not answered (the other sender id)", note)
	}
	if n := srv.count(`SELECT count(*) FROM messages`); n != 0 {
		t.Errorf("%d messages stored, want none: the conversation is another account's", n)
	}
	if !strings.Contains(srv.logs.String(), "another sender id") {
		t.Errorf("the log does not say an event for another sender id came:\n%s", srv.logs)
	}

	// A message to this integration's sender id is answered, from it.
	srv.deliver(zenviaText(t, "oi"))
	if got := waitSends(t, zenvia, 1)[0]; got.From() != zenviaSender {
		t.Errorf("reply from %q, want %q", got.From(), zenviaSender)
	}
}
