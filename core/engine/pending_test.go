package engine

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/store"
)

// sayAgain posts user u1's next message.
func sayAgain(t *testing.T, r *rig, ch *fakeChannel, text string) {
	t.Helper()
	ch.mu.Lock()
	ch.parse = textEvents("u1", text)
	ch.mu.Unlock()
	r.post()
}

func conversationOfU1(t *testing.T, r *rig) *model.Conversation {
	t.Helper()
	ctx := context.Background()
	ct, err := r.st.Contacts().ByUser(ctx, "ig", "u1")
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.st.Conversations().Latest(ctx, ct.ID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func inbound(t *testing.T, r *rig, conv int64) []string {
	t.Helper()
	msgs, err := r.st.Messages().List(context.Background(), conv)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		if m.Direction == model.DirectionIn {
			out = append(out, m.Contents[0].Text)
		}
	}
	return out
}

// TestConversationTakenByPeopleWhileTheAssistantThinks: the user's second
// message waits to be recorded with the assistant's turn; meanwhile the
// conversation goes to a squad. The message is recorded in it once, the
// assistant's reply is dropped (it never talks over people), and the
// assistant is not asked again.
func TestConversationTakenByPeopleWhileTheAssistantThinks(t *testing.T) {
	ch := &fakeChannel{parse: textEvents("u1", "hello")}
	release := make(chan struct{})
	var calls atomic.Int64
	as := &fakeAssistant{}
	as.reply = func(r *pluginhost.ConverseRequest) (*pluginhost.ConverseResponse, error) {
		if calls.Add(1) == 2 {
			<-release
		}
		return &pluginhost.ConverseResponse{Replies: []model.Content{{Type: "text", Text: "echo: " + r.Contents[0].Text}}}, nil
	}
	r := startedRig(t, ch, as)
	r.post()
	eventually(t, "the first reply sent", func() bool { return len(ch.sends()) == 1 && r.outboxEmpty() })
	conv := conversationOfU1(t, r)

	sayAgain(t, r, ch, "second")
	eventually(t, "the assistant asked", func() bool { return calls.Load() == 2 })
	if got := inbound(t, r, conv.ID); len(got) != 1 {
		t.Errorf("inbound messages while the assistant thinks = %q, want only the first (the second is recorded with the turn)", got)
	}
	if _, err := r.st.Conversations().Queue(context.Background(), conv.ID, store.Queueing{Squad: model.DefaultSquad}); err != nil {
		t.Fatal(err)
	}
	close(release)
	eventually(t, "the second message recorded", func() bool { return len(inbound(t, r, conv.ID)) == 2 })
	eventually(t, "its event processed", func() bool { n, _ := r.st.Inbox().Backlog(context.Background()); return n == 0 })
	time.Sleep(50 * time.Millisecond)
	if got := inbound(t, r, conv.ID); len(got) != 2 || got[1] != "second" {
		t.Errorf("inbound messages = %q, want hello then second, once each", got)
	}
	if n := len(ch.sends()); n != 1 {
		t.Errorf("%d sends, want only the first reply (the conversation went to people before the second)", n)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("the assistant was asked %d times, want 2", n)
	}
	if c := conversationOfU1(t, r); c.ID != conv.ID || c.State != model.StateQueued {
		t.Errorf("conversation = %d %s, want %d still queued", c.ID, c.State, conv.ID)
	}
}

// TestMessageWaitingForTheAssistantIsRecorded: while the assistant's
// plugin is down the message waits for it, and agents see it meanwhile.
func TestMessageWaitingForTheAssistantIsRecorded(t *testing.T) {
	ch := &fakeChannel{parse: textEvents("u1", "hello")}
	var down atomic.Bool
	as := &fakeAssistant{}
	as.reply = func(r *pluginhost.ConverseRequest) (*pluginhost.ConverseResponse, error) {
		if down.Load() {
			return nil, downError{}
		}
		return &pluginhost.ConverseResponse{Replies: []model.Content{{Type: "text", Text: "echo: " + r.Contents[0].Text}}}, nil
	}
	r := startedRig(t, ch, as)
	r.post()
	eventually(t, "the first reply sent", func() bool { return len(ch.sends()) == 1 && r.outboxEmpty() })
	conv := conversationOfU1(t, r)
	down.Store(true)
	sayAgain(t, r, ch, "second")
	eventually(t, "the waiting message recorded", func() bool { return len(inbound(t, r, conv.ID)) == 2 })
	down.Store(false)
	r.e.Wake()
	eventually(t, "the second reply sent", func() bool { return len(ch.sends()) == 2 && r.outboxEmpty() })
	if got := inbound(t, r, conv.ID); len(got) != 2 {
		t.Errorf("inbound messages = %q, want two", got)
	}
	if got := ch.sends()[1].Contents[0].Text; got != "echo: second" {
		t.Errorf("second reply %q, want echo: second", got)
	}
}
