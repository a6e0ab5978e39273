package scripting

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// maxSource bounds a script file; anything larger is not a hook script.
const maxSource = 1 << 20

// Sources of a hook's active script, as Status reports them.
const (
	SourceFile    = "file"
	SourceDefault = "default"
)

// A script is one compiled version of a hook's file (or of its built-in
// default). Immutable once made; its proto is shared by every Lua state.
type script struct {
	hook     hook
	name     string // the file name, "routing.lua"
	chunk    string // the name errors carry
	source   string // SourceFile or SourceDefault
	src      []byte
	proto    *lua.FunctionProto
	version  int
	loadedAt time.Time
}

// Error is a problem with a script, located where Lua could tell.
type Error struct {
	Script  string // "routing.lua", or "routing.lua (built-in)" for a default
	Line    int    // 0 when unknown
	Message string
	Timeout bool // the call hit its time limit
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Script, e.Line, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Script, e.Message)
}

// compile parses and compiles src under chunk, the name its errors will
// carry.
func compile(chunk string, src []byte) (*lua.FunctionProto, error) {
	if len(src) > maxSource {
		return nil, &Error{Script: chunk, Message: fmt.Sprintf("the script is larger than %d bytes", maxSource)}
	}
	stmts, err := parse.Parse(bytes.NewReader(src), chunk)
	if err != nil {
		var pe *parse.Error
		if errors.As(err, &pe) {
			line := pe.Pos.Line
			msg := strings.TrimSpace(pe.Message)
			if line == parse.EOF || line <= 0 {
				line = bytes.Count(src, []byte("\n")) + 1
				msg += " at the end of the file"
			} else if pe.Token != "" {
				msg += fmt.Sprintf(" near '%s'", pe.Token)
			}
			return nil, &Error{Script: chunk, Line: line, Message: msg}
		}
		return nil, &Error{Script: chunk, Message: strings.TrimSpace(err.Error())}
	}
	guardConcat(stmts)
	proto, err := lua.Compile(stmts, chunk)
	if err != nil {
		var ce *lua.CompileError
		if errors.As(err, &ce) {
			return nil, &Error{Script: chunk, Line: ce.Line, Message: ce.Message}
		}
		return nil, &Error{Script: chunk, Message: err.Error()}
	}
	if unguardedConcat(proto) {
		return nil, concatProblem(chunk)
	}
	return proto, nil
}

// runError locates a Lua run-time error in sc: from the "chunk:line:" prefix
// of its message, else from the first frame of sc in the traceback.
func runError(sc *script, err error, ctx context.Context) *Error {
	e := &Error{Script: sc.chunk}
	var ae *lua.ApiError
	if !errors.As(err, &ae) {
		e.Message = err.Error()
		return e
	}
	switch v := ae.Object.(type) {
	case lua.LString:
		e.Message = string(v)
	case lua.LNumber:
		e.Message = v.String()
	default:
		e.Message = "error object is a " + ae.Object.Type().String() + " value"
	}
	prefix := sc.chunk + ":"
	if rest, ok := strings.CutPrefix(e.Message, prefix); ok {
		if n, msg, ok := strings.Cut(rest, ":"); ok {
			if line, err := strconv.Atoi(n); err == nil {
				e.Line, e.Message = line, strings.TrimSpace(msg)
			}
		}
	}
	if e.Line == 0 {
		if i := strings.Index(ae.StackTrace, prefix); i >= 0 {
			rest := ae.StackTrace[i+len(prefix):]
			if n, _, ok := strings.Cut(rest, ":"); ok {
				e.Line, _ = strconv.Atoi(n)
			}
		}
	}
	if ae.Type == lua.ApiErrorPanic {
		e.Message = "internal error: " + e.Message
	}
	if strings.Contains(e.Message, context.DeadlineExceeded.Error()) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		e.Message, e.Timeout = "time limit exceeded", true
	}
	return e
}
