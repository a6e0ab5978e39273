package meta

import (
	"fmt"
	"net/url"
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

// parseSettings reads an integration's settings_json. Unknown keys are
// ignored. Scalars are taken leniently because settings reach us from TOML
// and from the console's JSON alike: an account id may arrive as a number and
// human_agent_tag as the string "true".
func parseSettings(raw []byte) (settings, error) {
	var s settings
	m, err := sdk.ParseSettings(raw)
	if err != nil {
		return s, err
	}
	s.AccountID = m.String(settingAccountID)
	s.Login = strings.ToLower(m.String(settingLogin))
	s.AccessToken = m.String(settingAccessToken)
	// Secrets are used byte for byte: trimming is for whitespace an operator
	// pasted around them, never inside.
	s.AppSecret = m.String(settingAppSecret)
	s.VerifyToken = m.String(settingVerifyToken)
	s.GraphURL = strings.TrimRight(m.String(settingGraphURL), "/")
	s.APIVersion = strings.Trim(m.String(settingAPIVersion), "/")
	s.HumanAgentTag = m.Bool(settingHumanAgentTag)

	switch s.Login {
	case "":
		s.Login = LoginInstagram
	case LoginInstagram, LoginFacebook:
	default:
		return s, fmt.Errorf("settings: %s %q is neither %q nor %q", settingLogin, s.Login, LoginInstagram, LoginFacebook)
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
	return s, nil
}

// forGraph checks what calls to the Graph API need.
func (s settings) forGraph() error {
	if s.AccessToken == "" {
		return fmt.Errorf("settings: missing %s", settingAccessToken)
	}
	u, err := url.Parse(s.GraphURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("settings: %s %q is not an http(s) URL", settingGraphURL, s.GraphURL)
	}
	if strings.ContainsAny(s.APIVersion, "/?#") {
		return fmt.Errorf("settings: %s %q is not a version", settingAPIVersion, s.APIVersion)
	}
	return nil
}
