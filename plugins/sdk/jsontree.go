package sdk

// JSONTree reads a JSON document in one pass and records where each of its
// values starts and ends, so that a channel can read a webhook's fields
// without scanning the body again at every nesting level (which decoding
// each level's json.RawMessage with encoding/json does).
//
// It accepts only JSON, and only what encoding/json accepts: Parse refusing
// a document means "read it with encoding/json instead", never "invalid";
// a document nested deeper than MaxJSONTreeDepth is one it refuses.
// Strings are checked for JSON's escapes, not for UTF-8: encoding/json
// accepts bytes that are not UTF-8 (decoding replaces them), so the tree
// does too, and a reader decides what to do with them.
//
// Nodes are numbered in document order from 0 (the document itself). An
// object's children are its keys and values alternately; an array's, its
// elements. A JSONTree may be reused for another document; the usual way is
// a sync.Pool of them.
type JSONTree struct {
	b     []byte
	nodes []jsonNode
}

type jsonNode struct {
	kind       byte
	start, end int32 // the value is b[start:end]
	next       int32 // the node after this value and its children
}

// The kinds of a node: its value's first byte, except for these two.
const (
	// JSONEscaped is a string with at least one escape (\n, \u00e9...): its
	// bytes are not its value.
	JSONEscaped byte = '\\'
	// JSONNumber is any number.
	JSONNumber byte = '0'
)

// MaxJSONTreeDepth bounds nesting (encoding/json allows 10,000 levels);
// Parse refuses deeper documents, which no provider sends.
const MaxJSONTreeDepth = 256

// maxJSONTreeBytes keeps offsets within int32.
const maxJSONTreeBytes = 1 << 30

// Parse reads b, a whole JSON document with optional white space around it.
// It reports false when b is not one it reads as encoding/json would; the
// tree is then unusable until the next Parse. The tree keeps b: b must not
// change while the tree is in use.
func (t *JSONTree) Parse(b []byte) bool {
	t.b, t.nodes = b, t.nodes[:0]
	if len(b) > maxJSONTreeBytes {
		return false
	}
	i, ok := t.value(SkipJSONSpace(b, 0), 0)
	return ok && SkipJSONSpace(b, i) == len(b)
}

// Reset lets go of the document (before putting the tree in a pool).
func (t *JSONTree) Reset() {
	t.b, t.nodes = nil, t.nodes[:0]
}

// Cap is how many nodes the tree holds room for: a pool drops trees that
// a very large document grew.
func (t *JSONTree) Cap() int { return cap(t.nodes) }

// Kind is node n's kind: '{', '[', '"', 't', 'f', 'n', JSONEscaped or
// JSONNumber.
func (t *JSONTree) Kind(n int32) byte { return t.nodes[n].kind }

// Raw is node n's bytes, as encoding/json would give them to a
// json.RawMessage (without the white space around it). They are the
// document's bytes, not a copy.
func (t *JSONTree) Raw(n int32) []byte { return t.b[t.nodes[n].start:t.nodes[n].end] }

// Next is the node after node n and everything inside it: for a child of
// a container, its next sibling, or the container's own Next after the
// last one.
func (t *JSONTree) Next(n int32) int32 { return t.nodes[n].next }

// Text is the bytes between the quotes of string node n, which are its
// value when its kind is '"' and the bytes are UTF-8.
func (t *JSONTree) Text(n int32) []byte { return t.b[t.nodes[n].start+1 : t.nodes[n].end-1] }

// SkipJSONSpace returns the offset of the first byte at or after i that is
// not JSON white space.
func SkipJSONSpace(b []byte, i int) int {
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
func (t *JSONTree) value(i, depth int) (int, bool) {
	b := t.b
	if i >= len(b) {
		return i, false
	}
	idx := len(t.nodes)
	t.nodes = append(t.nodes, jsonNode{start: int32(i)})
	kind := b[i]
	ok := true
	switch kind {
	case '{', '[':
		if depth >= MaxJSONTreeDepth {
			return i, false
		}
		i, ok = t.container(i, depth)
	case '"':
		var escaped bool
		i, escaped, ok = ScanJSONString(b, i)
		if escaped {
			kind = JSONEscaped
		}
	case 't':
		i, ok = ScanJSONWord(b, i, "true")
	case 'f':
		i, ok = ScanJSONWord(b, i, "false")
	case 'n':
		i, ok = ScanJSONWord(b, i, "null")
	default:
		kind = JSONNumber
		i, ok = ScanJSONNumber(b, i)
	}
	if !ok {
		return i, false
	}
	t.nodes[idx].kind, t.nodes[idx].end, t.nodes[idx].next = kind, int32(i), int32(len(t.nodes))
	return i, true
}

// container reads the object or array at b[i].
func (t *JSONTree) container(i, depth int) (int, bool) {
	b := t.b
	object := b[i] == '{'
	closer := byte(']')
	if object {
		closer = '}'
	}
	i = SkipJSONSpace(b, i+1)
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
			i = SkipJSONSpace(b, i)
			if i >= len(b) || b[i] != ':' {
				return i, false
			}
			i = SkipJSONSpace(b, i+1)
		}
		if i, ok = t.value(i, depth+1); !ok {
			return i, false
		}
		i = SkipJSONSpace(b, i)
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i = SkipJSONSpace(b, i+1)
		case closer:
			return i + 1, true
		default:
			return i, false
		}
	}
}

// ScanJSONString reads the string whose opening quote is b[i] as JSON
// defines it: no control characters, only the escapes JSON has. It returns
// the offset after the closing quote and whether the string has escapes.
// Bytes that are not UTF-8 are accepted, as encoding/json does.
func ScanJSONString(b []byte, i int) (end int, escaped, ok bool) {
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

// ScanJSONNumber reads the number at b[i:],
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, and returns the offset
// after it.
func ScanJSONNumber(b []byte, i int) (int, bool) {
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

// ScanJSONWord reads the literal word (true, false or null) at b[i:].
func ScanJSONWord(b []byte, i int, word string) (int, bool) {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return i, false
	}
	return i + len(word), true
}
