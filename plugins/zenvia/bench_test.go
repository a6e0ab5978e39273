package zenvia

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
)

// BenchmarkParseWebhook is the channel's whole webhook step in process
// (credentials, settings, parse) for realistic deliveries.
//
//	go test -run XXX -bench ParseWebhook -benchmem ./plugins/zenvia
func BenchmarkParseWebhook(b *testing.B) {
	for _, bc := range []struct{ name, fixture string }{
		{"text", "message_in_text.json"},
		{"image", "message_in_image.json"},
		{"status", "status_delivered.json"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var buf bytes.Buffer
			if err := json.Compact(&buf, readFixture(b, bc.fixture)); err != nil {
				b.Fatal(err)
			}
			req := webhookRequest(buf.Bytes())
			ch := New()
			b.ReportAllocs()
			b.SetBytes(int64(buf.Len()))
			for b.Loop() {
				resp, err := ch.HandleWebhook(context.Background(), req)
				if err != nil || !resp.GetAuthenticated() || len(resp.GetEvents()) != 1 {
					b.Fatalf("HandleWebhook = %v, %v", resp, err)
				}
			}
		})
	}
}
