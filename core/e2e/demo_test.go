package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// attachmentOf is the type and URL of a Send API request's attachment.
func attachmentOf(r graphRequest) (string, string) {
	msg, _ := r.Body["message"].(map[string]any)
	att, _ := msg["attachment"].(map[string]any)
	payload, _ := att["payload"].(map[string]any)
	typ, _ := att["type"].(string)
	url, _ := payload["url"].(string)
	return typ, url
}

// The demo's photo and catalog are files Conversa serves itself: the
// provider is handed their address under the public URL, and fetching it
// gets the file (the playground has no Internet to fetch them from).
func TestDemoPhotoAndCatalogAreServedByConversa(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	for _, tc := range []struct {
		text, typ, path, mime string
	}{
		{"photo", "image", "/static/demo/mug.png", "image/png"},
		{"catalogo", "file", "/static/demo/catalog.pdf", "application/pdf"},
	} {
		before := len(graph.sends())
		srv.postMeta("ig-meta", metaSecret, metaText(customerA, "m-"+tc.text, tc.text, time.Now()))
		var url string
		eventually(t, "the demo's "+tc.typ+" at the Graph API", func() bool {
			for _, r := range graph.sends()[before:] {
				if typ, u := attachmentOf(r); typ == tc.typ {
					url = u
					return true
				}
			}
			return false
		})
		if url != srv.URL+tc.path {
			t.Errorf("%q: %s sent with URL %q, want %q", tc.text, tc.typ, url, srv.URL+tc.path)
			continue
		}
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.mime) || resp.ContentLength < 1000 {
			t.Errorf("GET %s = %d %s (%d bytes), want the %s", url, resp.StatusCode, resp.Header.Get("Content-Type"), resp.ContentLength, tc.mime)
		}
	}
}
