package rasa

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// defaultTimeout bounds one call to the bot when timeout_ms is not set.
const defaultTimeout = 10 * time.Second

// settings is the assistant's [assistants.settings] table.
type settings struct {
	// The REST channel's webhook, e.g.
	// http://localhost:5005/webhooks/rest/webhook (query included: Rasa's
	// token authentication is a "token" parameter).
	URL string `json:"url"`
	// Milliseconds to wait for the bot's answer; 0 means 10 s.
	TimeoutMS int64 `json:"timeout_ms"`
	// Extra request headers, e.g. a proxy's authorization.
	Headers map[string]string `json:"headers"`
}

// config is settings checked and ready to use.
type config struct {
	url     *url.URL
	timeout time.Duration
	headers map[string]string
}

func parseSettings(b []byte) (config, error) {
	var s settings
	if len(bytes.TrimSpace(b)) > 0 {
		d := json.NewDecoder(bytes.NewReader(b))
		d.DisallowUnknownFields()
		if err := d.Decode(&s); err != nil {
			return config{}, fmt.Errorf("settings: %w", err)
		}
	}
	if s.URL == "" {
		return config{}, errors.New("settings: url is required (e.g. http://localhost:5005/webhooks/rest/webhook)")
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // it quotes the whole URL, token included
		}
		return config{}, fmt.Errorf("settings: url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return config{}, fmt.Errorf("settings: url %q: want an absolute http:// or https:// URL", redact(u))
	}
	if s.TimeoutMS < 0 {
		return config{}, fmt.Errorf("settings: timeout_ms %d: want 0 (the default, 10 s) or more", s.TimeoutMS)
	}
	for k, v := range s.Headers {
		if !isToken(k) {
			return config{}, fmt.Errorf("settings: headers: %q is not a valid header name", k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return config{}, fmt.Errorf("settings: headers: the value of %s has a line break", k)
		}
	}
	c := config{url: u, timeout: defaultTimeout, headers: s.Headers}
	if s.TimeoutMS > 0 {
		c.timeout = time.Duration(s.TimeoutMS) * time.Millisecond
	}
	return c, nil
}

// isToken reports whether s is an HTTP header name (RFC 9110 token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// redact is the URL as errors show it: without the query (Rasa's token
// travels there) and without a password.
func redact(u *url.URL) string {
	c := *u
	c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = "", false, "", ""
	return c.Redacted()
}
