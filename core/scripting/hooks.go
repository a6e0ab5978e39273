package scripting

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"

	"github.com/conversa/conversa/core/model"
)

// A hook is one of the three scripts, each defining one global function.
type hook int

const (
	hookRoute hook = iota
	hookConvert
	hookReply
	numHooks
)

func (h hook) file() string {
	return [...]string{"routing.lua", "text_conversion.lua", "unsupported_media.lua"}[h]
}

func (h hook) fn() string { return [...]string{"route", "convert", "reply"}[h] }

// Event is the `ev` table a script receives (CONTRACT §7), plus
// integration.assistant and conversation.new.
type Event struct {
	Integration  EventIntegration
	Contact      EventContact
	Conversation EventConversation
	Message      EventMessage
	Now          time.Time // zero: the engine's clock
}

// EventIntegration is ev.integration.
type EventIntegration struct {
	ID, Name, Channel, Squad, Assistant string
	UnsupportedMediaMessages            []string
}

// EventContact is ev.contact; ID is the channel's user id.
type EventContact struct {
	ID, Username, Name string
}

// EventConversation is ev.conversation; New is set on the message that
// started it.
type EventConversation struct {
	ID                          int64
	State, Origin, Squad, Agent string
	New                         bool
}

// EventMessage is ev.message: the message's first content.
type EventMessage struct {
	Type, Text, URL, MimeType, OriginalType string
}

// Route is where routing.lua sends a message.
type Route struct {
	To       string // "assistant", "squad", "agent", "none"; "" = the engine decides
	Squad    string
	Priority int
	Agent    string
	// Reply is what to tell the contact before the route applies ("we open
	// at 9:00"): route's optional reply, a string or a list of strings.
	Reply []string
}

// Route destinations.
const (
	ToAssistant = "assistant"
	ToSquad     = "squad"
	ToAgent     = "agent"
	ToNone      = "none"
)

// Inputs are capped before they reach Lua: a script's cost should not grow
// with whatever a contact sends.
const (
	maxInputString = 64 << 10
	maxInputList   = 100
	maxReplies     = 10
	maxPriority    = 1_000_000
)

func clip(s string) string {
	if len(s) <= maxInputString {
		return s
	}
	s = s[:maxInputString]
	// Drop the bytes of a character the cut split.
	for i := 0; i < utf8.UTFMax-1 && len(s) > 0; i++ {
		if r, size := utf8.DecodeLastRuneInString(s); r != utf8.RuneError || size != 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

func (s *sandbox) stringList(list []string) *lua.LTable {
	n := min(len(list), maxInputList)
	t := s.L.CreateTable(n, 0)
	for i := 0; i < n; i++ {
		t.RawSetInt(i+1, lua.LString(clip(list[i])))
	}
	return s.readOnly(t)
}

func (s *sandbox) record(fields ...string) *lua.LTable {
	t := s.L.CreateTable(0, len(fields)/2+2)
	for i := 0; i+1 < len(fields); i += 2 {
		t.RawSetString(fields[i], lua.LString(clip(fields[i+1])))
	}
	return t
}

// eventValue builds ev as nested read-only tables. Strings are never nil:
// an absent value is "", so ev.message.text:lower() always works.
func (s *sandbox) eventValue(ev *Event, now time.Time) lua.LValue {
	in := s.record("id", ev.Integration.ID, "name", ev.Integration.Name, "channel", ev.Integration.Channel,
		"squad", ev.Integration.Squad, "assistant", ev.Integration.Assistant)
	in.RawSetString("unsupported_media_messages", s.stringList(ev.Integration.UnsupportedMediaMessages))
	contact := s.record("id", ev.Contact.ID, "username", ev.Contact.Username, "name", ev.Contact.Name)
	conv := s.record("state", ev.Conversation.State, "origin", ev.Conversation.Origin,
		"squad", ev.Conversation.Squad, "agent", ev.Conversation.Agent)
	conv.RawSetString("id", lua.LNumber(ev.Conversation.ID))
	conv.RawSetString("new", lua.LBool(ev.Conversation.New))
	msg := s.record("type", ev.Message.Type, "text", ev.Message.Text, "url", ev.Message.URL,
		"mime_type", ev.Message.MimeType, "original_type", ev.Message.OriginalType)
	t := s.L.CreateTable(0, 5)
	t.RawSetString("integration", s.readOnly(in))
	t.RawSetString("contact", s.readOnly(contact))
	t.RawSetString("conversation", s.readOnly(conv))
	t.RawSetString("message", s.readOnly(msg))
	t.RawSetString("now", lua.LNumber(now.Unix()))
	return s.readOnly(t)
}

// componentValue builds convert's component argument, read-only.
func (s *sandbox) componentValue(c *model.Content) lua.LValue {
	n := min(len(c.Options), maxInputList)
	opts := s.L.CreateTable(n, 0)
	for i := 0; i < n; i++ {
		opts.RawSetInt(i+1, s.readOnly(s.record("title", c.Options[i].Title, "payload", c.Options[i].Payload)))
	}
	t := s.record("type", c.Type, "text", c.Text)
	t.RawSetString("options", s.readOnly(opts))
	return s.readOnly(t)
}

// The built-in defaults in Go: the answer when even scripts/*.lua cannot run
// (no Lua state free in time, the caller gave up). Tests hold them equal to
// the Lua files.

func defaultRoute(ev *Event) Route {
	switch ev.Message.Type {
	case model.StoryMention, model.StoryReply:
		return Route{To: ToSquad, Squad: ev.Integration.Squad}
	}
	return Route{}
}

func defaultConvert(c *model.Content) string {
	var lines []string
	if c.Text != "" {
		lines = append(lines, clip(c.Text))
	}
	for i, o := range c.Options[:min(len(c.Options), maxInputList)] {
		label := clip(o.Title)
		if label == "" {
			label = clip(o.Payload)
		}
		lines = append(lines, strconv.Itoa(i+1)+". "+label)
	}
	return strings.Join(lines, "\n")
}

func defaultReply(ev *Event) []string {
	msgs := ev.Integration.UnsupportedMediaMessages
	return append([]string(nil), msgs[:min(len(msgs), maxReplies)]...)
}

// Result decoding reads tables raw: no script code runs while Go inspects a
// result. A nil result asks for the built-in default.

func typeName(v lua.LValue) string {
	if v.Type() == lua.LTNil {
		return "nil"
	}
	return v.Type().String()
}

func (s *sandbox) decodeRoute(v lua.LValue, ev *Event) (r Route, isNil bool, err error) {
	if v == lua.LNil {
		return Route{}, true, nil
	}
	t, ok := v.(*lua.LTable)
	if !ok {
		return r, false, fmt.Errorf(`route returned a %s; want nil or a table such as {to = "squad", squad = "vendas"}`, typeName(v))
	}
	t = s.resolve(t)
	var bad error
	t.ForEach(func(k, val lua.LValue) {
		if bad != nil {
			return
		}
		key, ok := k.(lua.LString)
		if !ok {
			bad = fmt.Errorf("route returned a table with a %s key; want only to, squad, agent, priority and reply", typeName(k))
			return
		}
		switch key {
		case "to", "squad", "agent":
			str, ok := val.(lua.LString)
			if !ok {
				bad = fmt.Errorf("route returned %s = a %s; want a string", key, typeName(val))
				return
			}
			switch key {
			case "to":
				r.To = string(str)
			case "squad":
				r.Squad = string(str)
			case "agent":
				r.Agent = string(str)
			}
		case "priority":
			n, ok := val.(lua.LNumber)
			f := float64(n)
			if !ok || f != math.Trunc(f) || math.Abs(f) > maxPriority {
				bad = fmt.Errorf("route returned priority = %s; want an integer between -%d and %d", val.String(), maxPriority, maxPriority)
				return
			}
			r.Priority = int(f)
		case "reply":
			r.Reply, bad = s.decodeTexts("route returned reply", val)
		default:
			bad = fmt.Errorf("route returned an unknown field %q; want only to, squad, agent, priority and reply", string(key))
		}
	})
	if bad != nil {
		return Route{}, false, bad
	}
	switch r.To {
	case ToAssistant, ToNone:
	case ToSquad:
		if r.Squad == "" {
			r.Squad = ev.Integration.Squad
		}
	case ToAgent:
		if r.Agent == "" {
			return Route{}, false, fmt.Errorf(`route returned to = "agent" without an agent; want {to = "agent", agent = "login"}`)
		}
	case "":
		return Route{}, false, fmt.Errorf(`route returned a table without to; want to = "assistant", "squad", "agent" or "none"`)
	default:
		return Route{}, false, fmt.Errorf(`route returned to = %q; want "assistant", "squad", "agent" or "none"`, r.To)
	}
	return r, false, nil
}

func decodeConvert(v lua.LValue, c *model.Content) (string, bool, error) {
	switch v := v.(type) {
	case *lua.LNilType:
		return "", true, nil
	case lua.LString:
		// Blank only when there was something to say (a prompt of spaces
		// converts to itself, as the built-in default does).
		if strings.TrimSpace(string(v)) == "" && (strings.TrimSpace(c.Text) != "" || len(c.Options) > 0) {
			return "", false, fmt.Errorf("convert returned an empty string; want the text to send")
		}
		return string(v), false, nil
	default:
		return "", false, fmt.Errorf("convert returned a %s; want a string", typeName(v))
	}
}

func (s *sandbox) decodeReply(v lua.LValue) ([]string, bool, error) {
	if v == lua.LNil {
		return nil, true, nil
	}
	if _, ok := v.(*lua.LTable); !ok {
		return nil, false, fmt.Errorf("reply returned a %s; want a list of strings", typeName(v))
	}
	out, err := s.decodeTexts("reply returned", v)
	if err != nil {
		return nil, false, err
	}
	return out, false, nil
}

// decodeTexts reads a list of at most maxReplies strings; what names the
// value in errors ("reply returned"). A single string is a list of one.
func (s *sandbox) decodeTexts(what string, v lua.LValue) ([]string, error) {
	if str, ok := v.(lua.LString); ok {
		return []string{string(str)}, nil
	}
	t, ok := v.(*lua.LTable)
	if !ok {
		return nil, fmt.Errorf("%s a %s; want a string or a list of strings", what, typeName(v))
	}
	t = s.resolve(t)
	n := 0
	var bad error
	t.ForEach(func(k, _ lua.LValue) {
		n++
		if i, ok := k.(lua.LNumber); !ok || float64(i) != math.Trunc(float64(i)) || i < 1 {
			bad = fmt.Errorf("%s a table with the key %s; want a list of strings", what, k.String())
		}
	})
	if bad != nil {
		return nil, bad
	}
	if n > maxReplies {
		return nil, fmt.Errorf("%s %d texts; at most %d are allowed", what, n, maxReplies)
	}
	out := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		switch v := t.RawGetInt(i).(type) {
		case lua.LString:
			out = append(out, string(v))
		case *lua.LNilType:
			return nil, fmt.Errorf("%s a list with a hole at position %d", what, i)
		default:
			return nil, fmt.Errorf("%s a %s at position %d; want strings", what, typeName(v), i)
		}
	}
	return out, nil
}
