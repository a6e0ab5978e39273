package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/conversa/conversa/core/events"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/scripting"
	"github.com/conversa/conversa/core/store"
)

// Window rules shared by every channel (channels add their own, e.g. Meta's
// HUMAN_AGENT tag): automated replies only within 24 h of the user's last
// message.
const assistantWindow = 24 * time.Hour

// Timeouts of plugin calls made while processing an event.
const (
	converseTimeout = 20 * time.Second
	// assistantPatience is how long a message waits for an assistant whose
	// plugin is down before the conversation goes to people instead.
	assistantPatience = 2 * time.Minute
	// assistantRestartWait is how long one turn waits for an assistant
	// plugin that went down (it is restarted at once) before the message
	// is put off.
	assistantRestartWait = 3 * time.Second
	profileTimeout       = 3 * time.Second
	// profileStale is when a looked-up profile is refreshed (Instagram's
	// picture URLs expire within days).
	profileStale = 72 * time.Hour
)

// handleMessage records a user's message in their open conversation (or a
// new one), then decides who answers it.
//
// In a conversation the assistant already has, the message is recorded in
// the transaction that commits the assistant's turn (pendingInbound): one
// commit for the whole exchange. Any other outcome records it first, as a
// new conversation always is (the assistant and the scripts are given its
// id).
func (e *Engine) handleMessage(ctx context.Context, it *store.InboxItem, in *model.Integration) error {
	ev := &it.Event
	rec := &messageRecord{ctx: ctx, e: e, it: it, in: in, ev: ev, at: e.eventTime(ev)}
	known, err := e.st.Contacts().ByUser(ctx, in.ID, ev.ContactID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		known = nil
	case err != nil:
		return err
	}
	// The profile is looked up before the transaction that records the
	// message, so that what it finds is stored with it (one commit, not
	// two); a passive message is not answered, so nobody needs it.
	if !ev.Passive {
		rec.profile = e.lookupProfile(ctx, in, ev, known)
	}
	if p := e.pendingInbound(ctx, rec, known); p != nil {
		err := e.route(ctx, it, in, p.conv, p.msg, p.fresh, p)
		switch {
		case errors.Is(err, errHandled):
			return nil
		case !errors.Is(err, errRecordChanged):
			return err
		}
		// The conversation changed while the message waited (an agent or
		// the timer): it is handled as if it had just arrived.
	}
	if err := e.txEvent(ctx, rec.record); err != nil || rec.duplicate {
		return err
	}
	conv, msg, fresh, expired := rec.conv, rec.msg, rec.fresh, rec.expired
	if expired != nil {
		e.publish(events.Ended, expired, expired)
		e.assign(ctx)
	}
	if conv.State == model.StateEnded {
		return e.finish(ctx, it, msg, "conversation already ended")
	}
	e.publish(events.Message, conv, msg)
	if ev.Passive {
		// Another app owns the thread (Meta's standby) and answers it; the
		// message is kept so that agents see the whole thread.
		note := ev.Note
		if note == "" {
			note = "passive: recorded, not answered"
		}
		return e.finish(ctx, it, msg, note)
	}

	ct := conv.Contact
	if !homologated(in, ct) {
		return e.finish(ctx, it, msg, "homologation: @"+ct.Username+" is not a homologation user; recorded, not answered")
	}
	e.replies.received(conv.ID, msg.ID, it.ReceivedAt)
	if conv.State == model.StateQueued || conv.State == model.StateAssigned {
		// A conversation with humans stays with humans: the assistant never
		// talks over an agent.
		return e.finish(ctx, it, msg, "")
	}
	return e.route(ctx, it, in, conv, msg, fresh, nil)
}

// route runs the routing script on a message of a conversation the
// assistant has, and hands the message where it says. p, when not nil, is
// the message still to record: every outcome but the assistant's turn
// records it first.
func (e *Engine) route(ctx context.Context, it *store.InboxItem, in *model.Integration, conv *model.Conversation,
	msg *model.Message, fresh bool, p *pendingInbound) error {
	route := e.hooks.Route(ctx, scriptEvent(in, conv.Contact, conv, msg, fresh, e.now()))
	if slices.ContainsFunc(route.Reply, func(t string) bool { return t != "" }) {
		if err := p.ensure(ctx); err != nil {
			return err
		}
	}
	if err := e.routeReplies(ctx, conv, msg, route.Reply); err != nil {
		return err
	}
	switch to := routeTarget(route, in); to {
	case "none":
		if err := p.ensure(ctx); err != nil {
			return err
		}
		return e.finish(ctx, it, msg, "routing: none")
	case "squad", "agent":
		if err := p.ensure(ctx); err != nil {
			return err
		}
		squad := route.Squad
		if squad == "" {
			squad = in.Squad
		}
		return e.toHumans(ctx, it, msg, conv, squad, route.Priority, route.Agent, nil, "")
	default:
		// A squad named with {to = "assistant"} is where a handoff goes.
		return e.toAssistant(ctx, it, in, conv, msg, fresh, route.Squad, p)
	}
}

// messageRecord records a user's message: their contact (with a profile
// looked up for it), their open conversation or a new one, the message.
// record is a transaction's body; its results are the fields below it.
type messageRecord struct {
	ctx     context.Context
	e       *Engine
	it      *store.InboxItem
	in      *model.Integration
	ev      *model.Event
	at      time.Time
	profile *profileLookup
	// newIDs, when reserved, are the ids a new contact and a new
	// conversation are stored with (pendingInbound).
	newIDs store.NewIDs

	conv      *model.Conversation
	msg       *model.Message
	fresh     bool
	duplicate bool
	expired   *model.Conversation
}

func (r *messageRecord) record(tx store.Tx) error {
	e, it, in, ev, at, ctx := r.e, r.it, r.in, r.ev, r.at, r.ctx
	r.conv, r.msg, r.fresh, r.duplicate, r.expired = nil, nil, false, false, nil
	h := hints(ev)
	h.NewID = r.newIDs.Contact
	if p := r.profile; p != nil {
		// The lookup's findings win over the event's; empty ones keep
		// them. One write stores both, and the lookup's time.
		h.Username = cmp.Or(p.hints.Username, h.Username)
		h.Name = cmp.Or(p.hints.Name, h.Name)
		h.AvatarURL = cmp.Or(p.hints.AvatarURL, h.AvatarURL)
		h.Profiled, h.ProfileError = true, p.err
	}
	ct, err := tx.Contacts().Upsert(ctx, in.ID, ev.ContactID, h, at)
	if err != nil {
		return err
	}
	r.msg = &model.Message{Integration: in.ID, Direction: model.DirectionIn, Author: model.AuthorContact,
		Contents: ev.Contents, Status: model.StatusReceived, ReplyTo: ev.ReplyTo, CreatedAt: at}
	if ev.MessageID != "" {
		old, err := tx.Messages().ByProviderID(ctx, in.ID, ev.MessageID)
		switch {
		case err == nil && old.Handled:
			r.duplicate = true
			return tx.Inbox().Done(ctx, it, "duplicate of message "+fmt.Sprint(old.ID))
		case err == nil:
			// A previous attempt stored it and stopped before answering.
			r.msg = old
			r.conv, err = tx.Conversations().Get(ctx, old.Conversation)
			return err
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	convs := tx.Conversations()
	conv, err := convs.Open(ctx, ct.ID)
	if err == nil && e.inactive(in, conv, at) {
		// The timer has not caught it yet (the server was down): the user
		// was silent long enough that this is a new service.
		if r.expired, err = convs.EndInactive(ctx, conv.ID, at.Add(-inactivityOf(in))); err != nil {
			return err
		}
		if _, err := addNote(ctx, tx, r.expired, inactivityNote(in.InactivityMinutes)); err != nil {
			return err
		}
		conv, err = nil, store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		conv = &model.Conversation{ID: r.newIDs.Conversation, Integration: in.ID, ContactID: ct.ID, State: model.StateBot,
			Origin: originOf(ev.Contents), Squad: in.Squad, LastInboundAt: at}
		r.fresh, err = convs.Start(ctx, conv)
	}
	if err != nil {
		return err
	}
	// A conversation started here holds those times already.
	if !r.fresh {
		if err := convs.Touch(ctx, conv.ID, tx.Now(), at); err != nil {
			return err
		}
	}
	conv.Contact = ct
	if at.After(conv.LastInboundAt) {
		conv.LastInboundAt = at
	}
	conv.LastActivityAt = tx.Now()
	r.conv = conv
	r.msg.Conversation = conv.ID
	if existing, err := tx.Messages().Add(ctx, r.msg, ev.MessageID); err != nil || !existing {
		return err
	}
	// Another writer stored the same provider message first.
	if r.msg.Handled {
		r.duplicate = true
		return tx.Inbox().Done(ctx, it, "duplicate of message "+fmt.Sprint(r.msg.ID))
	}
	if r.msg.Conversation != conv.ID {
		r.conv, err = convs.Get(ctx, r.msg.Conversation)
	}
	return err
}

// routeTarget resolves the script's decision against the integration: an
// empty decision means the assistant if there is one, else the squad.
func routeTarget(r scripting.Route, in *model.Integration) string {
	switch r.To {
	case "none", "squad", "agent":
		return r.To
	}
	if in.Assistant == "" {
		return "squad"
	}
	return "assistant"
}

// inactive reports whether a conversation's user has been silent longer than
// the integration allows, as of at.
func (e *Engine) inactive(in *model.Integration, c *model.Conversation, at time.Time) bool {
	if in.InactivityMinutes <= 0 || c.LastInboundAt.IsZero() {
		return false
	}
	return at.Sub(c.LastInboundAt) > inactivityOf(in)
}

func inactivityOf(in *model.Integration) time.Duration {
	return time.Duration(in.InactivityMinutes) * time.Minute
}

func originOf(cs []model.Content) string {
	for _, c := range cs {
		switch c.Type {
		case model.StoryMention:
			return model.OriginStoryMention
		case model.StoryReply:
			return model.OriginStoryReply
		}
	}
	return model.OriginDirect
}

// homologated: while an integration lists homologation users, only they are
// served. Usernames match ignoring case and a leading @.
func homologated(in *model.Integration, ct *model.Contact) bool {
	if len(in.HomologationUsers) == 0 {
		return true
	}
	u := normalizeUsername(ct.Username)
	if u == "" {
		return false
	}
	for _, h := range in.HomologationUsers {
		if normalizeUsername(h) == u {
			return true
		}
	}
	return false
}

func normalizeUsername(s string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "@"))
}

// finish marks an inbound message dealt with and its event processed.
func (e *Engine) finish(ctx context.Context, it *store.InboxItem, msg *model.Message, note string) error {
	return e.txEvent(ctx, func(tx store.Tx) error { return finishTx(ctx, tx, it, msg, note) })
}

// finishTx marks an inbound message handled and its event done, in tx.
func finishTx(ctx context.Context, tx store.Tx, it *store.InboxItem, msg *model.Message, note string) error {
	if err := tx.Messages().MarkHandled(ctx, msg.ID); err != nil {
		return err
	}
	return tx.Inbox().Done(ctx, it, note)
}

// profileLookup is what a profile lookup found, to store with the message.
type profileLookup struct {
	hints store.ContactHints
	err   string
}

// profileHints are what the profile lookup found, if there was one.
func (r *messageRecord) profileHints() store.ContactHints {
	if r.profile == nil {
		return store.ContactHints{}
	}
	return r.profile.hints
}

// lookupProfile looks the user up through the channel at their first
// message, and again when the profile is stale; best effort (nil: nothing
// to store). While homologation is on, the username decides who is served,
// so it is looked up whenever it is still unknown.
func (e *Engine) lookupProfile(ctx context.Context, in *model.Integration, ev *model.Event, ct *model.Contact) *profileLookup {
	if ct == nil {
		ct = &model.Contact{ChannelUserID: ev.ContactID}
	}
	username := firstNonEmpty(ev.ContactUsername, ct.Username)
	due := ct.ProfileAt.IsZero() || e.now().Sub(ct.ProfileAt) > profileStale
	if !due && !(len(in.HomologationUsers) > 0 && username == "") {
		return nil
	}
	ch, err := e.plug.Channel(in.Channel)
	if err != nil {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, profileTimeout)
	defer cancel()
	p, err := ch.Profile(pctx, &pluginhost.ProfileRequest{
		Integration: e.reg.forPlugin(in), ContactID: ev.ContactID})
	if err != nil {
		e.log.Warn("profile lookup failed", "integration", in.ID, "contact", ct.ID, "err", err)
		return nil
	}
	lookupErr := describeError(p.ErrorCode, p.ErrorMessage)
	if lookupErr != "" && p.Retryable {
		// No consent yet, or the provider hiccuped: try again at the next
		// message rather than waiting for the profile to go stale.
		return nil
	}
	return &profileLookup{hints: store.ContactHints{Username: p.Username, Name: p.Name, AvatarURL: p.AvatarURL}, err: lookupErr}
}

func scriptEvent(in *model.Integration, ct *model.Contact, c *model.Conversation, m *model.Message, fresh bool, now time.Time) *scripting.Event {
	ev := &scripting.Event{
		Integration: scripting.EventIntegration{ID: in.ID, Name: in.Name, Channel: in.Channel, Squad: in.Squad,
			Assistant: in.Assistant, UnsupportedMediaMessages: in.UnsupportedMediaMessages},
		Contact:      scripting.EventContact{ID: ct.ChannelUserID, Username: ct.Username, Name: ct.Name},
		Conversation: scripting.EventConversation{ID: c.ID, State: c.State, Origin: c.Origin, Squad: c.Squad, Agent: c.Agent, New: fresh},
		Now:          now,
	}
	if len(m.Contents) > 0 {
		f := m.Contents[0]
		ev.Message = scripting.EventMessage{Type: f.Type, Text: f.Text, URL: f.URL, MimeType: f.MimeType, OriginalType: f.OriginalType}
	}
	return ev
}

// toHumans queues a conversation for a squad (or a named agent), after
// sending replies (the assistant's goodbye on a handoff) and recording an
// internal note for the agents when there is one.
func (e *Engine) toHumans(ctx context.Context, it *store.InboxItem, msg *model.Message, conv *model.Conversation,
	squad string, priority int, agent string, replies []model.Content, note string) error {
	var sent []*model.Message
	ended := false
	err := e.txEvent(ctx, func(tx store.Tx) error {
		sent, ended = nil, false
		c, err := tx.Conversations().Get(ctx, conv.ID)
		if err != nil {
			return err
		}
		if c.State == model.StateEnded {
			ended = true
			return finishTx(ctx, tx, it, msg, "conversation ended before it was handed to people")
		}
		if sent, err = e.enqueueReplies(ctx, tx, c, msg, replies, model.AuthorAssistant); err != nil {
			return err
		}
		if note != "" {
			n := model.SystemNote(c, note)
			if _, err := tx.Messages().Add(ctx, n); err != nil {
				return err
			}
			sent = append(sent, n)
		}
		if c, err = tx.Conversations().Queue(ctx, c.ID, store.Queueing{Squad: squad, Priority: priority, Agent: agent}); err != nil {
			return err
		}
		n, err := addNote(ctx, tx, c, handedOff(squad, agent))
		if err != nil {
			return err
		}
		sent = append(sent, n)
		*conv = *c
		return finishTx(ctx, tx, it, msg, "queued for squad "+squad)
	})
	if err != nil || ended {
		return err
	}
	e.afterReplies(conv, sent)
	e.publish(events.Queued, conv, conv)
	e.assign(ctx)
	return nil
}

// afterReplies publishes the new messages and wakes the sender.
func (e *Engine) afterReplies(conv *model.Conversation, msgs []*model.Message) {
	for _, m := range msgs {
		e.publish(events.Message, conv, m)
	}
	if len(msgs) > 0 {
		e.outbox.wakeUp()
	}
}

// addNote records a line of the transcript for the agents.
func addNote(ctx context.Context, tx store.Tx, c *model.Conversation, text string) (*model.Message, error) {
	n := model.SystemNote(c, text)
	_, err := tx.Messages().Add(ctx, n)
	return n, err
}

func handedOff(squad, agent string) string {
	if agent != "" {
		return fmt.Sprintf("Handed off to %s (squad %s)", agent, squad)
	}
	return "Handed off to squad " + squad
}
