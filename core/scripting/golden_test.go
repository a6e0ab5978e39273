package scripting

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/conversa/conversa/core/model"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

// The default text conversion, as a Zenvia user would read it.
func TestDefaultConversionGolden(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cases := []struct {
		name string
		c    model.Content
	}{
		{"quick_replies", model.Content{Type: model.QuickReplies, Text: "Would you like to talk to a person?",
			Options: options("Yes", "No, thanks")}},
		{"select", model.Content{Type: model.Select, Text: "Which department?",
			Options: options("Sales", "Support", "Billing", "Opening hours")}},
		{"option_list", model.Content{Type: model.OptionList, Text: "Our menu 🍕 — pick a size:",
			Options: []model.Option{{Title: "Small", Payload: "S"}, {Title: "Médium", Payload: "M"}, {Payload: "LARGE"}}}},
		{"option_list_without_prompt", model.Content{Type: model.OptionList,
			Options: options("Track my order", "Talk to us")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := e.Convert(t.Context(), c.c, "zenvia")
			path := filepath.Join("testdata", "golden", c.name+".txt")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Convert(%s) =\n%s\nwant (%s):\n%s", c.name, got, path, want)
			}
			if goText := defaultConvert(&c.c); goText != string(want) {
				t.Errorf("the Go fallback gives\n%s\nwant (%s):\n%s", goText, path, want)
			}
		})
	}
}
