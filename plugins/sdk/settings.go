package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Settings are an integration's or assistant's settings, as the host hands
// them over in settings_json.
type Settings map[string]any

// ParseSettings decodes settings_json. Empty input is no settings; anything
// but a JSON object is an error. Numbers keep their text (an account id
// written without quotes stays exact).
func ParseSettings(raw []byte) (Settings, error) {
	s := Settings{}
	if len(bytes.TrimSpace(raw)) == 0 {
		return s, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	if s == nil {
		return nil, errors.New("settings: not a JSON object")
	}
	return s, nil
}

// String reads a setting leniently, because settings come from TOML files
// and from the console's JSON alike: numbers and booleans as their text,
// surrounding whitespace trimmed, "" when absent or of another type.
func (s Settings) String(key string) string {
	switch v := s[key].(type) {
	case string:
		return strings.TrimSpace(v)
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	default:
		return ""
	}
}

// Bool reads a setting given as a boolean, the string "true", or a number
// (non-zero is true); false when absent.
func (s Settings) Bool(key string) bool {
	switch v := s[key].(type) {
	case bool:
		return v
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		return err == nil && b
	case json.Number:
		return v.String() != "0"
	default:
		return false
	}
}
