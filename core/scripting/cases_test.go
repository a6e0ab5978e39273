package scripting

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/conversa/conversa/scripts"
)

func runCases(t *testing.T, e *Engine, files map[string]string) map[string]CaseResult {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	results, err := e.TestCases(t.Context(), fsys)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]CaseResult{}
	for _, r := range results {
		out[r.File] = r
	}
	return out
}

// The shipped cases pass on the built-in scripts, and the worked
// business-hours example passes its own.
func TestShippedCasesPass(t *testing.T) {
	e, _ := newEngine(t, nil)
	results, err := e.TestCases(t.Context(), scripts.Cases())
	if err != nil {
		t.Fatal(err)
	}
	hooks := map[string]bool{}
	for _, r := range results {
		if !r.OK {
			t.Errorf("%s: FAIL %s", r.File, r.Problem)
		}
		hooks[strings.SplitN(r.File, "_", 2)[0]] = true
	}
	if len(results) < 6 || !hooks["route"] || !hooks["convert"] || !hooks["reply"] {
		t.Errorf("shipped cases %v: want several, for each hook", results)
	}

	src, err := os.ReadFile(filepath.Join("..", "..", "scripts", "examples", "business_hours", "routing.lua"))
	if err != nil {
		t.Fatal(err)
	}
	ex, _ := newEngine(t, map[string]string{"routing.lua": string(src)}, func(o *Options) { o.Timeout = 5 * time.Second })
	results, err = ex.TestCasesDir(t.Context(), filepath.Join("..", "..", "scripts", "examples", "business_hours", "tests"))
	if err != nil {
		t.Fatal(err)
	}
	if len(results) < 6 {
		t.Errorf("the example has %d cases, want its in- and out-of-hours instants", len(results))
	}
	for _, r := range results {
		if !r.OK {
			t.Errorf("example %s: FAIL %s", r.File, r.Problem)
		}
	}
}

// A case that differs fails, saying where and how.
func TestCasesReportWhatDiffered(t *testing.T) {
	e, _ := newEngine(t, map[string]string{"routing.lua": `
function route(ev)
  if ev.message.text == "boom" then error("no way") end
  if ev.message.text == "shape" then return {to = "queue"} end
  if ev.message.text == "nil" then return nil end
  if ev.message.text == "empty" then return {to = "none", reply = {}} end
  return {to = "squad", squad = "s" .. ev.now, reply = {"a", "b"}}
end`})
	ev := func(text, now string) string {
		return `"input": {"message": {"type": "text", "text": "` + text + `"}, "now": ` + now + `}`
	}
	got := runCases(t, e, map[string]string{
		"ok.json":         `{"hook": "route", ` + ev("x", "1000") + `, "want": {"to": "squad", "squad": "s1000", "reply": ["a", "b"]}}`,
		"rfc3339.json":    `{"hook": "route", ` + ev("x", `"1970-01-01T00:16:40Z"`) + `, "want": {"to": "squad", "squad": "s1000", "reply": ["a", "b"]}}`,
		"squad.json":      `{"hook": "route", ` + ev("x", "1000") + `, "want": {"to": "squad", "squad": "vendas", "reply": ["a", "b"]}}`,
		"reply.json":      `{"hook": "route", ` + ev("x", "1000") + `, "want": {"to": "squad", "squad": "s1000", "reply": ["a", "c"]}}`,
		"extra.json":      `{"hook": "route", ` + ev("x", "1000") + `, "want": {"to": "squad", "squad": "s1000"}}`,
		"null.json":       `{"hook": "route", ` + ev("x", "1000") + `, "want": null}`,
		"nil.json":        `{"hook": "route", ` + ev("nil", "1000") + `, "want": null}`,
		"nilwrong.json":   `{"hook": "route", ` + ev("nil", "1000") + `, "want": {"to": "none"}}`,
		"empty.json":      `{"hook": "route", ` + ev("empty", "1000") + `, "want": {"to": "none", "reply": []}}`,
		"boom.json":       `{"hook": "route", ` + ev("boom", "1000") + `, "want": null}`,
		"shape.json":      `{"hook": "route", ` + ev("shape", "1000") + `, "want": {"to": "queue"}}`,
		"list.json":       `[{"hook": "route", ` + ev("nil", "1") + `, "want": null}, {"description": "second", "hook": "route", ` + ev("nil", "1") + `, "want": 1}]`,
		"badhook.json":    `{"hook": "routing", "want": null}`,
		"typo.json":       `{"hook": "route", "input": {"mesage": {}}, "want": null}`,
		"badnow.json":     `{"hook": "route", ` + ev("x", `"yesterday"`) + `, "want": null}`,
		"nowant.json":     `{"hook": "route", ` + ev("x", "1") + `}`,
		"notjson.json":    `{"hook": `,
		"ignored.txt":     `not a case`,
		"convert.json":    `{"hook": "convert", "input": {"component": {"type": "select", "text": "Pick", "options": [{"title": "A"}]}, "channel": "zenvia"}, "want": "Pick\n1. A"}`,
		"convertbad.json": `{"hook": "convert", "input": {"component": {"type": "select", "text": "Pick", "options": [{"title": "A"}]}}, "want": "Pick\n1. B"}`,
	})
	want := map[string]string{
		"ok.json":         "",
		"rfc3339.json":    "",
		"squad.json":      `.squad: want "vendas", got "s1000"`,
		"reply.json":      `.reply[2]: want "c", got "b"`,
		"extra.json":      `.reply: want nothing, got ["a","b"]`,
		"null.json":       `want nil, got {"reply":["a","b"],"squad":"s1000","to":"squad"}`,
		"nil.json":        "",
		"nilwrong.json":   `want {"to":"none"}, got nil`,
		"empty.json":      "",
		"boom.json":       `route failed: routing.lua:3: no way`,
		"shape.json":      `routing.lua:2: route returned to = "queue"`,
		"list.json":       `case 2 (second): want 1, got nil`,
		"badhook.json":    `hook "routing": want "route", "convert" or "reply"`,
		"typo.json":       `input: json: unknown field "mesage"`,
		"badnow.json":     `input.now = "yesterday": want an RFC 3339 time`,
		"nowant.json":     `no "want"`,
		"notjson.json":    `not a case file`,
		"convert.json":    "",
		"convertbad.json": `want "Pick\n1. B", got "Pick\n1. A"`,
	}
	if len(got) != len(want) {
		t.Errorf("%d results, want %d (one per .json file): %v", len(got), len(want), got)
	}
	for file, w := range want {
		r, ok := got[file]
		switch {
		case !ok:
			t.Errorf("%s: no result", file)
		case w == "" && !r.OK:
			t.Errorf("%s: FAIL %s, want ok", file, r.Problem)
		case w != "" && r.OK:
			t.Errorf("%s: ok, want FAIL %s", file, w)
		case w != "" && !strings.Contains(r.Problem, w):
			t.Errorf("%s: FAIL %q, want it to contain %q", file, r.Problem, w)
		}
	}
}

// A script file that does not load fails every case of its hook: the
// server would be running the default instead.
func TestCasesOnAScriptThatDoesNotLoad(t *testing.T) {
	e, _ := newEngine(t, map[string]string{"routing.lua": "function route(ev)\n  return {\nend\n"})
	got := runCases(t, e, map[string]string{
		"a.json": `{"hook": "route", "input": {"message": {"type": "story_mention"}, "integration": {"squad": "geral"}}, "want": {"to": "squad", "squad": "geral"}}`,
		"b.json": `{"hook": "reply", "input": {}, "want": []}`,
	})
	if r := got["a.json"]; r.OK || !strings.Contains(r.Problem, "routing.lua is not running (routing.lua:3:") {
		t.Errorf("a.json = %+v, want a FAIL saying routing.lua does not run, with its error", r)
	}
	if r := got["b.json"]; !r.OK {
		t.Errorf("b.json = %+v: the other hooks still run", r)
	}
}

// The README's worked business-hours example is the file under
// scripts/examples, whose cases `conversa scripts test` runs.
func TestReadmeBusinessHoursIsTheExampleFile(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "scripts", "examples", "business_hours", "routing.lua"))
	if err != nil {
		t.Fatal(err)
	}
	ex, ok := readmeExamples(t)["business_hours"]
	if !ok {
		t.Fatal("README lacks the business_hours example")
	}
	if ex[1] != string(src) {
		t.Errorf("README's business_hours example differs from scripts/examples/business_hours/routing.lua")
	}
}
