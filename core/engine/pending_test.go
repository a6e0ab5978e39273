package engine

import (
	"context"
	"strconv"
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

// TestNewUsersExchangeIsRecordedWithItsTurn: a new user's first message is
// stored with the assistant's turn, under the ids the assistant was given
// (reserved before the commit): while the assistant thinks, nothing of the
// user is stored but the inbound event.
func TestNewUsersExchangeIsRecordedWithItsTurn(t *testing.T) {
	ch := &fakeChannel{parse: textEvents("u1", "hello")}
	release := make(chan struct{})
	var asked atomic.Pointer[pluginhost.ConverseRequest]
	as := &fakeAssistant{}
	as.reply = func(r *pluginhost.ConverseRequest) (*pluginhost.ConverseResponse, error) {
		asked.Store(r)
		<-release
		return &pluginhost.ConverseResponse{Replies: []model.Content{{Type: "text", Text: "echo: " + r.Contents[0].Text}}}, nil
	}
	r := startedRig(t, ch, as)
	r.post()
	eventually(t, "the assistant asked", func() bool { return asked.Load() != nil })
	if ct, err := r.st.Contacts().ByUser(context.Background(), "ig", "u1"); err == nil {
		t.Errorf("contact %d stored while the assistant thinks, want it stored with the turn", ct.ID)
	}
	close(release)
	eventually(t, "the reply sent", func() bool { return len(ch.sends()) == 1 && r.outboxEmpty() })
	conv := conversationOfU1(t, r)
	req := asked.Load()
	if req.ConversationID != strconv.FormatInt(conv.ID, 10) || req.Contact == nil || req.Contact.ID != conv.ContactID {
		t.Errorf("the assistant was given conversation %s, contact %+v; stored: conversation %d of contact %d",
			req.ConversationID, req.Contact, conv.ID, conv.ContactID)
	}
	if got := inbound(t, r, conv.ID); len(got) != 1 || got[0] != "hello" {
		t.Errorf("inbound messages = %q, want hello once", got)
	}
}

// TestNewUserStoredMeanwhileIsHandledAgain: the user a first message came
// from is stored by other means while the assistant thinks (the reserved
// contact id is not theirs, then): nothing of the turn is kept, and the
// message is handled again as if it had just arrived, in a conversation of
// the stored contact, answered once.
func TestNewUserStoredMeanwhileIsHandledAgain(t *testing.T) {
	ch := &fakeChannel{parse: textEvents("u1", "hello")}
	release := make(chan struct{})
	var calls atomic.Int64
	as := &fakeAssistant{}
	as.reply = func(r *pluginhost.ConverseRequest) (*pluginhost.ConverseResponse, error) {
		if calls.Add(1) == 1 {
			<-release
		}
		return &pluginhost.ConverseResponse{Replies: []model.Content{{Type: "text", Text: "echo: " + r.Contents[0].Text}}}, nil
	}
	r := startedRig(t, ch, as)
	r.post()
	eventually(t, "the assistant asked", func() bool { return calls.Load() == 1 })
	stored, err := r.st.Contacts().Upsert(context.Background(), "ig", "u1", store.ContactHints{Name: "Ana"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	close(release)
	eventually(t, "the reply sent", func() bool { return len(ch.sends()) == 1 && r.outboxEmpty() })
	eventually(t, "its event processed", func() bool { n, _ := r.st.Inbox().Backlog(context.Background()); return n == 0 })
	conv := conversationOfU1(t, r)
	if conv.ContactID != stored.ID {
		t.Errorf("conversation %d of contact %d, want of the stored contact %d", conv.ID, conv.ContactID, stored.ID)
	}
	if got := inbound(t, r, conv.ID); len(got) != 1 {
		t.Errorf("inbound messages = %q, want hello once", got)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("the assistant was asked %d times, want 2 (the first turn was not kept)", n)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(ch.sends()); n != 1 {
		t.Errorf("%d sends, want one reply", n)
	}
}

// TestReturningUserStartsAConversationWithItsTurn: a stored user writing
// after their conversation ended starts a new one, stored with the turn
// under the id the assistant was given.
func TestReturningUserStartsAConversationWithItsTurn(t *testing.T) {
	ch := &fakeChannel{parse: textEvents("u1", "hello")}
	var asked atomic.Pointer[pluginhost.ConverseRequest]
	as := &fakeAssistant{}
	as.reply = func(r *pluginhost.ConverseRequest) (*pluginhost.ConverseResponse, error) {
		asked.Store(r)
		return &pluginhost.ConverseResponse{Replies: []model.Content{{Type: "text", Text: "echo: " + r.Contents[0].Text}}}, nil
	}
	r := startedRig(t, ch, as)
	r.post()
	eventually(t, "the first reply sent", func() bool { return len(ch.sends()) == 1 && r.outboxEmpty() })
	first := conversationOfU1(t, r)
	if _, err := r.st.Conversations().End(context.Background(), first.ID, model.EndAgent); err != nil {
		t.Fatal(err)
	}
	sayAgain(t, r, ch, "again")
	eventually(t, "the second reply sent", func() bool { return len(ch.sends()) == 2 && r.outboxEmpty() })
	second := conversationOfU1(t, r)
	if second.ID == first.ID || second.ContactID != first.ContactID || second.State != model.StateBot {
		t.Fatalf("after the end: conversation %d (%s) of contact %d, want a new one of contact %d", second.ID, second.State,
			second.ContactID, first.ContactID)
	}
	if req := asked.Load(); req.ConversationID != strconv.FormatInt(second.ID, 10) {
		t.Errorf("the assistant was given conversation %s, want %d", req.ConversationID, second.ID)
	}
	if got := inbound(t, r, second.ID); len(got) != 1 || got[0] != "again" {
		t.Errorf("inbound messages of the new conversation = %q, want again", got)
	}
}
