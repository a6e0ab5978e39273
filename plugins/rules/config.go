package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// Reply styles for options (CONTRACT §6).
const (
	styleSelect = "select"
	styleList   = "list"
)

// settings is the assistant's [assistants.settings] table.
type settings struct {
	// The rules file; empty means the embedded demo.
	File string `json:"file"`
}

func parseSettings(b []byte) (settings, error) {
	var s settings
	if len(bytes.TrimSpace(b)) == 0 {
		return s, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&s); err != nil {
		return s, fmt.Errorf("settings: %w", err)
	}
	return s, nil
}

// The TOML file as written (CONTRACT §6).
type fileDoc struct {
	Fallback []string    `toml:"fallback"`
	Intents  []intentDoc `toml:"intents"`
}

type intentDoc struct {
	Name     string     `toml:"name"`
	Examples []string   `toml:"examples"`
	Handoff  bool       `toml:"handoff"`
	End      bool       `toml:"end"`
	Replies  []replyDoc `toml:"replies"`
}

type replyDoc struct {
	Text         string   `toml:"text"`
	QuickReplies []string `toml:"quick_replies"`
	Options      []string `toml:"options"`
	Style        string   `toml:"style"`
	Image        string   `toml:"image"`
	File         string   `toml:"file"`
	MimeType     string   `toml:"mime_type"`
}

// assistant is a parsed and validated rules file, ready to answer. It is
// immutable once built, so one value serves concurrent calls.
type assistant struct {
	intents  []intent
	fallback []*proto.Content
}

type intent struct {
	name     string
	examples [][]string // normalized words of each example
	handoff  bool
	end      bool
	replies  []*proto.Content
}

// parse decodes and validates a rules file; name is how errors refer to it.
func parse(data []byte, name string) (*assistant, error) {
	var doc fileDoc
	d := toml.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&doc); err != nil {
		return nil, decodeError(name, err)
	}
	a, problems := build(doc)
	if len(problems) == 0 {
		return a, nil
	}
	lines := locate(data)
	msgs := make([]string, len(problems))
	for i, p := range problems {
		if line, ok := lines[p.key]; ok {
			msgs[i] = fmt.Sprintf("%s:%d: %s: %s", name, line, p.key, p.msg)
		} else {
			msgs[i] = fmt.Sprintf("%s: %s: %s", name, p.key, p.msg)
		}
	}
	return nil, errors.New(strings.Join(msgs, "; "))
}

// go-toml's messages name our Go types, which mean nothing to whoever edits
// the file: goField drops the struct field, plainTypes names the rest in
// TOML's words.
var (
	goField    = regexp.MustCompile(`into struct field \S+ of type (\S+)`)
	plainTypes = strings.NewReplacer(
		fmt.Sprintf("%T", []intentDoc{}), "an array of tables",
		fmt.Sprintf("%T", []replyDoc{}), "an array of tables",
		fmt.Sprintf("%T", intentDoc{}), "a table",
		fmt.Sprintf("%T", replyDoc{}), "a table",
		fmt.Sprintf("%T", fileDoc{}), "a table",
		"[]string", "an array of strings",
		"into string", "into a string",
		"into bool", "into true or false",
	)
)

func decodeError(name string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		msgs := make([]string, len(strict.Errors))
		for i := range strict.Errors {
			e := &strict.Errors[i]
			line, _ := e.Position()
			msgs[i] = fmt.Sprintf("%s:%d: %s: unknown key", name, line, strings.Join(e.Key(), "."))
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		msg := plainTypes.Replace(goField.ReplaceAllString(strings.TrimPrefix(de.Error(), "toml: "), "into $1"))
		if key := strings.Join(de.Key(), "."); key != "" {
			return fmt.Errorf("%s:%d: %s: %s", name, line, key, msg)
		}
		return fmt.Errorf("%s:%d: %s", name, line, msg)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// problem is one validation failure; key is the path of the offending value
// with array indexes, e.g. intents[2].replies[0].style.
type problem struct {
	key string
	msg string
}

type problems []problem

func (ps *problems) add(key, format string, args ...any) {
	*ps = append(*ps, problem{key: key, msg: fmt.Sprintf(format, args...)})
}

// build validates the document and compiles it, reporting every problem at
// once so that an operator fixes the file in one pass.
func build(doc fileDoc) (*assistant, problems) {
	var ps problems
	add := ps.add

	a := &assistant{}
	if len(doc.Fallback) == 0 {
		add("fallback", "at least one text is required: it is what the assistant says when it does not understand")
	}
	for i, t := range doc.Fallback {
		if strings.TrimSpace(t) == "" {
			add(fmt.Sprintf("fallback[%d]", i), "empty text")
		}
		a.fallback = append(a.fallback, &proto.Content{Type: sdk.ContentText, Text: t})
	}

	seen := map[string]int{}
	for i, in := range doc.Intents {
		at := fmt.Sprintf("intents[%d]", i)
		name := strings.TrimSpace(in.Name)
		switch first, dup := seen[name]; {
		case name == "":
			add(at, "an intent needs a name")
		case dup:
			add(at+".name", "%q is already the name of intents[%d]", name, first)
		default:
			seen[name] = i
		}
		out := intent{name: name, handoff: in.Handoff, end: in.End}
		if len(in.Examples) == 0 {
			add(at, "intent %q needs examples (what users type to mean it)", name)
		}
		for j, ex := range in.Examples {
			words := tokens(ex)
			if len(words) == 0 {
				add(fmt.Sprintf("%s.examples[%d]", at, j), "%q has no words to match", ex)
				continue
			}
			out.examples = append(out.examples, words)
		}
		for j, r := range in.Replies {
			out.replies = append(out.replies, compileReply(r, fmt.Sprintf("%s.replies[%d]", at, j), &ps)...)
		}
		a.intents = append(a.intents, out)
	}
	return a, ps
}

// compileReply turns one reply entry into the contents it sends, in the
// order text, quick replies / options, image, file. A text with quick
// replies or options is their prompt, not a message of its own.
func compileReply(r replyDoc, at string, ps *problems) []*proto.Content {
	add := ps.add
	if r.Text == "" && len(r.QuickReplies) == 0 && len(r.Options) == 0 && r.Image == "" && r.File == "" {
		add(at, "a reply needs at least one of text, quick_replies, options, image, file")
	}
	if len(r.QuickReplies) > 0 && len(r.Options) > 0 {
		add(at, "quick_replies and options in one reply: put them in two replies")
	}
	style := r.Style
	switch {
	case style != "" && len(r.Options) == 0:
		add(at+".style", "style without options")
	case style == "":
		style = styleList
	case style != styleSelect && style != styleList:
		add(at+".style", "%q is not %q or %q", style, styleSelect, styleList)
	}
	if r.MimeType != "" && r.File == "" {
		add(at+".mime_type", "mime_type without file")
	}

	var cs []*proto.Content
	switch {
	case len(r.QuickReplies) > 0:
		cs = append(cs, &proto.Content{Type: sdk.ContentQuickReplies, Text: r.Text,
			Options: compileOptions(r.QuickReplies, at+".quick_replies", ps)})
	case len(r.Options) > 0:
		typ := sdk.ContentOptionList
		if style == styleSelect {
			typ = sdk.ContentSelect
		}
		cs = append(cs, &proto.Content{Type: typ, Text: r.Text,
			Options: compileOptions(r.Options, at+".options", ps)})
	case r.Text != "":
		cs = append(cs, &proto.Content{Type: sdk.ContentText, Text: r.Text})
	}
	if r.Image != "" {
		cs = append(cs, &proto.Content{Type: sdk.ContentImage, Url: r.Image})
	}
	if r.File != "" {
		cs = append(cs, &proto.Content{Type: sdk.ContentFile, Url: r.File, MimeType: r.MimeType})
	}
	return cs
}

func compileOptions(titles []string, at string, ps *problems) []*proto.Option {
	opts := make([]*proto.Option, len(titles))
	for i, t := range titles {
		if strings.TrimSpace(t) == "" {
			ps.add(fmt.Sprintf("%s[%d]", at, i), "empty title")
		}
		opts[i] = &proto.Option{Title: t, Payload: t}
	}
	return opts
}

// locate maps the keys of a rules file, written with array indexes as
// problems name them (intents[2].replies[0].style), to the line they are on.
// It understands the [[intents]] / [[intents.replies]] layout of CONTRACT §6;
// values written as inline tables are not located, and their problems are
// reported without a line.
func locate(data []byte) map[string]int {
	lines := map[string]int{}
	var p unstable.Parser
	p.Reset(data)
	intentIdx, replyIdx := -1, -1
	prefix := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.ArrayTable:
			first, key := keyOf(&p, e)
			switch key {
			case "intents":
				intentIdx++
				replyIdx = -1
				prefix = "intents[" + strconv.Itoa(intentIdx) + "]"
			case "intents.replies":
				replyIdx++
				prefix = "intents[" + strconv.Itoa(intentIdx) + "].replies[" + strconv.Itoa(replyIdx) + "]"
			default:
				prefix = key
			}
			lines[prefix] = first
		case unstable.Table:
			_, prefix = keyOf(&p, e)
		case unstable.KeyValue:
			line, key := keyOf(&p, e)
			full := key
			if prefix != "" {
				full = prefix + "." + key
			}
			lines[full] = line
			// Array elements (examples, options...) live on the key's line
			// or below it; the key's line is close enough to find them.
			if v := e.Value(); v.Kind == unstable.Array {
				i := 0
				for it := v.Children(); it.Next(); i++ {
					n := it.Node()
					l := line
					if n.Raw.Length > 0 {
						l = p.Shape(n.Raw).Start.Line
					}
					lines[full+"["+strconv.Itoa(i)+"]"] = l
				}
			}
		}
	}
	return lines
}

// keyOf returns the line and the dotted key of a table header or key/value.
func keyOf(p *unstable.Parser, n *unstable.Node) (int, string) {
	var parts []string
	line := 0
	for it := n.Key(); it.Next(); {
		k := it.Node()
		if line == 0 {
			line = p.Shape(k.Raw).Start.Line
		}
		parts = append(parts, string(k.Data))
	}
	return line, strings.Join(parts, ".")
}
