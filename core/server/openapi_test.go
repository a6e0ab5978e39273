package server

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/conversa/conversa/core/playground"
	"github.com/conversa/conversa/core/server/openapitest"
)

// routesServer has every route registered, the optional ones (the
// playground's) included.
func routesServer() *Server {
	return New(Options{Playground: &playground.Playground{}})
}

// apiRoutes lists the app's /api/v1 routes as "METHOD /api/v1/path/{param}":
// Fiber's ":param" written as OpenAPI's "{param}", and without the HEAD
// routes Fiber adds for every GET.
func apiRoutes(app *fiber.App) []string {
	var out []string
	for _, r := range app.GetRoutes(true) {
		if !strings.HasPrefix(r.Path, "/api/v1/") || r.Method == fiber.MethodHead {
			continue
		}
		segs := strings.Split(r.Path, "/")
		for i, s := range segs {
			if p, ok := strings.CutPrefix(s, ":"); ok {
				segs[i] = "{" + strings.TrimSuffix(p, "?") + "}"
			}
		}
		route := r.Method + " " + strings.Join(segs, "/")
		if !slices.Contains(out, route) {
			out = append(out, route)
		}
	}
	slices.Sort(out)
	return out
}

// undocumented compares the router with the document, both ways.
func undocumented(routes, documented []string) []string {
	var problems []string
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			method, path, _ := strings.Cut(r, " ")
			problems = append(problems, fmt.Sprintf("route %s is not in core/server/openapi.json: add \"%s\" under \"paths\" → %q",
				r, strings.ToLower(method), path))
		}
	}
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			problems = append(problems, fmt.Sprintf("core/server/openapi.json documents %s, which no route serves", d))
		}
	}
	return problems
}

func loadDoc(t *testing.T) *openapitest.Doc {
	t.Helper()
	doc, err := openapitest.Load(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	routes := apiRoutes(routesServer().App())
	if len(routes) < 40 {
		t.Fatalf("found %d /api/v1 routes, want the whole API: %v", len(routes), routes)
	}
	for _, p := range undocumented(routes, loadDoc(t).Routes()) {
		t.Error(p)
	}
}

// The check above fails for a route added without documentation, and for a
// documented route that went away.
func TestOpenAPIRouteCheckCanFail(t *testing.T) {
	s := routesServer()
	s.App().Get("/api/v1/conversations/:id/undocumented", func(c *fiber.Ctx) error { return nil })
	got := undocumented(apiRoutes(s.App()), loadDoc(t).Routes())
	want := `route GET /api/v1/conversations/{id}/undocumented is not in core/server/openapi.json: add "get" under "paths" → "/api/v1/conversations/{id}/undocumented"`
	if len(got) != 1 || got[0] != want {
		t.Errorf("with an undocumented route, the check says %q, want [%q]", got, want)
	}
	got = undocumented([]string{"GET /api/v1/me"}, []string{"GET /api/v1/me", "DELETE /api/v1/me"})
	if len(got) != 1 || !strings.Contains(got[0], "DELETE /api/v1/me, which no route serves") {
		t.Errorf("with a route gone, the check says %q", got)
	}
}

// Every schema stays within what openapitest checks, so that no answer
// passes unchecked.
func TestOpenAPIDocumentIsCheckable(t *testing.T) {
	doc := loadDoc(t)
	for _, err := range doc.Lint() {
		t.Error(err)
	}
	var root struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &root); err != nil {
		t.Fatal(err)
	}
	if root.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", root.OpenAPI)
	}
	ids := map[string]string{}
	for path, ops := range root.Paths {
		for method, op := range ops {
			switch {
			case op.OperationID == "":
				t.Errorf("%s %s has no operationId", method, path)
			case ids[op.OperationID] != "":
				t.Errorf("operationId %q is used by %s and by %s %s", op.OperationID, ids[op.OperationID], method, path)
			}
			ids[op.OperationID] = method + " " + path
		}
	}
}

func TestOpenAPIServedWithoutSignIn(t *testing.T) {
	resp, err := routesServer().App().Test(httptest.NewRequest("GET", "/api/v1/openapi.json", nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/v1/openapi.json = %d %s, want 200 JSON", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc["openapi"] != "3.1.0" {
		t.Errorf("GET /api/v1/openapi.json: %v, openapi = %v", err, doc["openapi"])
	}
}
