package zenvia

import (
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

// minSecretToken is the shortest webhook token accepted at save: shorter
// is guessed in no time. The host's generated ones are 32 characters.
const minSecretToken = 8

// parseSettings reads an integration's settings_json, filling in defaults.
// Unknown keys are ignored; numbers and booleans are taken as their JSON
// text, because an operator may well write a numeric sender id without
// quotes. The only problem it finds is settings that are not a JSON object.
// Each distinct settings_json is decoded once; what it returns is shared and
// must not be modified.
func parseSettings(raw []byte) (settings, sdk.Problems) { return settingsCache.Get(raw) }

var settingsCache = sdk.NewSettingsCache(decodeSettings)

// decodeSettings is parseSettings without the cache.
func decodeSettings(raw []byte) (settings, sdk.Problems) {
	m, problems := sdk.ReadSettings(raw)
	s := settings{
		SenderID:        m.String(settingSenderID),
		APIToken:        m.String(settingAPIToken),
		APIURL:          strings.TrimRight(m.String(settingAPIURL), "/"),
		WebhookUsername: m.String(settingWebhookUsername),
		WebhookToken:    m.String(settingWebhookToken),
	}
	if s.APIURL == "" {
		s.APIURL = DefaultAPIURL
	}
	return s, problems
}

// forSending checks what Send needs.
func (s settings) forSending() sdk.Problems {
	var p sdk.Problems
	if s.SenderID == "" {
		p.Add(settingSenderID, "Enter the sender ID of your Instagram channel in Zenvia’s console.")
	}
	if s.APIToken == "" {
		p.Add(settingAPIToken, "Enter a Zenvia API token (Zenvia’s console, API tokens): Conversa’s calls to Zenvia carry it.")
	}
	if !sdk.IsHTTPURL(s.APIURL) {
		p.Add(settingAPIURL, "Enter the API URL as http:// or https:// and a host, such as "+DefaultAPIURL+", or leave it blank for Zenvia’s API.")
	}
	return p
}

// sendSettings are the settings of a send, and the problems it is refused
// over (problems.Refusal).
func sendSettings(raw []byte) (settings, sdk.Problems) {
	s, problems := parseSettings(raw)
	if len(problems) == 0 {
		problems = s.forSending()
	}
	return s, problems
}

// validate is ValidateSettings: what Send checks, then the webhook
// credentials, one problem per setting. Nothing here calls Zenvia.
func validate(raw []byte) sdk.Problems {
	s, problems := parseSettings(raw)
	if len(problems) > 0 {
		return problems
	}
	problems = s.forSending()
	// Absent ones are generated when the integration is saved.
	if s.WebhookUsername != "" && !sdk.IsToken(s.WebhookUsername) {
		problems.Add(settingWebhookUsername, "Use at most 256 letters, digits or punctuation without spaces for the webhook username, or leave it blank to have one generated.")
	}
	if s.WebhookToken != "" && (!sdk.IsToken(s.WebhookToken) || len(s.WebhookToken) < minSecretToken) {
		problems.Add(settingWebhookToken, "Use 8 to 256 letters, digits or punctuation without spaces for the webhook token, or leave it blank to have one generated.")
	}
	return problems
}
