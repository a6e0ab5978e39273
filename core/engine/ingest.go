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
	reserved := e.reserveIngest(evs)
	var claimed []store.InboxItem
	err = e.st.Tx(ctx, func(tx store.Tx) error {
		res.Stored, res.Duplicates, claimed = 0, 0, claimed[:0]
		var fresh []string // the partitions of the new events, in order, once each
		for _, ev := range evs {
			p := partitionKey(ev)
			added, err := tx.Inbox().Add(ctx, ev, p)
			if err != nil {
				return err
			}
			if !added {
				res.Duplicates++
				continue
			}
			res.Stored++
			if len(fresh) == 0 || fresh[len(fresh)-1] != p {
				fresh = append(fresh, p)
			}
		}
		var err error
		claimed, err = e.claimIngested(ctx, tx, fresh, reserved)
		return err
	})
	if err != nil {
		e.inbox.hand(nil, reserved)
		if len(claimed) > 0 && errors.Is(err, store.ErrUnavailable) {
			e.giveBackIngested(claimed)
		}
		rec.refused(OutcomeError, WebhookResult{Status: http.StatusServiceUnavailable}, "the events could not be stored")
		return WebhookResult{}, fmt.Errorf("store events: %w", err)
	}
	e.inbox.hand(claimed, reserved)
	if logged != nil {
		// Logged once the events are committed, in a batch of its own: the
		// log never holds up, nor fails, what it describes.
		logged.Outcome = OutcomeStored
		if res.Stored == 0 {
			logged.Outcome = OutcomeDuplicate
		}
		e.dlog.enqueue(logged)
	}
	if res.Stored > len(claimed) {
		e.inbox.wakeUp()
	}
	return res, nil
}

// reserveIngest takes slots of the inbox's workers for the events a
// webhook is about to store, one per contact (claimIngested), when the
// store can claim a contact's key by name.
func (e *Engine) reserveIngest(evs []*model.Event) int {
	if _, ok := e.st.Inbox().(store.PartitionClaimer); !ok || e.o.noIngestClaim {
		return 0
	}
	n := 0
	for i, ev := range evs {
		if i == 0 || partitionKey(ev) != partitionKey(evs[i-1]) {
			n++
		}
	}
	return e.inbox.reserve(n)
}

// giveBackIngested gives back the keys a webhook's commit claimed when the
// commit's outcome is unknown (PostgreSQL's connection broke while it
// answered). Had it happened, the keys would stay leased to this node with
// no worker on them, its dispatcher renewing the leases, and the source's
// redelivery would find the events stored and claim nothing. In the
// background, once the database answers again; it fails harmlessly (the
// lease is not ours) when the commit did not happen.
func (e *Engine) giveBackIngested(claimed []store.InboxItem) {
	claimed = slices.Clone(claimed)
	e.goBackground(func() {
		ctx := context.Background()
		for i := range claimed {
			it := &claimed[i]
			err := e.persist(ctx, func() error { return e.st.Inbox().Defer(ctx, it, e.now(), "") })
			if err != nil && !errors.Is(err, store.ErrLeaseLost) {
				e.log.Error("giving back a claimed event", "event", it.ID, "err", err)
			}
		}
		e.inbox.wakeUp()
	})
}

// claimIngested claims for this node's workers, in the transaction that
// stored a webhook's new events (before the ack), the keys of up to
// reserved of their contacts (partitions), and returns their head events:
// the worker that gets one starts on it once the transaction commits,
// without a claim and a commit of its own between the ack and the work. A
// contact whose key is not due (a worker has its earlier event, or it is
// put off) is left to the dispatcher, as are all of them when no slot was
// reserved.
func (e *Engine) claimIngested(ctx context.Context, tx store.Tx, partitions []string, reserved int) ([]store.InboxItem, error) {
	pc, ok := tx.Inbox().(store.PartitionClaimer)
	if !ok || reserved == 0 {
		return nil, nil
	}
	var out []store.InboxItem
	for _, p := range partitions {
		if len(out) == reserved {
			break
		}
		it, ok, err := pc.ClaimPartition(ctx, e.o.Node, p, leaseFor)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, it)
		}
	}
	return out, nil
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
