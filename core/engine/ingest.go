package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/store"
)

// Errors the HTTP layer maps to statuses.
var (
	// ErrUnknownIntegration: no such integration, or it is disabled (404).
	ErrUnknownIntegration = errors.New("unknown or disabled integration")
	// ErrChannelDown: the channel plugin could not be reached (503: the
	// source retries later; nothing was stored).
	ErrChannelDown = errors.New("channel unavailable")
)

// WebhookRequest is an HTTP request to /webhooks/{integration}, copied out of
// the HTTP server's buffers.
type WebhookRequest struct {
	Method  string
	Path    string
	Query   string
	Headers map[string][]string
	Body    []byte
}

// WebhookResult is what to answer the source.
type WebhookResult struct {
	Status      int
	Body        []byte
	ContentType string
	// Stored counts new events; duplicates are acknowledged but not stored
	// again.
	Stored, Duplicates int
	// Refusal says why a request was refused (for the log).
	Refusal string
}

// webhookTimeout bounds the channel plugin's verify-and-parse step, which
// runs before the source is acknowledged.
const webhookTimeout = 5 * time.Second

// Webhook hands a source's request to the integration's channel plugin and
// commits the events it returns to the inbox before returning: the caller
// acknowledges the source only after this. Nothing is stored for a refused
// or unparsable request.
func (e *Engine) Webhook(ctx context.Context, integration string, r WebhookRequest) (WebhookResult, error) {
	in := e.reg.integration(integration)
	if in == nil {
		return WebhookResult{}, ErrUnknownIntegration
	}
	rec := e.receiving(in, r)
	if !in.Enabled {
		rec.refused(OutcomeDisabled, WebhookResult{Status: http.StatusNotFound}, "the integration is disabled")
		return WebhookResult{}, ErrUnknownIntegration
	}
	if ok, why := e.Availability(in); !ok {
		rec.refused(OutcomeUnavailable, WebhookResult{Status: http.StatusServiceUnavailable}, why)
		return WebhookResult{}, fmt.Errorf("%w: %s", ErrChannelDown, why)
	}
	ch, err := e.plug.Channel(in.Channel)
	if err != nil {
		rec.refused(OutcomeUnavailable, WebhookResult{Status: http.StatusServiceUnavailable}, "channel plugin unavailable")
		return WebhookResult{}, fmt.Errorf("%w: %v", ErrChannelDown, err)
	}
	// The plugin contract's strings are UTF-8: bytes that are not cannot
	// cross it, and cannot be part of valid credentials either. They are
	// replaced, so the channel gives the request its real answer (a 401 for
	// a mangled token) instead of the call failing.
	req := &pluginhost.WebhookRequest{Method: r.Method, Path: strings.ToValidUTF8(r.Path, "\uFFFD"),
		Query: strings.ToValidUTF8(r.Query, "\uFFFD"), Body: r.Body}
	for name, vals := range r.Headers {
		for _, v := range vals {
			req.Headers = append(req.Headers, pluginhost.Header{Name: strings.ToValidUTF8(name, "\uFFFD"),
				Value: strings.ToValidUTF8(v, "\uFFFD")})
		}
	}
	candidates := append([]*model.Integration{in}, e.reg.siblings(in)...)
	for _, c := range candidates {
		req.Integrations = append(req.Integrations, e.reg.forPlugin(c))
	}
	cctx, cancel := context.WithTimeout(ctx, webhookTimeout)
	defer cancel()
	resp, err := ch.HandleWebhook(cctx, req)
	if err != nil {
		rec.refused(OutcomeUnavailable, WebhookResult{Status: http.StatusServiceUnavailable}, "the channel plugin did not answer")
		return WebhookResult{}, fmt.Errorf("%w: %v", ErrChannelDown, err)
	}
	res := WebhookResult{Status: resp.Status, Body: resp.Body, ContentType: resp.ContentType, Refusal: resp.Error}
	switch {
	case !resp.Authenticated:
		if res.Status == 0 || res.Status < 400 {
			res.Status = http.StatusUnauthorized
		}
		if res.Refusal == "" {
			res.Refusal = "credentials or signature do not match"
		}
		rec.refused(OutcomeUnauthorized, res, res.Refusal)
		return res, nil
	case resp.Malformed:
		res.Status = http.StatusBadRequest
		why := res.Refusal
		if why == "" {
			why = "the body could not be parsed"
		}
		rec.refused(OutcomeMalformed, res, why)
		return res, nil
	}
	if res.Status == 0 {
		res.Status = http.StatusOK
	}
	if len(resp.Events) == 0 {
		outcome := OutcomeIgnored
		if r.Method == http.MethodGet {
			outcome = OutcomeVerified
		}
		rec.refused(outcome, res, "")
		return res, nil
	}
	allowed := map[string]bool{}
	for _, c := range candidates {
		allowed[c.ID] = true
	}
	evs := make([]*model.Event, 0, len(resp.Events))
	for _, ev := range resp.Events {
		if ev.Integration == "" || !allowed[ev.Integration] {
			ev.Integration = in.ID
		}
		if ev.DedupeKey == "" {
			// A channel that gives no key gets one from the content: a
			// redelivery of the same bytes is still stored once.
			ev.DedupeKey = "raw:" + hashBytes([]byte(ev.Raw), ev.Kind, ev.MessageID, ev.ContactID)
		}
		evs = append(evs, ev)
	}
	// One contact's events keep their order; across contacts the batch is
	// stored in key order, so two webhooks that name the same contacts
	// (on two nodes) lock their queue keys in the same order and never
	// deadlock.
	slices.SortStableFunc(evs, func(a, b *model.Event) int { return strings.Compare(partitionKey(a), partitionKey(b)) })
	rec.events(evs)
	logged := rec.row(res)
	err = e.st.Tx(ctx, func(tx store.Tx) error {
		res.Stored, res.Duplicates = 0, 0
		for _, ev := range evs {
			added, err := tx.Inbox().Add(ctx, ev, partitionKey(ev))
			if err != nil {
				return err
			}
			if added {
				res.Stored++
			} else {
				res.Duplicates++
			}
		}
		return nil
	})
	if err != nil {
		rec.refused(OutcomeError, WebhookResult{Status: http.StatusServiceUnavailable}, "the events could not be stored")
		return WebhookResult{}, fmt.Errorf("store events: %w", err)
	}
	if logged != nil {
		// Logged once the events are committed, in a batch of its own: the
		// log never holds up, nor fails, what it describes.
		logged.Outcome = OutcomeStored
		if res.Stored == 0 {
			logged.Outcome = OutcomeDuplicate
		}
		e.dlog.enqueue(logged)
	}
	if res.Stored > 0 {
		e.inbox.wakeUp()
	}
	return res, nil
}

// partitionKey groups the events processed in order: one contact's events.
func partitionKey(ev *model.Event) string {
	if ev.ContactID != "" {
		return ev.Integration + "\x00" + ev.ContactID
	}
	return ev.Integration + "\x00msg:" + ev.MessageID
}

func settingsJSON(in *model.Integration) []byte {
	s := in.Settings
	if s == nil {
		s = map[string]any{}
	}
	b, err := json.Marshal(s)
	if err != nil {
		return []byte("{}")
	}
	return b
}
