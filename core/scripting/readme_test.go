package scripting

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
)

// readmeExamples extracts the worked examples of scripts/README.md: each
// ```lua block whose first line is "-- example: NAME (FILE)".
func readmeExamples(t *testing.T) map[string][2]string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "scripts", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```lua\n(.*?)```")
	head := regexp.MustCompile(`^-- example: (\w+) \((\w+\.lua)\)\n`)
	out := map[string][2]string{}
	for _, m := range block.FindAllStringSubmatch(string(doc), -1) {
		h := head.FindStringSubmatch(m[1])
		if h == nil {
			continue
		}
		if _, dup := out[h[1]]; dup {
			t.Errorf("README example %q appears twice", h[1])
		}
		out[h[1]] = [2]string{h[2], m[1]}
	}
	return out
}

// Every worked example of the README runs, and does what its text says.
func TestReadmeExamples(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	withNow := func(ev *Event, now string) *Event { ev.Now = at(now); return ev }
	withUser := func(ev *Event, username string) *Event { ev.Contact.Username = username; return ev }
	location := event(model.Unsupported, "")
	location.Message.OriginalType = "location"
	configured := []string{"Sorry, text only.", "Try again?"}

	closed := func(when string) Route {
		return Route{To: ToSquad, Squad: "manha", Reply: []string{"Thanks for your message! We are closed now and open " + when +
			". Your conversation is in the queue and the first of us in will answer."}}
	}
	type routeCase struct {
		ev   *Event
		want Route
	}
	routes := map[string][]routeCase{
		"business_hours": {
			{withNow(event("text", "oi"), "2026-03-04T13:00:00Z"), Route{To: ToSquad, Squad: "atendimento"}}, // Wed 10:00 in São Paulo
			{withNow(event("text", "oi"), "2026-03-06T20:59:59Z"), Route{To: ToSquad, Squad: "atendimento"}}, // Fri 17:59
			{withNow(event("text", "oi"), "2026-03-06T21:00:00Z"), closed("tomorrow at 9:00")},               // Fri 18:00
			{withNow(event("text", "oi"), "2026-03-04T11:59:00Z"), closed("today at 9:00")},                  // Wed 8:59
			{withNow(event("text", "oi"), "2026-03-07T16:00:00Z"), closed("on Monday at 9:00")},              // Sat 13:00
			{withNow(event("story_mention", ""), "2026-03-08T13:00:00Z"), closed("tomorrow at 9:00")},        // Sunday
		},
		"vip_agent": {
			{withUser(event("text", "oi"), "Maria.Silva"), Route{To: ToAgent, Agent: "ana"}},
			{withUser(event("image", ""), "joao.costa"), Route{To: ToAgent, Agent: "bruno"}},
			{withUser(event("text", "oi"), "someone.else"), Route{}},
			{withUser(event("story_reply", "uau"), ""), Route{To: ToSquad, Squad: "geral"}},
		},
		"sales_keywords": {
			{event("text", "Qual o PREÇO desse?"), Route{To: ToSquad, Squad: "vendas", Priority: 10}},
			{event("text", "I want to buy two"), Route{To: ToSquad, Squad: "vendas", Priority: 10}},
			{event("text", "Bom dia"), Route{}},
			{event("image", ""), Route{}},
		},
		"combined": {
			{withUser(event("text", "quero comprar"), "maria.silva"), Route{To: ToAgent, Agent: "ana"}},
			{withUser(event("text", "quero comprar"), "other"), Route{To: ToSquad, Squad: "vendas", Priority: 10}},
			{withUser(event("text", "olá"), "other"), Route{}},
			{withUser(event("story_mention", ""), "other"), Route{To: ToSquad, Squad: "geral"}},
		},
	}
	type convertCase struct {
		c    model.Content
		want string
	}
	eleven := options("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k")
	converts := map[string][]convertCase{
		"option_list_format": {
			{model.Content{Type: model.OptionList, Text: "Menu", Options: options("Small", "Large")}, "*Menu*\n1️⃣ Small\n2️⃣ Large"},
			{model.Content{Type: model.OptionList, Options: eleven}, "1️⃣ a\n2️⃣ b\n3️⃣ c\n4️⃣ d\n5️⃣ e\n6️⃣ f\n7️⃣ g\n8️⃣ h\n9️⃣ i\n🔟 j\n11. k"},
			{model.Content{Type: model.QuickReplies, Text: "Ok?", Options: options("Yes", "No")}, "Ok?\n1. Yes\n2. No"},
		},
	}
	type replyCase struct {
		ev   *Event
		want []string
	}
	replies := map[string][]replyCase{
		"media_replies": {
			{event(model.Image, ""), []string{"Nice one! 😄 I can only read text here: tell me in words how I can help."}},
			{location, []string{"Thanks for the location! Our stores are listed at https://example.com/stores",
				"Write your question and I will help you from here."}},
			{event(model.File, ""), configured},
			{event(model.Share, ""), configured},
		},
	}

	examples := readmeExamples(t)
	tested := map[string]bool{}
	for name, ex := range examples {
		file, src := ex[0], ex[1]
		t.Run(name, func(t *testing.T) {
			tested[name] = true
			e, logs := newEngine(t, map[string]string{file: src})
			if st := status(t, e, file); st.Source != SourceFile || st.LastError != "" {
				t.Fatalf("status of the example: %+v, want it loaded without problems", st)
			}
			for _, c := range routes[name] {
				if got := e.Route(t.Context(), c.ev); !sameRoute(got, c.want) {
					t.Errorf("Route(%s %q @%s at %s) = %+v, want %+v", c.ev.Message.Type, c.ev.Message.Text,
						c.ev.Contact.Username, c.ev.Now.Format(time.RFC3339), got, c.want)
				}
			}
			for _, c := range converts[name] {
				if got := e.Convert(t.Context(), c.c, "zenvia"); got != c.want {
					t.Errorf("Convert(%s) = %q, want %q", c.c.Type, got, c.want)
				}
			}
			for _, c := range replies[name] {
				if got := e.Reply(t.Context(), c.ev); !slices.Equal(got, c.want) {
					t.Errorf("Reply(%s %s) = %q, want %q", c.ev.Message.Type, c.ev.Message.OriginalType, got, c.want)
				}
			}
			if len(routes[name])+len(converts[name])+len(replies[name]) == 0 {
				t.Errorf("README example %q has no test cases here", name)
			}
			if st := status(t, e, file); st.LastError != "" {
				t.Errorf("LastError after the calls = %q", st.LastError)
			}
			if name == "combined" && !strings.Contains(logs.String(), `msg="routing a text from @maria.silva" script=routing.lua`) {
				t.Errorf("the example's conversa.log line is missing:\n%s", logs)
			}
		})
	}
	for _, cases := range []map[string]bool{keys(routes), keys(converts), keys(replies)} {
		for name := range cases {
			if !tested[name] {
				t.Errorf("README lacks the example %q", name)
			}
		}
	}
}

func keys[V any](m map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}
