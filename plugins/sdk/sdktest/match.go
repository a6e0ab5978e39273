package sdktest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	gproto "google.golang.org/protobuf/proto"

	"github.com/conversa/conversa/plugins/proto"
)

// asFields is a protobuf message as JSON fields, every one present (zero
// values included), in the proto's own snake_case names, so a fixture can
// name any of them and a misspelt name is caught.
func asFields(m gproto.Message) (map[string]any, error) {
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// matchEvents compares the events a plugin returned with a fixture's, one
// for one, in order. Only the fields the fixture gives are compared.
func matchEvents(got []*proto.Event, want []map[string]any) []string {
	var bad []string
	if len(got) != len(want) {
		bad = append(bad, fmt.Sprintf("got %d events %s, want %d", len(got), eventKinds(got), len(want)))
	}
	for i := 0; i < len(got) && i < len(want); i++ {
		fields, err := asFields(got[i])
		if err != nil {
			return append(bad, fmt.Sprintf("event %d: %v", i, err))
		}
		for _, p := range matchFields(fields, want[i], "") {
			bad = append(bad, fmt.Sprintf("event %d: %s", i, p))
		}
	}
	return bad
}

func eventKinds(evs []*proto.Event) string {
	kinds := make([]string, len(evs))
	for i, e := range evs {
		kinds[i] = e.GetKind()
	}
	return "[" + strings.Join(kinds, " ") + "]"
}

// matchFields compares want's keys with got's, recursively: objects by the
// keys want gives, lists element by element (same length), scalars by
// their JSON text (protojson writes 64-bit integers as strings, a fixture
// as numbers: both are compared as the digits).
func matchFields(got, want map[string]any, prefix string) []string {
	var bad []string
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := prefix + k
		g, ok := got[k]
		if !ok {
			bad = append(bad, fmt.Sprintf("%s: no such field", name))
			continue
		}
		bad = append(bad, matchValue(g, want[k], name)...)
	}
	return bad
}

func matchValue(got, want any, name string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s = %s, want an object", name, show(got))}
		}
		return matchFields(g, w, name+".")
	case []any:
		g, ok := got.([]any)
		if got == nil {
			g, ok = []any{}, true
		}
		if !ok {
			return []string{fmt.Sprintf("%s = %s, want a list", name, show(got))}
		}
		if len(g) != len(w) {
			return []string{fmt.Sprintf("%s has %d elements, want %d", name, len(g), len(w))}
		}
		var bad []string
		for i := range w {
			bad = append(bad, matchValue(g[i], w[i], fmt.Sprintf("%s[%d]", name, i))...)
		}
		return bad
	default:
		if scalar(got) != scalar(want) {
			return []string{fmt.Sprintf("%s = %s, want %s", name, show(got), show(want))}
		}
		return nil
	}
}

// scalar is a JSON scalar's comparable text.
func scalar(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return "s:" + t
	case json.Number:
		return "s:" + t.String()
	case bool:
		return "b:" + strconv.FormatBool(t)
	default:
		return fmt.Sprintf("?:%v", t)
	}
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return truncateRunes(string(b), 120)
}

// quoteShort keeps a value readable on one report line.
func quoteShort(s string) string {
	const max = 120
	r := []rune(s)
	if len(r) > max {
		s = string(r[:max]) + "…"
	}
	return strconv.Quote(s)
}

// matchSendError compares a SendResponse's error with a fixture's want.
// want nil means: no error at all.
func matchSendError(got *proto.SendError, want *sendErrWant) []string {
	if want == nil {
		if got != nil {
			return []string{"got error " + describeSendError(got) + ", want none"}
		}
		return nil
	}
	if got == nil {
		return []string{"got no error, want one"}
	}
	var bad []string
	flag := func(name string, g bool, w *bool) {
		if w != nil && g != *w {
			bad = append(bad, fmt.Sprintf("error.%s = %v, want %v", name, g, *w))
		}
	}
	flag("retryable", got.GetRetryable(), want.Retryable)
	flag("refused", got.GetRefused(), want.Refused)
	flag("reauthorize", got.GetReauthorize(), want.Reauthorize)
	flag("unknown_outcome", got.GetUnknownOutcome(), want.UnknownOutcome)
	if want.Code != nil && got.GetCode() != *want.Code {
		bad = append(bad, fmt.Sprintf("error.code = %q, want %q", got.GetCode(), *want.Code))
	}
	if len(bad) > 0 {
		bad = append(bad, "(got "+describeSendError(got)+")")
	}
	return bad
}

func describeSendError(e *proto.SendError) string {
	var flags []string
	for _, f := range []struct {
		on   bool
		name string
	}{{e.GetRetryable(), "retryable"}, {e.GetRefused(), "refused"}, {e.GetReauthorize(), "reauthorize"}, {e.GetUnknownOutcome(), "unknown_outcome"}} {
		if f.on {
			flags = append(flags, f.name)
		}
	}
	if len(flags) == 0 {
		flags = append(flags, "permanent")
	}
	return fmt.Sprintf("%s [%s] %s", quoteShort(e.GetCode()), strings.Join(flags, ","), quoteShort(e.GetMessage()))
}

// Content types a plugin may name (plugins/proto/conversa.proto, Content).
var knownContentTypes = map[string]bool{
	"text": true, "image": true, "audio": true, "video": true, "file": true,
	"story_mention": true, "story_reply": true, "share": true, "reaction": true,
	"quick_replies": true, "select": true, "option_list": true, "unsupported": true,
}

// Event kinds a channel may report.
var knownEventKinds = map[string]bool{
	"message": true, "echo": true, "unsend": true, "edit": true, "reaction": true,
	"unreaction": true, "status": true, "read": true, "referral": true, "ignored": true,
}
