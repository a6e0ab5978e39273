package engine

import (
	"strconv"
	"unicode/utf8"
)

// The delivery log encodes a detail for every webhook and every send, on
// their paths; encoding/json's reflection cost more than the rest of the
// record (BenchmarkInboundRecord). These write the same JSON by hand: the
// same fields, in the same order, with the same omitempty rules, so that
// json.Unmarshal reads back what json.Marshal would have written
// (TestDeliveryDetailJSON, FuzzDeliveryDetailJSON). Unlike encoding/json
// they leave <, > and & as they are: the detail is read by json.Unmarshal
// and shown as text, never put in HTML.

// appendJSON appends d as a JSON object.
func (d *deliveryDetail) appendJSON(b []byte) []byte {
	var o jsonObject
	b = o.start(b)
	if d.Request != nil {
		b = d.Request.appendJSON(o.key(b, "request"))
	}
	if d.Response != nil {
		b = d.Response.appendJSON(o.key(b, "response"))
	}
	if len(d.Exchanges) > 0 {
		b = append(o.key(b, "exchanges"), '[')
		for i := range d.Exchanges {
			if i > 0 {
				b = append(b, ',')
			}
			b = d.Exchanges[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	if d.Omitted != 0 {
		b = strconv.AppendInt(o.key(b, "exchanges_omitted"), int64(d.Omitted), 10)
	}
	return append(b, '}')
}

// sizeHint is about how many bytes appendJSON writes for d: its text plus
// room for the names, quotes and a few escapes.
func (d *deliveryDetail) sizeHint() int {
	n := 64 + d.Request.sizeHint() + d.Response.sizeHint()
	for i := range d.Exchanges {
		n += 64 + len(d.Exchanges[i].Error) + d.Exchanges[i].Request.sizeHint() + d.Exchanges[i].Response.sizeHint()
	}
	return n
}

func (m *HTTPMessage) sizeHint() int {
	if m == nil {
		return 0
	}
	n := 96 + len(m.Method) + len(m.URL) + len(m.Body) + len(m.Body)/16
	for _, h := range m.Headers {
		n += 24 + len(h.Name) + len(h.Value)
	}
	return n
}

// appendJSON appends x as a JSON object.
func (x *Exchange) appendJSON(b []byte) []byte {
	var o jsonObject
	b = o.start(b)
	if x.Request != nil {
		b = x.Request.appendJSON(o.key(b, "request"))
	} else {
		b = append(o.key(b, "request"), "null"...)
	}
	if x.Response != nil {
		b = x.Response.appendJSON(o.key(b, "response"))
	}
	b = strconv.AppendInt(o.key(b, "latency_ms"), x.LatencyMS, 10)
	if x.Error != "" {
		b = appendJSONString(o.key(b, "error"), x.Error)
	}
	return append(b, '}')
}

// appendJSON appends m as a JSON object.
func (m *HTTPMessage) appendJSON(b []byte) []byte {
	var o jsonObject
	b = o.start(b)
	if m.Method != "" {
		b = appendJSONString(o.key(b, "method"), m.Method)
	}
	if m.URL != "" {
		b = appendJSONString(o.key(b, "url"), m.URL)
	}
	if m.Status != 0 {
		b = strconv.AppendInt(o.key(b, "status"), int64(m.Status), 10)
	}
	if len(m.Headers) > 0 {
		b = append(o.key(b, "headers"), '[')
		for i, h := range m.Headers {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendJSONString(b, h.Name)
			b = append(b, `,"value":`...)
			b = appendJSONString(b, h.Value)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if m.Body != "" {
		b = appendJSONString(o.key(b, "body"), m.Body)
	}
	if m.Truncated {
		b = append(o.key(b, "body_truncated"), "true"...)
	}
	return append(b, '}')
}

// jsonObject puts the commas between an object's members.
type jsonObject struct{ members int }

func (o *jsonObject) start(b []byte) []byte { return append(b, '{') }

// key appends the next member's name and its colon.
func (o *jsonObject) key(b []byte, name string) []byte {
	if o.members > 0 {
		b = append(b, ',')
	}
	o.members++
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, U+2028 and U+2029 too (as encoding/json
// does, for readers that take JSON for JavaScript), and each byte that is
// not UTF-8 as U+FFFD, so that what is written is always valid JSON.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
