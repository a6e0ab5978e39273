package engine

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/store/sqlite"
)

// recordEngine is an engine on a fresh store, and an integration whose
// channel is not described, so every setting is hidden: three secrets, as
// the Meta channel's.
func recordEngine(b *testing.B) (*Engine, *model.Integration) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "c.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	e, err := New(Options{Store: st, Plugins: fakePlugins{ch: &fakeChannel{}, as: &fakeAssistant{}}, Hooks: plainHooks{}})
	if err != nil {
		b.Fatal(err)
	}
	return e, &model.Integration{ID: "ig", Channel: "fake", Enabled: true,
		Settings: map[string]any{"webhook_token": hookSecret, "access_token": "EAAB-access-token-0123456789", "app_secret": "bench-app-secret-42"}}
}

// BenchmarkInboundRecord is what the delivery log costs a stored webhook
// on its request path: the request and answer redacted and encoded.
func BenchmarkInboundRecord(b *testing.B) {
	e, in := recordEngine(b)
	// None of the secrets is in the body.
	req := WebhookRequest{Method: "POST", Path: "/webhooks/ig",
		Headers: map[string][]string{"Content-Type": {"application/json"}, "Content-Length": {"253"}, "Host": {"127.0.0.1:35323"},
			"User-Agent": {"fasthttp"}, "X-Hub-Signature-256": {"sha256=6f1ed002ab5595859014ebf0951522d9"}},
		Body: []byte(`{"object":"instagram","entry":[{"id":"17841400000000001","time":1796248278378,"messaging":[{"sender":{"id":"7000000000000000"},` +
			`"recipient":{"id":"17841400000000001"},"timestamp":1796248278378,"message":{"mid":"aWdfZAG1fbenchcf1a9683_0","text":"oi"}}]}]}`)}
	res := WebhookResult{Status: 200}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		rec := e.receiving(in, req)
		if d := rec.row(res); len(d.Detail) == 0 {
			b.Fatal("no detail")
		}
	}
}

// BenchmarkSendRecord is what the delivery log costs a send: the plugin's
// report of its call to the provider (a Graph API send, as the Meta
// channel reports it) redacted and encoded.
func BenchmarkSendRecord(b *testing.B) {
	e, in := recordEngine(b)
	resp := &pluginhost.SendResponse{MessageIDs: []string{"aWdfZAG1fbenchreply_0"}, Exchanges: []pluginhost.HTTPExchange{{
		Method: "POST", URL: "http://127.0.0.1:40411/v25.0/me/messages?access_token=EAAB-access-token-0123456789&appsecret_proof=6f1ed002ab5595859014ebf0951522d9",
		RequestHeaders: []pluginhost.Header{{Name: "Content-Type", Value: "application/json"}, {Name: "User-Agent", Value: "conversa-meta/1.0"}},
		RequestBody:    []byte(`{"recipient":{"id":"7000000000000000"},"messaging_type":"RESPONSE","message":{"text":"Olá! Sou o assistente virtual. Como posso ajudar?"}}`),
		Status:         200,
		ResponseHeaders: []pluginhost.Header{{Name: "Content-Type", Value: "application/json; charset=UTF-8"}, {Name: "Date", Value: "Thu, 03 Dec 2026 07:30:00 GMT"},
			{Name: "X-Fb-Trace-Id", Value: "AbCdEf012345"}},
		ResponseBody: []byte(`{"recipient_id":"7000000000000000","message_id":"aWdfZAG1fbenchreply_0"}`),
		LatencyMS:    3,
	}}}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for range b.N {
		rec := e.sending(in, 42)
		rec.done(OutcomeSent, "", resp)
		if n = len(rec.d.Detail); n == 0 {
			b.Fatal("no detail")
		}
		select {
		case <-e.dlog.queue:
		default:
		}
	}
	b.ReportMetric(float64(n), "detail-bytes")
}
