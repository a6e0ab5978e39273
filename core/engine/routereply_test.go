package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/scripting"
	"github.com/conversa/conversa/core/store"
)

// routeHooks routes every message as route says, the rest as plainHooks.
type routeHooks struct {
	plainHooks
	route scripting.Route
}

func (h routeHooks) Route(context.Context, *scripting.Event) scripting.Route { return h.route }

// rigRouting is a started rig whose routing script answers route.
func rigRouting(t *testing.T, route scripting.Route, texts ...string) (*rig, *fakeChannel, *fakeAssistant) {
	t.Helper()
	ch := &fakeChannel{parse: textEvents("u1", texts...)}
	as := &fakeAssistant{}
	r := newRig(t, "", ch, as)
	r.e.hooks = routeHooks{route: route}
	t.Cleanup(r.close)
	if err := r.e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r, ch, as
}

func sentTexts(ch *fakeChannel) []string {
	var out []string
	for _, s := range ch.sends() {
		for _, c := range s.Contents {
			out = append(out, c.Text)
		}
	}
	return out
}

// A route to a squad with a reply tells the contact, then queues the
// conversation: out of hours, "we open at 9:00", queued for the morning.
func TestRouteReplyThenSquad(t *testing.T) {
	r, ch, as := rigRouting(t, scripting.Route{To: scripting.ToSquad, Squad: "manha",
		Reply: []string{"We are closed now.", "", "We open at 9:00."}}, "hello")
	r.post()
	var convs []*model.Conversation
	eventually(t, "the conversation queued", func() bool {
		convs, _ = r.st.Conversations().List(context.Background(), store.ConversationFilter{State: model.StateQueued})
		return len(convs) == 1
	})
	if convs[0].Squad != "manha" {
		t.Errorf("queued for squad %q, want manha", convs[0].Squad)
	}
	eventually(t, "the replies sent", func() bool { return len(ch.sends()) == 2 })
	if got := strings.Join(sentTexts(ch), "|"); got != "We are closed now.|We open at 9:00." {
		t.Errorf("sent %q, want the route's two texts in order (the empty one skipped)", got)
	}
	if n := len(as.said()); n != 0 {
		t.Errorf("the assistant heard %d messages, want none", n)
	}
	msgs, _ := r.st.Messages().List(context.Background(), convs[0].ID)
	var order []string
	for _, m := range msgs {
		order = append(order, m.Author+":"+m.Contents[0].Text)
	}
	want := "contact:hello|assistant:We are closed now.|assistant:We open at 9:00.|system:Handed off to squad manha"
	if got := strings.Join(order, "|"); got != want {
		t.Errorf("transcript %q, want %q", got, want)
	}
}

// With to = "none" the reply is all the contact gets; with the assistant,
// the reply comes before the assistant's answer.
func TestRouteReplyNoneAndAssistant(t *testing.T) {
	r, ch, as := rigRouting(t, scripting.Route{To: scripting.ToNone, Reply: []string{"Closed for the holidays."}}, "hi")
	r.post()
	eventually(t, "the reply sent", func() bool { return len(ch.sends()) == 1 })
	if got := sentTexts(ch); got[0] != "Closed for the holidays." {
		t.Errorf("sent %q", got)
	}
	if n := len(as.said()); n != 0 {
		t.Errorf("the assistant heard %d messages, want none", n)
	}

	r, ch, _ = rigRouting(t, scripting.Route{To: scripting.ToAssistant, Reply: []string{"One moment."}}, "hello")
	r.post()
	eventually(t, "both replies sent", func() bool { return len(ch.sends()) == 2 })
	if got := strings.Join(sentTexts(ch), "|"); got != "One moment.|echo: hello" {
		t.Errorf("sent %q, want the route's reply, then the assistant's", got)
	}
}

// The same message processed again does not tell the contact twice.
func TestRouteReplyOncePerMessage(t *testing.T) {
	r, ch, _ := rigRouting(t, scripting.Route{To: scripting.ToNone}, "hi")
	r.post()
	var convs []*model.Conversation
	eventually(t, "the conversation", func() bool {
		convs, _ = r.st.Conversations().List(context.Background(), store.ConversationFilter{})
		return len(convs) == 1
	})
	msgs, _ := r.st.Messages().List(context.Background(), convs[0].ID)
	inbound := msgs[0]
	for range 2 {
		if err := r.e.routeReplies(context.Background(), convs[0], &inbound, []string{"Only once."}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the reply sent", func() bool { return len(ch.sends()) == 1 })
	msgs, _ = r.st.Messages().List(context.Background(), convs[0].ID)
	n := 0
	for _, m := range msgs {
		if m.Contents[0].Text == "Only once." {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the reply is in the transcript %d times, want once", n)
	}
}
