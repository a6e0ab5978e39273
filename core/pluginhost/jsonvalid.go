package pluginhost

import (
	"encoding/json"

	"github.com/conversa/conversa/plugins/sdk"
)

// validJSON is json.Valid, faster for what plugins send: every event's raw
// record is checked before it is stored, and encoding/json's scanner was
// the largest single cost of reading a webhook's reply. The fast reader
// accepts only JSON (a subset of what json.Valid accepts: anything it
// refuses, such as very deep nesting, is left to json.Valid). It walks the
// value without recording it; the strings, numbers and words are scanned
// by the SDK's JSON scanner, the one the channel plugins' parsers use.
func validJSON(b []byte) bool {
	if len(b) == 0 {
		return false // no raw record, the common case for a content
	}
	i, ok := validValue(b, sdk.SkipJSONSpace(b, 0), 0)
	if ok && sdk.SkipJSONSpace(b, i) == len(b) {
		return true
	}
	return json.Valid(b)
}

const maxValidDepth = 128

func validValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '{' || c == '[':
		if depth >= maxValidDepth {
			return i, false
		}
		return validContainer(b, i, depth)
	case c == '"':
		end, _, ok := sdk.ScanJSONString(b, i)
		return end, ok
	case c == 't':
		return sdk.ScanJSONWord(b, i, "true")
	case c == 'f':
		return sdk.ScanJSONWord(b, i, "false")
	case c == 'n':
		return sdk.ScanJSONWord(b, i, "null")
	default:
		return sdk.ScanJSONNumber(b, i)
	}
}

func validContainer(b []byte, i, depth int) (int, bool) {
	object := b[i] == '{'
	closer := byte(']')
	if object {
		closer = '}'
	}
	i = sdk.SkipJSONSpace(b, i+1)
	if i < len(b) && b[i] == closer {
		return i + 1, true
	}
	for {
		var ok bool
		if object {
			if i >= len(b) || b[i] != '"' {
				return i, false
			}
			if i, _, ok = sdk.ScanJSONString(b, i); !ok {
				return i, false
			}
			if i = sdk.SkipJSONSpace(b, i); i >= len(b) || b[i] != ':' {
				return i, false
			}
			i = sdk.SkipJSONSpace(b, i+1)
		}
		if i, ok = validValue(b, i, depth+1); !ok {
			return i, false
		}
		if i = sdk.SkipJSONSpace(b, i); i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i = sdk.SkipJSONSpace(b, i+1)
		case closer:
			return i + 1, true
		default:
			return i, false
		}
	}
}
