package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/store"
)

const hookSecret = "hook-secret-9f8e7d"

// loggedSecretRig is a started rig whose integration has a generated credential
// (webhook_token) the delivery log must never show.
func loggedSecretRig(t *testing.T, ch *fakeChannel) *rig {
	t.Helper()
	ch.generated = []string{"webhook_token"}
	r := startedRig(t, ch, &fakeAssistant{})
	in := *r.e.Integration("ig")
	in.Settings = map[string]any{"webhook_token": hookSecret, "sender": "acme"}
	if err := r.e.Put(context.Background(), &in, false); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) deliveries(f store.DeliveryFilter) []Delivery {
	r.t.Helper()
	f.Integration = "ig"
	ds, err := r.e.Deliveries(context.Background(), f)
	if err != nil {
		r.t.Fatal(err)
	}
	return ds
}

func outcomes(ds []Delivery) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, d.Direction+":"+d.Outcome)
	}
	return strings.Join(parts, " ")
}

func noSecret(t *testing.T, ds []Delivery, secrets ...string) {
	t.Helper()
	b, _ := json.Marshal(ds)
	for _, s := range secrets {
		if strings.Contains(string(b), s) {
			t.Errorf("the delivery log shows %q:\n%s", s, b)
		}
	}
}

func TestWebhooksAreLogged(t *testing.T) {
	ch := &fakeChannel{parse: textEvents("u1", "hello")}
	r := loggedSecretRig(t, ch)
	ctx := context.Background()
	req := WebhookRequest{Method: "POST", Path: "/webhooks/ig", Query: "token=abc&page=2",
		Headers: map[string][]string{"Authenticationtoken": {hookSecret}, "X-Hub-Signature-256": {"sha256=00ff"},
			"X-Echo": {"carries " + hookSecret}, "Content-Type": {"application/json"}},
		Body: []byte(`{"text":"hello","leak":"` + hookSecret + `"}`)}
	for range 2 { // the second is a redelivery
		if _, err := r.e.Webhook(ctx, "ig", req); err != nil {
			t.Fatal(err)
		}
	}
	ch.parse = func(*pluginhost.WebhookRequest) *pluginhost.WebhookResponse {
		return &pluginhost.WebhookResponse{Authenticated: false, Error: "signature mismatch"}
	}
	if res, err := r.e.Webhook(ctx, "ig", req); err != nil || res.Status != 401 {
		t.Fatalf("unauthenticated webhook = %+v, %v; want 401", res, err)
	}
	var ds []Delivery
	eventually(t, "three webhooks logged", func() bool {
		ds = r.deliveries(store.DeliveryFilter{Direction: store.DeliveryIn})
		return len(ds) == 3
	})
	if got := outcomes(ds); got != "in:unauthorized in:duplicate in:stored" {
		t.Errorf("outcomes = %s, want the refusal, the duplicate and the stored webhook, newest first", got)
	}
	stored := ds[2]
	if stored.MessageID != "mid-hello" || stored.HTTPStatus != 200 || stored.Request == nil || stored.Response == nil ||
		stored.Request.Method != "POST" || !strings.Contains(stored.Request.Body, `"text":"hello"`) ||
		stored.Request.URL != "/webhooks/ig?token=[redacted]&page=2" {
		t.Errorf("stored webhook's delivery = %+v (request %+v)", stored, stored.Request)
	}
	if ds[0].HTTPStatus != 401 || ds[0].Error != "signature mismatch" {
		t.Errorf("refusal's delivery = %+v, want 401 and its reason", ds[0])
	}
	noSecret(t, ds, hookSecret, "00ff")
	if got := r.deliveries(store.DeliveryFilter{MessageID: "mid-hello", Direction: store.DeliveryIn}); outcomes(got) != "in:duplicate in:stored" {
		t.Errorf("deliveries of mid-hello = %s, want the two that carried it", outcomes(got))
	}
}

func TestRefusedWebhooksAreLoggedBounded(t *testing.T) {
	ch := &fakeChannel{parse: func(*pluginhost.WebhookRequest) *pluginhost.WebhookResponse {
		return &pluginhost.WebhookResponse{Authenticated: false}
	}}
	r := startedRig(t, ch, &fakeAssistant{})
	for range 3 * refusalsPerMinute {
		r.e.Webhook(context.Background(), "ig", WebhookRequest{Method: "POST"})
	}
	r.e.Stop() // writes what is queued
	n := len(r.deliveries(store.DeliveryFilter{Limit: 1000}))
	if n < refusalsPerMinute-5 || n > refusalsPerMinute+5 {
		t.Errorf("%d refused webhooks in a moment logged %d deliveries, want about %d", 3*refusalsPerMinute, n, refusalsPerMinute)
	}
	// A minute on, the next one logged says how many were not.
	r.e.dlog.mu.Lock()
	r.e.dlog.refusals["ig"].last = time.Now().Add(-time.Minute)
	r.e.dlog.mu.Unlock()
	ok, suppressed := r.e.dlog.admitRefusal("ig")
	if !ok || suppressed < 2*refusalsPerMinute-5 {
		t.Errorf("admitRefusal a minute later = %v, %d suppressed; want admitted, with the %d left out", ok, suppressed, 2*refusalsPerMinute)
	}
}

func TestSendAttemptsAreLogged(t *testing.T) {
	calls := 0
	ch := &fakeChannel{parse: textEvents("u1", "hi")}
	ch.sendFunc = func(*pluginhost.SendRequest) *pluginhost.SendResponse {
		calls++
		// A careless third-party plugin: the token in the URL, unredacted.
		ex := pluginhost.HTTPExchange{Method: "POST", URL: "https://api.example/send?sig=1&t=" + hookSecret, LatencyMS: 40,
			RequestHeaders: []pluginhost.Header{{Name: "Authorization", Value: "Bearer " + hookSecret}},
			RequestBody:    []byte(`{"text":"echo: hi"}`)}
		if calls == 1 {
			ex.Status, ex.ResponseBody = 503, []byte(`{"error":"busy"}`)
			return &pluginhost.SendResponse{Error: &pluginhost.SendError{Code: "http_503", Message: "busy", Retryable: true},
				Exchanges: []pluginhost.HTTPExchange{ex}}
		}
		ex.Status, ex.ResponseBody = 200, []byte(`{"id":"p-1"}`)
		return &pluginhost.SendResponse{MessageIDs: []string{"p-1"}, Exchanges: []pluginhost.HTTPExchange{ex}}
	}
	r := loggedSecretRig(t, ch)
	r.post()
	var ds []Delivery
	eventually(t, "the retry and the send", func() bool {
		ds = r.deliveries(store.DeliveryFilter{Direction: store.DeliveryOut})
		return len(ds) == 2
	})
	if got := outcomes(ds); got != "out:sent out:retry" {
		t.Fatalf("outcomes = %s, want the retry then the send", got)
	}
	sent, retry := ds[0], ds[1]
	if sent.MessageID == "" || sent.MessageID != retry.MessageID || sent.HTTPStatus != 200 || retry.HTTPStatus != 503 ||
		retry.Error != "http_503: busy" || len(sent.ProviderMessageIDs) != 1 || sent.ProviderMessageIDs[0] != "p-1" {
		t.Errorf("sends = %+v, %+v", sent, retry)
	}
	if retry.Response == nil || retry.Response.Body != `{"error":"busy"}` || retry.Request == nil || len(retry.Exchanges) != 1 {
		t.Errorf("the retry's exchange = %+v", retry)
	}
	noSecret(t, ds, hookSecret)
	if got := r.deliveries(store.DeliveryFilter{MessageID: "p-1"}); outcomes(got) != "out:sent" {
		t.Errorf("deliveries of the provider's id p-1 = %s, want the send", outcomes(got))
	}
}

func TestSendsRefusedBeforeAnyCallAreLogged(t *testing.T) {
	r := startedRig(t, &fakeChannel{}, &fakeAssistant{})
	ctx := context.Background()
	// A contact who never wrote: no business may start the conversation.
	ct, err := r.st.Contacts().Upsert(ctx, "ig", "silent", store.ContactHints{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	c := &model.Conversation{Integration: "ig", ContactID: ct.ID, State: model.StateBot, Origin: model.OriginDirect}
	if _, err := r.st.Conversations().Start(ctx, c); err != nil {
		t.Fatal(err)
	}
	m := &model.Message{Conversation: c.ID, Integration: "ig", Direction: model.DirectionOut, Author: model.AuthorAssistant,
		Contents: []model.Content{{Type: model.Text, Text: "hello?"}}, Status: model.StatusPending}
	if err := r.st.Outbox().Enqueue(ctx, m, "idem-1"); err != nil {
		t.Fatal(err)
	}
	r.e.Wake()
	var ds []Delivery
	eventually(t, "the refusal logged", func() bool { ds = r.deliveries(store.DeliveryFilter{}); return len(ds) == 1 })
	if d := ds[0]; d.Outcome != OutcomeFailed || !strings.HasPrefix(d.Error, "no_inbound") || d.Request != nil {
		t.Errorf("delivery = %+v, want failed before any call, saying why", d)
	}
}

func TestDeliveriesArePruned(t *testing.T) {
	r := startedRig(t, &fakeChannel{}, &fakeAssistant{})
	ctx := context.Background()
	now := time.Now()
	old := &store.Delivery{Integration: "ig", At: now.Add(-DefaultDeliveryLog - time.Hour), Direction: "in", Outcome: "stored", MessageID: "old"}
	recent := &store.Delivery{Integration: "ig", At: now.Add(-DefaultDeliveryLog + time.Hour), Direction: "in", Outcome: "stored", MessageID: "recent"}
	if err := r.st.Deliveries().Add(ctx, old, recent); err != nil {
		t.Fatal(err)
	}
	n, err := r.e.PruneDeliveries(ctx)
	if err != nil || n != 1 {
		t.Fatalf("PruneDeliveries = %d, %v; want the one past %v", n, err, DefaultDeliveryLog)
	}
	if ds := r.deliveries(store.DeliveryFilter{}); len(ds) != 1 || ds[0].MessageID != "recent" {
		t.Errorf("left %+v, want the recent one", ds)
	}
}

func TestDeliveryLogOff(t *testing.T) {
	ch := &fakeChannel{parse: textEvents("u1", "hello")}
	r := newRig(t, "", ch, &fakeAssistant{})
	t.Cleanup(r.close)
	r.e.dlog.keep = -1
	if err := r.e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.post()
	eventually(t, "the reply", func() bool { return len(ch.sends()) == 1 })
	r.e.Stop()
	if ds := r.deliveries(store.DeliveryFilter{}); len(ds) != 0 {
		t.Errorf("with the log off, deliveries = %s, want none", outcomes(ds))
	}
}

// text keeps UTF-8 as it is and replaces only the bytes that are not.
func TestDeliveryText(t *testing.T) {
	for in, want := range map[string]string{
		"olá, tudo bem?":  "olá, tudo bem?",
		"":                "",
		"a\xffb\xc3":      "a\uFFFDb\uFFFD",
		"\xed\xa0\x80 ok": "\uFFFD ok", // a run of bad bytes is one replacement
	} {
		if got := text([]byte(in)); got != want {
			t.Errorf("text(%q) = %q, want %q", in, got, want)
		}
	}
}

// A send's row keeps its calls only; the list shows the last one as its
// request and response, as it shows those a row of an earlier release
// kept beside its calls.
func TestSendRowsOfEitherShapeListAlike(t *testing.T) {
	r := startedRig(t, &fakeChannel{}, &fakeAssistant{})
	ctx := context.Background()
	first := `{"request":{"method":"POST","url":"https://x/1"},"latency_ms":5}`
	last := `{"request":{"method":"POST","url":"https://x/2","body":"b"},"response":{"status":200,"body":"ok"},"latency_ms":7}`
	now := time.Now()
	current := &store.Delivery{Integration: "ig", At: now, Direction: "out", Outcome: "sent", MessageID: "current",
		Detail: []byte(`{"exchanges":[` + first + `,` + last + `]}`)}
	earlier := &store.Delivery{Integration: "ig", At: now.Add(-time.Second), Direction: "out", Outcome: "sent", MessageID: "earlier",
		Detail: []byte(`{"request":{"method":"POST","url":"https://x/2","body":"b"},"response":{"status":200,"body":"ok"},"exchanges":[` + first + `,` + last + `]}`)}
	if err := r.st.Deliveries().Add(ctx, current, earlier); err != nil {
		t.Fatal(err)
	}
	ds := r.deliveries(store.DeliveryFilter{Direction: store.DeliveryOut})
	if len(ds) != 2 {
		t.Fatalf("listed %d sends, want 2", len(ds))
	}
	for _, d := range ds {
		if d.Request == nil || d.Request.URL != "https://x/2" || d.Request.Body != "b" || d.Response == nil ||
			d.Response.Status != 200 || d.Response.Body != "ok" || len(d.Exchanges) != 2 {
			t.Errorf("%s: request %+v, response %+v, %d exchanges; want the last call's, and both calls", d.MessageID, d.Request, d.Response, len(d.Exchanges))
		}
	}
}
