package engine

import (
	"context"
	"errors"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conversa/conversa/core/events"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/plugins/proto"
)

const (
	sendTimeout = 30 * time.Second
	// maxSendAttempts bounds retries of one send (with RetryMax 5 min, about
	// half an hour of trying) before it is marked failed.
	maxSendAttempts = 12
	// uncertainDelay is the least wait before resending a message whose
	// outcome was unknown: time for its echo to arrive if it did go out.
	uncertainDelay = 15 * time.Second
)

func (e *Engine) listOutbox(ctx context.Context) ([]job[store.OutboxItem], error) {
	items, err := e.st.PendingOutbox(ctx, 1000)
	if err != nil {
		return nil, err
	}
	jobs := make([]job[store.OutboxItem], len(items))
	for i, it := range items {
		jobs[i] = job[store.OutboxItem]{id: it.ID, key: "c" + strconv.FormatInt(it.Conversation, 10), due: it.NextAttemptAt, row: it}
	}
	return jobs, nil
}

// send delivers one outbox row through its channel plugin and records the
// outcome.
func (e *Engine) send(ctx context.Context, it store.OutboxItem) {
	log := e.log.With("integration", it.Integration, "conversation", it.Conversation, "outbox", it.ID)
	msg, err := e.st.Message(ctx, it.MessageID)
	if err != nil {
		log.Error("outbox message unreadable", "err", err)
		e.retry(ctx, &it, "reading message: "+err.Error(), false, 0)
		return
	}
	conv, err := e.st.Conversation(ctx, it.Conversation)
	if err != nil {
		log.Error("outbox conversation unreadable", "err", err)
		e.retry(ctx, &it, "reading conversation: "+err.Error(), false, 0)
		return
	}
	in := e.reg.integration(it.Integration)
	switch {
	case in == nil:
		e.fail(ctx, &it, conv, "the integration was deleted")
		return
	case !in.Enabled:
		e.fail(ctx, &it, conv, "the integration is disabled")
		return
	}
	if it.UncertainSince != nil {
		// The last attempt may have gone out: if its echo has arrived since,
		// it did, and sending again would duplicate the message.
		var absorbed bool
		err := e.st.Write(ctx, func(tx *store.Tx) error {
			var err error
			absorbed, err = tx.AbsorbEcho(ctx, msg, it.UncertainSince.Add(-time.Minute))
			return err
		})
		if err != nil {
			log.Error("checking echoes", "err", err)
		}
		if absorbed {
			log.Info("uncertain send confirmed by its echo")
			e.published(ctx, conv, it.MessageID)
			return
		}
	}
	ct := conv.Contact
	kind := authorKind(msg.Author)
	switch {
	case ct.LastInboundAt.IsZero():
		e.fail(ctx, &it, conv, "no_inbound: the user has not written; a business cannot start a conversation")
		return
	case kind != "agent" && e.now().Sub(ct.LastInboundAt) > assistantWindow:
		e.fail(ctx, &it, conv, "outside_window: automated replies only go within 24 h of the user's last message")
		return
	}
	ch, err := e.plug.Channel(in.Channel)
	if err != nil {
		e.retry(ctx, &it, err.Error(), false, 0)
		return
	}
	req := &proto.SendRequest{
		Integration:    e.reg.forPlugin(in),
		Contact:        contactToProto(ct),
		Contents:       contentsToProto(msg.Contents),
		AuthorKind:     kind,
		ReplyTo:        msg.ReplyTo,
		IdempotencyKey: it.IdempotencyKey,
		NowMs:          e.now().UnixMilli(),
	}
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	resp, err := ch.Send(sctx, req)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down: the row stays pending
		}
		// A call cut by its deadline may have reached the provider.
		uncertain := status.Code(errors.Unwrap(err)) == codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded)
		log.Warn("send failed", "err", err)
		e.retry(ctx, &it, err.Error(), uncertain, 0)
		return
	}
	if se := resp.Error; se != nil {
		text := describeError(se.Code, se.Message)
		if se.Reauthorize {
			e.needsReauth(ctx, in, text)
		}
		if se.Retryable && !se.Refused && it.Attempts+1 < maxSendAttempts {
			log.Warn("send failed; will retry", "err", text, "attempt", it.Attempts+1)
			e.retry(ctx, &it, text, se.UnknownOutcome, time.Duration(se.RetryAfterMs)*time.Millisecond)
			return
		}
		log.Warn("send failed", "err", text)
		if len(resp.MessageIds) > 0 {
			// Part of the message went out before the failure.
			_ = e.st.Write(ctx, func(tx *store.Tx) error {
				return tx.AddProviderIDs(ctx, in.ID, it.MessageID, resp.MessageIds...)
			})
		}
		e.fail(ctx, &it, conv, text)
		return
	}
	err = e.st.Write(ctx, func(tx *store.Tx) error { return tx.OutboxSent(ctx, &it, resp.MessageIds) })
	if err != nil {
		log.Error("recording send", "err", err)
		return
	}
	e.published(ctx, conv, it.MessageID)
}

// published tells the console a message's status changed.
func (e *Engine) published(ctx context.Context, conv *model.Conversation, msgID int64) {
	if m, err := e.st.Message(ctx, msgID); err == nil {
		e.publish(events.Status, conv, m)
	}
}

func (e *Engine) retry(ctx context.Context, it *store.OutboxItem, text string, uncertain bool, after time.Duration) {
	if it.Attempts+1 >= maxSendAttempts {
		if conv, err := e.st.Conversation(ctx, it.Conversation); err == nil {
			e.fail(ctx, it, conv, "gave up after "+strconv.Itoa(it.Attempts+1)+" attempts: "+text)
		}
		return
	}
	wait := max(e.backoff(it.Attempts+1), after)
	if uncertain {
		wait = max(wait, uncertainDelay)
	}
	next := e.now().Add(wait)
	if err := e.st.Write(ctx, func(tx *store.Tx) error { return tx.OutboxRetry(ctx, it, next, text, uncertain) }); err != nil {
		e.log.Error("recording send retry", "outbox", it.ID, "err", err)
	}
}

func (e *Engine) fail(ctx context.Context, it *store.OutboxItem, conv *model.Conversation, text string) {
	if err := e.st.Write(ctx, func(tx *store.Tx) error { return tx.OutboxFailed(ctx, it, text) }); err != nil {
		e.log.Error("recording failed send", "outbox", it.ID, "err", err)
		return
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
	if err := e.st.Write(ctx, func(tx *store.Tx) error { return tx.SetNeedsReauth(ctx, in.ID, reason) }); err != nil {
		e.log.Error("recording re-authorization", "integration", in.ID, "err", err)
		return
	}
	if err := e.Reload(ctx); err != nil {
		e.log.Error("reloading integrations", "err", err)
	}
}
