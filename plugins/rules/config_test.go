package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // substrings of the error, in order
	}{
		{"unknown key in a reply", `fallback = ["?"]
[[intents]]
name = "a"
examples = ["b"]
[[intents.replies]]
text = "x"
imge = "https://x/y.png"
`, []string{"f.toml:7: intents.replies.imge: unknown key"}},
		{"unknown top-level keys, all reported", `fallback = ["?"]
fallbacks = ["?"]
[[intent]]
name = "a"
`, []string{"f.toml:2: fallbacks: unknown key", "f.toml:3: intent: unknown key"}},
		{"wrong type", `fallback = ["?"]
[[intents]]
name = "a"
examples = "b"
`, []string{"f.toml:4: intents.examples: cannot decode TOML string into an array of strings"}},
		{"table where an array of tables belongs", `fallback = ["?"]
intents = 3
`, []string{"f.toml:2: intents: cannot decode TOML integer into an array of tables"}},
		{"syntax", `fallback = ["?"]
[[intents]]
name = "a
`, []string{"f.toml:3:"}},
		{"no fallback", `[[intents]]
name = "a"
examples = ["b"]
`, []string{"f.toml: fallback: at least one text is required"}},
		{"empty fallback text", `fallback = ["?", " "]
`, []string{"f.toml:1: fallback[1]: empty text"}},
		{"intent without name or examples", `fallback = ["?"]

[[intents]]
examples = ["b"]

[[intents]]
name = "c"
`, []string{"f.toml:3: intents[0]: an intent needs a name", `f.toml:6: intents[1]: intent "c" needs examples`}},
		{"example without words", `fallback = ["?"]
[[intents]]
name = "a"
examples = ["ok",
            "?!"]
`, []string{`f.toml:5: intents[0].examples[1]: "?!" has no words`}},
		{"duplicate name", `fallback = ["?"]
[[intents]]
name = "a"
examples = ["b"]
[[intents]]
name = "a"
examples = ["c"]
`, []string{`f.toml:6: intents[1].name: "a" is already the name of intents[0]`}},
		{"empty reply", `fallback = ["?"]
[[intents]]
name = "a"
examples = ["b"]
[[intents.replies]]
text = "x"
[[intents.replies]]
style = ""
`, []string{"f.toml:7: intents[0].replies[1]: a reply needs at least one of"}},
		{"bad style, empty title", `fallback = ["?"]
[[intents]]
name = "a"
examples = ["b"]
[[intents.replies]]
options = ["x", ""]
style = "grid"
`, []string{`f.toml:7: intents[0].replies[0].style: "grid" is not "select" or "list"`, "f.toml:6: intents[0].replies[0].options[1]: empty title"}},
		{"style without options", `fallback = ["?"]
[[intents]]
name = "a"
examples = ["b"]
[[intents.replies]]
text = "x"
quick_replies = ["y"]
style = "select"
`, []string{"f.toml:8: intents[0].replies[0].style: style without options"}},
		{"empty quick reply title", `fallback = ["?"]
[[intents]]
name = "a"
examples = ["b"]
[[intents.replies]]
quick_replies = ["y", "  "]
`, []string{"f.toml:6: intents[0].replies[0].quick_replies[1]: empty title"}},
		{"mime type without file", `fallback = ["?"]
[[intents]]
name = "a"
examples = ["b"]
[[intents.replies]]
image = "https://x/y.png"
mime_type = "image/png"
`, []string{"f.toml:7: intents[0].replies[0].mime_type: mime_type without file"}},
		{"inline tables: no line, still the key", `fallback = ["?"]
intents = [{name = "a", examples = ["b"], replies = [{style = "grid", options = ["x"]}]}]
`, []string{`f.toml: intents[0].replies[0].style: "grid" is not`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse([]byte(tt.doc), "f.toml")
			if err == nil {
				t.Fatalf("parse() = nil error, want %q", tt.want)
			}
			msg := err.Error()
			rest := msg
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Errorf("parse() = %q, want it to contain %q (in order)", msg, w)
					break
				}
				rest = rest[i+len(w):]
			}
			if strings.Contains(msg, "[]") || strings.Contains(msg, "Doc") {
				t.Errorf("parse() = %q names Go types", msg)
			}
		})
	}
}

func TestParseSettings(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"", "", false},
		{" ", "", false},
		{"{}", "", false},
		{"null", "", false},
		{`{"file": "a/b.toml"}`, "a/b.toml", false},
		{`{"fiel": "a/b.toml"}`, "", true},
		{`{"file": 3}`, "", true},
		{`[`, "", true},
	}
	for _, tt := range tests {
		s, err := parseSettings([]byte(tt.in))
		if s.File != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("parseSettings(%q) = %q, %v; want %q, error %v", tt.in, s.File, err, tt.want, tt.wantErr)
		}
	}
}

func TestFilesReloadOnChange(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bot.toml")
	write := func(doc string, mod time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		// An explicit stamp: two writes within the file system's clock
		// resolution would otherwise look unchanged.
		if err := os.Chtimes(path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	intentOf := func(a *assistant, text string) string {
		if in, _ := a.match(text); in != nil {
			return in.name
		}
		return ""
	}
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var f files

	write("fallback = [\"?\"]\n[[intents]]\nname = \"one\"\nexamples = [\"hello\"]\n", base)
	a1, err := f.load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := intentOf(a1, "hello"); got != "one" {
		t.Fatalf("intent(hello) = %q, want one", got)
	}
	if a, _ := f.load(path); a != a1 {
		t.Errorf("load() of an unchanged file parsed it again")
	}

	write("fallback = [\"?\"]\n[[intents]]\nname = \"two\"\nexamples = [\"hello\"]\n", base.Add(time.Second))
	a2, err := f.load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := intentOf(a2, "hello"); got != "two" {
		t.Errorf("after an edit, intent(hello) = %q, want two", got)
	}

	write("fallback = [\"?\"]\n[[intents]]\nname = \"two\"\nexample = [\"hello\"]\n", base.Add(2*time.Second))
	if _, err := f.load(path); err == nil || !strings.Contains(err.Error(), "bot.toml:4: intents.example: unknown key") {
		t.Errorf("load(broken) = %v, want the file, line and key", err)
	}

	write("fallback = [\"?\"]\n[[intents]]\nname = \"three\"\nexamples = [\"hello\"]\n", base.Add(3*time.Second))
	a3, err := f.load(path)
	if err != nil {
		t.Fatalf("load(fixed) = %v", err)
	}
	if got := intentOf(a3, "hello"); got != "three" {
		t.Errorf("after the fix, intent(hello) = %q, want three", got)
	}

	if _, err := f.load(filepath.Join(dir, "missing.toml")); err == nil {
		t.Errorf("load(missing file) = nil error")
	}
}

func TestFilesRelativeToWorkingDirectory(t *testing.T) {
	var f files
	a, err := f.load("testdata/shop.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.intents) == 0 {
		t.Errorf("load(testdata/shop.toml) has no intents")
	}
}
