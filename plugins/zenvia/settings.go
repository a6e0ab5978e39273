package zenvia

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/conversa/conversa/plugins/sdk"
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
	m, err := sdk.ParseSettings(raw)
	if err != nil {
		return s, err
	}
	s.SenderID = m.String(settingSenderID)
	s.APIToken = m.String(settingAPIToken)
	s.APIURL = strings.TrimRight(m.String(settingAPIURL), "/")
	s.WebhookUsername = m.String(settingWebhookUsername)
	s.WebhookToken = m.String(settingWebhookToken)
	if s.APIURL == "" {
		s.APIURL = DefaultAPIURL
	}
	return s, nil
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
