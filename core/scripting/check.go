package scripting

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/conversa/conversa/core/model"
)

// Check compiles every hook script in dir and dry-runs each hook on sample
// events (a text, an image, a story mention and reply, a location...) and on
// each component type, returning the problems as "FILE:LINE: message", FILE
// being the script's path. A missing dir or file is no problem: the built-in
// default applies.
func Check(dir string, timeout time.Duration) []string {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	var problems []string
	for h := range numHooks {
		path := filepath.Join(dir, h.file())
		src, err := readScript(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s:1: %v", path, err))
			continue
		}
		problems = append(problems, CheckSource(h.file(), path, src, timeout)...)
	}
	return problems
}

// CheckSource checks one script's source as Check does, without installing
// it: name is the hook's file name ("routing.lua"), path what problems are
// reported under (a console can pass the name itself).
func CheckSource(name, path string, src []byte, timeout time.Duration) []string {
	errs, _, err := checkScript(name, src, timeout)
	if err != nil {
		return []string{fmt.Sprintf("%s:1: %v", path, err)}
	}
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		e.Script = path
		out = append(out, e.Error())
	}
	return out
}

// A Problem is one thing wrong with a script, at a line (1 when Lua could
// not tell).
type Problem struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// CheckScript checks a hook script's source as Check does, for an editor.
// loads is false when the script would not load at all (it does not compile,
// or its top level fails): the version that runs would stay, so a console
// refuses to save it. A name that is not a hook's file is an error.
func CheckScript(name string, src []byte, timeout time.Duration) (problems []Problem, loads bool, err error) {
	errs, loads, err := checkScript(name, src, timeout)
	if err != nil {
		return nil, false, err
	}
	problems = make([]Problem, 0, len(errs))
	for _, e := range errs {
		problems = append(problems, Problem{Line: e.Line, Message: e.Message})
	}
	return problems, loads, nil
}

func checkScript(name string, src []byte, timeout time.Duration) (errs []*Error, loads bool, err error) {
	h, ok := hookNamed(name)
	if !ok {
		return nil, false, fmt.Errorf("not a hook script; the hooks are routing.lua, text_conversion.lua and unsupported_media.lua")
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	sc := &script{hook: h, name: name, chunk: name, source: SourceFile, src: src}
	proto, cerr := compile(name, src)
	if cerr != nil {
		errs = []*Error{asError(name, cerr)}
	} else {
		sc.proto = proto
		fatal, missing, problems := probe(sc, timeout, time.Now, slog.New(slog.DiscardHandler))
		switch {
		case fatal != nil:
			errs = []*Error{fatal}
		case missing != nil:
			errs, loads = []*Error{missing}, true
		default:
			errs, loads = problems, true
		}
	}
	for _, e := range errs {
		if e.Line <= 0 {
			e.Line = 1
		}
	}
	return errs, loads, nil
}

func hookNamed(name string) (hook, bool) {
	for h := range numHooks {
		if h.file() == name {
			return h, true
		}
	}
	return 0, false
}

func asError(chunk string, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Script: chunk, Message: err.Error()}
}

// readScript reads a script file, refusing one too large to be a script.
func readScript(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, maxSource+1))
	if err != nil {
		return nil, err
	}
	if len(src) > maxSource {
		return nil, fmt.Errorf("the file is larger than %d bytes", maxSource)
	}
	return src, nil
}

// maxDryRunFailures ends a dry run early: a script that fails on every
// sample would otherwise cost a Lua state per sample.
const maxDryRunFailures = 6

// A sample is one dry-run input of a hook.
type sample struct {
	label   string
	ev      *Event
	comp    *model.Content
	channel string
}

func samples(h hook, now time.Time) []sample {
	if h == hookConvert {
		opts := []model.Option{{Title: "Sales", Payload: "SALES"}, {Title: "Support", Payload: "SUPPORT"}, {Title: "Opening hours", Payload: "HOURS"}}
		var out []sample
		for _, typ := range []string{model.QuickReplies, model.Select, model.OptionList} {
			for _, channel := range []string{"zenvia", "meta"} {
				out = append(out, sample{label: typ + " for " + channel, channel: channel,
					comp: &model.Content{Type: typ, Text: "How can we help?", Options: opts}})
			}
		}
		return append(out,
			sample{label: "an option list without a prompt", channel: "zenvia",
				comp: &model.Content{Type: model.OptionList, Options: opts}},
			sample{label: "quick replies with an untitled option", channel: "zenvia",
				comp: &model.Content{Type: model.QuickReplies, Text: "Choose", Options: []model.Option{{Payload: "ONLY"}}}})
	}
	messages := []struct {
		label string
		msg   EventMessage
	}{
		{"a text", EventMessage{Type: model.Text, Text: "Hello! How much does it cost?"}},
		{"an image", EventMessage{Type: model.Image, URL: "https://example.com/photo.jpg", MimeType: "image/jpeg"}},
		{"an audio", EventMessage{Type: model.Audio, URL: "https://example.com/voice.mp4", MimeType: "audio/mp4"}},
		{"a file", EventMessage{Type: model.File, URL: "https://example.com/doc.pdf", MimeType: "application/pdf"}},
		{"a story mention", EventMessage{Type: model.StoryMention, URL: "https://example.com/story.jpg"}},
		{"a story reply", EventMessage{Type: model.StoryReply, URL: "https://example.com/story.jpg", Text: "Love it"}},
		{"a share", EventMessage{Type: model.Share, URL: "https://example.com/post"}},
		{"a location", EventMessage{Type: model.Unsupported, OriginalType: "location"}},
	}
	integrations := []EventIntegration{
		{ID: "sample", Name: "Sample", Channel: "zenvia", Squad: "geral", Assistant: "demo",
			UnsupportedMediaMessages: []string{"Sorry, I can only read text here."}},
		{ID: "bare", Name: "Bare", Channel: "meta"},
	}
	contacts := []EventContact{
		{ID: "1234567890", Username: "sample.user", Name: "Sample User"},
		{ID: "987654321"},
	}
	var out []sample
	for i, in := range integrations {
		for _, at := range []time.Time{now, now.Add(12 * time.Hour)} {
			for _, m := range messages {
				out = append(out, sample{label: m.label, ev: &Event{
					Integration:  in,
					Contact:      contacts[i],
					Conversation: EventConversation{ID: int64(i + 1), State: model.StateBot, Origin: model.OriginDirect, New: i == 0},
					Message:      m.msg,
					Now:          at,
				}})
			}
		}
	}
	return out
}

// probe loads sc in a scratch state and dry-runs its hook on the samples.
// fatal is set when the script cannot run at all (it does not load), missing
// when it defines no hook function; problems are the dry runs that failed.
func probe(sc *script, timeout time.Duration, now func() time.Time, log *slog.Logger) (fatal, missing *Error, problems []*Error) {
	s, err := newSandbox(now, log)
	if err != nil {
		return &Error{Script: sc.chunk, Message: err.Error()}, nil, nil
	}
	defer func() {
		if s != nil {
			s.close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	env, err := s.load(ctx, sc)
	cancel()
	if err != nil {
		fatal := asError(sc.chunk, err)
		if fatal.Timeout {
			fatal.Message = fmt.Sprintf("time limit of %s exceeded", timeout)
		}
		return fatal, nil, nil
	}
	h := sc.hook
	if _, ok := env.RawGetString(h.fn()).(*lua.LFunction); !ok {
		return nil, missingFunction(sc, env, h.fn()), nil
	}
	seen := map[string]bool{}
	failures := 0
	for _, smp := range samples(h, now()) {
		err, raised := runSample(s, sc, smp, timeout)
		if err == nil {
			continue
		}
		if failures++; failures > maxDryRunFailures {
			break // enough to go on; the rest would likely repeat these
		}
		if raised {
			// An interrupted script may leave its state anywhere, so the
			// engine never reuses such a state; neither does the dry run.
			s.close()
			var nerr error
			if s, nerr = newSandbox(now, log); nerr != nil {
				return &Error{Script: sc.chunk, Message: nerr.Error()}, nil, problems
			}
		}
		if err.Timeout {
			err.Message = fmt.Sprintf("time limit of %s exceeded", timeout)
		}
		key := fmt.Sprint(err.Line, err.Message)
		if seen[key] {
			continue
		}
		seen[key] = true
		err.Message += " (dry run with " + smp.label + ")"
		problems = append(problems, err)
		if err.Timeout {
			break // the other samples would most likely time out too, slowly
		}
	}
	return nil, nil, problems
}

// runSample runs one dry run; raised tells a Lua error from a result of the
// wrong shape.
func runSample(s *sandbox, sc *script, smp sample, timeout time.Duration) (err *Error, raised bool) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var args []lua.LValue
	switch sc.hook {
	case hookConvert:
		s.callNow = time.Time{}
		args = []lua.LValue{s.componentValue(smp.comp), lua.LString(smp.channel)}
	default:
		s.callNow = smp.ev.Now
		args = []lua.LValue{s.eventValue(smp.ev, smp.ev.Now)}
	}
	ret, line, cerr := s.call(ctx, sc, sc.hook.fn(), args...)
	if cerr != nil {
		return asError(sc.chunk, cerr), true
	}
	var derr error
	switch sc.hook {
	case hookRoute:
		_, _, derr = s.decodeRoute(ret, smp.ev)
	case hookConvert:
		_, _, derr = decodeConvert(ret, smp.comp)
	case hookReply:
		_, _, derr = s.decodeReply(ret)
	}
	if derr != nil {
		return &Error{Script: sc.chunk, Line: line, Message: derr.Error()}, false
	}
	return nil, false
}
