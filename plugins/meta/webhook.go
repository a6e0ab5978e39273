package meta

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

const signatureHeader = "X-Hub-Signature-256"

// maxChallengeLen bounds the handshake's challenge. Meta sends a short
// number; anything longer or non-numeric is not Meta and is never echoed.
const maxChallengeLen = 64

// HandleWebhook answers Meta's verification handshake (GET) and turns a
// signed event delivery (POST) into normalized events. It never fails the
// call for anything the request contains: refusals and unparseable bodies
// are reported in the response, so the host can answer Meta accordingly.
func (c *channel) HandleWebhook(_ context.Context, req *proto.WebhookRequest) (resp *proto.WebhookResponse, err error) {
	defer func() {
		// A parser bug must not take the plugin process (and every other
		// integration's webhooks) down with it; the host answers 500 and
		// Meta redelivers later.
		if p := recover(); p != nil {
			resp, err = nil, fmt.Errorf("meta webhook: internal error: %v", p)
		}
	}()
	if len(req.GetIntegrations()) == 0 {
		return &proto.WebhookResponse{Status: http.StatusNotFound, Error: "no integration in the request"}, nil
	}
	switch strings.ToUpper(req.GetMethod()) {
	case http.MethodGet:
		return handshake(req), nil
	case http.MethodPost:
		return receive(req), nil
	default:
		return &proto.WebhookResponse{
			Status: http.StatusMethodNotAllowed,
			Error:  fmt.Sprintf("method %q not allowed", truncate(req.GetMethod(), 16)),
		}, nil
	}
}

// handshake answers the GET Meta sends when the callback URL is saved.
func handshake(req *proto.WebhookRequest) *proto.WebhookResponse {
	deny := func(reason string) *proto.WebhookResponse {
		return &proto.WebhookResponse{Status: http.StatusForbidden, Error: "verification: " + reason}
	}
	s, problems := parseSettings(req.GetIntegrations()[0].GetSettingsJson())
	if len(problems) > 0 {
		return deny(problems.String())
	}
	if s.VerifyToken == "" {
		return deny("the integration has no verify_token")
	}
	q, err := url.ParseQuery(req.GetQuery())
	if err != nil {
		return deny("unreadable query string")
	}
	if q.Get("hub.mode") != "subscribe" {
		return deny("hub.mode is not subscribe")
	}
	if !equalSecret(q.Get("hub.verify_token"), s.VerifyToken) {
		return deny("hub.verify_token does not match")
	}
	challenge := q.Get("hub.challenge")
	if !validChallenge(challenge) {
		return deny("hub.challenge is not a number of at most 64 digits")
	}
	return &proto.WebhookResponse{
		Authenticated: true,
		Status:        http.StatusOK,
		ContentType:   "text/plain",
		Body:          []byte(challenge),
	}
}

// equalSecret compares in constant time, including the length: hashing
// first makes both sides the same size.
func equalSecret(got, want string) bool {
	g := sha256.Sum256([]byte(got))
	w := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

func validChallenge(s string) bool {
	if s == "" || len(s) > maxChallengeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// candidate is an integration that may receive a delivery's entries.
type candidate struct {
	id        string
	accountID string
	verified  bool
}

// router assigns entries to integrations (CONTRACT §3): an entry goes to the
// integration whose account_id equals entry.id and whose app secret verified
// the body; failing that, to the integration the URL names if it verified
// and names no account of its own.
type router struct {
	first      candidate
	candidates []candidate
}

func (r router) route(entryID string) (integration string, ok bool) {
	if entryID != "" {
		for _, c := range r.candidates {
			if c.verified && c.accountID == entryID {
				return c.id, true
			}
		}
	}
	if r.first.verified && r.first.accountID == "" {
		return r.first.id, true
	}
	return r.first.id, false
}

// receive checks an event delivery's signature, then parses it.
func receive(req *proto.WebhookRequest) *proto.WebhookResponse {
	refuse := func(reason string) *proto.WebhookResponse {
		return &proto.WebhookResponse{Error: reason}
	}
	header := headerValue(req.GetHeaders(), signatureHeader)
	if header == "" {
		return refuse("missing " + signatureHeader + " header")
	}
	sig, ok := parseSignature(header)
	if !ok {
		return refuse("malformed " + signatureHeader + " header (want sha256=<64 hex digits>)")
	}

	r, checked := verify(req.GetIntegrations(), req.GetBody(), sig)
	if !r.first.verified && !anyVerified(r.candidates) {
		if checked == 0 {
			return refuse("no candidate integration has an app_secret to check the signature with")
		}
		return refuse(fmt.Sprintf("signature matches the app secret of none of %d candidate integration(s)", checked))
	}

	events, err := parseDelivery(req.GetBody(), r)
	if err != nil {
		return &proto.WebhookResponse{
			Authenticated: true,
			Malformed:     true,
			Status:        http.StatusBadRequest,
			Error:         err.Error(),
		}
	}
	return &proto.WebhookResponse{Authenticated: true, Events: events}
}

// verify computes the body's HMAC once per distinct app secret among the
// candidates and marks those whose secret matches sig. It returns how many
// candidates had a secret to check with.
func verify(integrations []*proto.Integration, body, sig []byte) (router, int) {
	var r router
	macs := map[string]bool{}
	checked := 0
	for i, in := range integrations {
		c := candidate{id: in.GetId()}
		if s, problems := parseSettings(in.GetSettingsJson()); len(problems) == 0 && s.AppSecret != "" {
			// An empty key would let anyone sign: such an integration
			// never verifies anything.
			checked++
			c.accountID = s.AccountID
			ok, seen := macs[s.AppSecret]
			if !seen {
				m := hmac.New(sha256.New, []byte(s.AppSecret))
				m.Write(body)
				ok = hmac.Equal(m.Sum(nil), sig)
				macs[s.AppSecret] = ok
			}
			c.verified = ok
		}
		if i == 0 {
			r.first = c
		}
		r.candidates = append(r.candidates, c)
	}
	return r, checked
}

func anyVerified(cs []candidate) bool {
	for _, c := range cs {
		if c.verified {
			return true
		}
	}
	return false
}

func headerValue(hs []*proto.Header, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h.GetName(), name) {
			return strings.TrimSpace(h.GetValue())
		}
	}
	return ""
}

// parseSignature reads "sha256=<hex>" into the 32 bytes of the MAC.
func parseSignature(v string) ([]byte, bool) {
	const prefix = "sha256="
	if len(v) != len(prefix)+2*sha256.Size || !strings.EqualFold(v[:len(prefix)], prefix) {
		return nil, false
	}
	sig, err := hex.DecodeString(v[len(prefix):])
	if err != nil {
		return nil, false
	}
	return sig, true
}

// envelope is the top level of a delivery. Entries stay jsonValues so that
// one entry of the wrong shape costs only itself.
type envelope struct {
	Entry jsonValue `json:"entry"`
}

// entryFields are one entry's fields; the item lists stay jsonValues for
// the same reason.
type entryFields struct {
	ID        looseString `json:"id"`
	Time      looseInt    `json:"time"`
	Messaging jsonValue   `json:"messaging"`
	Standby   jsonValue   `json:"standby"`
	Changes   jsonValue   `json:"changes"`
}

var errNotObject = errors.New("body: not a JSON object")

// parseDelivery turns a verified body into events, entry by entry and item by
// item. It fails only when the body as a whole is unusable; anything wrong
// below the entry list becomes an ignored event that keeps its raw JSON.
//
// The object field is not checked: Meta's docs disagree on its value for
// Facebook-login apps, and routing goes by entry id anyway.
func parseDelivery(body []byte, r router) ([]*proto.Event, error) {
	t := trees.Get().(*tree)
	defer t.release()
	root := jsonValue{b: body}
	if t.parse(body) {
		root.t = t
	}
	return parseEntries(root, r)
}

// parseEntries is parseDelivery of a body read into a tree or not: without
// one (the reference the tree is tested against) every level is decoded
// with encoding/json.
func parseEntries(body jsonValue, r router) ([]*proto.Event, error) {
	if firstByte(body.b) != '{' {
		return nil, errNotObject
	}
	var env envelope
	if err := decode(body, &env); err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	if isNull(env.Entry.b) {
		return nil, errors.New("body: no entry list")
	}
	if firstByte(env.Entry.b) != '[' {
		return nil, errors.New("body: entry is not a list")
	}
	entries, err := list(env.Entry)
	if err != nil {
		return nil, fmt.Errorf("body: entry: %w", err)
	}

	events := make([]*proto.Event, 0, len(entries))
	for _, v := range entries {
		raw := v.b
		if isNull(raw) {
			continue
		}
		var e entryFields
		if err := decode(v, &e); err != nil {
			ev := badItem(raw, "entry: "+err.Error())
			ev.Integration = r.first.id
			events = append(events, ev)
			continue
		}
		x := itemContext{account: string(e.ID), entryTimeMs: toMillis(int64(e.Time))}
		start := len(events)
		events = appendItems(events, raw, "messaging", e.Messaging, x, normalizeItem)
		x.standby = true
		events = appendItems(events, raw, "standby", e.Standby, x, normalizeItem)
		x.standby = false
		events = appendItems(events, raw, "changes", e.Changes, x, normalizeChange)

		integration, ok := r.route(x.account)
		for _, ev := range events[start:] {
			ev.Integration = integration
			ev.AccountId = x.account
			if !ok {
				unrouted(ev, x.account)
			}
		}
	}
	return events, nil
}

func appendItems(events []*proto.Event, entryRaw []byte, field string, v jsonValue, x itemContext,
	normalize func(jsonValue, itemContext) *proto.Event) []*proto.Event {
	if isNull(v.b) {
		return events
	}
	if firstByte(v.b) != '[' {
		return append(events, badItem(entryRaw, "entry."+field+" is not a list"))
	}
	items, err := list(v)
	if err != nil {
		return append(events, badItem(entryRaw, "entry."+field+": "+err.Error()))
	}
	for _, it := range items {
		events = append(events, normalize(it, x))
	}
	return events
}

// unrouted records an event of an account no verified integration serves,
// under the integration the URL names, without acting on it.
func unrouted(ev *proto.Event, account string) {
	what := "entry for unknown account " + truncate(account, 64)
	if account == "" {
		what = "entry without an account id"
	} else if account == "0" {
		what += " (the App Dashboard's test button sends id 0)"
	}
	if ev.Kind == sdk.EventIgnored {
		ev.Note = what + ": " + ev.Note
	} else {
		ev.Note = what + " (a " + ev.Kind + " event)"
		ev.Kind = sdk.EventIgnored
	}
	ev.DedupeKey = "unrouted:" + ev.DedupeKey
}

// toMillis takes a Meta timestamp in seconds or milliseconds: the test form
// and comment changes use seconds, messaging uses milliseconds. 1e11 ms is in
// 1973 and 1e11 s in the year 5138, so the two never overlap in practice.
func toMillis(v int64) int64 {
	switch {
	case v <= 0:
		return 0
	case v < 1e11:
		return v * 1000
	default:
		return v
	}
}
