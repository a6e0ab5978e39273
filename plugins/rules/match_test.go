package rules

import (
	"os"
	"slices"
	"testing"
)

func TestTokens(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Olá!!", []string{"ola"}},
		{"  HORÁRIO   de\tfuncionamento? ", []string{"horario", "de", "funcionamento"}},
		{"Opção 2.", []string{"opcao", "2"}},
		{"#2", []string{"2"}},
		{"nº 3", []string{"no", "3"}},
		{"ＡＢＣ ２", []string{"abc", "2"}},
		{"what's up", []string{"what", "s", "up"}},
		{"coração, ação & pão", []string{"coracao", "acao", "pao"}},
		{"👍", nil},
		{"", nil},
	}
	for _, tt := range tests {
		if got := tokens(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("tokens(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestScoreOrder(t *testing.T) {
	// Every exact match beats every containment, which beats every overlap.
	exact := score(tokens("opening hours"), tokens("Opening hours!"))
	containLong := score(tokens("opening hours"), tokens("what are your opening hours"))
	containShort := score(tokens("hours"), tokens("what are your opening hours"))
	overlapFull := score(tokens("opening hours"), tokens("hours opening"))
	overlapHalf := score(tokens("price list"), tokens("price"))
	none := score(tokens("price list"), tokens("hours"))
	tooLittle := score(tokens("a b c"), tokens("a"))

	if exact != 1 {
		t.Errorf("exact = %v, want 1", exact)
	}
	if !(exact > containLong && containLong > containShort && containShort > overlapFull && overlapFull > overlapHalf && overlapHalf > 0) {
		t.Errorf("scores exact %v, contain long %v, contain short %v, overlap full %v, overlap half %v: want strictly decreasing and positive",
			exact, containLong, containShort, overlapFull, overlapHalf)
	}
	if none != 0 || tooLittle != 0 {
		t.Errorf("unrelated = %v, Jaccard 1/3 = %v, want 0 and 0", none, tooLittle)
	}
	// A substring that is not a whole word does not count.
	if got := score(tokens("hi"), tokens("this is it")); got != 0 {
		t.Errorf("score(hi, this is it) = %v, want 0", got)
	}
}

func testAssistant(t *testing.T) *assistant {
	t.Helper()
	data, err := os.ReadFile("testdata/shop.toml")
	if err != nil {
		t.Fatal(err)
	}
	a, err := parse(data, "shop.toml")
	if err != nil {
		t.Fatalf("parse(shop.toml) = %v", err)
	}
	return a
}

func TestMatch(t *testing.T) {
	a := testAssistant(t)
	tests := []struct {
		text     string
		want     string // "" for no match
		wantConf float64
	}{
		{"hi", "greet", 1},
		{"HI!!!", "greet", 1},
		{"ola", "greet", 1},
		{"Olá", "greet", 1},
		{"horario de  FUNCIONAMENTO", "hours", 1},
		{"qual o horário de funcionamento?", "hours", 0.7 + 0.2*3/5},
		{"opening hours please", "hours", 0.7 + 0.2*2/3},
		// Both "hi" and "opening hours" are contained: the longer example wins.
		{"hi, opening hours?", "hours", 0.7 + 0.2*2/3},
		// Word overlap: Jaccard({hours, opening}, {hours, opening}) = 1.
		{"hours opening", "hours", 0.7},
		{"talk to person", "human", 0.7 * 3.0 / 4.0},
		{"chips", "", 0},
		{"this", "", 0},
		{"", "", 0},
	}
	for _, tt := range tests {
		in, conf := a.match(tt.text)
		got := ""
		if in != nil {
			got = in.name
		}
		if got != tt.want || !near(conf, tt.wantConf) {
			t.Errorf("match(%q) = %q %v, want %q %v", tt.text, got, conf, tt.want, tt.wantConf)
		}
	}
}

func TestMatchTieGoesToFirstIntent(t *testing.T) {
	a, err := parse([]byte(`
fallback = ["?"]
[[intents]]
name = "first"
examples = ["prices"]
[[intents]]
name = "second"
examples = ["preços", "prices"]
`), "tie.toml")
	if err != nil {
		t.Fatal(err)
	}
	if in, _ := a.match("PRICES"); in == nil || in.name != "first" {
		t.Errorf("match(PRICES) = %v, want first", in)
	}
	if in, _ := a.match("preços"); in == nil || in.name != "second" {
		t.Errorf("match(preços) = %v, want second", in)
	}
}

func TestPick(t *testing.T) {
	offered := []option{
		{Title: "Sales", Payload: "sales-dept"},
		{Title: "Suporte técnico", Payload: "support"},
		{Title: "Billing", Payload: "Billing"},
	}
	tests := []struct {
		text string
		want string // payload, "" for none
	}{
		{"1", "sales-dept"},
		{"2", "support"},
		{"2.", "support"},
		{" 3 ", "Billing"},
		{"#3", "Billing"},
		{"opção 2", "support"},
		{"Opcao 2", "support"},
		{"option 1", "sales-dept"},
		{"nº 1", "sales-dept"},
		{"número 3", "Billing"},
		{"SUPORTE TECNICO", "support"},
		{"suporte técnico!", "support"},
		{"sales", "sales-dept"},
		{"0", ""},
		{"4", ""},
		{"I want 2", ""},
		{"2 please", ""},
		{"suporte", ""},
		{"", ""},
	}
	for _, tt := range tests {
		o, ok := pick(offered, tt.text)
		if got := o.Payload; got != tt.want || ok != (tt.want != "") {
			t.Errorf("pick(%q) = %q %v, want %q", tt.text, got, ok, tt.want)
		}
	}
	if _, ok := pick(nil, "1"); ok {
		t.Errorf("pick(nothing offered, 1) found an option")
	}
}

func near(a, b float64) bool {
	d := a - b
	return d < 1e-9 && d > -1e-9
}
