package engine

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/conversa/conversa/core/events"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/store"
)

const (
	// sendTimeout bounds one Send call, the provider's answer included
	// (Meta answers in well under a second; a call this slow may or may not
	// have gone out, and is treated as such).
	sendTimeout = 15 * time.Second
	// maxSendAttempts bounds attempts of one send (with RetryMax 5 min,
	// about half an hour of trying) before it is marked failed.
	maxSendAttempts = 12
	// defaultEchoWait is how long a send whose outcome is unknown waits for its
	// echo (on channels that echo) before it is sent again, counted from
	// the attempt, or from this process's start when the attempt was made
	// by one that died (the provider retries its webhooks once we answer
	// again).
	defaultEchoWait = 30 * time.Second
)

// send delivers one outbox row through its channel plugin and records the
// outcome. Every attempt is committed (in flight) before the plugin is
// called, so a crash or a timeout never leads to an immediate resend: on a
// channel that echoes sends, the engine waits for the echo; on one that
// does not, it sends again and marks the message as possibly duplicated.
func (e *Engine) send(ctx context.Context, it store.OutboxItem) {
	log := e.log.With("integration", it.Integration, "conversation", it.Conversation, "outbox", it.ID)
	msg, err := e.st.Messages().Get(ctx, it.MessageID)
	if err != nil {
		log.Error("outbox message unreadable", "err", err)
		e.retry(ctx, &it, "reading the message: "+err.Error(), 0)
		return
	}
	conv, err := e.st.Conversations().Get(ctx, it.Conversation)
	if err != nil {
		log.Error("outbox conversation unreadable", "err", err)
		e.retry(ctx, &it, "reading the conversation: "+err.Error(), 0)
		return
	}
	in := e.reg.integration(it.Integration)
	switch {
	case in == nil:
		e.fail(ctx, &it, conv, "the integration was deleted")
		return
	case !in.Enabled:
		e.sending(in, it.MessageID).done(OutcomeFailed, "the integration is disabled", nil)
		e.fail(ctx, &it, conv, "the integration is disabled")
		return
	}
	if ok, why := e.plug.Availability(in.Channel); !ok {
		// Nothing is attempted while the channel is down: the row waits, its
		// conversation's later messages with it.
		e.deferSend(ctx, &it, e.now().Add(waitFor(e.now().Sub(it.CreatedAt))), why)
		return
	}
	info, err := e.channelInfo(ctx, in.Channel)
	if err != nil {
		e.deferSend(ctx, &it, e.now().Add(waitFor(e.now().Sub(it.CreatedAt))), "describing the channel: "+err.Error())
		return
	}
	possibleDuplicate := false
	if it.State == model.StatusInFlight {
		// The last attempt's outcome is unknown.
		if info.EchoesSends {
			since := it.AttemptAt
			if since.Before(e.started) {
				since = e.started
			}
			if deadline := since.Add(e.o.EchoWait); e.now().Before(deadline) {
				e.deferSend(ctx, &it, deadline, "")
				return
			}
			// No echo came: it did not go out.
		} else {
			possibleDuplicate = true
		}
	}
	ct := conv.Contact
	kind := authorKind(msg.Author)
	// Why a message is given up before any attempt is logged too: it is
	// the answer to "why didn't it arrive?".
	refuse := func(why string) {
		e.sending(in, it.MessageID).done(OutcomeFailed, why, nil)
		e.fail(ctx, &it, conv, why)
	}
	switch {
	case ct.LastInboundAt.IsZero():
		refuse("no_inbound: the user has not written; a business cannot start a conversation")
		return
	case kind != "agent" && e.now().Sub(ct.LastInboundAt) > assistantWindow:
		refuse("outside_window: automated replies only go within 24 h of the user's last message")
		return
	}
	if it.Attempts >= maxSendAttempts {
		refuse("gave up after " + strconv.Itoa(it.Attempts) + " attempts: " + msg.Error)
		return
	}
	ch, err := e.plug.Channel(in.Channel)
	if err != nil {
		e.deferSend(ctx, &it, e.now().Add(time.Second), err.Error())
		return
	}
	if err := e.persist(ctx, func() error { return e.st.Outbox().Begin(ctx, &it, possibleDuplicate) }); err != nil {
		if errors.Is(err, store.ErrIllegalTransition) {
			// Settled while this worker held it (an echo confirmed the
			// earlier attempt): hand the conversation's next message on now
			// rather than when the lease lapses.
			e.deferSend(ctx, &it, e.now(), "")
			return
		}
		if !errors.Is(err, store.ErrLeaseLost) {
			log.Error("committing a send attempt", "err", err)
		}
		return // the row is as it was; its lease lapses and it is claimed again
	}
	e.attempt(ctx, log, &it, in, conv, msg, ch, kind, possibleDuplicate)
}

// attempt calls the channel for a send whose attempt is committed (Begin),
// and records the outcome.
func (e *Engine) attempt(ctx context.Context, log *slog.Logger, it *store.OutboxItem, in *model.Integration,
	conv *model.Conversation, msg *model.Message, ch pluginhost.Channel, kind string, possibleDuplicate bool) {
	ct := conv.Contact
	if possibleDuplicate {
		log.Warn("resending a message whose last attempt's outcome is unknown; the user may receive it twice")
	}
	req := &pluginhost.SendRequest{
		Integration:    e.reg.forPlugin(in),
		Contact:        ct,
		Contents:       msg.Contents,
		AuthorKind:     kind,
		ReplyTo:        msg.ReplyTo,
		IdempotencyKey: it.IdempotencyKey,
		Now:            e.now(),
	}
	rec := e.sending(in, it.MessageID)
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	start := time.Now()
	resp, err := ch.Send(sctx, req)
	cancel()
	// A retry at the attempt limit is the end.
	retryOutcome := OutcomeRetry
	if it.Attempts >= maxSendAttempts {
		retryOutcome = OutcomeFailed
	}
	e.observeSend(ctx, in.Channel, in.ID, conv.ID, start, resp, err)
	switch {
	case err != nil && ctx.Err() != nil:
		rec.done(OutcomeUnknown, "interrupted by the server stopping; looked at again at the next start", nil)
		return // shutting down: the row stays in flight and is reconciled at the next start
	case err != nil && notAttempted(err):
		// The plugin went down before the call: nothing went out.
		rec.done(retryOutcome, "the channel plugin could not be reached: "+err.Error(), nil)
		e.retry(ctx, it, err.Error(), 0)
		return
	case err != nil:
		// The call reached the plugin and failed (a crash, the deadline): it
		// may have reached the provider.
		log.Warn("send outcome unknown", "err", err)
		rec.done(OutcomeUnknown, "the channel plugin failed during the send: "+err.Error(), nil)
		e.deferSend(ctx, it, e.now().Add(e.backoff(it.Attempts)), err.Error())
		return
	}
	if se := resp.Error; se != nil {
		text := describeError(se.Code, se.Message)
		if se.Reauthorize {
			e.needsReauth(ctx, in, text)
		}
		after := se.RetryAfter
		switch {
		case se.Retryable && !se.Refused && se.UnknownOutcome:
			log.Warn("send outcome unknown; will look for its echo", "err", text, "attempt", it.Attempts)
			rec.done(OutcomeUnknown, text, resp)
			e.deferSend(ctx, it, e.now().Add(max(e.backoff(it.Attempts), after)), text)
			return
		case se.Retryable && !se.Refused:
			log.Warn("send failed; will retry", "err", text, "attempt", it.Attempts)
			rec.done(retryOutcome, text, resp)
			e.retry(ctx, it, text, after)
			return
		}
		log.Warn("send failed", "err", text)
		rec.done(OutcomeFailed, text, resp)
		if len(resp.MessageIDs) > 0 {
			// Part of the message went out before the failure.
			if err := e.persist(ctx, func() error {
				return e.st.Messages().AddProviderIDs(ctx, in.ID, it.MessageID, resp.MessageIDs...)
			}); err != nil {
				log.Error("recording the parts that went out", "err", err)
			}
		}
		e.fail(ctx, it, conv, text)
		return
	}
	rec.done(OutcomeSent, "", resp)
	// On a channel that echoes sends, the outcome need not wait for the
	// disk: lost in a crash, the send is in flight again and its echo
	// confirms it (the echo's webhook is stored durably before it is
	// acknowledged, which syncs this commit too if it came first). On one
	// that does not, a lost outcome would send the message again.
	record := e.st.Tx
	if info, ok := e.channels.cached(in.Channel); ok && info.EchoesSends {
		record = e.txEvent
	}
	if err := e.persist(ctx, func() error {
		return record(ctx, func(tx store.Tx) error { return tx.Outbox().Sent(ctx, it, resp.MessageIDs) })
	}); err != nil {
		// The provider has it; the row stays in flight and its echo (or the
		// next look, on a channel without echoes) settles it.
		log.Error("recording a send", "err", err)
		return
	}
	e.published(ctx, conv, it.MessageID)
}

// published tells the console a message's status changed.
func (e *Engine) published(ctx context.Context, conv *model.Conversation, msgID int64) {
	if m, err := e.st.Messages().Get(ctx, msgID); err == nil {
		e.publish(events.Status, conv, m)
	}
}

// retry records a definite failure and schedules the next attempt; at the
// attempt limit the send fails, whatever else is readable.
func (e *Engine) retry(ctx context.Context, it *store.OutboxItem, text string, after time.Duration) {
	if it.Attempts >= maxSendAttempts {
		e.fail(ctx, it, nil, "gave up after "+strconv.Itoa(it.Attempts)+" attempts: "+text)
		return
	}
	at := e.now().Add(max(e.backoff(max(it.Attempts, 1)), after))
	if err := e.persist(ctx, func() error { return e.st.Outbox().Retry(ctx, it, at, text) }); err != nil && !errors.Is(err, store.ErrLeaseLost) {
		e.log.Error("recording a send retry", "outbox", it.ID, "err", err)
	}
}

// deferSend leaves the send as it is and looks again at at.
func (e *Engine) deferSend(ctx context.Context, it *store.OutboxItem, at time.Time, text string) {
	if err := e.persist(ctx, func() error { return e.st.Outbox().Defer(ctx, it, at, text) }); err != nil && !errors.Is(err, store.ErrLeaseLost) {
		e.log.Error("deferring a send", "outbox", it.ID, "err", err)
	}
}

// fail gives up on a send; conv (nil when unreadable) is told.
func (e *Engine) fail(ctx context.Context, it *store.OutboxItem, conv *model.Conversation, text string) {
	if err := e.persist(ctx, func() error { return e.st.Outbox().Fail(ctx, it, text) }); err != nil {
		if !errors.Is(err, store.ErrLeaseLost) {
			e.log.Error("recording a failed send", "outbox", it.ID, "err", err)
		}
		return
	}
	if conv == nil {
		var err error
		if conv, err = e.st.Conversations().Get(ctx, it.Conversation); err != nil {
			return
		}
	}
	e.published(ctx, conv, it.MessageID)
}

// needsReauth flags an integration whose credentials stopped working; the
// API and console show it until the operator updates the credentials.
func (e *Engine) needsReauth(ctx context.Context, in *model.Integration, reason string) {
	if in.NeedsReauth == reason {
		return
	}
	e.log.Error("integration needs re-authorization", "integration", in.ID, "reason", reason)
	if err := e.st.Integrations().SetNeedsReauth(ctx, in.ID, reason); err != nil {
		e.log.Error("recording re-authorization", "integration", in.ID, "err", err)
		return
	}
	if err := e.Reload(ctx); err != nil {
		e.log.Error("reloading integrations", "err", err)
	}
}
