package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Config is the whole configuration file.
type Config struct {
	Server       Server        `toml:"server"`
	Storage      Storage       `toml:"storage"`
	Security     Security      `toml:"security"`
	Media        Media         `toml:"media"`
	Scripts      Scripts       `toml:"scripts"`
	Plugins      Plugins       `toml:"plugins"`
	Squads       []Squad       `toml:"squads"`
	Assistants   []Assistant   `toml:"assistants"`
	Integrations []Integration `toml:"integrations"`

	// File is the path the configuration was read from ("" for defaults).
	File string `toml:"-"`
	// lines maps a key path ("integrations.0.squad") to its line.
	lines map[string]int
}

type Server struct {
	Listen      string `toml:"listen"`
	PublicURL   string `toml:"public_url"`
	BodyLimitKB int    `toml:"body_limit_kb"`
	// Playground is the built-in test phone (CONTRACT §8). Unset, it is on
	// only when running without a configuration file: a newcomer gets it,
	// a production install does not unless it says so.
	Playground *bool `toml:"playground"`
	// MetricsToken, when set, is the bearer token GET /metrics needs.
	MetricsToken string `toml:"metrics_token"`
	// TrustedProxies are the reverse proxies in front of the server
	// (CIDRs, or single addresses): only a request from one of them has
	// its X-Forwarded-For believed, for the sign-in limits and the logs.
	TrustedProxies []string `toml:"trusted_proxies"`
	// AllowPrivateURLs lets integrations made in the console or the API
	// point their provider URLs (graph_url, api_url) at http and at
	// loopback, link-local or private hosts. For development against
	// local fakes only: those URLs receive the integration's credentials.
	AllowPrivateURLs bool `toml:"allow_private_urls"`
}

// PlaygroundOn reports whether the test phone is on.
func (s Server) PlaygroundOn() bool { return s.Playground != nil && *s.Playground }

// Proxies is TrustedProxies parsed (entries Validate refused are left out).
func (s Server) Proxies() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s.TrustedProxies {
		if pr, ok := parseProxy(p); ok {
			out = append(out, pr)
		}
	}
	return out
}

// parseProxy reads "10.0.0.0/8", "192.168.1.10" or "::1" as a prefix.
func parseProxy(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

type Storage struct {
	// Path is the SQLite file, the embedded default.
	Path string `toml:"path"`
	// URL, when set, is a PostgreSQL database (postgres://…) used instead:
	// no SQLite file is created, and several nodes may share it.
	URL string `toml:"url"`
	// DeliveryLogDays is how long the delivery log keeps each webhook
	// received and send attempt, in days (0: nothing is recorded). It
	// bounds what the log adds to the database, so it lives here.
	DeliveryLogDays *int `toml:"delivery_log_days"`
	// InboxRetentionDays is how long a received event is kept once it has
	// been processed, in days (0: forever). The inbox holds each
	// webhook's event and its raw body, about half of what a database
	// grows by; what the event made (messages, contacts) stays.
	InboxRetentionDays *int `toml:"inbox_retention_days"`
}

// Postgres reports whether the install lives in PostgreSQL.
func (s Storage) Postgres() bool { return s.URL != "" }

// Security is how secrets are kept at rest.
type Security struct {
	// KeyFile holds the key that encrypts the channels' secrets in the
	// database (core/secrets); generated when missing. The
	// CONVERSA_SECRET_KEY environment variable overrides it.
	KeyFile string `toml:"key_file"`
}

// Media is where the files agents upload are kept. Providers fetch them
// from {public_url}/media/...; several nodes must share the directory.
type Media struct {
	Dir         string `toml:"dir"`
	MaxUploadMB int    `toml:"max_upload_mb"`
}

type Scripts struct {
	Dir       string `toml:"dir"`
	TimeoutMS int    `toml:"timeout_ms"`
}

type Plugins struct {
	Dir string `toml:"dir"`
}

type Squad struct {
	Name string `toml:"name"`
}

type Assistant struct {
	ID       string         `toml:"id"`
	Backend  string         `toml:"backend"`
	Settings map[string]any `toml:"settings"`
}

type Integration struct {
	ID                       string         `toml:"id"`
	Name                     string         `toml:"name"`
	Channel                  string         `toml:"channel"`
	Assistant                string         `toml:"assistant"`
	Squad                    string         `toml:"squad"`
	InactivityMinutes        *int           `toml:"inactivity_minutes"`
	UnsupportedMediaMessages []string       `toml:"unsupported_media_messages"`
	HomologationUsers        []string       `toml:"homologation_users"`
	Enabled                  *bool          `toml:"enabled"`
	Settings                 map[string]any `toml:"settings"`
}

// Defaults.
const (
	DefaultListen            = "127.0.0.1:8080"
	DefaultBodyLimitKB       = 1024
	DefaultStoragePath       = "data/conversa.db"
	DefaultDeliveryLogDays   = 7
	MaxDeliveryLogDays       = 365
	DefaultInboxRetention    = 7
	MaxInboxRetention        = 3650
	DefaultKeyFile           = "data/secret.key"
	DefaultMediaDir          = "data/media"
	DefaultMaxUploadMB       = 25
	DefaultScriptsDir        = "scripts"
	DefaultScriptTimeoutMS   = 50
	DefaultPluginsDir        = "plugins/bin"
	DefaultSquad             = "geral"
	DefaultInactivityMinutes = 60
	DemoAssistant            = "demo"
	// The playground's built-in integrations; these ids are reserved.
	PlaygroundMeta   = "playground-meta"
	PlaygroundZenvia = "playground-zenvia"
	// DefaultUnsupportedMediaMessage answers content the assistant cannot
	// read (a photo, a location) when an integration says nothing about it;
	// an explicit empty list means no answer.
	DefaultUnsupportedMediaMessage = "Sorry, I can only read text, audio and video here."
)

// DefaultUnsupportedMediaMessages is the unsupported-media reply of an
// integration that does not set one (a new list each time).
func DefaultUnsupportedMediaMessages() []string { return []string{DefaultUnsupportedMediaMessage} }

// MaxUploadMB bounds max_upload_mb: Instagram takes no file over 25 MB
// today, and an upload is held (in memory or a temporary file) while it is
// read.
const MaxUploadMB = 100

// Default is the configuration `conversa` runs with when given no file: the
// defaults of every key and the embedded demo assistant.
func Default() *Config {
	c := &Config{}
	c.applyDefaults()
	return c
}

// Load reads, decodes, defaults and validates the file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// Parse is Load on bytes already read; path is used in error messages.
func Parse(path string, b []byte) (*Config, error) {
	c := &Config{File: path}
	dec := toml.NewDecoder(bytes.NewReader(b)).DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, decodeError(path, err)
	}
	c.lines = keyLines(b)
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func decodeError(path string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var probs Problems
		for _, e := range strict.Errors {
			row, _ := e.Position()
			probs = append(probs, Problem{File: path, Line: row,
				Message: fmt.Sprintf("unknown key %q", strings.Join(e.Key(), "."))})
		}
		return probs
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		return Problems{{File: path, Line: row, Message: de.Error()}}
	}
	return Problems{{File: path, Message: err.Error()}}
}

func (c *Config) applyDefaults() {
	if c.Server.Listen == "" {
		c.Server.Listen = DefaultListen
	}
	if c.Server.PublicURL == "" {
		c.Server.PublicURL = "http://" + c.Server.Listen
	}
	c.Server.PublicURL = strings.TrimRight(c.Server.PublicURL, "/")
	if c.Server.BodyLimitKB == 0 {
		c.Server.BodyLimitKB = DefaultBodyLimitKB
	}
	if c.Server.Playground == nil {
		on := c.File == ""
		c.Server.Playground = &on
	}
	if c.Storage.Path == "" {
		c.Storage.Path = DefaultStoragePath
	}
	if c.Storage.DeliveryLogDays == nil {
		days := DefaultDeliveryLogDays
		c.Storage.DeliveryLogDays = &days
	}
	if c.Storage.InboxRetentionDays == nil {
		days := DefaultInboxRetention
		c.Storage.InboxRetentionDays = &days
	}
	if c.Security.KeyFile == "" {
		c.Security.KeyFile = DefaultKeyFile
	}
	if c.Media.Dir == "" {
		c.Media.Dir = DefaultMediaDir
	}
	if c.Media.MaxUploadMB == 0 {
		c.Media.MaxUploadMB = DefaultMaxUploadMB
	}
	if c.Scripts.Dir == "" {
		c.Scripts.Dir = DefaultScriptsDir
	}
	if c.Scripts.TimeoutMS == 0 {
		c.Scripts.TimeoutMS = DefaultScriptTimeoutMS
	}
	if c.Plugins.Dir == "" {
		c.Plugins.Dir = DefaultPluginsDir
	}
	if len(c.Assistants) == 0 {
		// The embedded demo assistant: the rules plugin with no file serves
		// its built-in demo intents.
		c.Assistants = []Assistant{{ID: DemoAssistant, Backend: "rules", Settings: map[string]any{}}}
	}
	for i := range c.Assistants {
		if c.Assistants[i].Settings == nil {
			c.Assistants[i].Settings = map[string]any{}
		}
	}
	for i := range c.Integrations {
		in := &c.Integrations[i]
		if in.Squad == "" {
			in.Squad = DefaultSquad
		}
		if in.InactivityMinutes == nil {
			m := DefaultInactivityMinutes
			in.InactivityMinutes = &m
		}
		if in.Enabled == nil {
			t := true
			in.Enabled = &t
		}
		// Absent: the default reply; present and empty: no reply.
		if in.UnsupportedMediaMessages == nil {
			in.UnsupportedMediaMessages = DefaultUnsupportedMediaMessages()
		}
		if in.Settings == nil {
			in.Settings = map[string]any{}
		}
	}
	if !c.hasSquad(DefaultSquad) {
		c.Squads = append(c.Squads, Squad{Name: DefaultSquad})
	}
	for _, in := range c.Integrations {
		if !c.hasSquad(in.Squad) {
			c.Squads = append(c.Squads, Squad{Name: in.Squad})
		}
	}
}

func (c *Config) hasSquad(name string) bool {
	for _, s := range c.Squads {
		if s.Name == name {
			return true
		}
	}
	return false
}

// Problem is one thing wrong with a configuration or script, located.
type Problem struct {
	File    string
	Line    int
	Message string
}

func (p Problem) String() string {
	switch {
	case p.File != "" && p.Line > 0:
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message)
	case p.File != "":
		return fmt.Sprintf("%s: %s", p.File, p.Message)
	default:
		return p.Message
	}
}

// Problems is every problem found, printed one per line as FILE:LINE: message.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

var slug = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// IsSlug reports whether s can be an id in URLs (integration ids, squads).
func IsSlug(s string) bool { return slug.MatchString(s) }

// IsReservedIntegration reports whether id belongs to a built-in
// integration (the playground's), which no file or API call may define.
func IsReservedIntegration(id string) bool { return id == PlaygroundMeta || id == PlaygroundZenvia }

// ValidInactivity reports whether m is an allowed inactivity setting: 0 (off)
// or 10 to 1440 minutes.
func ValidInactivity(m int) bool { return m == 0 || (m >= 10 && m <= 1440) }

// Validate checks every value and reports all problems at once.
func (c *Config) Validate() error {
	var probs Problems
	add := func(key, format string, args ...any) {
		probs = append(probs, Problem{File: c.File, Line: c.line(key), Message: fmt.Sprintf(format, args...)})
	}
	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		add("server.listen", "server.listen: %q is not host:port", c.Server.Listen)
	}
	if u, err := url.Parse(c.Server.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("server.public_url", "server.public_url: %q is not an http(s) URL", c.Server.PublicURL)
	}
	for i, p := range c.Server.TrustedProxies {
		if _, ok := parseProxy(p); !ok {
			add("server.trusted_proxies", "server.trusted_proxies[%d]: %q is not an address or a CIDR (such as 10.0.0.0/8)", i, p)
		}
	}
	if c.Server.BodyLimitKB < 1 || c.Server.BodyLimitKB > 64*1024 {
		add("server.body_limit_kb", "server.body_limit_kb: must be between 1 and 65536, got %d", c.Server.BodyLimitKB)
	}
	if c.Storage.URL != "" {
		// The URL holds a password: the problem never repeats it.
		if u, err := url.Parse(c.Storage.URL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			add("storage.url", "storage.url: must be a PostgreSQL URL (postgres://user:password@host:5432/database)")
		}
	}
	if d := c.Storage.DeliveryLogDays; d != nil && (*d < 0 || *d > MaxDeliveryLogDays) {
		add("storage.delivery_log_days", "storage.delivery_log_days: must be between 0 (off) and %d, got %d", MaxDeliveryLogDays, *d)
	}
	if d := c.Storage.InboxRetentionDays; d != nil && (*d < 0 || *d > MaxInboxRetention) {
		add("storage.inbox_retention_days", "storage.inbox_retention_days: must be between 0 (keep forever) and %d, got %d",
			MaxInboxRetention, *d)
	}
	if c.Media.MaxUploadMB < 1 || c.Media.MaxUploadMB > MaxUploadMB {
		add("media.max_upload_mb", "media.max_upload_mb: must be between 1 and %d, got %d", MaxUploadMB, c.Media.MaxUploadMB)
	}
	if c.Scripts.TimeoutMS < 1 || c.Scripts.TimeoutMS > 10000 {
		add("scripts.timeout_ms", "scripts.timeout_ms: must be between 1 and 10000, got %d", c.Scripts.TimeoutMS)
	}
	squads := map[string]bool{}
	for i, s := range c.Squads {
		key := fmt.Sprintf("squads.%d.name", i)
		switch {
		case !IsSlug(s.Name):
			add(key, "squads[%d].name: %q must be lowercase letters, digits, '-' or '_'", i, s.Name)
		case squads[s.Name]:
			add(key, "squads[%d].name: %q is defined twice", i, s.Name)
		}
		squads[s.Name] = true
	}
	assistants := map[string]bool{}
	for i, a := range c.Assistants {
		key := fmt.Sprintf("assistants.%d", i)
		switch {
		case !IsSlug(a.ID):
			add(key+".id", "assistants[%d].id: %q must be lowercase letters, digits, '-' or '_'", i, a.ID)
		case assistants[a.ID]:
			add(key+".id", "assistants[%d].id: %q is defined twice", i, a.ID)
		}
		assistants[a.ID] = true
		if a.Backend == "" {
			add(key+".backend", "assistants[%d].backend: required (an assistant plugin's name, e.g. \"rules\")", i)
		}
	}
	ids := map[string]bool{}
	for i, in := range c.Integrations {
		key := fmt.Sprintf("integrations.%d", i)
		switch {
		case !IsSlug(in.ID):
			add(key+".id", "integrations[%d].id: %q must be lowercase letters, digits, '-' or '_' (it is part of the webhook URL)", i, in.ID)
		case ids[in.ID]:
			add(key+".id", "integrations[%d].id: %q is defined twice", i, in.ID)
		case IsReservedIntegration(in.ID):
			add(key+".id", "integrations[%d].id: %q is reserved for the built-in playground (see [server] playground)", i, in.ID)
		}
		ids[in.ID] = true
		if strings.TrimSpace(in.Name) == "" {
			add(key+".name", "integrations[%d].name: required", i)
		}
		if in.Channel == "" {
			add(key+".channel", "integrations[%d].channel: required (a channel plugin's name: \"meta\" or \"zenvia\")", i)
		}
		if in.Assistant != "" && !assistants[in.Assistant] {
			add(key+".assistant", "integrations[%d].assistant: %q is not a defined assistant", i, in.Assistant)
		}
		if !IsSlug(in.Squad) {
			add(key+".squad", "integrations[%d].squad: %q must be lowercase letters, digits, '-' or '_'", i, in.Squad)
		}
		if !ValidInactivity(*in.InactivityMinutes) {
			add(key+".inactivity_minutes", "integrations[%d].inactivity_minutes: must be 0 (off) or between 10 and 1440, got %d", i, *in.InactivityMinutes)
		}
	}
	if len(probs) == 0 {
		return nil
	}
	sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
	return probs
}

// line finds the line of a key path, falling back to its closest ancestor.
func (c *Config) line(key string) int {
	for key != "" {
		if l, ok := c.lines[key]; ok {
			return l
		}
		i := strings.LastIndexByte(key, '.')
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}
