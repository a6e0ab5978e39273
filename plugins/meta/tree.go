package meta

import (
	"encoding/json"
	"sync"
)

// A delivery is read in one pass: tree records where every value of the
// body starts and ends, and the typed structs of normalize.go are filled
// from it, level by level, without reading the bytes again. Before, each
// level was a json.Unmarshal of its json.RawMessage, so a byte deep in an
// attachment was scanned a dozen times.
//
// encoding/json stays the reference: wherever the tree's reading could
// differ from it (invalid JSON, a key in other case or written with
// escapes, a key given twice, a value of the wrong type), that level is
// decoded with encoding/json instead, from the same bytes, exactly as
// before. FuzzParseDeliveryAgrees holds the two to the same answers.

// tree is a JSON document's values in document order. An object's children
// are its keys and values alternately; an array's, its elements.
type tree struct {
	b     []byte
	nodes []node
}

type node struct {
	// kind is the value's first byte, except '\\' for a string that has
	// escapes and '0' for any number.
	kind       byte
	start, end int32 // the value is b[start:end]
	next       int32 // the index of the node after this value and its children
}

// maxTreeDepth bounds nesting; deeper documents are left to encoding/json.
const maxTreeDepth = 256

// maxTreeBytes keeps offsets within int32.
const maxTreeBytes = 1 << 30

var trees = sync.Pool{New: func() any { return &tree{nodes: make([]node, 0, 128)} }}

// parse reads b into t; false when b is not a JSON document it reads the
// way encoding/json does (t is then unusable).
func (t *tree) parse(b []byte) bool {
	t.b, t.nodes = b, t.nodes[:0]
	if len(b) > maxTreeBytes {
		return false
	}
	i, ok := t.value(skipSpace(b, 0), 0)
	return ok && skipSpace(b, i) == len(b)
}

// release returns t to the pool; nothing may use it after.
func (t *tree) release() {
	t.b = nil
	if cap(t.nodes) <= 4096 {
		trees.Put(t)
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// value reads the value at b[i:] and returns the offset after it.
func (t *tree) value(i, depth int) (int, bool) {
	b := t.b
	if i >= len(b) {
		return i, false
	}
	idx := len(t.nodes)
	t.nodes = append(t.nodes, node{start: int32(i)})
	kind := b[i]
	ok := true
	switch kind {
	case '{', '[':
		if depth >= maxTreeDepth {
			return i, false
		}
		i, ok = t.container(i, depth)
	case '"':
		var escaped bool
		i, escaped, ok = scanString(b, i)
		if escaped {
			kind = '\\'
		}
	case 't':
		i, ok = literal(b, i, "true")
	case 'f':
		i, ok = literal(b, i, "false")
	case 'n':
		i, ok = literal(b, i, "null")
	default:
		kind = '0'
		i, ok = scanNumber(b, i)
	}
	if !ok {
		return i, false
	}
	t.nodes[idx].kind, t.nodes[idx].end, t.nodes[idx].next = kind, int32(i), int32(len(t.nodes))
	return i, true
}

// container reads the object or array at b[i].
func (t *tree) container(i, depth int) (int, bool) {
	b := t.b
	object := b[i] == '{'
	closer := byte(']')
	if object {
		closer = '}'
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == closer {
		return i + 1, true
	}
	for {
		var ok bool
		if object {
			if i >= len(b) || b[i] != '"' {
				return i, false
			}
			if i, ok = t.value(i, depth+1); !ok {
				return i, false
			}
			i = skipSpace(b, i)
			if i >= len(b) || b[i] != ':' {
				return i, false
			}
			i = skipSpace(b, i+1)
		}
		if i, ok = t.value(i, depth+1); !ok {
			return i, false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case closer:
			return i + 1, true
		default:
			return i, false
		}
	}
}

// scanString reads the string at b[i] as JSON defines it: no control
// characters, only the escapes JSON has. Bytes that are not UTF-8 are
// accepted, as encoding/json does (decoding replaces them).
func scanString(b []byte, i int) (end int, escaped, ok bool) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, escaped, true
		case c < 0x20:
			return i, false, false
		case c == '\\':
			escaped = true
			i++
			if i >= len(b) {
				return i, false, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return i, false, false
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return i, false, false
					}
				}
				i += 4
			default:
				return i, false, false
			}
		}
	}
	return i, false, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// scanNumber reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func scanNumber(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, true
}

func literal(b []byte, i int, word string) (int, bool) {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return i, false
	}
	return i + len(word), true
}

func (t *tree) raw(n int32) []byte { return t.b[t.nodes[n].start:t.nodes[n].end] }

// fromTree is a type the tree can fill. It reports false where its reading
// could differ from encoding/json's; the caller then decodes the value with
// encoding/json.
type fromTree interface {
	fromTree(t *tree, n int32) bool
}

// object fills a struct from the object at n: field names where a key's
// value goes, nil for a key the struct does not have. null leaves the
// struct as it is, as encoding/json does.
func (t *tree) object(n int32, field func(key []byte) fromTree) bool {
	switch t.nodes[n].kind {
	case 'n':
		return true
	case '{':
	default:
		return false
	}
	var seen [12][]byte
	nseen := 0
	for k := n + 1; k < t.nodes[n].next; {
		if t.nodes[k].kind != '"' {
			return false // escapes in a key: encoding/json unescapes it first
		}
		key := t.b[t.nodes[k].start+1 : t.nodes[k].end-1]
		v := k + 1
		k = t.nodes[v].next
		dst := field(key)
		if dst == nil {
			// encoding/json matches keys without regard to case (and folds
			// some non-ASCII letters): only a key that plainly names no
			// field is skipped here.
			if !plainKey(key) {
				return false
			}
			continue
		}
		for _, s := range seen[:nseen] {
			if string(s) == string(key) {
				return false // given twice: encoding/json merges
			}
		}
		if nseen == len(seen) {
			return false
		}
		seen[nseen] = key
		nseen++
		if !dst.fromTree(t, v) {
			return false
		}
	}
	return true
}

// plainKey: no upper-case ASCII letter and no byte beyond ASCII, so it
// matches a field (all lower-case ASCII here) only when equal to its name.
func plainKey(key []byte) bool {
	for _, c := range key {
		if c >= 0x80 || ('A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// jsonValue is a value of the delivery left for later: its bytes, and its
// node when the body was read into a tree. Decoded by encoding/json it is
// a json.RawMessage (a copy of the bytes, no tree).
type jsonValue struct {
	b []byte
	t *tree
	n int32
}

func (v *jsonValue) UnmarshalJSON(b []byte) error {
	*v = jsonValue{b: append([]byte(nil), b...)}
	return nil
}

func (v *jsonValue) fromTree(t *tree, n int32) bool {
	*v = jsonValue{b: t.raw(n), t: t, n: n}
	return true
}

// decode fills dst from v, from the tree when it can, else with
// encoding/json from a zero dst, as every level was decoded before.
func decode[T any, P interface {
	*T
	fromTree
}](v jsonValue, dst P) error {
	if v.t != nil {
		if dst.fromTree(v.t, v.n) {
			return nil
		}
		var zero T
		*dst = zero
	}
	return json.Unmarshal(v.b, dst)
}

// list is the elements of the array v, as decoding it into []jsonValue
// would give them.
func list(v jsonValue) ([]jsonValue, error) {
	if v.t == nil || v.t.nodes[v.n].kind != '[' {
		var out []jsonValue
		err := json.Unmarshal(v.b, &out)
		return out, err
	}
	t := v.t
	out := make([]jsonValue, 0, 1)
	for e := v.n + 1; e < t.nodes[v.n].next; e = t.nodes[e].next {
		out = append(out, jsonValue{b: t.raw(e), t: t, n: e})
	}
	return out, nil
}

// optional fills a pointer to a struct: null sets it to nil, an object to
// a new struct.
type optional[T any, P interface {
	*T
	fromTree
}] struct{ p **T }

func (o optional[T, P]) fromTree(t *tree, n int32) bool {
	switch t.nodes[n].kind {
	case 'n':
		*o.p = nil
		return true
	case '{':
		v := new(T)
		if !P(v).fromTree(t, n) {
			return false
		}
		*o.p = v
		return true
	}
	return false
}

// The loose scalars read their own bytes, as encoding/json would hand them
// over.

func (s *looseString) fromTree(t *tree, n int32) bool { return s.UnmarshalJSON(t.raw(n)) == nil }
func (x *looseInt) fromTree(t *tree, n int32) bool    { return x.UnmarshalJSON(t.raw(n)) == nil }
func (v *looseBool) fromTree(t *tree, n int32) bool   { return v.UnmarshalJSON(t.raw(n)) == nil }
