package sdktest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// vars are the placeholders' values for one rendering of a fixture.
type vars struct {
	providerURL string // {{provider_url}}, no trailing slash
	fixtures    string // {{fixtures}}, absolute
}

var placeholder = regexp.MustCompile(`\{\{\s*([a-zA-Z0-9_]+)\s*\}\}`)

// substitute replaces the placeholders in s. An unknown one is an error, so
// that a misspelt placeholder is not sent to the plugin as text.
func (v vars) substitute(s string) (string, error) {
	var bad string
	out := placeholder.ReplaceAllStringFunc(s, func(m string) string {
		switch placeholder.FindStringSubmatch(m)[1] {
		case "provider_url":
			return v.providerURL
		case "fixtures":
			return v.fixtures
		}
		if bad == "" {
			bad = m
		}
		return m
	})
	if bad != "" {
		return "", fmt.Errorf("unknown placeholder %s (have {{provider_url}} and {{fixtures}})", bad)
	}
	return out, nil
}

// render replaces the placeholders in every string value of a JSON
// document (never in keys) and returns the document re-encoded compactly.
// Numbers keep their exact digits: an Instagram id does not fit a float64.
func (v vars) render(doc []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("more than one JSON value")
	}
	x, err := v.walk(x)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func (v vars) walk(x any) (any, error) {
	switch t := x.(type) {
	case string:
		return v.substitute(t)
	case []any:
		for i := range t {
			var err error
			if t[i], err = v.walk(t[i]); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for k := range t {
			var err error
			if t[k], err = v.walk(t[k]); err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
		}
	}
	return x, nil
}

// decodeStrict decodes a rendered fixture into dst, refusing unknown keys:
// a misspelt key would otherwise silently check nothing.
func decodeStrict(doc []byte, dst any) error {
	d := json.NewDecoder(bytes.NewReader(doc))
	d.DisallowUnknownFields()
	d.UseNumber()
	if err := d.Decode(dst); err != nil {
		return err
	}
	return nil
}

// fixtureFile is one file of a fixtures directory, unrendered.
type fixtureFile struct {
	name string // e.g. "01-text" (the file name without .json)
	path string
	raw  []byte
}

// fixtureSet is a fixtures directory as read from disk. Files are rendered
// per case, since one case may point {{provider_url}} elsewhere.
type fixtureSet struct {
	dir      string // absolute; "" when the suite runs without fixtures
	settings []byte // settings.json, raw; nil when absent
	secrets  []byte // secrets.json, raw; nil when absent

	webhooks, sends, profiles, converse, settingsInvalid []fixtureFile
}

// fixtureDirs are the subdirectories of a fixtures directory, by kind.
var fixtureDirs = []string{"webhooks", "sends", "profiles", "converse", "settings_invalid"}

func loadFixtures(dir string) (*fixtureSet, error) {
	fs0 := &fixtureSet{}
	if dir == "" {
		return fs0, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("fixtures: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("fixtures: %s is not a directory", abs)
	}
	fs0.dir = abs
	if fs0.settings, err = readOptional(filepath.Join(abs, "settings.json")); err != nil {
		return nil, err
	}
	if fs0.secrets, err = readOptional(filepath.Join(abs, "secrets.json")); err != nil {
		return nil, err
	}
	lists := []*[]fixtureFile{&fs0.webhooks, &fs0.sends, &fs0.profiles, &fs0.converse, &fs0.settingsInvalid}
	for i, sub := range fixtureDirs {
		files, err := readDir(filepath.Join(abs, sub))
		if err != nil {
			return nil, err
		}
		*lists[i] = files
	}
	return fs0, nil
}

func readOptional(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fixtures: %w", err)
	}
	return b, nil
}

// readDir lists dir's *.json files in name order; a missing dir has none.
func readDir(dir string) ([]fixtureFile, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fixtures: %w", err)
	}
	var out []fixtureFile
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("fixtures: %w", err)
		}
		out = append(out, fixtureFile{name: strings.TrimSuffix(e.Name(), ".json"), path: path, raw: b})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// settingsJSON renders settings.json; "{}" when there is none.
func (f *fixtureSet) settingsJSON(v vars) ([]byte, error) {
	if f.settings == nil {
		return []byte("{}"), nil
	}
	b, err := v.render(f.settings)
	if err != nil {
		return nil, fmt.Errorf("settings.json: %w", err)
	}
	if firstNonSpace(b) != '{' {
		return nil, errors.New("settings.json: not a JSON object")
	}
	return b, nil
}

// secretStrings reads secrets.json: a list of strings.
func (f *fixtureSet) secretStrings(v vars) ([]string, error) {
	if f.secrets == nil {
		return nil, nil
	}
	b, err := v.render(f.secrets)
	if err != nil {
		return nil, fmt.Errorf("secrets.json: %w", err)
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("secrets.json: want a list of strings: %w", err)
	}
	return out, nil
}

func firstNonSpace(b []byte) byte {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// Fixture shapes (see plugins/sdk/README.md, "Testing your plugin").

type webhookFixture struct {
	Note    string         `json:"note"`
	Request webhookRequest `json:"request"`
	Sign    *signSpec      `json:"sign"`
	Want    webhookWant    `json:"want"`
	// Hostile, when false, derives no hostile variants from this fixture.
	Hostile *bool `json:"hostile"`
}

type webhookRequest struct {
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Query    string            `json:"query"`
	Headers  map[string]string `json:"headers"`
	Body     json.RawMessage   `json:"body"`
	BodyText *string           `json:"body_text"`
}

type signSpec struct {
	Header        string `json:"header"`
	Algorithm     string `json:"algorithm"`
	SecretSetting string `json:"secret_setting"`
	Prefix        string `json:"prefix"`
}

type webhookWant struct {
	Authenticated *bool   `json:"authenticated"`
	Malformed     bool    `json:"malformed"`
	Status        int32   `json:"status"`
	BodyText      *string `json:"body_text"`
	// Events, when present (even empty), are matched one for one.
	Events *[]map[string]any `json:"events"`
}

// body is the request body's bytes.
func (r webhookRequest) body() ([]byte, error) {
	switch {
	case r.BodyText != nil && len(r.Body) > 0:
		return nil, errors.New("request: body and body_text are both given")
	case r.BodyText != nil:
		return []byte(*r.BodyText), nil
	default:
		return r.Body, nil
	}
}

func parseWebhook(doc []byte) (*webhookFixture, error) {
	var f webhookFixture
	if err := decodeStrict(doc, &f); err != nil {
		return nil, err
	}
	if _, err := f.Request.body(); err != nil {
		return nil, err
	}
	if f.Request.Method == "" {
		f.Request.Method = "POST"
	}
	if f.Request.Path == "" {
		f.Request.Path = "/webhooks/contract"
	}
	if s := f.Sign; s != nil {
		if s.Algorithm == "" {
			s.Algorithm = "hmac-sha256"
		}
		if s.Algorithm != "hmac-sha256" {
			return nil, fmt.Errorf("sign: algorithm %q: only hmac-sha256 is known", s.Algorithm)
		}
		if s.Header == "" || s.SecretSetting == "" {
			return nil, errors.New("sign: header and secret_setting are required")
		}
	}
	return &f, nil
}

// authenticated is what the fixture wants, true by default.
func (w webhookWant) authenticated() bool { return w.Authenticated == nil || *w.Authenticated }

type providerAnswer struct {
	Status   int               `json:"status"`
	Headers  map[string]string `json:"headers"`
	Body     json.RawMessage   `json:"body"`
	BodyText *string           `json:"body_text"`
	// DelayMS holds the answer back that long (bounded by the caller's
	// patience: a cancelled call ends the wait).
	DelayMS int `json:"delay_ms"`
}

type providerWant struct {
	Method       string            `json:"method"`
	Path         string            `json:"path"`
	BodyContains []string          `json:"body_contains"`
	Headers      map[string]string `json:"headers"`
	// QueryContains are substrings of the raw query string.
	QueryContains []string `json:"query_contains"`
}

type sendFixture struct {
	Note     string           `json:"note"`
	Request  json.RawMessage  `json:"request"`
	Provider []providerAnswer `json:"provider"`
	Want     sendWant         `json:"want"`
}

type sendWant struct {
	MessageIDs      *[]string     `json:"message_ids"`
	Error           *sendErrWant  `json:"error"`
	ProviderCalls   *int          `json:"provider_calls"`
	ProviderRequest *providerWant `json:"provider_request"`
}

type sendErrWant struct {
	Code           *string `json:"code"`
	Retryable      *bool   `json:"retryable"`
	Refused        *bool   `json:"refused"`
	Reauthorize    *bool   `json:"reauthorize"`
	UnknownOutcome *bool   `json:"unknown_outcome"`
}

func parseSend(doc []byte) (*sendFixture, error) {
	var f sendFixture
	if err := decodeStrict(doc, &f); err != nil {
		return nil, err
	}
	if len(f.Request) == 0 {
		return nil, errors.New("request is required")
	}
	return &f, nil
}

type profileFixture struct {
	Note      string           `json:"note"`
	ContactID string           `json:"contact_id"`
	Provider  []providerAnswer `json:"provider"`
	Want      profileWant      `json:"want"`
}

type profileWant struct {
	Name            *string       `json:"name"`
	Username        *string       `json:"username"`
	AvatarURL       *string       `json:"avatar_url"`
	ErrorCode       *string       `json:"error_code"`
	Retryable       *bool         `json:"retryable"`
	ProviderCalls   *int          `json:"provider_calls"`
	ProviderRequest *providerWant `json:"provider_request"`
}

func parseProfile(doc []byte) (*profileFixture, error) {
	var f profileFixture
	if err := decodeStrict(doc, &f); err != nil {
		return nil, err
	}
	if f.ContactID == "" {
		return nil, errors.New("contact_id is required")
	}
	return &f, nil
}

type converseFixture struct {
	Note  string         `json:"note"`
	Turns []converseTurn `json:"turns"`
	// Channel is ConverseRequest.channel (default "contract").
	Channel string `json:"channel"`
}

type converseTurn struct {
	Contents json.RawMessage  `json:"contents"`
	Provider []providerAnswer `json:"provider"`
	Want     converseWant     `json:"want"`
}

type converseWant struct {
	RepliesMin        *int          `json:"replies_min"`
	Handoff           *bool         `json:"handoff"`
	End               *bool         `json:"end"`
	Intent            *string       `json:"intent"`
	ReplyTextContains *string       `json:"reply_text_contains"`
	Squad             *string       `json:"squad"`
	ProviderCalls     *int          `json:"provider_calls"`
	ProviderRequest   *providerWant `json:"provider_request"`
	// Error, when true, wants Converse to fail (a gRPC error, so that the
	// host retries and then hands the conversation to people); the
	// conversation's later turns are not played.
	Error bool `json:"error"`
}

func parseConverse(doc []byte) (*converseFixture, error) {
	var f converseFixture
	if err := decodeStrict(doc, &f); err != nil {
		return nil, err
	}
	if len(f.Turns) == 0 {
		return nil, errors.New("turns: at least one is required")
	}
	for i, t := range f.Turns {
		if len(t.Contents) == 0 {
			return nil, fmt.Errorf("turns[%d]: contents is required", i)
		}
	}
	return &f, nil
}

type settingsInvalidFixture struct {
	Note       string          `json:"note"`
	Settings   json.RawMessage `json:"settings"`
	WantFields []string        `json:"want_fields"`
}

func parseSettingsInvalid(doc []byte) (*settingsInvalidFixture, error) {
	var f settingsInvalidFixture
	if err := decodeStrict(doc, &f); err != nil {
		return nil, err
	}
	if firstNonSpace(f.Settings) != '{' {
		return nil, errors.New("settings: want a JSON object")
	}
	if len(f.WantFields) == 0 {
		return nil, errors.New("want_fields: at least one is required")
	}
	return &f, nil
}
