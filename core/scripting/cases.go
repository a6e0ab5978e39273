package scripting

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/conversa/conversa/core/model"
)

// Case files let an operator keep their hooks under test (`conversa scripts
// test`, and the console's script page). One file is one case, or a list of
// cases:
//
//	{"description": "out of hours on a Friday night",
//	 "hook": "route",
//	 "input": {"message": {"type": "text", "text": "oi"}, "now": "2026-03-06T23:00:00Z"},
//	 "want": {"to": "squad", "squad": "manha", "reply": "We open tomorrow at 9:00."}}
//
// input is the hook's argument: ev for route and reply (fields left out are
// "", now is Unix seconds or an RFC 3339 time, and the wall clock when
// absent), {component, channel} for convert. want is what the function must
// return, compared as a value: a Lua table with a JSON object or array, nil
// with null.

// A Case is one entry of a case file.
type Case struct {
	Description string          `json:"description"`
	Hook        string          `json:"hook"`
	Input       json.RawMessage `json:"input"`
	Want        json.RawMessage `json:"want"`
}

// CaseResult is the outcome of one case file.
type CaseResult struct {
	File    string `json:"file"`
	OK      bool   `json:"ok"`
	Problem string `json:"problem,omitempty"` // what differed, when not OK
}

// maxCaseFile bounds a case file; maxCaseFiles the files of one run.
const (
	maxCaseFile  = 1 << 20
	maxCaseFiles = 1000
)

// TestCases runs every *.json case file at the top of fsys, in name order,
// against the scripts the engine runs.
func (e *Engine) TestCases(ctx context.Context, fsys fs.FS) ([]CaseResult, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, en := range entries {
		if !en.IsDir() && strings.HasSuffix(en.Name(), ".json") {
			names = append(names, en.Name())
		}
	}
	sort.Strings(names)
	if len(names) > maxCaseFiles {
		return nil, fmt.Errorf("more than %d case files", maxCaseFiles)
	}
	out := make([]CaseResult, 0, len(names))
	for _, name := range names {
		res := CaseResult{File: name, OK: true}
		if err := e.runCaseFile(ctx, fsys, name); err != nil {
			res.OK, res.Problem = false, err.Error()
		}
		out = append(out, res)
	}
	return out, nil
}

// TestCasesDir is TestCases on a directory.
func (e *Engine) TestCasesDir(ctx context.Context, dir string) ([]CaseResult, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	return e.TestCases(ctx, os.DirFS(dir))
}

func (e *Engine) runCaseFile(ctx context.Context, fsys fs.FS, name string) error {
	f, err := fsys.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, maxCaseFile+1)); err != nil {
		return err
	}
	if buf.Len() > maxCaseFile {
		return fmt.Errorf("the file is larger than %d bytes", maxCaseFile)
	}
	data := bytes.TrimSpace(buf.Bytes())
	var cases []Case
	if len(data) > 0 && data[0] == '[' {
		err = strictJSON(data, &cases)
	} else {
		var c Case
		err = strictJSON(data, &c)
		cases = []Case{c}
	}
	if err != nil {
		return fmt.Errorf("not a case file: %v", err)
	}
	if len(cases) == 0 {
		return errors.New("no cases in the file")
	}
	for i, c := range cases {
		if err := e.runCase(ctx, c); err != nil {
			if len(cases) == 1 {
				return err
			}
			label := fmt.Sprintf("case %d", i+1)
			if c.Description != "" {
				label += " (" + c.Description + ")"
			}
			return fmt.Errorf("%s: %w", label, err)
		}
	}
	return nil
}

func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("text after the JSON value")
	}
	return nil
}

// caseEvent is ev as a case file writes it.
type caseEvent struct {
	Integration struct {
		ID                       string   `json:"id"`
		Name                     string   `json:"name"`
		Channel                  string   `json:"channel"`
		Squad                    string   `json:"squad"`
		Assistant                string   `json:"assistant"`
		UnsupportedMediaMessages []string `json:"unsupported_media_messages"`
	} `json:"integration"`
	Contact struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Name     string `json:"name"`
	} `json:"contact"`
	Conversation struct {
		ID     int64  `json:"id"`
		State  string `json:"state"`
		Origin string `json:"origin"`
		Squad  string `json:"squad"`
		Agent  string `json:"agent"`
		New    bool   `json:"new"`
	} `json:"conversation"`
	Message struct {
		Type         string `json:"type"`
		Text         string `json:"text"`
		URL          string `json:"url"`
		MimeType     string `json:"mime_type"`
		OriginalType string `json:"original_type"`
	} `json:"message"`
	Now json.RawMessage `json:"now"`
}

type caseConvert struct {
	Component struct {
		Type    string `json:"type"`
		Text    string `json:"text"`
		Options []struct {
			Title   string `json:"title"`
			Payload string `json:"payload"`
		} `json:"options"`
	} `json:"component"`
	Channel string          `json:"channel"`
	Now     json.RawMessage `json:"now"`
}

// caseTime reads input.now: Unix seconds or RFC 3339; the clock when absent.
func (e *Engine) caseTime(raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return e.now(), nil
	}
	var n float64
	if err := json.Unmarshal(raw, &n); err == nil {
		if n != math.Trunc(n) {
			return time.Time{}, fmt.Errorf("input.now = %s: want whole Unix seconds", raw)
		}
		return time.Unix(int64(n), 0).UTC(), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("input.now = %q: want an RFC 3339 time such as 2026-03-04T13:00:00Z", s)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("input.now = %s: want Unix seconds or an RFC 3339 time", raw)
}

func (e *Engine) runCase(ctx context.Context, c Case) error {
	h, ok := hookByFn(c.Hook)
	if !ok {
		return fmt.Errorf(`hook %q: want "route", "convert" or "reply"`, c.Hook)
	}
	if len(c.Want) == 0 {
		return errors.New(`no "want": write the expected result, null for nil`)
	}
	var want any
	if err := json.Unmarshal(c.Want, &want); err != nil {
		return fmt.Errorf("want: %v", err)
	}
	input := c.Input
	if len(input) == 0 {
		input = json.RawMessage("{}")
	}
	var (
		ev   *Event
		comp *model.Content
		ch   string
		now  time.Time
		err  error
	)
	if h == hookConvert {
		var in caseConvert
		if err := strictJSON(input, &in); err != nil {
			return fmt.Errorf("input: %v", err)
		}
		comp = &model.Content{Type: in.Component.Type, Text: in.Component.Text}
		for _, o := range in.Component.Options {
			comp.Options = append(comp.Options, model.Option{Title: o.Title, Payload: o.Payload})
		}
		ch = in.Channel
		if now, err = e.caseTime(in.Now); err != nil {
			return err
		}
	} else {
		var in caseEvent
		if err := strictJSON(input, &in); err != nil {
			return fmt.Errorf("input: %v", err)
		}
		if now, err = e.caseTime(in.Now); err != nil {
			return err
		}
		ev = &Event{
			Integration: EventIntegration{ID: in.Integration.ID, Name: in.Integration.Name, Channel: in.Integration.Channel,
				Squad: in.Integration.Squad, Assistant: in.Integration.Assistant, UnsupportedMediaMessages: in.Integration.UnsupportedMediaMessages},
			Contact: EventContact{ID: in.Contact.ID, Username: in.Contact.Username, Name: in.Contact.Name},
			Conversation: EventConversation{ID: in.Conversation.ID, State: in.Conversation.State, Origin: in.Conversation.Origin,
				Squad: in.Conversation.Squad, Agent: in.Conversation.Agent, New: in.Conversation.New},
			Message: EventMessage{Type: in.Message.Type, Text: in.Message.Text, URL: in.Message.URL,
				MimeType: in.Message.MimeType, OriginalType: in.Message.OriginalType},
			Now: now,
		}
	}

	g := e.gen.Load()
	if g == nil {
		return errors.New("the scripts engine is closed")
	}
	sc := g.scripts[h]
	if sc.source == SourceDefault && e.dir != "" {
		// A file that is there but not running is what the test is about.
		if _, err := os.Stat(filepath.Join(e.dir, h.file())); err == nil {
			st := e.Statuses()[h]
			return fmt.Errorf("%s is not running (%s); the built-in default would answer", h.file(), st.LastError)
		}
	}
	s, err := newSandbox(e.now, e.log)
	if err != nil {
		return err
	}
	defer s.close()
	s.callNow = now
	cctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	var args []lua.LValue
	if h == hookConvert {
		args = []lua.LValue{s.componentValue(comp), lua.LString(clip(ch))}
	} else {
		args = []lua.LValue{s.eventValue(ev, now)}
	}
	ret, line, err := s.call(cctx, sc, h.fn(), args...)
	if err != nil {
		se := asError(sc.chunk, err)
		if se.Timeout {
			se.Message = fmt.Sprintf("time limit of %s exceeded", e.timeout)
		}
		return fmt.Errorf("%s failed: %v", h.fn(), se)
	}
	// A result the engine would refuse fails even when want matches it.
	switch h {
	case hookRoute:
		_, _, err = s.decodeRoute(ret, ev)
	case hookConvert:
		_, _, err = decodeConvert(ret, comp)
	case hookReply:
		_, _, err = s.decodeReply(ret)
	}
	if err != nil {
		return fmt.Errorf("%s:%d: %v", sc.chunk, line, err)
	}
	got := s.goValue(ret, 0)
	if p, w, g, differ := diff("", want, got); differ {
		if p == "" {
			return fmt.Errorf("want %s, got %s", w, g)
		}
		return fmt.Errorf("%s: want %s, got %s", p, w, g)
	}
	return nil
}

func hookByFn(fn string) (hook, bool) {
	for h := range numHooks {
		if h.fn() == fn {
			return h, true
		}
	}
	return 0, false
}

// emptyTable is a Lua table with nothing in it: equal to both [] and {}.
type emptyTable struct{}

// goValue turns a hook's result into JSON's kinds of values, reading tables
// raw.
func (s *sandbox) goValue(v lua.LValue, depth int) any {
	switch v := v.(type) {
	case *lua.LNilType:
		return nil
	case lua.LBool:
		return bool(v)
	case lua.LNumber:
		return float64(v)
	case lua.LString:
		return string(v)
	case *lua.LTable:
		if depth > 20 {
			return "(table nested too deep)"
		}
		t := s.resolve(v)
		n, keys := 0, 0
		t.ForEach(func(k, _ lua.LValue) {
			keys++
			if i, ok := k.(lua.LNumber); ok && float64(i) == math.Trunc(float64(i)) && i >= 1 {
				n++
			}
		})
		if keys == 0 {
			return emptyTable{}
		}
		if n == keys && t.Len() == n {
			list := make([]any, n)
			for i := 1; i <= n; i++ {
				list[i-1] = s.goValue(t.RawGetInt(i), depth+1)
			}
			return list
		}
		m := map[string]any{}
		t.ForEach(func(k, val lua.LValue) { m[k.String()] = s.goValue(val, depth+1) })
		return m
	default:
		return "(" + v.Type().String() + ")"
	}
}

// diff finds the first place where got differs from want; p is its path
// (".reply[2]"), w and g the two values there, as JSON.
func diff(p string, want, got any) (string, string, string, bool) {
	if _, ok := got.(emptyTable); ok {
		switch w := want.(type) {
		case []any:
			if len(w) == 0 {
				return "", "", "", false
			}
		case map[string]any:
			if len(w) == 0 {
				return "", "", "", false
			}
		}
		return p, render(want), "{}", true
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return p, render(want), render(got), true
		}
		keys := make([]string, 0, len(w)+len(g))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			wv, inW := w[k]
			gv, inG := g[k]
			if !inW {
				return p + "." + k, "nothing", render(gv), true
			}
			if !inG {
				if wv == nil {
					continue // a missing field is nil
				}
				return p + "." + k, render(wv), "nothing", true
			}
			if q, a, b, d := diff(p+"."+k, wv, gv); d {
				return q, a, b, d
			}
		}
		return "", "", "", false
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return p, render(want), render(got), true
		}
		for i := range w {
			if q, a, b, d := diff(p+"["+strconv.Itoa(i+1)+"]", w[i], g[i]); d {
				return q, a, b, d
			}
		}
		return "", "", "", false
	default:
		if want != got {
			return p, render(want), render(got), true
		}
		return "", "", "", false
	}
}

func render(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case emptyTable:
		return "{}"
	}
	b, err := json.Marshal(fixEmpty(v))
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// fixEmpty replaces emptyTable for rendering.
func fixEmpty(v any) any {
	switch v := v.(type) {
	case emptyTable:
		return map[string]any{}
	case []any:
		out := make([]any, len(v))
		for i := range v {
			out[i] = fixEmpty(v[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = fixEmpty(x)
		}
		return out
	}
	return v
}
