package config

import (
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// keyLines maps every key path of a TOML document to the line it is on.
// Arrays of tables are indexed: the second [[integrations]]'s squad is
// "integrations.1.squad". The document has already decoded, so parse errors
// cannot happen here; a partial map is harmless.
func keyLines(doc []byte) map[string]int {
	lines := map[string]int{}
	counts := map[string]int{}
	var p unstable.Parser
	p.Reset(doc)
	var prefix string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			path := keyPath(e.Key())
			if e.Kind == unstable.ArrayTable {
				n := counts[path]
				counts[path] = n + 1
				path += "." + strconv.Itoa(n)
			} else {
				path = indexed(path, counts)
			}
			prefix = path
			lines[prefix] = lineOf(&p, e.Key())
		case unstable.KeyValue:
			path := keyPath(e.Key())
			if prefix != "" {
				path = prefix + "." + path
			}
			lines[path] = lineOf(&p, e.Key())
		}
	}
	return lines
}

// indexed rewrites a [integrations.settings] header to the last
// [[integrations]] element it belongs to ("integrations.1.settings").
func indexed(path string, counts map[string]int) string {
	parts := strings.Split(path, ".")
	for i := len(parts) - 1; i > 0; i-- {
		head := strings.Join(parts[:i], ".")
		if n, ok := counts[head]; ok {
			return head + "." + strconv.Itoa(n-1) + "." + strings.Join(parts[i:], ".")
		}
	}
	return path
}

func keyPath(it unstable.Iterator) string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return strings.Join(parts, ".")
}

func lineOf(p *unstable.Parser, it unstable.Iterator) (line int) {
	defer func() {
		// Quoted keys with escapes own their Data; they have no position.
		if recover() != nil {
			line = 0
		}
	}()
	if !it.Next() {
		return 0
	}
	n := it.Node()
	r := n.Raw
	if r.Length == 0 {
		r = p.Range(n.Data)
	}
	return p.Shape(r).Start.Line
}
