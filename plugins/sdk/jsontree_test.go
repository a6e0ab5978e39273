package sdk

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzJSONTree holds JSONTree to encoding/json: it reads only what
// json.Valid accepts, everything json.Valid accepts up to its depth, and
// each node is the value encoding/json would hand a json.RawMessage.
//
//	go test -run XXX -fuzz FuzzJSONTree -fuzztime 30s ./plugins/sdk
func FuzzJSONTree(f *testing.F) {
	for _, dir := range []string{"meta", "zenvia"} {
		names, _ := filepath.Glob(filepath.Join("..", dir, "testdata", "*.json"))
		for _, name := range names {
			if b, err := os.ReadFile(name); err == nil {
				f.Add(b)
			}
		}
	}
	for _, s := range []string{"", " ", "{}", "[]", `""`, "0", "-0", "01", "1.", "1e", "1e+5", "-1.5E-3", ".5", "+1",
		"true", "tru", "nulll", `{"a":1,}`, `[1,]`, `{"a" : [1, {"b": null}] }`, `"\u00e9\ud83d\ude00"`, `"\x"`,
		`"\u12"`, "\"a\tb\"", "\"\xff\"", "\v{}", "{}\v", `{"a":1}x`, `{"a"}`, `{1:2}`, `{"a\"b":"c\/d"}`,
		`[` + strings.Repeat("[", 300) + `]`, strings.Repeat("[", 200) + strings.Repeat("]", 200)} {
		f.Add([]byte(s))
	}
	var tr JSONTree
	f.Fuzz(func(t *testing.T, b []byte) {
		ok := tr.Parse(b)
		valid := json.Valid(b)
		switch {
		case ok && !valid:
			t.Fatalf("the tree read %q, which json.Valid refuses", b)
		case !ok && valid && depth(b) <= MaxJSONTreeDepth:
			t.Fatalf("the tree refused %q (depth %d), which json.Valid accepts", b, depth(b))
		case !ok:
			return
		}
		if got, want := tr.Raw(0), bytes.Trim(b, " \t\r\n"); !bytes.Equal(got, want) {
			t.Fatalf("the document node is %q, want %q", got, want)
		}
		for n := int32(0); n < int32(len(tr.nodes)); n++ {
			checkNode(t, &tr, n)
		}
	})
}

func checkNode(t *testing.T, tr *JSONTree, n int32) {
	t.Helper()
	raw := tr.Raw(n)
	if !json.Valid(raw) {
		t.Fatalf("node %d is %q: not a JSON value", n, raw)
	}
	// Numbers stay as written: 1e1000 is valid JSON that a float64 cannot
	// hold.
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("node %d (%q): %v", n, raw, err)
	}
	switch k := tr.Kind(n); k {
	case '{', '[':
		// The children tile the container: each starts after the one
		// before, and the last one's Next is the container's.
		var count int
		c := n + 1
		for c < tr.Next(n) {
			if tr.nodes[c].start <= tr.nodes[n].start || tr.nodes[c].end >= tr.nodes[n].end {
				t.Fatalf("node %d %q is not inside its container %q", c, tr.Raw(c), raw)
			}
			count++
			c = tr.Next(c)
		}
		if c != tr.Next(n) {
			t.Fatalf("node %d's children end at %d, its Next is %d", n, c, tr.Next(n))
		}
		want := 0
		switch v := v.(type) {
		case []any:
			want = len(v)
		case map[string]any:
			want = 2 * countKeys(raw)
		}
		if count != want {
			t.Fatalf("node %d %q has %d children, want %d", n, raw, count, want)
		}
	case '"':
		if text := tr.Text(n); bytes.IndexByte(text, '\\') >= 0 || (utf8.Valid(text) && string(text) != v.(string)) {
			t.Fatalf("node %d %q: kind '\"' but its text %q is not its value %q", n, raw, text, v)
		}
	case JSONEscaped:
		if bytes.IndexByte(tr.Text(n), '\\') < 0 {
			t.Fatalf("node %d %q: kind JSONEscaped without an escape", n, raw)
		}
	case JSONNumber:
		if _, ok := v.(json.Number); !ok {
			t.Fatalf("node %d %q: kind JSONNumber, decoded as %T", n, raw, v)
		}
	case 't', 'f', 'n':
		if raw[0] != k {
			t.Fatalf("node %d %q: kind %q", n, raw, k)
		}
	default:
		t.Fatalf("node %d %q: kind %q", n, raw, k)
	}
}

// countKeys counts the keys of a valid JSON object as written, duplicates
// included (decoding into a map would merge them).
func countKeys(obj []byte) int {
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.Token() // {
	n := 0
	for dec.More() {
		dec.Token() // the key
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return -1
		}
		n++
	}
	return n
}

// depth is the nesting of a valid JSON document: 1 for [] or {}.
func depth(b []byte) int {
	d, most, inString := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			d++
			most = max(most, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return most
}

func BenchmarkJSONTree(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("..", "zenvia", "testdata", "message_in_image.json"))
	if err != nil {
		b.Fatal(err)
	}
	var tr JSONTree
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if !tr.Parse(body) {
			b.Fatal("refused")
		}
	}
}
