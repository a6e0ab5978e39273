package scripting

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
)

// Operator scripts that send back what they were given, so a fuzz input
// can be followed across the Go-Lua bridge and back: every byte a contact
// sends (NULs, invalid UTF-8, the 64 KiB cap) must arrive as it is, in
// tables a script cannot change.
var mirrorScripts = map[string]string{
	"routing.lua": `
function route(ev)
  if pcall(function() ev.message.text = "changed" end) then error("ev.message is writable") end
  if pcall(function() ev.extra = 1 end) then error("ev is writable") end
  local parts = {ev.message.type, ev.message.text, ev.message.url, ev.contact.id, ev.contact.name,
    ev.integration.id, tostring(ev.conversation.new)}
  return {to = "squad", squad = table.concat(parts, "\0"), priority = #ev.message.text}
end`,
	"text_conversion.lua": `
function convert(component, channel)
  local out = {"[", component.type, "|", component.text, "]", channel}
  for i, o in ipairs(component.options) do
    out[#out + 1] = "\n" .. i .. ":" .. o.title .. "=" .. o.payload
  end
  return table.concat(out)
end`,
	"unsupported_media.lua": `
function reply(ev)
  local msgs = ev.integration.unsupported_media_messages
  local out = {"#" .. #msgs}
  for _, m in ipairs(msgs) do out[#out + 1] = m end
  return out
end`,
}

// fuzzEvent builds the hook input from the fuzzer's strings: options are
// lines of "title|payload"; messages are lines, at most 9 of them (with the
// count, reply's 10).
func fuzzEvent(mtype, text, user, url, options, messages string, isNew bool) (*Event, model.Content) {
	var msgs []string
	if messages != "" {
		msgs = strings.Split(messages, "\n")
		msgs = msgs[:min(len(msgs), maxReplies-1)]
	}
	ev := &Event{
		Integration:  EventIntegration{ID: "ig-" + user, Name: user, Channel: "meta", Squad: "geral", UnsupportedMediaMessages: msgs},
		Contact:      EventContact{ID: user, Username: user, Name: user},
		Conversation: EventConversation{ID: 7, State: "bot", Origin: "direct", New: isNew},
		Message:      EventMessage{Type: mtype, Text: text, URL: url},
		Now:          time.Unix(1_700_000_000, 0),
	}
	c := model.Content{Type: mtype, Text: text}
	if options != "" {
		for _, line := range strings.Split(options, "\n") {
			title, payload, _ := strings.Cut(line, "|")
			c.Options = append(c.Options, model.Option{Title: title, Payload: payload})
		}
	}
	return ev, c
}

// fixtureTexts are the message texts of the committed webhook fixtures.
func fixtureTexts(f *testing.F) []string {
	var texts []string
	for _, glob := range []string{"../e2e/testdata/*.json", "../e2e/testdata/zenvia/*.json"} {
		names, _ := filepath.Glob(glob)
		if len(names) == 0 {
			f.Fatalf("no fixtures match %s", glob)
		}
		for _, name := range names {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			var v any
			if json.Unmarshal(b, &v) == nil {
				texts = append(texts, stringsNamed(v, "text")...)
			}
		}
	}
	return texts
}

func stringsNamed(v any, key string) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == key {
				out = append(out, s)
			}
			out = append(out, stringsNamed(x, key)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, stringsNamed(x, key)...)
		}
	}
	return out
}

func FuzzLuaBridge(f *testing.F) {
	for i, text := range fixtureTexts(f) {
		f.Add(model.Text, text, "7425819036458213", "", "", "Sorry, I can only read text.", i%2 == 0)
	}
	f.Add(model.QuickReplies, "Would you like to talk to a person?", "ana", "", "Yes|YES\nNo, thanks|NO", "", false)
	f.Add(model.OptionList, "Our menu 🍕 — pick a size:", "zé", "", "Small|S\nMédium|M\n|LARGE", "a\nb", true)
	f.Add(model.StoryMention, "", "u1", "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1", "", "", false)
	f.Add(model.Text, "nul\x00byte \xff\xfe not utf-8", "\x00", "\xc3", "\xff|\x00", "\xe2\x82", true)
	f.Add(model.Text, "   ", "", "", "", "", false)

	dir := f.TempDir()
	for name, src := range mirrorScripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	// A generous time limit: the fuzzer's load must not make a call fail.
	mirror, err := New(Options{Dir: dir, PoolSize: 2, Timeout: 5 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { mirror.Close() })
	// A failure of a built-in script is only logged.
	builtinLog := &logBuffer{}
	builtin, err := New(Options{PoolSize: 2, Timeout: 5 * time.Second, Logger: builtinLog.logger()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { builtin.Close() })
	for _, st := range mirror.Statuses() {
		if st.Source != SourceFile || st.LastError != "" {
			f.Fatalf("mirror script %s: %+v", st.Name, st)
		}
	}
	noErrors := func(t *testing.T, e *Engine, what string) {
		t.Helper()
		for _, st := range e.Statuses() {
			if st.LastError != "" {
				t.Fatalf("%s: %s failed: %s", what, st.Name, st.LastError)
			}
		}
	}

	f.Fuzz(func(t *testing.T, mtype, text, user, url, options, messages string, isNew bool) {
		ctx := context.Background()
		ev, c := fuzzEvent(mtype, text, user, url, options, messages, isNew)

		// Go → Lua → Go, byte for byte (after the input cap).
		r := mirror.Route(ctx, ev)
		want := Route{To: ToSquad, Priority: len(clip(text)), Squad: strings.Join([]string{clip(mtype), clip(text), clip(url),
			clip(user), clip(user), clip("ig-" + user), strconv.FormatBool(isNew)}, "\x00")}
		if !sameRoute(r, want) {
			t.Fatalf("route through the mirror = %#v, want %#v", r, want)
		}
		conv := mirror.Convert(ctx, c, "zenvia")
		wantConv := "[" + clip(mtype) + "|" + clip(text) + "]zenvia"
		for i, o := range c.Options[:min(len(c.Options), maxInputList)] {
			wantConv += "\n" + strconv.Itoa(i+1) + ":" + clip(o.Title) + "=" + clip(o.Payload)
		}
		if conv != wantConv {
			t.Fatalf("convert through the mirror = %q, want %q", conv, wantConv)
		}
		replies := mirror.Reply(ctx, ev)
		wantReplies := []string{"#" + strconv.Itoa(len(ev.Integration.UnsupportedMediaMessages))}
		for _, m := range ev.Integration.UnsupportedMediaMessages {
			wantReplies = append(wantReplies, clip(m))
		}
		if !slices.Equal(replies, wantReplies) {
			t.Fatalf("reply through the mirror = %q, want %q", replies, wantReplies)
		}
		noErrors(t, mirror, "the mirror scripts")

		// The built-in scripts and their Go fallbacks agree on any input,
		// without the Lua side failing: when Lua cannot run, the answer
		// stays the same.
		if got, want := builtin.Route(ctx, ev), defaultRoute(ev); !sameRoute(got, want) {
			t.Fatalf("built-in route = %+v, the Go fallback %+v", got, want)
		}
		if got, want := builtin.Convert(ctx, c, "zenvia"), defaultConvert(&c); got != want {
			t.Fatalf("built-in convert = %q, the Go fallback %q", got, want)
		}
		if got, want := builtin.Reply(ctx, ev), defaultReply(ev); !slices.Equal(got, want) {
			t.Fatalf("built-in reply = %q, the Go fallback %q", got, want)
		}
		if l := builtinLog.String(); strings.Contains(l, "failed") {
			t.Fatalf("a built-in script failed, and the Go fallback answered:\n%s", l)
		}
	})
}
