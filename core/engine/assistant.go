package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/conversa/conversa/core/events"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/store"
)

// toAssistant hands a message to the integration's assistant and commits its
// replies; content the channel or assistant does not take is answered with
// the unsupported-media reply instead.
//
// p, when not nil, is the message still to record: the turn records it;
// any other outcome records it first.
func (e *Engine) toAssistant(ctx context.Context, it *store.InboxItem, in *model.Integration, conv *model.Conversation,
	msg *model.Message, fresh bool, handoffSquad string, p *pendingInbound) error {
	ct := conv.Contact
	if e.now().Sub(ct.LastInboundAt) > assistantWindow {
		if err := p.ensure(ctx); err != nil {
			return err
		}
		return e.finish(ctx, it, msg, "the message is older than the 24 h window: the assistant does not answer it")
	}
	asst, ok := e.reg.assistant(in.Assistant)
	if !ok {
		if err := p.ensure(ctx); err != nil {
			return err
		}
		return e.toHumans(ctx, it, msg, conv, in.Squad, 0, "", nil,
			fmt.Sprintf("The assistant %q is not configured; the conversation went to the squad.", in.Assistant))
	}
	supported, err := e.supportedTypes(ctx, in, asst)
	if err != nil {
		// The message waits, or is retried: agents see it meanwhile.
		if err := p.ensure(ctx); err != nil {
			return err
		}
		if notAttempted(err) {
			return fmt.Errorf("%w: %v", errWait, err)
		}
		return fmt.Errorf("%w: %v", errRetry, err)
	}
	var forBot []model.Content
	for _, c := range msg.Contents {
		if supported[c.Type] {
			forBot = append(forBot, c)
		}
	}
	if len(forBot) == 0 {
		texts := e.hooks.Reply(ctx, scriptEvent(in, ct, conv, msg, fresh, e.now()))
		var replies []model.Content
		for _, t := range texts {
			if t != "" {
				replies = append(replies, model.Content{Type: model.Text, Text: t})
			}
		}
		return e.commitTurn(ctx, it, in, conv, msg, replies, conv.Session, false, false, "", "unsupported media", p)
	}
	resp, err := e.converse(ctx, in, asst, conv, forBot)
	if err != nil {
		if err := p.ensure(ctx); err != nil {
			return err
		}
		if notAttempted(err) && e.now().Sub(it.ReceivedAt) < assistantPatience {
			// The assistant's plugin is down (restarting): the message waits
			// for it rather than going to people at once.
			return fmt.Errorf("%w: %v", errWait, err)
		}
		e.log.Error("assistant failed; conversation goes to the squad", "integration", in.ID, "conversation", conv.ID,
			"assistant", asst.ID, "err", err)
		return e.toHumans(ctx, it, msg, conv, in.Squad, 0, "", nil,
			"The assistant did not answer ("+err.Error()+"); the conversation was handed to the squad.")
	}
	var replies []model.Content
	for _, r := range resp.Replies {
		replies = append(replies, onServer(e.o.PublicURL, r))
	}
	note := ""
	if resp.Intent != "" {
		note = "intent " + resp.Intent + " (" + strconv.FormatFloat(resp.Confidence, 'f', 2, 64) + ")"
	}
	squad := firstNonEmpty(resp.Squad, handoffSquad)
	return e.commitTurn(ctx, it, in, conv, msg, replies, resp.Session, resp.Handoff, resp.End, squad, note, p)
}

// onServer resolves a reply's media URL that is a path ("/static/demo/
// photo.jpg") against the public URL: an assistant may send files Conversa
// itself serves, as the demo does, without knowing the server's address.
func onServer(publicURL string, c model.Content) model.Content {
	if strings.HasPrefix(c.URL, "/") && !strings.HasPrefix(c.URL, "//") && publicURL != "" {
		c.URL = strings.TrimRight(publicURL, "/") + c.URL
	}
	return c
}

// commitTurn commits an assistant's turn in one transaction: the user's
// message when it is still to record (p), its replies to the outbox, its
// session, and the handoff or end it asked for.
func (e *Engine) commitTurn(ctx context.Context, it *store.InboxItem, in *model.Integration, conv *model.Conversation,
	msg *model.Message, replies []model.Content, session []byte, handoff, end bool, squad, note string, p *pendingInbound) error {
	replies = e.adapt(ctx, in, replies)
	var sent []*model.Message
	var state string
	var first store.OutboxItem
	var direct, begun bool
	// With replies to send and a channel to take them, the first reply's
	// attempt is committed with the turn (see planDirect): then the turn
	// must be durable, as every attempt is before its send.
	plan := e.planDirect(ctx, in, conv, len(replies))
	run := e.txEvent
	if plan != nil {
		run = e.st.Tx
	}
	err := run(ctx, func(tx store.Tx) error {
		sent, state, direct, begun = nil, "", false, false
		convs := tx.Conversations()
		var c *model.Conversation
		if p != nil && !p.done {
			if err := p.recordIn(tx); err != nil {
				return err
			}
			// As this transaction just recorded it.
			cur := *conv
			c = &cur
		} else {
			var err error
			if c, err = convs.Get(ctx, conv.ID); err != nil {
				return err
			}
		}
		var err error
		switch c.State {
		case model.StateEnded:
			// Ended meanwhile (an admin, the timer): nothing more to say.
			return finishTx(ctx, tx, it, msg, "conversation ended before the assistant's reply")
		case model.StateQueued, model.StateAssigned:
			// Handed to people meanwhile: the assistant never talks over them.
			return finishTx(ctx, tx, it, msg, "conversation went to people before the assistant's reply")
		}
		if sent, err = e.enqueueReplies(ctx, tx, c, msg, replies, model.AuthorAssistant); err != nil {
			return err
		}
		if len(sent) > 0 {
			if first, direct, err = e.claimDirect(ctx, tx, c.ID); err != nil {
				return err
			}
			if begun, err = beginDirect(ctx, tx, plan, direct, &first, sent[0]); err != nil {
				return err
			}
		}
		if err := convs.SetSession(ctx, c.ID, session); err != nil {
			return err
		}
		switch {
		case handoff:
			if squad == "" {
				squad = in.Squad
			}
			if c, err = convs.Queue(ctx, c.ID, store.Queueing{Squad: squad}); err == nil {
				var n *model.Message
				n, err = addNote(ctx, tx, c, "The assistant handed off to squad "+squad)
				sent = append(sent, n)
			}
		case end:
			if c, err = convs.End(ctx, c.ID, model.EndAssistant); err == nil {
				var n *model.Message
				n, err = addNote(ctx, tx, c, "The assistant ended the conversation")
				sent = append(sent, n)
			}
		default:
			c.Session = session // all the turn changed of it
		}
		if err != nil {
			return err
		}
		*conv = *c
		state = c.State
		return finishTx(ctx, tx, it, msg, note)
	})
	if err != nil {
		if direct && errors.Is(err, store.ErrUnavailable) {
			// The commit's outcome is unknown (PostgreSQL's connection broke
			// while it answered): had it happened, this worker's claim on the
			// first reply would hold the reply back until the claim's lease
			// lapsed, because the retry finds the turn done and leaves it.
			// Give the claim back; this fails harmlessly (the lease is not
			// ours) when the commit did not happen.
			e.deferSend(ctx, &first, e.now(), "")
		}
		return err
	}
	if p != nil && !p.done {
		p.recorded()
	}
	e.afterReplies(conv, sent)
	switch {
	case begun:
		e.attemptDirect(ctx, plan, first, conv, sent[0])
	case direct:
		e.sendDirect(ctx, first)
	}
	switch state {
	case model.StateQueued:
		e.publish(events.Queued, conv, conv)
		e.assign(ctx)
	case model.StateEnded:
		e.publish(events.Ended, conv, conv)
	}
	return nil
}

// enqueueReplies commits replies to the outbox, one message per content, in
// order. Keys derive from the inbound message so a retried turn cannot
// enqueue twice.
func (e *Engine) enqueueReplies(ctx context.Context, tx store.Tx, c *model.Conversation, inbound *model.Message,
	replies []model.Content, author string) ([]*model.Message, error) {
	var out []*model.Message
	for i, r := range replies {
		m := &model.Message{Conversation: c.ID, Integration: c.Integration, Author: author, Contents: []model.Content{r}}
		key := fmt.Sprintf("reply:%d:%d", inbound.ID, i)
		if err := tx.Outbox().Enqueue(ctx, m, key); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// supportedTypes: the content types the channel serves, narrowed by what the
// assistant understands.
func (e *Engine) supportedTypes(ctx context.Context, in *model.Integration, asst Assistant) (map[string]bool, error) {
	ci, err := e.channelInfo(ctx, in.Channel)
	if err != nil {
		return nil, err
	}
	ai, err := e.assistantInfo(ctx, asst.Backend)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, t := range ci.InboundTypes {
		if len(ai.InboundTypes) == 0 || slices.Contains(ai.InboundTypes, t) {
			out[t] = true
		}
	}
	return out, nil
}

// converse calls the assistant, retrying a bounded number of times.
func (e *Engine) converse(ctx context.Context, in *model.Integration, asst Assistant, conv *model.Conversation,
	contents []model.Content) (*pluginhost.ConverseResponse, error) {
	if asst.settingsJSON == nil {
		asst.settingsJSON = mustJSON(asst.Settings)
	}
	req := &pluginhost.ConverseRequest{
		SettingsJSON:   asst.settingsJSON,
		AssistantID:    asst.ID,
		IntegrationID:  in.ID,
		ConversationID: strconv.FormatInt(conv.ID, 10),
		Contact:        conv.Contact,
		Session:        conv.Session,
		Contents:       contents,
		Channel:        in.Channel,
	}
	// Calls that reach the plugin and fail count as attempts; while the
	// plugin is down (it crashed and is restarting) the call waits for it,
	// up to assistantRestartWait in all.
	reached := 0
	waitUntil := time.Now().Add(assistantRestartWait)
	var lastErr error
	for reached < e.o.AssistantAttempts {
		as, err := e.plug.Assistant(asst.Backend)
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, converseTimeout)
			var resp *pluginhost.ConverseResponse
			resp, err = as.Converse(cctx, req)
			cancel()
			if err == nil {
				return resp, nil
			}
		}
		pause := 100 * time.Millisecond
		if notAttempted(err) {
			if time.Now().After(waitUntil) {
				if reached > 0 {
					// It died answering this message and stays down.
					return nil, fmt.Errorf("the assistant stopped while answering (%v), then %v", lastErr, err)
				}
				return nil, err
			}
		} else {
			reached++
			lastErr = err
			pause = time.Duration(reached) * 200 * time.Millisecond
		}
		if reached < e.o.AssistantAttempts {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(pause):
			}
		}
	}
	return nil, lastErr
}

// adapt turns replies into what the channel carries: components it cannot
// show natively (or quick replies beyond its limits) become text through
// text_conversion.lua; media it cannot send becomes a text with the link.
func (e *Engine) adapt(ctx context.Context, in *model.Integration, replies []model.Content) []model.Content {
	info, err := e.channelInfo(ctx, in.Channel)
	if err != nil {
		return replies
	}
	native := map[string]bool{}
	for _, t := range info.OutboundTypes {
		native[t] = true
	}
	var out []model.Content
	for _, c := range replies {
		switch {
		case c.IsComponent() && native[c.Type] && fitsQuickReplies(c, info):
			out = append(out, c)
		case c.IsComponent():
			out = append(out, model.Content{Type: model.Text, Text: e.hooks.Convert(ctx, c, in.Channel)})
		case native[c.Type]:
			out = append(out, c)
		case c.URL != "":
			text := c.URL
			if label := firstNonEmpty(c.Caption, c.Name, c.Text); label != "" {
				text = label + "\n" + c.URL
			}
			out = append(out, model.Content{Type: model.Text, Text: text})
		case c.Text != "":
			out = append(out, model.Content{Type: model.Text, Text: c.Text})
		}
	}
	return out
}

func fitsQuickReplies(c model.Content, info *pluginhost.ChannelInfo) bool {
	if c.Type != model.QuickReplies {
		return true
	}
	if info.MaxQuickReplies > 0 && len(c.Options) > info.MaxQuickReplies {
		return false
	}
	for _, o := range c.Options {
		if info.MaxQuickReplyTitle > 0 && utf8.RuneCountInString(o.Title) > info.MaxQuickReplyTitle {
			return false
		}
	}
	return true
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
