package zenvia

import (
	"bytes"
	"encoding/json"
	"sync"
	"unicode/utf8"

	"github.com/conversa/conversa/plugins/sdk"
)

// A webhook body is read in one pass: sdk.JSONTree records where each of
// its values starts and ends, and the fields are read from there. Before,
// each level was a json.Unmarshal into a map of json.RawMessage, so a byte
// of a content was scanned four or five times and every field was copied.
//
// encoding/json stays the reference, and the fallback: a body the tree does
// not read (not JSON, or nested deeper than any event) is read into maps
// with encoding/json, as every body was before, and wherever the tree's
// reading of a value could differ from encoding/json's (a string with
// escapes or bytes that are not UTF-8, a key written with escapes) that
// value is decoded with encoding/json. FuzzParseEventAgrees holds the two
// readings to the same events.

// value is one JSON value of a payload: its bytes, and its node when the
// payload was read into a tree (t nil: read it with encoding/json).
type value struct {
	b []byte
	t *sdk.JSONTree
	n int32
}

// object is a JSON object read field by field. Zenvia's payloads vary between
// API revisions (a code that is a string in one and a number in another, a
// field that moved), so a field of an unexpected type reads as absent
// instead of failing the whole event. The zero object is "no object": every
// field of it is absent.
type object struct {
	// m is the object decoded by encoding/json.
	m map[string]json.RawMessage
	// Or t and n: node n of a tree.
	t *sdk.JSONTree
	n int32
}

// trees are the webhook parser's, reused between requests.
var trees = sync.Pool{New: func() any { return new(sdk.JSONTree) }}

// readTree returns body as a value read into a tree from the pool when the
// tree reads it, else as a value for encoding/json. Give the tree back with
// releaseTree once done: nothing read from the value may be used after,
// except the strings and the body's own bytes it gave.
func readTree(body []byte) (value, *sdk.JSONTree) {
	t := trees.Get().(*sdk.JSONTree)
	if !t.Parse(body) {
		return value{b: body}, t
	}
	return value{b: body, t: t}, t
}

func releaseTree(t *sdk.JSONTree) {
	t.Reset()
	if t.Cap() <= 4096 {
		trees.Put(t)
	}
}

// decodeObject reads raw with encoding/json; the zero object when raw is
// not a JSON object.
func decodeObject(raw []byte) object {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return object{}
	}
	return object{m: m}
}

// ok reports whether o is an object (null and other values are not).
func (o object) ok() bool { return o.m != nil || o.t != nil }

// object is v as an object, the zero object if v is not one.
func (v value) object() object {
	if v.t == nil {
		return decodeObject(v.b)
	}
	if v.t.Kind(v.n) != '{' {
		return object{}
	}
	return object{t: v.t, n: v.n}
}

// array is v's elements, nil if v is not an array.
func (v value) array() []value {
	if v.t == nil {
		var a []json.RawMessage
		if err := json.Unmarshal(v.b, &a); err != nil || a == nil {
			return nil
		}
		out := make([]value, len(a))
		for i, raw := range a {
			out[i] = value{b: raw}
		}
		return out
	}
	t, n := v.t, v.n
	if t.Kind(n) != '[' {
		return nil
	}
	var out []value
	for e := n + 1; e < t.Next(n); e = t.Next(e) {
		out = append(out, value{b: t.Raw(e), t: t, n: e})
	}
	return out
}

// text is v when it is a JSON string (or null, which encoding/json
// decodes into a string as "").
func (v value) text() (string, bool) {
	if v.t != nil {
		switch v.t.Kind(v.n) {
		case '"':
			if s := v.t.Text(v.n); utf8.Valid(s) {
				return string(s), true
			}
			// encoding/json replaces what is not UTF-8: let it.
		case sdk.JSONEscaped:
			// Unescaping is encoding/json's.
		case 'n':
			return "", true
		default:
			return "", false
		}
	}
	var s string
	if err := json.Unmarshal(v.b, &s); err != nil {
		return "", false
	}
	return s, true
}

// str is v as a string: a JSON string as is, a number as its literal (ids
// and error codes sometimes come as numbers), anything else "".
func (v value) str() string {
	if s, ok := v.text(); ok {
		return s
	}
	if v.t != nil {
		if v.t.Kind(v.n) == sdk.JSONNumber {
			return string(v.b)
		}
		return ""
	}
	raw := bytes.TrimSpace(v.b)
	if len(raw) == 0 {
		return ""
	}
	if c := raw[0]; c == '-' || (c >= '0' && c <= '9') {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err == nil {
			return n.String()
		}
	}
	return ""
}

// field is the value of key, as decoding o into a map would give it: the
// key matched exactly once unescaped, the last of several.
func (o object) field(key string) (value, bool) {
	if o.t == nil {
		raw, ok := o.m[key]
		return value{b: raw}, ok
	}
	t := o.t
	found, at := false, int32(0)
	for k := o.n + 1; k < t.Next(o.n); {
		v := k + 1
		switch t.Kind(k) {
		case '"':
			if string(t.Text(k)) == key {
				found, at = true, v
			}
		case sdk.JSONEscaped:
			var s string
			if json.Unmarshal(t.Raw(k), &s) == nil && s == key {
				found, at = true, v
			}
		}
		k = t.Next(v)
	}
	if !found {
		return value{}, false
	}
	return value{b: t.Raw(at), t: t, n: at}, true
}

// raw is the field's bytes, nil if absent.
func (o object) raw(key string) []byte {
	v, _ := o.field(key)
	return v.b
}

// obj is the field as an object, the zero object if absent or not one.
func (o object) obj(key string) object {
	v, ok := o.field(key)
	if !ok {
		return object{}
	}
	return v.object()
}

// arr is the field as an array, nil if absent or not an array.
func (o object) arr(key string) []value {
	v, ok := o.field(key)
	if !ok {
		return nil
	}
	return v.array()
}

// text is the field when it is a JSON string.
func (o object) text(key string) (string, bool) {
	v, ok := o.field(key)
	if !ok {
		return "", false
	}
	return v.text()
}

// str is the field as a string (see value.str), "" if absent.
func (o object) str(key string) string {
	v, ok := o.field(key)
	if !ok {
		return ""
	}
	return v.str()
}
