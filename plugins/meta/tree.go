package meta

import (
	"encoding/json"
	"sync"

	"github.com/conversa/conversa/plugins/sdk"
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

// tree is a JSON document's values in document order (sdk.JSONTree, which
// Zenvia's parser shares). An object's children are its keys and values
// alternately; an array's, its elements.
type tree struct {
	sdk.JSONTree
}

var trees = sync.Pool{New: func() any { return new(tree) }}

// parse reads b into t; false when b is not a JSON document it reads the
// way encoding/json does (t is then unusable).
func (t *tree) parse(b []byte) bool { return t.Parse(b) }

// release returns t to the pool; nothing may use it after.
func (t *tree) release() {
	t.Reset()
	if t.Cap() <= 4096 {
		trees.Put(t)
	}
}

func (t *tree) raw(n int32) []byte { return t.Raw(n) }

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
	switch t.Kind(n) {
	case 'n':
		return true
	case '{':
	default:
		return false
	}
	var seen [12][]byte
	nseen := 0
	for k := n + 1; k < t.Next(n); {
		if t.Kind(k) != '"' {
			return false // escapes in a key: encoding/json unescapes it first
		}
		key := t.Text(k)
		v := k + 1
		k = t.Next(v)
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
	if v.t == nil || v.t.Kind(v.n) != '[' {
		var out []jsonValue
		err := json.Unmarshal(v.b, &out)
		return out, err
	}
	t := v.t
	out := make([]jsonValue, 0, 1)
	for e := v.n + 1; e < t.Next(v.n); e = t.Next(e) {
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
	switch t.Kind(n) {
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
