package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/conversa/conversa/plugins/proto"
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

// CodeSettings is the SendError code of a call refused over the
// integration's settings (Problems.Refusal).
const CodeSettings = "settings"

// Problems are what is wrong with an integration's settings, each under the
// setting at fault. A channel finds them once, in one function: its
// ValidateSettings answers with them when an operator saves the
// integration, and a call that cannot work with the settings refuses with
// them (Refusal), so the two never disagree and the operator reads the same
// words in both places.
type Problems []*proto.SettingsProblem

// Add records a problem with field (its key in settings_json; "" for the
// settings as a whole). The message is one sentence for the operator: what
// is wrong and what would do, never a library's error text.
func (p *Problems) Add(field, message string) {
	*p = append(*p, &proto.SettingsProblem{Field: field, Message: message})
}

// Response is ValidateSettings' answer.
func (p Problems) Response() *proto.ValidateSettingsResponse {
	return &proto.ValidateSettingsResponse{Problems: p}
}

// Refusal is the SendError of a call refused over these problems (code
// CodeSettings, refused, not retryable: nothing went out, and asking again
// cannot help until the operator changes the settings); nil when there are
// none.
func (p Problems) Refusal() *proto.SendError {
	if len(p) == 0 {
		return nil
	}
	return &proto.SendError{Code: CodeSettings, Message: "the integration's settings need changing: " + p.String(), Refused: true}
}

// String is every problem, "field: message", in order.
func (p Problems) String() string {
	parts := make([]string, len(p))
	for i, q := range p {
		parts[i] = q.GetMessage()
		if q.GetField() != "" {
			parts[i] = q.GetField() + ": " + parts[i]
		}
	}
	return strings.Join(parts, " ")
}

// ReadSettings is ParseSettings for a channel's checks: settings that are
// not a JSON object are a problem of the settings as a whole, told without
// the decoder's text (which may quote a secret).
func ReadSettings(raw []byte) (Settings, Problems) {
	s, err := ParseSettings(raw)
	if err != nil {
		var p Problems
		p.Add("", `The settings must be a JSON object of names and values, like {"name": "value"}.`)
		return Settings{}, p
	}
	return s, nil
}

// IsBool reports whether a setting reads as a boolean: absent, null or
// blank (false), true or false, a string strconv.ParseBool takes, or the
// number 0 or 1. Bool reads anything; IsBool is for telling an operator
// that "yes" is not what they think.
func (s Settings) IsBool(key string) bool {
	switch v := s[key].(type) {
	case nil, bool:
		return true
	case string:
		if strings.TrimSpace(v) == "" {
			return true
		}
		_, err := strconv.ParseBool(strings.TrimSpace(v))
		return err == nil
	case json.Number:
		return v.String() == "0" || v.String() == "1"
	default:
		return false
	}
}

// IsHTTPURL reports whether raw is an absolute http or https URL with a
// host: what a setting naming a provider's API must be.
func IsHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// IsToken reports whether s can be a webhook credential an operator copies
// between a provider's console and Conversa: 1 to 256 printable ASCII
// characters without spaces, which travel unchanged in a header or a query
// (the host's generated ones are 32 such characters).
func IsToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// SettingsCache keeps settings decoded, by their settings_json bytes. The
// host sends every candidate integration's settings with every webhook,
// and decoding them is much of a small call's work; the bytes themselves
// are the version, since changed settings are other bytes. So nothing is
// ever invalidated, the contract carries no version, and a plugin in
// another language needs nothing. Safe for concurrent use; what Get
// returns is shared, so callers must not modify it (its Problems cannot be
// appended to in place: they come without spare capacity).
type SettingsCache[T any] struct {
	parse func([]byte) (T, Problems)

	mu sync.RWMutex
	m  map[string]decoded[T]
}

type decoded[T any] struct {
	v        T
	problems Problems
}

// maxCachedSettings bounds a cache: settings edited many times leave their
// old versions behind, and the cache starts over when it is full.
const maxCachedSettings = 1024

// NewSettingsCache caches what parse makes of settings_json. parse must
// depend on its input only.
func NewSettingsCache[T any](parse func([]byte) (T, Problems)) *SettingsCache[T] {
	return &SettingsCache[T]{parse: parse, m: map[string]decoded[T]{}}
}

// Get is parse(raw), decoded once per distinct raw.
func (c *SettingsCache[T]) Get(raw []byte) (T, Problems) {
	c.mu.RLock()
	d, ok := c.m[string(raw)]
	c.mu.RUnlock()
	if ok {
		return d.v, d.problems
	}
	v, problems := c.parse(raw)
	d = decoded[T]{v: v, problems: slices.Clip(problems)}
	c.mu.Lock()
	if len(c.m) >= maxCachedSettings {
		clear(c.m)
	}
	c.m[string(raw)] = d
	c.mu.Unlock()
	return d.v, d.problems
}
