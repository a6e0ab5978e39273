package scripting

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  []string // FILE:LINE: prefix (FILE relative to the dir) + a fragment of the message
	}{
		{"no problems", map[string]string{
			"routing.lua":           "function route(ev)\n  return {to = \"squad\", squad = \"vendas\"}\nend\n",
			"text_conversion.lua":   "function convert(c, channel)\n  return c.text .. \"!\"\nend\n",
			"unsupported_media.lua": "function reply(ev)\n  return {}\nend\n",
		}, nil},
		{"syntax error", map[string]string{
			"routing.lua": "-- routing\n\nfunction route(ev)\n  if ev.message.type = \"text\" then\n    return nil\n  end\nend\n",
		}, []string{"routing.lua:4: syntax error near '='"}},
		{"unterminated function", map[string]string{
			"routing.lua": "function route(ev)\n  return nil\n",
		}, []string{"routing.lua:3: syntax error at the end of the file"}},
		{"run-time error in a dry run", map[string]string{
			"text_conversion.lua": "function convert(c, channel)\n  local first = c.options[1]\n  return first.title .. c.missing.field\nend\n",
		}, []string{"text_conversion.lua:3: attempt to index a non-table object(nil) with key 'field' (dry run with quick_replies for zenvia)"}},
		{"error only for some messages", map[string]string{
			"unsupported_media.lua": "function reply(ev)\n  if ev.message.original_type == \"location\" then\n    error(\"no locations\")\n  end\n  return {\"ok\"}\nend\n",
		}, []string{"unsupported_media.lua:3: no locations (dry run with a location)"}},
		{"wrong result shape", map[string]string{
			"unsupported_media.lua": "\nfunction reply(ev)\n  return \"not a list\"\nend\n",
		}, []string{"unsupported_media.lua:2: reply returned a string; want a list of strings (dry run with a text)"}},
		{"missing function", map[string]string{
			"routing.lua": "function rout(ev)\nend\n",
		}, []string{"routing.lua:1: defines no function route"}},
		{"failing top level", map[string]string{
			"routing.lua": "local x\nx.y = 1\nfunction route(ev) end\n",
		}, []string{"routing.lua:2: attempt to index"}},
		{"time-out", map[string]string{
			"routing.lua": "function route(ev)\n  while true do end\nend\n",
		}, []string{"routing.lua:2: time limit of 500ms exceeded (dry run with a text)"}},
		{"several files", map[string]string{
			"routing.lua":         "function route(ev) return {to = \"nowhere\"} end\n",
			"text_conversion.lua": "function convert(c, channel) return 1 +  end\n",
		}, []string{`routing.lua:1: route returned to = "nowhere"`, "text_conversion.lua:1: "}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeScripts(t, dir, c.files)
			got := Check(dir, 500*time.Millisecond)
			if len(got) != len(c.want) {
				t.Fatalf("Check = %q, want %d problems like %q", got, len(c.want), c.want)
			}
			for i, w := range c.want {
				if want := filepath.Join(dir, w); !strings.HasPrefix(got[i], want) {
					t.Errorf("problem %d = %q, want it to start with %q", i, got[i], want)
				}
			}
		})
	}
}

func TestCheckWithoutScripts(t *testing.T) {
	if got := Check(filepath.Join(t.TempDir(), "absent"), 0); len(got) != 0 {
		t.Errorf("Check(missing dir) = %q, want no problems", got)
	}
	if got := Check(t.TempDir(), 0); len(got) != 0 {
		t.Errorf("Check(empty dir) = %q, want no problems", got)
	}
}

// The scripts shipped in scripts/ are valid operator scripts.
func TestCheckShippedScripts(t *testing.T) {
	if got := Check(filepath.Join("..", "..", "scripts"), 0); len(got) != 0 {
		t.Errorf("Check(scripts/) = %q, want no problems", got)
	}
}

func TestCheckSource(t *testing.T) {
	if got := CheckSource("routing.lua", "routing.lua", []byte("function route(ev) return {to = \"none\"} end"), 0); len(got) != 0 {
		t.Errorf("CheckSource(valid) = %q, want nothing", got)
	}
	got := CheckSource("routing.lua", "routing.lua", []byte("function route(ev)\n  return {to = 1}\nend"), 0)
	if len(got) != 1 || !strings.HasPrefix(got[0], "routing.lua:1: route returned to = a number") {
		t.Errorf("CheckSource(bad shape) = %q, want routing.lua:1: route returned to = a number...", got)
	}
	got = CheckSource("routes.lua", "x/routes.lua", []byte(""), 0)
	if len(got) != 1 || !strings.HasPrefix(got[0], "x/routes.lua:1: not a hook script") {
		t.Errorf("CheckSource(routes.lua) = %q, want not a hook script", got)
	}
}

func TestCheckUnreadable(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "routing.lua"), 0o755); err != nil {
		t.Fatal(err)
	}
	got := Check(dir, 0)
	if len(got) != 1 || !strings.HasPrefix(got[0], filepath.Join(dir, "routing.lua")+":1: ") {
		t.Errorf("Check(dir as a file) = %q, want one problem at routing.lua:1", got)
	}
}
