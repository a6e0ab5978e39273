// Package openapitest checks answers against the server's OpenAPI
// document (core/server/openapi.json): which operation a request is, and
// whether a JSON body matches the schema documented for its status.
//
// It understands the subset of JSON Schema 2020-12 the document uses (type,
// properties, required, additionalProperties, items, enum, const, $ref to
// the document itself, format date-time) and refuses any other keyword, so
// a schema it cannot check fails Lint instead of passing unchecked.
package openapitest

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Doc is a parsed OpenAPI document.
type Doc struct {
	root  map[string]any
	paths map[string]map[string]any // path template → method → operation
}

// Load parses an OpenAPI document.
func Load(doc []byte) (*Doc, error) {
	var root map[string]any
	if err := json.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	d := &Doc{root: root, paths: map[string]map[string]any{}}
	paths, _ := root["paths"].(map[string]any)
	for p, item := range paths {
		ops, _ := item.(map[string]any)
		d.paths[p] = map[string]any{}
		for m, op := range ops {
			if methods[m] {
				d.paths[p][strings.ToUpper(m)] = op
			}
		}
	}
	return d, nil
}

var methods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true, "trace": true}

// Routes lists the documented operations as "METHOD /path/{param}", sorted.
func (d *Doc) Routes() []string {
	var out []string
	for p, ops := range d.paths {
		for m := range ops {
			out = append(out, m+" "+p)
		}
	}
	sort.Strings(out)
	return out
}

// Operation finds the documented path template that path (without its
// query) matches for method: a literal segment beats a parameter.
func (d *Doc) Operation(method, path string) (template string, ok bool) {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	segs := strings.Split(path, "/")
	best := -1
	for p, ops := range d.paths {
		if _, has := ops[method]; !has {
			continue
		}
		tsegs := strings.Split(p, "/")
		if len(tsegs) != len(segs) {
			continue
		}
		literal := 0
		for i, t := range tsegs {
			switch {
			case strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") && segs[i] != "":
			case t == segs[i]:
				literal++
			default:
				literal = -1
			}
			if literal < 0 {
				break
			}
		}
		if literal > best {
			best, template = literal, p
		}
	}
	return template, best >= 0
}

// CheckResponse checks a JSON answer to method path with status against
// the schema its operation documents. A path no operation matches is not an
// error (ok is false); a status the operation does not document, or a
// body that does not match, is.
func (d *Doc) CheckResponse(method, path string, status int, body []byte) (ok bool, err error) {
	tmpl, ok := d.Operation(method, path)
	if !ok {
		return false, nil
	}
	op, _ := d.paths[tmpl][method].(map[string]any)
	responses, _ := op["responses"].(map[string]any)
	code := strconv.Itoa(status)
	r, found := responses[code]
	if !found {
		r, found = responses[code[:1]+"XX"]
	}
	if !found {
		r, found = responses["default"]
	}
	where := method + " " + tmpl + " → " + code
	if !found {
		return true, fmt.Errorf("%s: status not documented", where)
	}
	resp, err := d.deref(r)
	if err != nil {
		return true, fmt.Errorf("%s: %w", where, err)
	}
	content, _ := resp.(map[string]any)["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	if media == nil {
		if len(strings.TrimSpace(string(body))) == 0 {
			return true, nil
		}
		return true, fmt.Errorf("%s: a JSON body where the document has none: %.200s", where, body)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return true, fmt.Errorf("%s: body is not JSON: %w", where, err)
	}
	var problems []string
	d.validate(media["schema"], v, "$", &problems)
	if len(problems) > 0 {
		return true, fmt.Errorf("%s: the body does not match the document:\n  %s\nbody: %.2000s", where, strings.Join(problems, "\n  "), body)
	}
	return true, nil
}

// deref follows a local $ref ("#/components/...").
func (d *Doc) deref(s any) (any, error) {
	for range 32 {
		m, ok := s.(map[string]any)
		if !ok {
			return s, nil
		}
		r, ok := m["$ref"].(string)
		if !ok {
			return s, nil
		}
		target, err := d.pointer(r)
		if err != nil {
			return nil, err
		}
		s = target
	}
	return nil, fmt.Errorf("$ref loop")
}

func (d *Doc) pointer(ref string) (any, error) {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("$ref %q: only references into this document are supported", ref)
	}
	var cur any = d.root
	for _, tok := range strings.Split(p, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
		if cur, ok = m[tok]; !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
	}
	return cur, nil
}

// Keywords the validator checks, and those it may ignore (annotations).
var (
	checked     = []string{"$ref", "type", "properties", "required", "additionalProperties", "items", "enum", "const", "format"}
	annotations = []string{"description", "title", "example", "examples", "default", "deprecated", "readOnly", "writeOnly", "contentMediaType"}
)

func (d *Doc) validate(schema, v any, at string, problems *[]string) {
	bad := func(format string, args ...any) {
		*problems = append(*problems, at+": "+fmt.Sprintf(format, args...))
	}
	s, err := d.deref(schema)
	if err != nil {
		bad("%v", err)
		return
	}
	if b, ok := s.(bool); ok {
		if !b {
			bad("nothing is allowed here, got %s", kind(v))
		}
		return
	}
	m, ok := s.(map[string]any)
	if !ok {
		bad("the schema is not an object")
		return
	}
	if t, has := m["type"]; has {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, fmt.Sprint(x))
			}
		}
		if !slices.ContainsFunc(types, func(t string) bool { return isType(v, t) }) {
			bad("%s is not %s", describe(v), strings.Join(types, " or "))
			return
		}
	}
	if e, has := m["enum"].([]any); has && !slices.ContainsFunc(e, func(x any) bool { return equal(x, v) }) {
		bad("%s is not one of %v", describe(v), e)
	}
	if c, has := m["const"]; has && !equal(c, v) {
		bad("%s is not %v", describe(v), c)
	}
	if f, _ := m["format"].(string); f == "date-time" {
		if str, ok := v.(string); ok {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				bad("%q is not an RFC 3339 date-time", str)
			}
		}
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := m["properties"].(map[string]any)
		for _, r := range asStrings(m["required"]) {
			if _, ok := v[r]; !ok {
				bad("required property %q is missing", r)
			}
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k]; ok {
				d.validate(ps, v[k], at+"."+k, problems)
				continue
			}
			if ap, has := m["additionalProperties"]; has {
				if b, ok := ap.(bool); ok && !b {
					*problems = append(*problems, at+": property "+strconv.Quote(k)+" is not in the document")
					continue
				}
				d.validate(ap, v[k], at+"."+k, problems)
			}
		}
	case []any:
		if items, has := m["items"]; has {
			for i, x := range v {
				d.validate(items, x, at+"["+strconv.Itoa(i)+"]", problems)
			}
		}
	}
}

// Lint reports what the validator could not check: a keyword outside its
// subset, a $ref that does not resolve, an operation without responses.
func (d *Doc) Lint() []error {
	var errs []error
	seen := map[string]bool{}
	var walk func(s any, at string)
	walk = func(s any, at string) {
		m, ok := s.(map[string]any)
		if !ok {
			if _, isBool := s.(bool); !isBool {
				errs = append(errs, fmt.Errorf("%s: a schema must be an object or a boolean", at))
			}
			return
		}
		for k, sub := range m {
			switch {
			case k == "$ref":
				r, _ := sub.(string)
				target, err := d.pointer(r)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", at, err))
				} else if !seen[r] {
					seen[r] = true
					walk(target, r)
				}
			case k == "properties":
				props, _ := sub.(map[string]any)
				for name, ps := range props {
					walk(ps, at+".properties."+name)
				}
			case k == "items" || k == "additionalProperties":
				walk(sub, at+"."+k)
			case k == "format":
				if sub != "date-time" {
					errs = append(errs, fmt.Errorf("%s: format %v is not checked; use date-time or none", at, sub))
				}
			case slices.Contains(checked, k) || slices.Contains(annotations, k):
			default:
				errs = append(errs, fmt.Errorf("%s: keyword %q is outside what openapitest checks", at, k))
			}
		}
	}
	for _, route := range d.Routes() {
		method, tmpl, _ := strings.Cut(route, " ")
		op, _ := d.paths[tmpl][method].(map[string]any)
		responses, _ := op["responses"].(map[string]any)
		if len(responses) == 0 {
			errs = append(errs, fmt.Errorf("%s: no responses", route))
		}
		for code, r := range responses {
			resp, err := d.deref(r)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", route, code, err))
				continue
			}
			content, _ := resp.(map[string]any)["content"].(map[string]any)
			for ct, media := range content {
				if s, ok := media.(map[string]any)["schema"]; ok {
					walk(s, route+" "+code+" "+ct)
				}
			}
		}
		if rb, ok := op["requestBody"].(map[string]any); ok {
			content, _ := rb["content"].(map[string]any)
			for ct, media := range content {
				if s, ok := media.(map[string]any)["schema"]; ok {
					walk(s, route+" request "+ct)
				}
			}
		}
	}
	return errs
}

func isType(v any, t string) bool {
	switch t {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f)
	case "array":
		_, ok := v.([]any)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	}
	return false
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case float64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func describe(v any) string {
	switch v := v.(type) {
	case string, float64, bool:
		b, _ := json.Marshal(v)
		return fmt.Sprintf("%s %.80s", kind(v), b)
	}
	return kind(v)
}

func equal(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func asStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
