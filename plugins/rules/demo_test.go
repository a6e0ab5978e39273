package rules

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

func demo(t *testing.T) *assistant {
	t.Helper()
	a, err := parse(demoTOML, "demo.toml")
	if err != nil {
		t.Fatalf("parse(demo.toml) = %v", err)
	}
	return a
}

// Every quick reply and option the demo offers leads to an intent, whether
// the user taps it, types its title or answers with its number.
func TestDemoOptionsLeadSomewhere(t *testing.T) {
	a := demo(t)
	offers := 0
	for _, in := range a.intents {
		for _, c := range in.replies {
			if len(c.GetOptions()) == 0 {
				continue
			}
			offers++
			offered := decodeSession(encodeSession([]*proto.Content{c}))
			for i, o := range c.GetOptions() {
				if got, _ := a.match(o.GetPayload()); got == nil {
					t.Errorf("intent %s offers %q, which matches no intent", in.name, o.GetTitle())
				}
				for _, answer := range []string{strconv.Itoa(i + 1), strings.ToUpper(o.GetTitle())} {
					got, _ := a.understand(offered, []*proto.Content{{Type: sdk.ContentText, Text: answer}})
					want, _ := a.match(o.GetPayload())
					if got != want {
						t.Errorf("intent %s: answer %q to its options = %v, want %v", in.name, answer, got, want)
					}
				}
			}
		}
	}
	if offers < 3 {
		t.Errorf("the demo offers options in %d replies, want at least 3", offers)
	}
}

// The demo is what a newcomer meets: it must show what CONTRACT §6 offers.
func TestDemoShowcase(t *testing.T) {
	a := demo(t)
	has := map[string]bool{}
	for _, in := range a.intents {
		if in.handoff {
			has["handoff"] = true
		}
		if in.end {
			has["end"] = true
		}
		for _, c := range in.replies {
			has[c.GetType()] = true
			if c.GetType() == sdk.ContentFile && c.GetMimeType() == "application/pdf" {
				has["pdf"] = true
			}
		}
	}
	for _, want := range []string{"handoff", "end", "pdf", sdk.ContentText, sdk.ContentQuickReplies, sdk.ContentOptionList, sdk.ContentImage, sdk.ContentFile} {
		if !has[want] {
			t.Errorf("the demo shows no %s", want)
		}
	}
	greet, _ := a.match("hello")
	if greet == nil || len(greet.replies) == 0 ||
		!slices.Equal(titles(greet.replies[0]), []string{"Opening hours", "Prices", "Talk to a person"}) {
		t.Errorf("greeting = %v, want quick replies Opening hours, Prices, Talk to a person", greet)
	}
	if fb := a.fallback[0].GetText(); !strings.Contains(fb, "menu") || !strings.Contains(fb, "agent") || !strings.Contains(fb, "atendente") {
		t.Errorf("fallback %q does not tell the user what to type", fb)
	}
}

// Each English intent has a Portuguese twin (NAME_pt) doing the same:
// the same kinds of replies, hand-off and end; a Portuguese greeting is
// answered in Portuguese.
func TestDemoSpeaksBothLanguages(t *testing.T) {
	a := demo(t)
	byName := map[string]intent{}
	for _, in := range a.intents {
		byName[in.name] = in
	}
	shape := func(in intent) string {
		var kinds []string
		for _, c := range in.replies {
			kinds = append(kinds, c.GetType())
		}
		return fmt.Sprintf("handoff=%v end=%v %v", in.handoff, in.end, kinds)
	}
	twins := 0
	for name, en := range byName {
		if strings.HasSuffix(name, "_pt") {
			if _, ok := byName[strings.TrimSuffix(name, "_pt")]; !ok {
				t.Errorf("intent %s has no English twin", name)
			}
			continue
		}
		pt, ok := byName[name+"_pt"]
		if !ok {
			t.Errorf("intent %s has no Portuguese twin %s_pt", name, name)
			continue
		}
		twins++
		if shape(en) != shape(pt) {
			t.Errorf("intent %s does %s, its twin %s_pt %s", name, shape(en), name, shape(pt))
		}
	}
	if twins < 8 {
		t.Errorf("%d intents with twins, want the whole demo in both languages", twins)
	}
	oi, _ := a.match("oi")
	if oi == nil || oi.name != "greet_pt" || !strings.HasPrefix(oi.replies[0].GetText(), "Oi!") {
		t.Errorf("oi = %v, want the Portuguese greeting", oi)
	}
}

// The demo's photo and catalog are files Conversa serves (paths the engine
// resolves against the public URL), and they exist.
func TestDemoMediaAreBuiltIn(t *testing.T) {
	a := demo(t)
	seen := 0
	for _, in := range a.intents {
		for _, c := range in.replies {
			if c.GetUrl() == "" {
				continue
			}
			seen++
			if !strings.HasPrefix(c.GetUrl(), "/static/demo/") {
				t.Errorf("intent %s sends %s, want a file under /static/demo/ (no Internet in the playground)", in.name, c.GetUrl())
				continue
			}
			if _, err := os.Stat(filepath.Join("..", "..", "admin", "ui", c.GetUrl())); err != nil {
				t.Errorf("intent %s sends %s: %v", in.name, c.GetUrl(), err)
			}
		}
	}
	if seen == 0 {
		t.Errorf("the demo sends no photo or file")
	}
}

func titles(c *proto.Content) []string {
	var ts []string
	for _, o := range c.GetOptions() {
		ts = append(ts, o.GetTitle())
	}
	return ts
}

func TestDemoConversations(t *testing.T) {
	as := dial(t)
	tests := []struct {
		name  string
		turns []turn
	}{
		{"english", []turn{
			{text("Hello!"), "greet"},
			{text("1"), "hours"},
			{text("how much does it cost?"), "prices"},
			{text("1"), "catalog"},
			{text("thank you"), "thanks"},
			{text("bye"), "goodbye"},
		}},
		{"portuguese", []turn{
			{text("Olá, bom dia"), "greet_pt"},
			{text("opção 2"), "prices_pt"},
			{text("tabela de preços"), "prices_pt"},
			{text("OPÇÕES"), "menu_pt"},
			{text("4"), "photos_pt"},
			{text("quero falar com atendente"), "human_pt"},
		}},
		{"english menu", []turn{
			{text("MENU"), "menu"},
			{text("4"), "photos"},
			{text("2"), "human"},
		}},
		{"lost", []turn{
			{text("asdf"), "fallback"},
			{text("menu"), "menu"},
			{text("qwerty"), "fallback"},
			{text("5"), "human"},
		}},
		{"tapped quick replies", []turn{
			{text("oi"), "greet_pt"},
			{&proto.Content{Type: sdk.ContentText, Text: "Talk to a person", Payload: "Talk to a person"}, "human"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			converse(t, as, "", tt.turns)
		})
	}

	res, err := as.Converse(context.Background(), say("", nil, text("tchau")))
	if err != nil || !res.GetEnd() {
		t.Errorf("Converse(tchau) = %v, %v; want end", res, err)
	}
	res, err = as.Converse(context.Background(), say(`{}`, nil, text("atendente")))
	if err != nil || !res.GetHandoff() {
		t.Errorf("Converse(atendente) = %v, %v; want handoff", res, err)
	}
}
