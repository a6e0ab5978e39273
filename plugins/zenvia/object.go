package zenvia

import (
	"bytes"
	"encoding/json"
)

// object is a JSON object read field by field. Zenvia's payloads vary between
// API revisions (a code that is a string in one and a number in another, a
// field that moved), so a field of an unexpected type reads as absent
// instead of failing the whole event.
type object map[string]json.RawMessage

// decodeObject returns nil when raw is not a JSON object.
func decodeObject(raw []byte) object {
	var o object
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil
	}
	return o
}

// obj is the field as an object, nil if absent or not an object.
func (o object) obj(key string) object {
	raw, ok := o[key]
	if !ok {
		return nil
	}
	return decodeObject(raw)
}

// arr is the field as an array, nil if absent or not an array.
func (o object) arr(key string) []json.RawMessage {
	raw, ok := o[key]
	if !ok {
		return nil
	}
	var a []json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil
	}
	return a
}

// text is the field when it is a JSON string.
func (o object) text(key string) (string, bool) {
	raw, ok := o[key]
	if !ok {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// str is the field as a string: a JSON string as is, a number as its
// literal (ids and error codes sometimes come as numbers), anything else "".
func (o object) str(key string) string {
	if s, ok := o.text(key); ok {
		return s
	}
	raw := bytes.TrimSpace(o[key])
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
