package sdktest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// integrationID is the id of the one integration the suite's calls carry.
const integrationID = "contract"

// hostileFixtures bounds how many webhook fixtures hostile variants are
// derived from, to keep a run to a few seconds.
const hostileFixtures = 3

func (r *runner) channelCases() {
	r.run("channel.describe", r.channelDescribeCase)
	if r.fx.dir == "" || r.fx.settings == nil {
		for _, n := range []string{"settings.valid", "webhook", "send", "send.error.500", "send.error.unreachable", "send.deadline", "profile"} {
			r.record(Result{Name: n, Status: Skip, Reason: "needs a fixtures directory with settings.json"})
		}
		return
	}
	r.run("settings.valid", r.settingsValidCase)
	for _, f := range r.fx.settingsInvalid {
		r.run("settings_invalid/"+f.name, func(c *tcase) { r.settingsInvalidCase(c, f) })
	}
	if len(r.fx.webhooks) == 0 {
		r.record(Result{Name: "webhook", Status: Skip, Reason: "no webhooks/*.json fixtures"})
	}
	var hostile []fixtureFile
	for _, f := range r.fx.webhooks {
		var eligible bool
		r.run("webhook/"+f.name, func(c *tcase) { eligible = r.webhookCase(c, f) })
		if eligible && len(hostile) < hostileFixtures {
			hostile = append(hostile, f)
		}
	}
	for _, f := range hostile {
		for _, v := range hostileVariants {
			r.run("webhook/"+f.name+"/"+v.name, func(c *tcase) { r.hostileCase(c, f, v) })
		}
	}
	if len(r.fx.sends) == 0 {
		r.record(Result{Name: "send", Status: Skip, Reason: "no sends/*.json fixtures"})
	}
	var base *fixtureFile
	for i, f := range r.fx.sends {
		r.run("send/"+f.name, func(c *tcase) { r.sendCase(c, f) })
		if base == nil && succeeds(f) {
			base = &r.fx.sends[i]
		}
	}
	if base == nil {
		for _, n := range []string{"send.error.500", "send.error.unreachable", "send.deadline"} {
			r.record(Result{Name: n, Status: Skip, Reason: "needs a sends/*.json fixture that succeeds (want.error null) and calls the provider"})
		}
	} else {
		r.run("send.error.500", func(c *tcase) { r.send500Case(c, *base) })
		r.run("send.error.unreachable", func(c *tcase) { r.sendUnreachableCase(c, *base) })
		r.run("send.deadline", func(c *tcase) { r.sendDeadlineCase(c, *base) })
	}
	for _, f := range r.fx.profiles {
		r.run("profile/"+f.name, func(c *tcase) { r.profileCase(c, f) })
	}
}

// succeeds reports whether a send fixture is one the provider accepts:
// the base of the generic send cases.
func succeeds(f fixtureFile) bool {
	var peek struct {
		Provider []json.RawMessage `json:"provider"`
		Want     struct {
			Error json.RawMessage `json:"error"`
		} `json:"want"`
	}
	if json.Unmarshal(f.raw, &peek) != nil {
		return false
	}
	e := bytes.TrimSpace(peek.Want.Error)
	return len(peek.Provider) > 0 && (len(e) == 0 || string(e) == "null")
}

func (r *runner) channelDescribeCase(c *tcase) {
	ctx, cancel := r.callCtx(callTimeout)
	defer cancel()
	ci, err := r.channel.Describe(ctx, &proto.DescribeRequest{})
	if err != nil {
		c.errorf("Channel.Describe: %s", grpcText(err))
		return
	}
	r.channelInfo = ci
	if ci.GetName() != r.info.GetName() {
		c.errorf("name %q, but Info.Describe says %q", ci.GetName(), r.info.GetName())
	}
	for _, l := range []struct {
		name  string
		types []string
	}{{"inbound_types", ci.GetInboundTypes()}, {"outbound_types", ci.GetOutboundTypes()}} {
		for _, t := range l.types {
			if !knownContentTypes[t] {
				c.errorf("%s: unknown content type %q", l.name, t)
			}
		}
	}
	if len(ci.GetOutboundTypes()) == 0 {
		c.errorf("outbound_types is empty (Send must carry text at least)")
	}
	for _, t := range ci.GetOutboundTypes() {
		if t == sdk.ContentQuickReplies && ci.GetMaxQuickReplies() <= 0 {
			c.errorf("outbound_types has quick_replies, but max_quick_replies is %d", ci.GetMaxQuickReplies())
		}
	}
	if ci.GetMaxQuickReplies() < 0 || ci.GetMaxQuickReplyTitle() < 0 {
		c.errorf("max_quick_replies and max_quick_reply_title must not be negative")
	}
	for _, l := range []struct {
		name string
		keys []string
	}{
		{"secret_settings", ci.GetSecretSettings()}, {"generated_settings", ci.GetGeneratedSettings()},
		{"required_settings", ci.GetRequiredSettings()}, {"url_settings", ci.GetUrlSettings()},
	} {
		for _, k := range l.keys {
			if strings.TrimSpace(k) == "" {
				c.errorf("%s has an empty setting name", l.name)
			}
		}
	}
	for h, setting := range ci.GetWebhookHeaders() {
		if h == "" || setting == "" {
			c.errorf("webhook_headers: %q → %q: both must be named", h, setting)
		}
	}
	fieldTypes := map[string]bool{"": true, "string": true, "secret": true, "url": true, "number": true, "bool": true, "select": true}
	names := map[string]bool{}
	for _, f := range ci.GetSettings() {
		if f.GetName() == "" {
			c.errorf("settings: a field has no name")
		}
		if names[f.GetName()] {
			c.errorf("settings: field %q is listed twice", f.GetName())
		}
		names[f.GetName()] = true
		if !fieldTypes[f.GetType()] {
			c.errorf("settings: field %q has unknown type %q", f.GetName(), f.GetType())
		}
		if f.GetType() == "select" && len(f.GetChoices()) == 0 {
			c.errorf("settings: select field %q has no choices", f.GetName())
		}
	}
}

// integration is the suite's integration with settings.json rendered.
func (r *runner) integration(v vars) (*proto.Integration, error) {
	s, err := r.fx.settingsJSON(v)
	if err != nil {
		return nil, err
	}
	return &proto.Integration{Id: integrationID, SettingsJson: s}, nil
}

func (r *runner) settingsValidCase(c *tcase) {
	in, err := r.integration(r.vars())
	if err != nil {
		c.fail("fixture " + err.Error())
		return
	}
	ctx, cancel := r.callCtx(callTimeout)
	defer cancel()
	resp, err := r.channel.ValidateSettings(ctx, &proto.ValidateSettingsRequest{Integration: in})
	r.sawErr("ValidateSettings's error", err)
	if codeOf(err) == codes.Unimplemented {
		c.skip("the plugin does not implement ValidateSettings")
		return
	}
	if err != nil {
		c.errorf("ValidateSettings: %s", grpcText(err))
		return
	}
	for _, p := range resp.GetProblems() {
		r.saw("a ValidateSettings problem", p.GetMessage())
		c.errorf("settings.json: %s: %s", p.GetField(), quoteShort(p.GetMessage()))
	}
}

func (r *runner) settingsInvalidCase(c *tcase, ff fixtureFile) {
	doc, err := r.vars().render(ff.raw)
	var f *settingsInvalidFixture
	if err == nil {
		f, err = parseSettingsInvalid(doc)
	}
	if err != nil {
		c.errorf("fixture %s: %v", ff.path, err)
		return
	}
	ctx, cancel := r.callCtx(callTimeout)
	defer cancel()
	resp, err := r.channel.ValidateSettings(ctx, &proto.ValidateSettingsRequest{
		Integration: &proto.Integration{Id: integrationID, SettingsJson: f.Settings},
	})
	if codeOf(err) == codes.Unimplemented {
		c.errorf("the plugin does not implement ValidateSettings, but there are settings_invalid fixtures")
		return
	}
	if err != nil {
		c.errorf("ValidateSettings: %s", grpcText(err))
		return
	}
	got := map[string]bool{}
	var all []string
	for _, p := range resp.GetProblems() {
		got[p.GetField()] = true
		all = append(all, p.GetField()+": "+p.GetMessage())
		if strings.TrimSpace(p.GetMessage()) == "" {
			c.errorf("problem for field %q has no message", p.GetField())
		}
	}
	for _, w := range f.WantFields {
		if !got[w] {
			c.errorf("no problem names field %q (got %s)", w, quoteShort(strings.Join(all, "; ")))
		}
	}
}

// webhookRequest builds the request a fixture describes, signed when it
// says so.
func (r *runner) webhookRequest(f *webhookFixture, in *proto.Integration) (*proto.WebhookRequest, error) {
	body, err := f.Request.body()
	if err != nil {
		return nil, err
	}
	req := &proto.WebhookRequest{
		Integrations: []*proto.Integration{in},
		Method:       f.Request.Method,
		Path:         f.Request.Path,
		Query:        f.Request.Query,
		Body:         body,
	}
	for _, k := range sortedKeys(f.Request.Headers) {
		req.Headers = append(req.Headers, &proto.Header{Name: k, Value: f.Request.Headers[k]})
	}
	if f.Sign != nil {
		if err := sign(req, f.Sign, in.GetSettingsJson()); err != nil {
			return nil, err
		}
	}
	return req, nil
}

// sign sets the fixture's signature header over req's body as it is now.
func sign(req *proto.WebhookRequest, s *signSpec, settingsJSON []byte) error {
	settings := map[string]any{}
	d := json.NewDecoder(bytes.NewReader(settingsJSON))
	d.UseNumber()
	if err := d.Decode(&settings); err != nil {
		return fmt.Errorf("sign: settings.json: %w", err)
	}
	var secret string
	switch v := settings[s.SecretSetting].(type) {
	case string:
		secret = v
	case json.Number:
		secret = v.String()
	default:
		return fmt.Errorf("sign: settings.json has no string %q to sign with", s.SecretSetting)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(req.Body)
	value := s.Prefix + hex.EncodeToString(m.Sum(nil))
	for _, h := range req.Headers {
		if strings.EqualFold(h.Name, s.Header) {
			h.Value = value
			return nil
		}
	}
	req.Headers = append(req.Headers, &proto.Header{Name: s.Header, Value: value})
	return nil
}

// prepareWebhook renders a webhook fixture and builds its request, failing
// the case (and answering false) when the fixture cannot be used.
func (r *runner) prepareWebhook(c *tcase, ff fixtureFile) (*webhookFixture, *proto.Integration, *proto.WebhookRequest, bool) {
	v := r.vars()
	doc, err := v.render(ff.raw)
	var f *webhookFixture
	if err == nil {
		f, err = parseWebhook(doc)
	}
	var in *proto.Integration
	if err == nil {
		in, err = r.integration(v)
	}
	var req *proto.WebhookRequest
	if err == nil {
		req, err = r.webhookRequest(f, in)
	}
	if err != nil {
		c.errorf("fixture %s: %v", ff.path, err)
		return nil, nil, nil, false
	}
	return f, in, req, true
}

// webhookCase runs one webhook fixture. It reports whether hostile
// variants may be derived from it (an authenticated POST).
func (r *runner) webhookCase(c *tcase, ff fixtureFile) (eligible bool) {
	f, _, req, ok := r.prepareWebhook(c, ff)
	if !ok {
		return false
	}
	ctx, cancel := r.callCtx(callTimeout)
	defer cancel()
	resp, err := r.channel.HandleWebhook(ctx, req)
	where := "webhook/" + ff.name
	r.sawErr("the error of "+where, err)
	if err != nil {
		c.errorf("HandleWebhook: %s", grpcText(err))
		return false
	}
	r.sawWebhook(where, resp)
	w := f.Want
	if resp.GetAuthenticated() != w.authenticated() {
		c.errorf("authenticated = %v, want %v%s", resp.GetAuthenticated(), w.authenticated(), refusal(resp))
	}
	if resp.GetMalformed() != w.Malformed {
		c.errorf("malformed = %v, want %v%s", resp.GetMalformed(), w.Malformed, refusal(resp))
	}
	if w.Status != 0 {
		got := resp.GetStatus()
		if got == 0 {
			got = 200
		}
		if got != w.Status {
			c.errorf("status = %d, want %d", got, w.Status)
		}
	}
	if w.BodyText != nil && string(resp.GetBody()) != *w.BodyText {
		c.errorf("body = %s, want %s", quoteShort(string(resp.GetBody())), quoteShort(*w.BodyText))
	}
	if w.Events != nil {
		c.fail(matchEvents(resp.GetEvents(), *w.Events)...)
	}
	c.fail(eventProblems(resp.GetEvents())...)
	eligible = w.authenticated() && strings.EqualFold(f.Request.Method, "POST") && (f.Hostile == nil || *f.Hostile)
	return eligible
}

func refusal(resp *proto.WebhookResponse) string {
	if resp.GetError() == "" {
		return ""
	}
	return " (plugin says " + quoteShort(resp.GetError()) + ")"
}

func (r *runner) sawWebhook(where string, resp *proto.WebhookResponse) {
	r.saw("the refusal reason of "+where, resp.GetError())
	r.saw("the response body of "+where, string(resp.GetBody()))
	for _, e := range resp.GetEvents() {
		r.saw("the error message of an event of "+where, e.GetErrorMessage())
	}
}

// eventProblems are what no event may be, whatever the fixture: of an
// unknown kind, without the key the host deduplicates on, with contents of
// unknown types.
func eventProblems(evs []*proto.Event) []string {
	var bad []string
	for i, e := range evs {
		if !knownEventKinds[e.GetKind()] {
			bad = append(bad, fmt.Sprintf("event %d: unknown kind %q", i, e.GetKind()))
		}
		if e.GetDedupeKey() == "" {
			bad = append(bad, fmt.Sprintf("event %d (%s): empty dedupe_key", i, e.GetKind()))
		}
		for j, ct := range e.GetContents() {
			if !knownContentTypes[ct.GetType()] {
				bad = append(bad, fmt.Sprintf("event %d: contents[%d]: unknown type %q", i, j, ct.GetType()))
			}
		}
	}
	return bad
}

// A hostile variant of an authenticated webhook.
type hostileVariant struct {
	name string
	body func(orig []byte) []byte
	// keepSignature re-sends the original signature with the changed body:
	// a plugin that checks signatures must refuse it.
	keepSignature bool
}

var hostileVariants = []hostileVariant{
	{name: "truncated", body: func(b []byte) []byte { return b[:len(b)/2] }},
	{name: "flipped", keepSignature: true, body: flipByte},
	{name: "empty", body: func([]byte) []byte { return []byte{} }},
	{name: "not-utf8", body: func(b []byte) []byte {
		mid := len(b) / 2
		return append(append(bytes.Clone(b[:mid]), 0xc3, 0x28, 0xff, 0xfe), b[mid:]...)
	}},
	{name: "nested", body: func([]byte) []byte {
		const depth = 10000
		return []byte(`{"entry":` + strings.Repeat(`[`, depth) + strings.Repeat(`]`, depth) + `}`)
	}},
	{name: "random-1mib", body: func([]byte) []byte {
		// Seeded: a failure reproduces.
		rng := rand.New(rand.NewPCG(1, 2))
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}},
}

// flipByte changes one byte near the middle of b the way a tamperer would:
// a letter's case or a digit, so that the body most likely stays valid
// JSON and only the signature can tell.
func flipByte(b []byte) []byte {
	out := bytes.Clone(b)
	if len(out) == 0 {
		return []byte{'x'}
	}
	for i := len(out) / 2; i < len(out); i++ {
		switch c := out[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			out[i] ^= 0x20
			return out
		case c >= '0' && c <= '9':
			out[i] ^= 0x01
			return out
		}
	}
	out[len(out)/2] ^= 0x01
	return out
}

func (r *runner) hostileCase(c *tcase, ff fixtureFile, hv hostileVariant) {
	f, in, req, ok := r.prepareWebhook(c, ff)
	if !ok {
		return
	}
	req.Body = hv.body(req.Body)
	signed := f.Sign != nil
	if signed && !hv.keepSignature {
		if err := sign(req, f.Sign, in.GetSettingsJson()); err != nil {
			c.errorf("fixture %s: %v", ff.path, err)
			return
		}
	}
	ctx, cancel := r.callCtx(hostileTimeout)
	defer cancel()
	begin := time.Now()
	resp, err := r.channel.HandleWebhook(ctx, req)
	where := "webhook/" + ff.name + "/" + hv.name
	r.sawErr("the error of "+where, err)
	switch code := codeOf(err); {
	case err == nil:
		r.sawWebhook(where, resp)
		if hv.keepSignature && signed && resp.GetAuthenticated() {
			c.errorf("a body changed after signing, sent with the original signature, was accepted as authenticated (%d events)", len(resp.GetEvents()))
		}
		c.fail(eventProblems(resp.GetEvents())...)
	case code == codes.InvalidArgument:
	case code == codes.DeadlineExceeded:
		c.errorf("no answer within %v", hostileTimeout)
	default:
		c.errorf("HandleWebhook answered a gRPC error (want a response, authenticated false or malformed true; at most InvalidArgument): %s", grpcText(err))
	}
	if d := time.Since(begin); d > hostileTimeout {
		c.errorf("answered after %v", d.Round(time.Millisecond))
	}
}

// sendRequest builds a fixture's SendRequest: its integration is the
// suite's, and a zero last_inbound_ms means a minute ago.
func (r *runner) sendRequest(f *sendFixture, v vars) (*proto.SendRequest, error) {
	req := &proto.SendRequest{}
	if err := protojson.Unmarshal(f.Request, req); err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	now := time.Now()
	if req.Integration == nil {
		in, err := r.integration(v)
		if err != nil {
			return nil, err
		}
		req.Integration = in
	}
	if req.Contact == nil {
		req.Contact = &proto.Contact{Id: "contract-user"}
	}
	if req.Contact.LastInboundMs == 0 {
		req.Contact.LastInboundMs = now.Add(-time.Minute).UnixMilli()
	}
	if req.NowMs == 0 {
		req.NowMs = now.UnixMilli()
	}
	return req, nil
}

func (r *runner) loadSend(c *tcase, ff fixtureFile, v vars) (*sendFixture, *proto.SendRequest) {
	doc, err := v.render(ff.raw)
	var f *sendFixture
	if err == nil {
		f, err = parseSend(doc)
	}
	var req *proto.SendRequest
	if err == nil {
		req, err = r.sendRequest(f, v)
	}
	if err != nil {
		c.errorf("fixture %s: %v", ff.path, err)
		return nil, nil
	}
	return f, req
}

// send calls Send and keeps what it returned for the secrets case.
func (r *runner) send(where string, req *proto.SendRequest, timeout time.Duration) (*proto.SendResponse, error) {
	ctx, cancel := r.callCtx(timeout)
	defer cancel()
	resp, err := r.channel.Send(ctx, req)
	r.sawErr("the error of "+where, err)
	if err == nil {
		r.saw("the error of "+where, resp.GetError().GetMessage())
		r.sawExchanges(where, resp.GetExchanges())
	}
	return resp, err
}

func (r *runner) sendCase(c *tcase, ff fixtureFile) {
	f, req := r.loadSend(c, ff, r.vars())
	if f == nil {
		return
	}
	r.prov.script(f.Provider)
	resp, err := r.send("send/"+ff.name, req, callTimeout)
	calls := r.prov.recorded()
	if err != nil {
		c.errorf("Send failed with a gRPC error (provider errors belong in SendResponse.error): %s", grpcText(err))
		return
	}
	w := f.Want
	if w.MessageIDs != nil && !equalStrings(resp.GetMessageIds(), *w.MessageIDs) {
		c.errorf("message_ids = %q, want %q", resp.GetMessageIds(), *w.MessageIDs)
	}
	c.fail(matchSendError(resp.GetError(), w.Error)...)
	if resp.GetError().GetRefused() && len(calls) > 0 {
		c.errorf("the send was refused (\"before calling the provider\"), but the provider got %d call(s)", len(calls))
	}
	if w.ProviderCalls != nil && len(calls) != *w.ProviderCalls {
		c.errorf("the provider got %d call(s), want %d", len(calls), *w.ProviderCalls)
	}
	c.fail(w.ProviderRequest.check(calls)...)
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (r *runner) send500Case(c *tcase, ff fixtureFile) {
	_, req := r.loadSend(c, ff, r.vars())
	if req == nil {
		return
	}
	r.prov.fail500()
	resp, err := r.send("send.error.500", req, callTimeout)
	if err != nil {
		c.errorf("Send failed with a gRPC error (provider errors belong in SendResponse.error): %s", grpcText(err))
		return
	}
	calls := r.prov.recorded()
	e := resp.GetError()
	switch {
	case len(calls) == 0:
		c.errorf("the provider got no call")
	case e == nil:
		c.errorf("the provider answered 500, and Send reported no error (message_ids %q)", resp.GetMessageIds())
	case !e.GetRetryable() && !e.GetUnknownOutcome():
		c.errorf("the provider answered 500: want an error that is retryable or unknown_outcome, got %s", describeSendError(e))
	case e.GetRefused():
		c.errorf("the provider answered 500: refused means not sent to the provider, got %s", describeSendError(e))
	}
	if len(resp.GetMessageIds()) > 0 && len(calls) == 1 {
		c.errorf("message_ids %q for a send the provider failed", resp.GetMessageIds())
	}
}

// closedPort is a loopback URL nothing listens on.
func closedPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", err
	}
	return "http://" + addr, nil
}

func (r *runner) sendUnreachableCase(c *tcase, ff fixtureFile) {
	u, err := closedPort()
	if err != nil {
		c.errorf("no closed port: %v", err)
		return
	}
	v := r.vars()
	v.providerURL = u
	_, req := r.loadSend(c, ff, v)
	if req == nil {
		return
	}
	r.prov.script(nil)
	resp, err := r.send("send.error.unreachable", req, callTimeout)
	if err != nil {
		c.errorf("Send failed with a gRPC error (provider errors belong in SendResponse.error): %s", grpcText(err))
		return
	}
	if n := len(r.prov.recorded()); n > 0 {
		c.errorf("the fake provider got %d call(s): the fixture's request does not take the provider's URL from the settings", n)
	}
	e := resp.GetError()
	switch {
	case e == nil:
		c.errorf("the provider was unreachable, and Send reported no error")
	case !e.GetRetryable() && !e.GetUnknownOutcome():
		c.errorf("the provider was unreachable: want an error that is retryable or unknown_outcome, got %s", describeSendError(e))
	}
}

// sendDeadlineCase: a provider that never answers must not hold the
// plugin past the host's deadline.
func (r *runner) sendDeadlineCase(c *tcase, ff fixtureFile) {
	_, req := r.loadSend(c, ff, r.vars())
	if req == nil {
		return
	}
	r.prov.hangAll()
	begin := time.Now()
	resp, err := r.send("send.deadline", req, hangDeadline)
	r.checkHang(c, begin, err == nil && resp.GetError() == nil && len(resp.GetMessageIds()) > 0)
}

// checkHang ends a hanging-provider case: the call returned in time, the
// plugin dropped its call to the provider, and it still answers health
// checks.
func (r *runner) checkHang(c *tcase, begin time.Time, succeeded bool) {
	if d := time.Since(begin); d > hangPatience {
		c.errorf("with a %v deadline, the call returned after %v", hangDeadline, d.Round(time.Millisecond))
	}
	if succeeded {
		c.errorf("reported success although the provider never answered")
	}
	calls := r.prov.recorded()
	if len(calls) == 0 {
		c.errorf("the provider got no call")
	}
	for _, call := range calls {
		wait := time.Until(begin.Add(hangPatience))
		t := time.NewTimer(max(wait, 0))
		select {
		case <-call.ended:
			t.Stop()
		case <-t.C:
			c.errorf("the plugin still held its call to the provider %v after the call began (its %v deadline was not passed on to the provider call)", hangPatience, hangDeadline)
			// Unblock it for the next cases.
			r.prov.script(nil)
			t.Stop()
			return
		}
	}
	r.prov.script(nil)
}

func (r *runner) profileCase(c *tcase, ff fixtureFile) {
	v := r.vars()
	doc, err := v.render(ff.raw)
	var f *profileFixture
	if err == nil {
		f, err = parseProfile(doc)
	}
	var in *proto.Integration
	if err == nil {
		in, err = r.integration(v)
	}
	if err != nil {
		c.errorf("fixture %s: %v", ff.path, err)
		return
	}
	r.prov.script(f.Provider)
	ctx, cancel := r.callCtx(callTimeout)
	defer cancel()
	resp, err := r.channel.Profile(ctx, &proto.ProfileRequest{Integration: in, ContactId: f.ContactID})
	where := "profile/" + ff.name
	r.sawErr("the error of "+where, err)
	calls := r.prov.recorded()
	if err != nil {
		c.errorf("Profile failed with a gRPC error (failures belong in error_code): %s", grpcText(err))
		return
	}
	r.saw("the error message of "+where, resp.GetErrorMessage())
	w := f.Want
	for _, s := range []struct {
		name string
		got  string
		want *string
	}{{"name", resp.GetName(), w.Name}, {"username", resp.GetUsername(), w.Username}, {"avatar_url", resp.GetAvatarUrl(), w.AvatarURL}, {"error_code", resp.GetErrorCode(), w.ErrorCode}} {
		if s.want != nil && s.got != *s.want {
			c.errorf("%s = %s, want %s", s.name, quoteShort(s.got), quoteShort(*s.want))
		}
	}
	if w.Retryable != nil && resp.GetRetryable() != *w.Retryable {
		c.errorf("retryable = %v, want %v", resp.GetRetryable(), *w.Retryable)
	}
	if w.ProviderCalls != nil && len(calls) != *w.ProviderCalls {
		c.errorf("the provider got %d call(s), want %d", len(calls), *w.ProviderCalls)
	}
	c.fail(w.ProviderRequest.check(calls)...)
}
