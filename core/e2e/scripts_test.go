package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// repoPath is a path of the repository, from core/e2e.
// `conversa scripts test` passes on the shipped cases and fails, naming the
// file, on a wrong one; the worked business-hours example passes its own.
func TestScriptsTestCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "conversa.toml")
	os.WriteFile(cfg, []byte("[scripts]\ndir = \"scripts\"\n"), 0o644)
	shipped := repoPath("scripts", "tests")

	out, code := runConversa(t, dir, "", "scripts", "test", "--config", cfg, shipped)
	if code != 0 || !strings.Contains(out, "route_story_mention_goes_to_the_squad.json: ok\n") ||
		!strings.Contains(out, "convert_options_become_a_numbered_list.json: ok\n") ||
		!strings.Contains(out, "reply_sends_the_configured_messages.json: ok\n") || strings.Contains(out, "FAIL") {
		t.Fatalf("scripts test on the shipped cases = exit %d:\n%s\nwant exit 0 and every file ok", code, out)
	}

	// A copy of the cases with one wrong want.
	cases := filepath.Join(dir, "cases")
	os.MkdirAll(cases, 0o755)
	entries, err := os.ReadDir(shipped)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(shipped, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "route_story_mention_goes_to_the_squad.json" {
			b = []byte(strings.Replace(string(b), `"squad": "geral"`+"\n  }", `"squad": "vendas"`+"\n  }", 1))
		}
		os.WriteFile(filepath.Join(cases, e.Name()), b, 0o644)
	}
	out, code = runConversa(t, dir, "", "scripts", "test", "--config", cfg, cases)
	if code != 1 || !strings.Contains(out, `route_story_mention_goes_to_the_squad.json: FAIL .squad: want "vendas", got "geral"`) ||
		!strings.Contains(out, "route_story_reply_goes_to_the_squad.json: ok\n") || strings.Count(out, "FAIL") != 1 {
		t.Errorf("scripts test with one wrong case = exit %d:\n%s\nwant exit 1 and that file's FAIL line", code, out)
	}

	// The operator's own script: the example, against its cases.
	os.WriteFile(cfg, []byte("[scripts]\ndir = "+quote(repoPath("scripts", "examples", "business_hours"))+"\n"), 0o644)
	out, code = runConversa(t, dir, "", "scripts", "test", "--config", cfg, repoPath("scripts", "examples", "business_hours", "tests"))
	if code != 0 || !strings.Contains(out, "saturday_afternoon_closed.json: ok\n") {
		t.Errorf("scripts test on the business-hours example = exit %d:\n%s", code, out)
	}

	out, code = runConversa(t, dir, "", "scripts", "test", "--config", filepath.Join(dir, "missing.toml"), cases)
	if code != 2 || !strings.Contains(out, "missing.toml") {
		t.Errorf("scripts test with an unreadable config = exit %d:\n%s\nwant exit 2 naming it", code, out)
	}
	if out, code = runConversa(t, dir, "", "scripts", "test", "--config", cfg); code != 2 || !strings.Contains(out, "usage: conversa scripts test") {
		t.Errorf("scripts test without DIR = exit %d:\n%s\nwant exit 2 and the usage", code, out)
	}
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `\`, `\\`) + `"` }

// The business-hours example on a running server, at fixed instants moved to
// with the test clock, in two time zones: in hours the conversation goes to
// "atendimento"; out of hours the contact is told when we open (the text
// reaches the fake Graph API) and the conversation waits for "manha".
func TestBusinessHoursRoutingWithTheTestClock(t *testing.T) {
	graph := newFakeGraph(t)
	srv := preparedServer(t, metaConfig(graph.URL, ""))
	example, err := os.ReadFile(repoPath("scripts", "examples", "business_hours", "routing.lua"))
	if err != nil {
		t.Fatal(err)
	}
	scripts := filepath.Join(srv.dir, "scripts")
	os.MkdirAll(scripts, 0o755)
	if err := os.WriteFile(filepath.Join(scripts, "routing.lua"), example, 0o644); err != nil {
		t.Fatal(err)
	}
	srv.start()
	t.Cleanup(srv.stop)
	token := srv.admin()

	started := time.Now()
	moved := time.Duration(0)
	// at moves the server's clock to the instant s (it only moves forward)
	// and returns it.
	at := func(s string) time.Time {
		t.Helper()
		target, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		step := target.Sub(started.Add(moved).Add(time.Since(started)))
		if step < 0 {
			t.Fatalf("the instant %s is already past", s)
		}
		srv.advance(step)
		moved += step
		return target
	}
	squadOf := func(sender string) string {
		return srv.str(`SELECT c.squad FROM conversations c JOIN contacts ct ON ct.id = c.contact_id
			WHERE ct.channel_user_id = ? AND c.state = 'queued'`, sender)
	}
	sentTo := func(sender string) []string {
		var out []string
		for _, r := range graph.sends() {
			if r.Recipient() == sender && r.Method == "POST" {
				out = append(out, r.Text())
			}
		}
		return out
	}
	check := func(zone, sender, instant, wantSquad, wantReply string) {
		t.Helper()
		when := at(instant)
		srv.deliverMeta("ig-meta", metaText(sender, "mid-"+sender, "oi", when))
		srv.settle()
		if got := squadOf(sender); got != wantSquad {
			t.Errorf("%s at %s: queued for %q, want %q", zone, instant, got, wantSquad)
		}
		sent := sentTo(sender)
		switch {
		case wantReply == "" && len(sent) != 0:
			t.Errorf("%s at %s: sent %q in hours, want nothing", zone, instant, sent)
		case wantReply != "" && (len(sent) != 1 || !strings.Contains(sent[0], wantReply)):
			t.Errorf("%s at %s: sent %q, want one reply saying %q", zone, instant, sent, wantReply)
		}
	}

	// São Paulo, UTC-3. Wednesday 9 January 2030.
	check("São Paulo", "9100000000000001", "2030-01-09T13:00:00Z", "atendimento", "")                // 10:00
	check("São Paulo", "9100000000000002", "2030-01-09T23:30:00Z", "manha", "open tomorrow at 9:00") // 20:30

	// The same script for Lisbon (UTC+0 in January), saved on the running
	// server: the watcher loads it.
	lisbon := strings.Replace(string(example), `"America/Sao_Paulo"`, `"Europe/Lisbon"`, 1)
	if lisbon == string(example) {
		t.Fatal("the example names no America/Sao_Paulo zone to replace")
	}
	if err := os.WriteFile(filepath.Join(scripts, "routing.lua"), []byte(lisbon), 0o644); err != nil {
		t.Fatal(err)
	}
	// The clock has moved years: the morning's session has expired.
	token = srv.signIn("boss", "boss-password")
	var lastError string
	eventually(t, "the Lisbon version loaded", func() bool {
		var list struct {
			Scripts []struct {
				Name      string `json:"name"`
				Version   int    `json:"version"`
				LastError string `json:"last_error"`
			} `json:"scripts"`
		}
		srv.api("GET", "/api/v1/scripts", token, nil, &list)
		for _, s := range list.Scripts {
			if s.Name == "routing.lua" {
				lastError = s.LastError
				return s.Version == 2
			}
		}
		return false
	})
	if lastError != "" {
		t.Fatalf("the Lisbon version: last_error %q", lastError)
	}
	// Thursday 10 January: 09:30 in Lisbon is open (06:30 in São Paulo
	// would not be); 19:30 is closed (16:30 in São Paulo would be open).
	check("Lisbon", "9100000000000003", "2030-01-10T09:30:00Z", "atendimento", "")
	check("Lisbon", "9100000000000004", "2030-01-10T19:30:00Z", "manha", "open tomorrow at 9:00")
}

// The script page's API: open, check, save (refusing a script that does not
// load, auditing what it saves) and run the cases; admins only.
func TestScriptsAPI(t *testing.T) {
	srv := newServer(t, metaConfig("http://127.0.0.1:1", ""))
	admin := srv.admin()
	srv.agentsAdd("ana", "agent", "ana-password", "--squads", "geral")
	agent := srv.signIn("ana", "ana-password")

	type problem struct {
		Line    int    `json:"line"`
		Message string `json:"message"`
	}
	var opened struct {
		Name   string `json:"name"`
		Source string `json:"source"`
		File   bool   `json:"file"`
	}
	if status := srv.api("GET", "/api/v1/scripts/routing.lua", admin, nil, &opened); status != 200 ||
		opened.File || !strings.Contains(opened.Source, "function route(ev)") {
		t.Fatalf("GET routing.lua = %d %+v, want the built-in default's source", status, opened)
	}
	if status := srv.api("GET", "/api/v1/scripts/evil.lua", admin, nil, nil); status != 404 {
		t.Errorf("GET a script that is no hook = %d, want 404", status)
	}

	var checked struct {
		Problems []problem `json:"problems"`
		Loads    bool      `json:"loads"`
	}
	broken := "function route(ev)\n  local x = 1\n  return {to = \"squad\",\nend\n"
	if status := srv.api("POST", "/api/v1/scripts/check", admin, map[string]string{"name": "routing.lua", "source": broken}, &checked); status != 200 ||
		checked.Loads || len(checked.Problems) != 1 || checked.Problems[0].Line != 4 {
		t.Errorf("check a syntax error = %d %+v, want one problem on line 4 and loads false", status, checked)
	}
	dryRun := "function route(ev)\n  return {to = \"squad\", squad = ev.message.url:sub(1, 3) .. nil}\nend\n"
	if status := srv.api("POST", "/api/v1/scripts/check", admin, map[string]string{"name": "routing.lua", "source": dryRun}, &checked); status != 200 ||
		!checked.Loads || len(checked.Problems) == 0 || checked.Problems[0].Line != 2 {
		t.Errorf("check a run-time error = %d %+v, want a problem on line 2 and loads true", status, checked)
	}
	if status := srv.api("POST", "/api/v1/scripts/check", agent, map[string]string{"name": "routing.lua", "source": broken}, nil); status != 403 {
		t.Errorf("check as an agent = %d, want 403", status)
	}

	// A script that does not compile is refused, and nothing is written.
	var refused struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		Problems []problem `json:"problems"`
	}
	if status := srv.api("PUT", "/api/v1/scripts/routing.lua", admin, map[string]string{"source": broken}, &refused); status != 422 ||
		len(refused.Problems) != 1 || refused.Problems[0].Line != 4 || !strings.Contains(refused.Error.Message, "not saved") {
		t.Errorf("save a syntax error = %d %+v, want 422 with the problem on line 4", status, refused)
	}
	if _, err := os.Stat(filepath.Join(srv.dir, "scripts", "routing.lua")); err == nil {
		t.Errorf("the refused script was written")
	}
	if status := srv.api("PUT", "/api/v1/scripts/routing.lua", agent, map[string]string{"source": "function route(ev) end"}, nil); status != 403 {
		t.Errorf("save as an agent = %d, want 403", status)
	}

	good := "function route(ev)\n  if ev.message.type == \"story_mention\" then\n    return {to = \"squad\", squad = \"stories\"}\n  end\nend\n"
	var saved struct {
		Status struct {
			Version int    `json:"version"`
			Source  string `json:"source"`
		} `json:"status"`
		Problems []problem `json:"problems"`
	}
	if status := srv.api("PUT", "/api/v1/scripts/routing.lua", admin, map[string]string{"source": good}, &saved); status != 200 ||
		saved.Status.Source != "file" || len(saved.Problems) != 0 {
		t.Fatalf("save a good script = %d %+v, want it running from the file", status, saved)
	}
	if b, err := os.ReadFile(filepath.Join(srv.dir, "scripts", "routing.lua")); err != nil || string(b) != good {
		t.Errorf("the file after the save = %q, %v", b, err)
	}
	var audit struct {
		Entries []struct {
			Actor, Action, Target, Detail string
		} `json:"entries"`
	}
	srv.api("GET", "/api/v1/audit?action=script", admin, nil, &audit)
	if len(audit.Entries) != 1 || audit.Entries[0].Actor != "boss" || audit.Entries[0].Target != "routing.lua" ||
		!strings.Contains(audit.Entries[0].Detail, "bytes") {
		t.Errorf("audit entries for scripts = %+v, want one script.update of routing.lua by boss", audit.Entries)
	}

	// Cases: with no tests/ in the scripts dir, the shipped ones, which the
	// saved routing.lua now fails for stories.
	type results struct {
		From    string `json:"from"`
		Failed  int    `json:"failed"`
		Results []struct {
			File    string `json:"file"`
			OK      bool   `json:"ok"`
			Problem string `json:"problem"`
		} `json:"results"`
	}
	var run results
	if status := srv.api("POST", "/api/v1/scripts/test", admin, nil, &run); status != 200 || run.From != "shipped" || run.Failed != 2 {
		t.Fatalf("run the cases = %d %+v, want the shipped cases, the two story cases failing", status, run)
	}
	for _, r := range run.Results {
		if r.File == "route_story_mention_goes_to_the_squad.json" && (r.OK || !strings.Contains(r.Problem, `.squad: want "geral", got "stories"`)) {
			t.Errorf("the story-mention case = %+v, want a FAIL naming the squad", r)
		}
	}
	// The operator's own tests/ take over.
	os.MkdirAll(filepath.Join(srv.dir, "scripts", "tests"), 0o755)
	os.WriteFile(filepath.Join(srv.dir, "scripts", "tests", "stories.json"), []byte(
		`{"hook": "route", "input": {"message": {"type": "story_mention"}}, "want": {"to": "squad", "squad": "stories"}}`), 0o644)
	if status := srv.api("POST", "/api/v1/scripts/test", admin, nil, &run); status != 200 || run.From != "tests" || run.Failed != 0 ||
		len(run.Results) != 1 || !run.Results[0].OK {
		t.Errorf("run the operator's cases = %d %+v, want stories.json ok", status, run)
	}
	if status := srv.api("POST", "/api/v1/scripts/test", agent, nil, nil); status != 403 {
		t.Errorf("run the cases as an agent = %d, want 403", status)
	}
}
