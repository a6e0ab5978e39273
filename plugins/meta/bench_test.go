package meta

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// benchIntegration is an integration as the host sends it: a real-sized
// access token among the settings.
func benchIntegration(id, account, secret string) *proto.Integration {
	return &proto.Integration{Id: id, SettingsJson: settingsJSON(map[string]any{
		"account_id": account, "app_secret": secret, "verify_token": "2c3f6a9d0e1b4c7f8a2d5e0b3c6f9a1d",
		"access_token": "IGAAR" + string(bytes.Repeat([]byte("x9Zq"), 45)), "login": "instagram",
	})}
}

// compact is a fixture as Meta sends it: no indentation.
func compact(b testing.TB, name string) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, readFixture(b, name)); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkParseWebhook is the channel's whole webhook step in process:
// signature, settings, parse, for realistic signed deliveries.
//
//	go test -run XXX -bench ParseWebhook -benchmem ./plugins/meta
func BenchmarkParseWebhook(b *testing.B) {
	for _, bc := range []struct {
		name, fixture string
		events        int
	}{
		{"text", "01-message-text.json", 1},
		{"image", "03-message-image.json", 1},
		{"share-pair", "local-share-ig-post-pair.json", 1},
		{"batch", "local-batch-several-entries.json", 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			body := compact(b, bc.fixture)
			req := post(body, sign(body, testSecret), benchIntegration("ig", business, testSecret))
			ch := New()
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				resp, err := ch.HandleWebhook(context.Background(), req)
				if err != nil || !resp.GetAuthenticated() || len(resp.GetEvents()) == 0 ||
					(bc.events > 0 && len(resp.GetEvents()) != bc.events) {
					b.Fatalf("HandleWebhook = %v, %v", resp, err)
				}
			}
		})
	}
}

// BenchmarkSettings is one integration's settings read, as every webhook
// reads each candidate's: decoded each time, and from the cache.
func BenchmarkSettings(b *testing.B) {
	raw := benchIntegration("ig", business, testSecret).GetSettingsJson()
	for _, bc := range []struct {
		name  string
		parse func([]byte) (settings, sdk.Problems)
	}{{"decode", decodeSettings}, {"cached", parseSettings}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if s, p := bc.parse(raw); len(p) > 0 || s.AppSecret == "" {
					b.Fatal(p)
				}
			}
		})
	}
}

// BenchmarkParseDelivery is the parse alone, read in one pass ("one-pass")
// against encoding/json level by level ("encoding-json", the reader it
// replaced):
//
//	go test -run XXX -bench ParseDelivery -benchmem ./plugins/meta
func BenchmarkParseDelivery(b *testing.B) {
	for _, fixture := range []string{"01-message-text.json", "03-message-image.json", "local-batch-several-entries.json"} {
		body := compact(b, fixture)
		for _, mode := range []struct {
			name  string
			parse func([]byte) ([]*proto.Event, error)
		}{
			{"encoding-json", func(body []byte) ([]*proto.Event, error) {
				return parseEntries(jsonValue{b: body}, agreeingRouter)
			}},
			{"one-pass", func(body []byte) ([]*proto.Event, error) { return parseDelivery(body, agreeingRouter) }},
		} {
			b.Run(strings.TrimSuffix(fixture, ".json")+"/"+mode.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					if evs, err := mode.parse(body); err != nil || len(evs) == 0 {
						b.Fatal(evs, err)
					}
				}
			})
		}
	}
}
