package meta

import (
	"regexp"
	"strings"

	"github.com/conversa/conversa/plugins/sdk"
)

// Login variants: which Meta product the integration's token comes from. They
// differ in host and in how the token travels; webhooks look the same.
const (
	LoginInstagram = "instagram"
	LoginFacebook  = "facebook"
)

// Defaults for settings an integration leaves out.
const (
	DefaultInstagramGraphURL = "https://graph.instagram.com"
	DefaultFacebookGraphURL  = "https://graph.facebook.com"
	DefaultAPIVersion        = "v25.0"
)

// Setting names, as they appear in an integration's settings.
const (
	settingAccountID     = "account_id"
	settingLogin         = "login"
	settingAccessToken   = "access_token"
	settingAppSecret     = "app_secret"
	settingVerifyToken   = "verify_token"
	settingGraphURL      = "graph_url"
	settingAPIVersion    = "api_version"
	settingHumanAgentTag = "human_agent_tag"
)

// settings are one integration's Meta settings.
type settings struct {
	AccountID     string
	Login         string
	AccessToken   string
	AppSecret     string
	VerifyToken   string
	GraphURL      string
	APIVersion    string
	HumanAgentTag bool
}

// minSecretToken is the shortest verify token accepted at save: shorter
// is guessed in no time. The host's generated ones are 32 characters.
const minSecretToken = 8

// parseSettings reads an integration's settings_json, filling in defaults.
// Unknown keys are ignored. Scalars are taken leniently because settings
// reach us from TOML and from the console's JSON alike: an account id may
// arrive as a number and human_agent_tag as the string "true". The
// problems are those every use of the settings shares: not a JSON object,
// an unknown login. Each distinct settings_json is decoded once (every
// webhook reads every candidate integration's); what it returns is shared
// and must not be modified.
func parseSettings(raw []byte) (settings, sdk.Problems) { return settingsCache.Get(raw) }

var settingsCache = sdk.NewSettingsCache(decodeSettings)

// decodeSettings is parseSettings without the cache.
func decodeSettings(raw []byte) (settings, sdk.Problems) {
	m, problems := sdk.ReadSettings(raw)
	if len(problems) > 0 {
		return settings{}, problems
	}
	return fromMap(m)
}

func fromMap(m sdk.Settings) (settings, sdk.Problems) {
	var problems sdk.Problems
	s := settings{
		AccountID:   m.String(settingAccountID),
		Login:       strings.ToLower(m.String(settingLogin)),
		AccessToken: m.String(settingAccessToken),
		// Secrets are used byte for byte: trimming is for whitespace an
		// operator pasted around them, never inside.
		AppSecret:     m.String(settingAppSecret),
		VerifyToken:   m.String(settingVerifyToken),
		GraphURL:      strings.TrimRight(m.String(settingGraphURL), "/"),
		APIVersion:    strings.Trim(m.String(settingAPIVersion), "/"),
		HumanAgentTag: m.Bool(settingHumanAgentTag),
	}
	switch s.Login {
	case "":
		s.Login = LoginInstagram
	case LoginInstagram, LoginFacebook:
	default:
		problems.Add(settingLogin, "Choose instagram or facebook: the Meta login your access token comes from.")
	}
	if s.GraphURL == "" {
		s.GraphURL = DefaultInstagramGraphURL
		if s.Login == LoginFacebook {
			s.GraphURL = DefaultFacebookGraphURL
		}
	}
	if s.APIVersion == "" {
		s.APIVersion = DefaultAPIVersion
	}
	if s.APIVersion[0] >= '0' && s.APIVersion[0] <= '9' {
		// "25.0" is what people type; the path needs "v25.0".
		s.APIVersion = "v" + s.APIVersion
	}
	return s, problems
}

// apiVersion is a Graph API version once fromMap has put its "v" in front.
var apiVersion = regexp.MustCompile(`^v[0-9]{1,3}\.[0-9]{1,3}$`)

// forGraph checks what calls to the Graph API need: Send, CheckSend,
// Action and Profile refuse on these.
func (s settings) forGraph() sdk.Problems {
	var p sdk.Problems
	if s.AccessToken == "" {
		p.Add(settingAccessToken, "Enter the access token: a long-lived token of your Meta app with the instagram_manage_messages permission (Instagram Login: instagram_business_manage_messages).")
	}
	if !sdk.IsHTTPURL(s.GraphURL) {
		p.Add(settingGraphURL, "Enter the Graph API URL as http:// or https:// and a host, such as "+DefaultInstagramGraphURL+", or leave it blank for the login type's default.")
	}
	if !apiVersion.MatchString(s.APIVersion) {
		p.Add(settingAPIVersion, "Enter the Graph API version as v25.0 or 25.0, or leave it blank for "+DefaultAPIVersion+".")
	}
	return p
}

// graphSettings are the settings of a call to the Graph API, and the
// problems it is refused over (problems.Refusal).
func graphSettings(raw []byte) (settings, sdk.Problems) {
	s, problems := parseSettings(raw)
	if len(problems) == 0 {
		problems = s.forGraph()
	}
	return s, problems
}

// validate is ValidateSettings: what every call checks, then the rest of
// the settings' form, one problem per setting. Nothing here calls Meta.
func validate(raw []byte) sdk.Problems {
	m, problems := sdk.ReadSettings(raw)
	if len(problems) > 0 {
		return problems
	}
	s, problems := fromMap(m)
	problems = append(problems, s.forGraph()...)
	if s.AppSecret == "" {
		problems.Add(settingAppSecret, "Enter the app secret from your Meta app's basic settings: it checks the signature of every webhook.")
	}
	if s.AccountID != "" && !plainID(s.AccountID) {
		problems.Add(settingAccountID, "Enter the Instagram account ID as digits only: the professional account id Meta's webhooks carry (entry.id).")
	}
	if s.VerifyToken != "" && (!sdk.IsToken(s.VerifyToken) || len(s.VerifyToken) < minSecretToken) {
		problems.Add(settingVerifyToken, "Use 8 to 256 letters, digits or punctuation without spaces for the verify token, or leave it blank to have one generated.")
	}
	if !m.IsBool(settingHumanAgentTag) {
		problems.Add(settingHumanAgentTag, "Set human_agent_tag to true or false.")
	}
	return problems
}
