package e2e

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/conversa/conversa/core/server/openapitest"
)

// apiDoc is the OpenAPI document as the binary serves it, read once.
var apiDoc struct {
	sync.Mutex
	doc *openapitest.Doc
}

func (s *server) openAPI() *openapitest.Doc {
	s.t.Helper()
	apiDoc.Lock()
	defer apiDoc.Unlock()
	if apiDoc.doc == nil {
		status, b := s.do("GET", "/api/v1/openapi.json", nil, nil)
		if status != 200 {
			s.t.Fatalf("GET /api/v1/openapi.json = %d %s", status, b)
		}
		doc, err := openapitest.Load(b)
		if err != nil {
			s.t.Fatal(err)
		}
		apiDoc.doc = doc
	}
	return apiDoc.doc
}

// checkOpenAPI fails the test when a JSON answer of a documented /api/v1
// route does not match the schema the document gives for its status.
// Answers that are not JSON (a CSV report) are not checked.
func (s *server) checkOpenAPI(method, path string, status int, body []byte) {
	s.t.Helper()
	if !strings.HasPrefix(path, "/api/v1/") || (len(body) > 0 && !json.Valid(body)) {
		return
	}
	if _, err := s.openAPI().CheckResponse(method, path, status, body); err != nil {
		s.t.Errorf("the answer does not match core/server/openapi.json: %v", err)
	}
}

// The check catches an answer that strays from the document.
func TestOpenAPICheckCatchesAMismatch(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	doc := srv.openAPI()
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
		want         string
	}{
		{"GET", "/api/v1/me", 200, `{"id":"ana"}`, `required property "login" is missing`},
		{"GET", "/api/v1/conversations", 200, `{"conversations":[{"id":"7"}]}`, `$.conversations[0].id: a string "7" is not integer`},
		{"GET", "/api/v1/conversations/7", 200, `{"id":7,"state":"lost"}`, `$.state: a string "lost" is not one of`},
		{"GET", "/api/v1/squads", 200, `{"squads":[],"extra":1}`, `property "extra" is not in the document`},
		{"GET", "/api/v1/me", 401, `{"message":"no"}`, `required property "error" is missing`},
		{"POST", "/api/v1/logout", 204, `{"ok":true}`, `a JSON body where the document has none`},
		{"GET", "/api/v1/setup", 200, `{"needed":true}`, ""},
		{"GET", "/api/v1/no-such-route", 200, `{}`, ""},
	} {
		_, err := doc.CheckResponse(tc.method, tc.path, tc.status, []byte(tc.body))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckResponse(%s %s %d %s) = %v, want no error", tc.method, tc.path, tc.status, tc.body, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("CheckResponse(%s %s %d %s) = %v, want an error with %q", tc.method, tc.path, tc.status, tc.body, err, tc.want)
		}
	}
}
