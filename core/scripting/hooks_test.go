package scripting

import (
	"slices"
	"strings"
	"testing"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/scripts"
)

// With no scripts dir at all every hook is the built-in default.
func TestDefaults(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	routes := []struct {
		typ  string
		want Route
	}{
		{"text", Route{}},
		{"image", Route{}},
		{"story_mention", Route{To: ToSquad, Squad: "geral"}},
		{"story_reply", Route{To: ToSquad, Squad: "geral"}},
	}
	for _, c := range routes {
		if got := e.Route(t.Context(), event(c.typ, "")); !sameRoute(got, c.want) {
			t.Errorf("Route(%s) = %+v, want %+v", c.typ, got, c.want)
		}
	}
	if got, want := e.Reply(t.Context(), event("image", "")), []string{"Sorry, text only.", "Try again?"}; !slices.Equal(got, want) {
		t.Errorf("Reply = %q, want %q", got, want)
	}
	noMessages := event("image", "")
	noMessages.Integration.UnsupportedMediaMessages = nil
	if got := e.Reply(t.Context(), noMessages); len(got) != 0 {
		t.Errorf("Reply with no configured messages = %q, want none", got)
	}
	for _, st := range e.Statuses() {
		if st.Source != SourceDefault || st.Version != 1 {
			t.Errorf("status %+v, want the default, version 1", st)
		}
	}
}

// The Go fallback (used when no Lua state can run) gives what
// scripts/*.lua give.
func TestGoDefaultsMatchTheScripts(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, typ := range []string{"text", "image", "audio", "story_mention", "story_reply", "unsupported", ""} {
		ev := event(typ, "x")
		if got, want := e.Route(t.Context(), ev), defaultRoute(ev); !sameRoute(got, want) {
			t.Errorf("Route(%s): script %+v, Go %+v", typ, got, want)
		}
		if got, want := e.Reply(t.Context(), ev), defaultReply(ev); !slices.Equal(got, want) {
			t.Errorf("Reply(%s): script %q, Go %q", typ, got, want)
		}
	}
	for _, c := range []model.Content{
		{Type: model.QuickReplies, Text: "Pick one", Options: options("Sales", "Support")},
		{Type: model.Select, Options: options("A")},
		{Type: model.OptionList, Text: "Menu"},
		{Type: model.OptionList, Text: "Menu", Options: []model.Option{{Payload: "NO_TITLE"}, {Title: "Titled"}}},
		{Type: model.QuickReplies},
	} {
		if got, want := e.Convert(t.Context(), c, "zenvia"), defaultConvert(&c); got != want {
			t.Errorf("Convert(%+v): script %q, Go %q", c, got, want)
		}
	}
}

// Results of the wrong shape fall back to the default and are reported with
// the line of the hook function; nil asks for the default quietly.
func TestRouteResultShapes(t *testing.T) {
	cases := []struct {
		ret     string
		want    Route
		wantErr string // "" when the result is valid
	}{
		{`nil`, Route{To: ToSquad, Squad: "geral"}, ""},
		{`{to = "assistant"}`, Route{To: ToAssistant}, ""},
		{`{to = "none"}`, Route{To: ToNone}, ""},
		{`{to = "squad", squad = "vendas", priority = 2}`, Route{To: ToSquad, Squad: "vendas", Priority: 2}, ""},
		{`{to = "squad"}`, Route{To: ToSquad, Squad: "geral"}, ""},
		{`{to = "squad", priority = -3}`, Route{To: ToSquad, Squad: "geral", Priority: -3}, ""},
		{`{to = "agent", agent = "ana"}`, Route{To: ToAgent, Agent: "ana"}, ""},
		{`{to = "agent", agent = "ana", squad = "vip"}`, Route{To: ToAgent, Agent: "ana", Squad: "vip"}, ""},
		{`"squad"`, Route{To: ToSquad, Squad: "geral"}, "route returned a string"},
		{`42`, Route{To: ToSquad, Squad: "geral"}, "route returned a number"},
		{`{}`, Route{To: ToSquad, Squad: "geral"}, "route returned a table without to"},
		{`{to = "queue"}`, Route{To: ToSquad, Squad: "geral"}, `route returned to = "queue"`},
		{`{to = "agent"}`, Route{To: ToSquad, Squad: "geral"}, `to = "agent" without an agent`},
		{`{to = "squad", priority = 1.5}`, Route{To: ToSquad, Squad: "geral"}, "route returned priority = 1.5"},
		{`{to = "squad", priority = "high"}`, Route{To: ToSquad, Squad: "geral"}, "route returned priority = high"},
		{`{to = "squad", squad = 7}`, Route{To: ToSquad, Squad: "geral"}, "route returned squad = a number"},
		{`{to = "squad", prioridade = 1}`, Route{To: ToSquad, Squad: "geral"}, `unknown field "prioridade"`},
		{`{"squad"}`, Route{To: ToSquad, Squad: "geral"}, "route returned a table with a number key"},
		{`ev`, Route{To: ToSquad, Squad: "geral"}, `unknown field`},
		{`{to = "squad", squad = "manha", reply = "We open at 9:00."}`,
			Route{To: ToSquad, Squad: "manha", Reply: []string{"We open at 9:00."}}, ""},
		{`{to = "none", reply = {"Closed now.", "Back at 9:00."}}`,
			Route{To: ToNone, Reply: []string{"Closed now.", "Back at 9:00."}}, ""},
		{`{to = "assistant", reply = {}}`, Route{To: ToAssistant, Reply: []string{}}, ""},
		{`{to = "squad", reply = 9}`, Route{To: ToSquad, Squad: "geral"}, "route returned reply a number; want a string or a list of strings"},
		{`{to = "squad", reply = {"a", 2}}`, Route{To: ToSquad, Squad: "geral"}, "route returned reply a number at position 2"},
		{`{to = "squad", reply = {x = "a"}}`, Route{To: ToSquad, Squad: "geral"}, "route returned reply a table with the key x"},
		{`{to = "squad", reply = {"1","2","3","4","5","6","7","8","9","10","11"}}`, Route{To: ToSquad, Squad: "geral"}, "route returned reply 11 texts; at most 10"},
		{`{reply = "hi"}`, Route{To: ToSquad, Squad: "geral"}, "route returned a table without to"},
	}
	for _, c := range cases {
		t.Run(c.ret, func(t *testing.T) {
			e, _ := newEngine(t, map[string]string{"routing.lua": "\n\nfunction route(ev)\n  return " + c.ret + "\nend\n"})
			if got := e.Route(t.Context(), event("story_mention", "")); !sameRoute(got, c.want) {
				t.Errorf("Route = %+v, want %+v", got, c.want)
			}
			st := status(t, e, "routing.lua")
			if c.wantErr == "" {
				if st.LastError != "" {
					t.Errorf("LastError = %q, want none", st.LastError)
				}
				return
			}
			if !strings.HasPrefix(st.LastError, "routing.lua:3: ") || !strings.Contains(st.LastError, c.wantErr) {
				t.Errorf("LastError = %q, want routing.lua:3: ...%s...", st.LastError, c.wantErr)
			}
		})
	}
}

func TestConvertResultShapes(t *testing.T) {
	comp := model.Content{Type: model.QuickReplies, Text: "Pick", Options: options("Yes", "No")}
	def := "Pick\n1. Yes\n2. No"
	cases := []struct {
		ret, want, wantErr string
	}{
		{`"custom: " .. component.text .. " via " .. channel`, "custom: Pick via zenvia", ""},
		{`nil`, def, ""},
		{`""`, def, "convert returned an empty string"},
		{`"  \n"`, def, "convert returned an empty string"},
		{`{"a"}`, def, "convert returned a table; want a string"},
		{`42`, def, "convert returned a number; want a string"},
	}
	for _, c := range cases {
		t.Run(c.ret, func(t *testing.T) {
			e, _ := newEngine(t, map[string]string{"text_conversion.lua": "function convert(component, channel)\n  return " + c.ret + "\nend\n"})
			if got := e.Convert(t.Context(), comp, "zenvia"); got != c.want {
				t.Errorf("Convert = %q, want %q", got, c.want)
			}
			st := status(t, e, "text_conversion.lua")
			if (c.wantErr == "") != (st.LastError == "") || !strings.Contains(st.LastError, c.wantErr) {
				t.Errorf("LastError = %q, want %q", st.LastError, c.wantErr)
			}
			if c.wantErr != "" && !strings.HasPrefix(st.LastError, "text_conversion.lua:1: ") {
				t.Errorf("LastError = %q, want it located at text_conversion.lua:1", st.LastError)
			}
		})
	}
}

func TestReplyResultShapes(t *testing.T) {
	def := []string{"Sorry, text only.", "Try again?"}
	cases := []struct {
		ret     string
		want    []string
		wantErr string
	}{
		{`{"one", "two", "three"}`, []string{"one", "two", "three"}, ""},
		{`{}`, []string{}, ""},
		{`nil`, def, ""},
		{`ev.integration.unsupported_media_messages`, def, ""},
		{`"just a string"`, def, "reply returned a string; want a list of strings"},
		{`{"a", 2}`, def, "reply returned a number at position 2"},
		{`{"a", nil, "c"}`, def, "reply returned a list with a hole at position 2"},
		{`{first = "a"}`, def, "reply returned a table with the key first"},
		{`{"1","2","3","4","5","6","7","8","9","10","11"}`, def, "reply returned 11 texts; at most 10"},
	}
	for _, c := range cases {
		t.Run(c.ret, func(t *testing.T) {
			e, _ := newEngine(t, map[string]string{"unsupported_media.lua": "function reply(ev)\n  return " + c.ret + "\nend\n"})
			got := e.Reply(t.Context(), event("image", ""))
			if !slices.Equal(got, c.want) {
				t.Errorf("Reply = %q, want %q", got, c.want)
			}
			st := status(t, e, "unsupported_media.lua")
			if (c.wantErr == "") != (st.LastError == "") || !strings.Contains(st.LastError, c.wantErr) {
				t.Errorf("LastError = %q, want %q", st.LastError, c.wantErr)
			}
		})
	}
}

// A run-time error in one hook is reported against that script only, and
// a valid answer later does not hide it.
func TestRuntimeErrorIsRecordedAndLogged(t *testing.T) {
	e, logs := newEngine(t, map[string]string{"unsupported_media.lua": `-- replies
function reply(ev)
  if ev.message.original_type == "location" then
    return {ev.message.nothing.here}
  end
  return {"fine"}
end
`})
	loc := event("unsupported", "")
	loc.Message.OriginalType = "location"
	if got := e.Reply(t.Context(), loc); !slices.Equal(got, []string{"Sorry, text only.", "Try again?"}) {
		t.Errorf("Reply(location) = %q, want the default", got)
	}
	if got := e.Reply(t.Context(), event("image", "")); !slices.Equal(got, []string{"fine"}) {
		t.Errorf("Reply(image) = %q, want fine", got)
	}
	st := status(t, e, "unsupported_media.lua")
	if !strings.HasPrefix(st.LastError, "unsupported_media.lua:4: attempt to index") {
		t.Errorf("LastError = %q, want unsupported_media.lua:4: attempt to index...", st.LastError)
	}
	if !strings.Contains(logs.String(), `msg="script failed; the built-in default answers" script=unsupported_media.lua line=4`) {
		t.Errorf("log lacks the failure with script and line:\n%s", logs)
	}
	if st := status(t, e, "routing.lua"); st.LastError != "" {
		t.Errorf("routing.lua LastError = %q, want none", st.LastError)
	}
}

// A caller that gives up is not the script's fault.
func TestCanceledCallerIsNotAScriptError(t *testing.T) {
	e, _ := newEngine(t, map[string]string{"routing.lua": "function route(ev)\n  return {to = \"none\"}\nend\n"})
	ctx, cancel := contextCanceled(t)
	defer cancel()
	if got := e.Route(ctx, event("story_mention", "")); !sameRoute(got, Route{To: ToSquad, Squad: "geral"}) {
		t.Errorf("Route with a canceled context = %+v, want the Go default", got)
	}
	if st := status(t, e, "routing.lua"); st.LastError != "" {
		t.Errorf("LastError = %q, want none", st.LastError)
	}
}

// The engine's hooks are the files scripts/ ships and names.
func TestHookFilesAreTheShippedScripts(t *testing.T) {
	names := scripts.Names()
	if len(names) != int(numHooks) {
		t.Fatalf("scripts.Names() = %q, want %d names", names, numHooks)
	}
	for h := range numHooks {
		if names[h] != h.file() {
			t.Errorf("scripts.Names()[%d] = %q, want %q", h, names[h], h.file())
		}
		if _, err := scripts.FS.ReadFile(h.file()); err != nil {
			t.Errorf("scripts.FS lacks %s: %v", h.file(), err)
		}
	}
}
