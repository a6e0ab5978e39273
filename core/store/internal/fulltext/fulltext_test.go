package fulltext

import (
	"slices"
	"strings"
	"testing"

	"github.com/conversa/conversa/core/model"
)

func TestTerms(t *testing.T) {
	cases := []struct {
		q    string
		want []string
	}{
		{"pedido 1234", []string{"pedido", "1234"}},
		{`"não" AND (sei*)`, []string{"não", "AND", "sei"}},
		{"ana.souza", []string{"ana", "souza"}},
		{`"`, nil},
		{"*", nil},
		{"(", nil},
		{"🎉 🙂", nil},
		{"\xff\xfeoi\xc3", []string{"oi"}},
		{"na\u0303o", []string{"na\u0303o"}}, // decomposed: one word
		{"\u0303 x", []string{"x"}},          // a lone mark is no word
		{"a b c d e f g h i j", []string{"a", "b", "c", "d", "e", "f", "g", "h"}},
	}
	for _, c := range cases {
		if got := Terms(c.q); !slices.Equal(got, c.want) {
			t.Errorf("Terms(%q) = %q, want %q", c.q, got, c.want)
		}
	}
}

func TestFold(t *testing.T) {
	cases := map[string]string{"Não": "nao", "AÇÃO": "acao", "na\u0303o": "nao", "Straße": "straße", "ПРИВЕТ": "привет", "1234": "1234"}
	for in, want := range cases {
		if got := Fold(in); got != want {
			t.Errorf("Fold(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLexemes(t *testing.T) {
	got := Lexemes("Não sei, NÃO! ana.souza “olá” " + strings.Repeat("x", MaxWord+1))
	if want := []string{"nao", "sei", "ana", "souza", "ola"}; !slices.Equal(got, want) {
		t.Errorf("Lexemes = %q, want %q", got, want)
	}
}

func TestText(t *testing.T) {
	got := Text([]model.Content{
		{Type: model.Text, Text: "hello"},
		{Type: model.Image, URL: "https://x/y.jpg", Caption: "a photo"},
		{Type: model.StoryReply, URL: "https://x/s.jpg", Text: "love it"},
		{Type: model.Image, URL: "https://x/z.jpg"},
	})
	if want := "hello\na photo\nlove it"; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
}

func TestSearchable(t *testing.T) {
	cases := []struct {
		author  string
		deleted bool
		want    bool
	}{
		{model.AuthorContact, false, true},
		{model.AgentAuthor("ana"), false, true},
		{model.AuthorAssistant, false, true},
		{model.AuthorSystem, false, false},
		{model.AuthorContact, true, false},
	}
	for _, c := range cases {
		if got := Searchable(c.author, c.deleted); got != c.want {
			t.Errorf("Searchable(%q, %v) = %v, want %v", c.author, c.deleted, got, c.want)
		}
	}
}

func TestSnippet(t *testing.T) {
	long := strings.Repeat("lorem ipsum ", 20) + "o pedido 4711 não chegou " + strings.Repeat("dolor sit ", 20)
	cases := []struct {
		name, text string
		terms      []string
		want       func(string) bool
	}{
		{"short text whole, on one line", "Oi,\n  tudo bem?", []string{"tudo"},
			func(s string) bool { return s == "Oi, tudo bem?" }},
		{"long text around the hit", long, []string{"pedido"},
			func(s string) bool {
				return strings.HasPrefix(s, "…") && strings.HasSuffix(s, "…") && strings.Contains(s, "o pedido 4711 não chegou") &&
					len([]rune(s)) <= snippetMax+2
			}},
		{"accents and case folded", long, []string{"NAO"},
			func(s string) bool { return strings.Contains(s, "não chegou") }},
		{"the last term as a prefix", long, []string{"chego"},
			func(s string) bool { return strings.Contains(s, "não chegou") }},
		{"only the last term as a prefix", long, []string{"ped", "chegou"},
			func(s string) bool {
				i := strings.Index(s, "chegou")
				return i >= 0 && len([]rune(s[:i])) <= snippetBefore+1 // begins at "chegou", not at "pedido"
			}},
		{"no hit: the beginning", long, []string{"zebra"},
			func(s string) bool { return strings.HasPrefix(s, "lorem ipsum") && strings.HasSuffix(s, "…") }},
	}
	for _, c := range cases {
		if got := Snippet(c.text, c.terms); !c.want(got) {
			t.Errorf("%s: Snippet(…, %q) = %q", c.name, c.terms, got)
		}
	}
}
