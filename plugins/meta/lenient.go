package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Meta's payloads are not as typed as its docs: ids arrive as strings or
// numbers, the dashboard's test sends timestamps as strings, and old samples
// write booleans as "true". These types accept every such spelling and reject
// only shapes that cannot mean a scalar (objects, arrays), so one odd field
// degrades one item, never the batch.

// looseString is a string that may be written as a JSON string, number or
// boolean. null is empty.
type looseString string

func (s *looseString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errors.New("empty value")
	}
	switch b[0] {
	case '"':
		if len(b) >= 2 && b[len(b)-1] == '"' && plainString(b[1:len(b)-1]) {
			// What encoding/json would make of it, without its scan: no
			// escape to undo, nothing to replace.
			*s = looseString(b[1 : len(b)-1])
			return nil
		}
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = looseString(v)
	case 'n':
		*s = ""
	case '{', '[':
		return fmt.Errorf("want a string, got %s", jsonKind(b[0]))
	default:
		// Numbers and booleans keep their JSON text, which is exactly how
		// Meta would have written them as strings.
		*s = looseString(b)
	}
	return nil
}

// plainString: no escape, no quote, no control character and valid UTF-8,
// so the string's JSON text is its value.
func plainString(b []byte) bool {
	for _, c := range b {
		if c == '\\' || c == '"' || c < 0x20 {
			return false
		}
	}
	return utf8.Valid(b)
}

// looseInt is an integer that may be written as a JSON number (possibly with
// a fraction or exponent) or as a string holding one. null is zero.
type looseInt int64

func (n *looseInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errors.New("empty value")
	}
	text := string(b)
	switch b[0] {
	case 'n':
		*n = 0
		return nil
	case '"':
		if err := json.Unmarshal(b, &text); err != nil {
			return err
		}
		text = strings.TrimSpace(text)
		if text == "" {
			*n = 0
			return nil
		}
	case '{', '[', 't', 'f':
		return fmt.Errorf("want a number, got %s", jsonKind(b[0]))
	}
	if v, err := strconv.ParseInt(text, 10, 64); err == nil {
		*n = looseInt(v)
		return nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(f) || f > math.MaxInt64 || f < math.MinInt64 {
		return fmt.Errorf("want a number, got %q", truncate(text, 32))
	}
	*n = looseInt(f)
	return nil
}

// looseBool is a boolean that may be written as true/false or as a string or
// number ("true", "1"). null is false.
type looseBool bool

func (v *looseBool) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errors.New("empty value")
	}
	switch b[0] {
	case 't':
		*v = string(b) == "true"
	case 'f', 'n':
		*v = false
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		p, err := strconv.ParseBool(strings.TrimSpace(s))
		*v = looseBool(err == nil && p)
	case '{', '[':
		return fmt.Errorf("want a boolean, got %s", jsonKind(b[0]))
	default:
		f, err := strconv.ParseFloat(string(b), 64)
		*v = looseBool(err == nil && f != 0)
	}
	return nil
}

func jsonKind(first byte) string {
	switch first {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// isNull reports whether raw is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// firstByte is the first non-space byte of raw, or 0.
func firstByte(raw []byte) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// truncate cuts s to at most n bytes without splitting a rune, for notes
// that quote the provider's data.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
