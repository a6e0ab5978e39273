package zenvia

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// DefaultAPIURL is Zenvia's API base when an integration names none.
const DefaultAPIURL = "https://api.zenvia.com"

// Setting names, as they appear in an integration's settings.
const (
	settingSenderID        = "sender_id"
	settingAPIToken        = "api_token"
	settingAPIURL          = "api_url"
	settingWebhookUsername = "webhook_username"
	settingWebhookToken    = "webhook_token"
)

// settings are one integration's Zenvia settings.
type settings struct {
	SenderID        string
	APIToken        string
	APIURL          string
	WebhookUsername string
	WebhookToken    string
}

// parseSettings reads an integration's settings_json. Unknown keys are
// ignored; numbers and booleans are taken as their JSON text, because an
// operator may well write a numeric sender id without quotes.
func parseSettings(raw []byte) (settings, error) {
	var s settings
	m := map[string]any{}
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return s, fmt.Errorf("settings: %w", err)
		}
		if m == nil {
			return s, errors.New("settings: not a JSON object")
		}
	}
	s.SenderID = settingString(m[settingSenderID])
	s.APIToken = settingString(m[settingAPIToken])
	s.APIURL = strings.TrimRight(settingString(m[settingAPIURL]), "/")
	s.WebhookUsername = settingString(m[settingWebhookUsername])
	s.WebhookToken = settingString(m[settingWebhookToken])
	if s.APIURL == "" {
		s.APIURL = DefaultAPIURL
	}
	return s, nil
}

func settingString(v any) string {
	switch v := v.(type) {
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

// forSending checks what Send needs.
func (s settings) forSending() error {
	var missing []string
	if s.SenderID == "" {
		missing = append(missing, settingSenderID)
	}
	if s.APIToken == "" {
		missing = append(missing, settingAPIToken)
	}
	if len(missing) > 0 {
		return fmt.Errorf("settings: missing %s", strings.Join(missing, ", "))
	}
	u, err := url.Parse(s.APIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("settings: %s %q is not an http(s) URL", settingAPIURL, s.APIURL)
	}
	return nil
}
