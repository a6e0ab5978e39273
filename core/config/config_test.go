package config

import (
	"errors"
	"strings"
	"testing"
)

func TestParseDefaults(t *testing.T) {
	c, err := Parse("c.toml", []byte(""))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Listen != DefaultListen || c.Server.PublicURL != "http://"+DefaultListen {
		t.Errorf("server = %+v, want defaults", c.Server)
	}
	if c.Storage.Path != DefaultStoragePath || c.Scripts.TimeoutMS != 50 || c.Server.BodyLimitKB != 1024 {
		t.Errorf("defaults not applied: %+v %+v %+v", c.Storage, c.Scripts, c.Server)
	}
	if c.Security.KeyFile != DefaultKeyFile {
		t.Errorf("security.key_file = %q, want %q", c.Security.KeyFile, DefaultKeyFile)
	}
	if c, err := Parse("c.toml", []byte("[security]\nkey_file = \"/etc/conversa/secret.key\"\n")); err != nil || c.Security.KeyFile != "/etc/conversa/secret.key" {
		t.Errorf("security.key_file given = %v (%v), want the path given", c, err)
	}
	if len(c.Assistants) != 1 || c.Assistants[0].ID != DemoAssistant || c.Assistants[0].Backend != "rules" {
		t.Errorf("assistants = %+v, want the demo", c.Assistants)
	}
	if !c.hasSquad("geral") {
		t.Errorf("squads = %+v, want geral", c.Squads)
	}
}

func TestParseIntegrationDefaults(t *testing.T) {
	c, err := Parse("c.toml", []byte(`
[[integrations]]
id = "ig"
name = "IG"
channel = "meta"
assistant = "demo"
[integrations.settings]
app_secret = "s"
human_agent_tag = true
`))
	if err != nil {
		t.Fatal(err)
	}
	in := c.Integrations[0]
	if in.Squad != "geral" || *in.InactivityMinutes != 60 || !*in.Enabled {
		t.Errorf("integration defaults = %q %d %v", in.Squad, *in.InactivityMinutes, *in.Enabled)
	}
	if in.Settings["app_secret"] != "s" || in.Settings["human_agent_tag"] != true {
		t.Errorf("settings = %v", in.Settings)
	}
}

// The unsupported-media reply: the default when the key is absent, none
// when it is an empty list, the operator's own otherwise.
func TestParseUnsupportedMediaMessages(t *testing.T) {
	cases := []struct {
		name, line string
		want       []string
	}{
		{"absent", "", []string{DefaultUnsupportedMediaMessage}},
		{"empty", "unsupported_media_messages = []", []string{}},
		{"given", `unsupported_media_messages = ["Só leio texto.", "Mande um áudio."]`, []string{"Só leio texto.", "Mande um áudio."}},
	}
	for _, tc := range cases {
		c, err := Parse("c.toml", []byte("[[integrations]]\nid = \"ig\"\nname = \"IG\"\nchannel = \"meta\"\n"+tc.line+"\n"))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := c.Integrations[0].UnsupportedMediaMessages
		if got == nil || strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%s: unsupported_media_messages = %#v, want %#v", tc.name, got, tc.want)
		}
	}
}

func TestUnknownKeyNamesKeyAndLine(t *testing.T) {
	_, err := Parse("conf.toml", []byte("[server]\nlisten = \"127.0.0.1:1\"\n\n[storage]\npaht = \"x.db\"\n"))
	var probs Problems
	if !errors.As(err, &probs) || len(probs) != 1 {
		t.Fatalf("Parse = %v, want one problem", err)
	}
	if got, want := probs[0].String(), `conf.toml:5: unknown key "storage.paht"`; got != want {
		t.Errorf("problem = %q, want %q", got, want)
	}
}

func TestValidationNamesFieldAndLine(t *testing.T) {
	doc := `[[integrations]]
id = "a"
name = "A"
channel = "meta"

[[integrations]]
id = "b"
name = "B"
channel = "zenvia"
assistant = "nobody"
inactivity_minutes = 5
`
	_, err := Parse("c.toml", []byte(doc))
	if err == nil {
		t.Fatal("Parse succeeded, want validation errors")
	}
	for _, want := range []string{
		`c.toml:10: integrations[1].assistant: "nobody" is not a defined assistant`,
		`c.toml:11: integrations[1].inactivity_minutes: must be 0 (off) or between 10 and 1440, got 5`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestSyntaxErrorHasLine(t *testing.T) {
	_, err := Parse("c.toml", []byte("[server]\nlisten = \n"))
	if err == nil || !strings.HasPrefix(err.Error(), "c.toml:2:") {
		t.Errorf("Parse = %v, want an error at c.toml:2", err)
	}
}

func TestStorageURL(t *testing.T) {
	c, err := Parse("conf.toml", []byte("[storage]\nurl = \"postgres://conversa:s3cret@db:5432/conversa\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Storage.Postgres() {
		t.Error("a storage.url did not select PostgreSQL")
	}
	if Default().Storage.Postgres() {
		t.Error("the defaults use PostgreSQL; want SQLite")
	}
	_, err = Parse("conf.toml", []byte("[storage]\nurl = \"mysql://root:s3cret@db/conversa\"\n"))
	if err == nil {
		t.Fatal("a non-PostgreSQL storage.url was accepted")
	}
	if got := err.Error(); !strings.Contains(got, "conf.toml:2: storage.url") || strings.Contains(got, "s3cret") {
		t.Errorf("error = %q, want conf.toml:2 naming storage.url and never the password", got)
	}
}

func TestMedia(t *testing.T) {
	c, err := Parse("c.toml", []byte(""))
	if err != nil {
		t.Fatal(err)
	}
	if c.Media.Dir != "data/media" || c.Media.MaxUploadMB != 25 {
		t.Errorf("media defaults = %+v, want data/media and 25 MB", c.Media)
	}
	c, err = Parse("c.toml", []byte("[media]\ndir = \"/srv/shared/media\"\nmax_upload_mb = 8\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Media.Dir != "/srv/shared/media" || c.Media.MaxUploadMB != 8 {
		t.Errorf("media = %+v, want the file's values", c.Media)
	}
	for doc, want := range map[string]string{
		"[media]\nmax_upload_mb = -1\n":  "c.toml:2: media.max_upload_mb: must be between 1 and 100, got -1",
		"[media]\nmax_upload_mb = 500\n": "c.toml:2: media.max_upload_mb: must be between 1 and 100, got 500",
		"[media]\nmax_upload = 5\n":      `c.toml:2: unknown key "media.max_upload"`,
	} {
		_, err := Parse("c.toml", []byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", doc, err, want)
		}
	}
}

func TestDeliveryLogDays(t *testing.T) {
	c, err := Parse("c.toml", []byte(""))
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Storage.DeliveryLogDays; d == nil || *d != 7 {
		t.Errorf("storage.delivery_log_days default = %v, want 7", d)
	}
	c, err = Parse("c.toml", []byte("[storage]\ndelivery_log_days = 0\n"))
	if err != nil || *c.Storage.DeliveryLogDays != 0 {
		t.Errorf("delivery_log_days = 0: %v, %v; want 0 (off) kept", c.Storage.DeliveryLogDays, err)
	}
	for doc, want := range map[string]string{
		"[storage]\ndelivery_log_days = -1\n":  "c.toml:2: storage.delivery_log_days: must be between 0 (off) and 365, got -1",
		"[storage]\ndelivery_log_days = 400\n": "c.toml:2: storage.delivery_log_days: must be between 0 (off) and 365, got 400",
	} {
		if _, err := Parse("c.toml", []byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", doc, err, want)
		}
	}
}

func TestInboxRetentionDays(t *testing.T) {
	c, err := Parse("c.toml", []byte(""))
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Storage.InboxRetentionDays; d == nil || *d != 7 {
		t.Errorf("storage.inbox_retention_days default = %v, want 7", d)
	}
	c, err = Parse("c.toml", []byte("[storage]\ninbox_retention_days = 0\n"))
	if err != nil || *c.Storage.InboxRetentionDays != 0 {
		t.Errorf("inbox_retention_days = 0: %v, %v; want 0 (keep forever) kept", c.Storage.InboxRetentionDays, err)
	}
	for doc, want := range map[string]string{
		"[storage]\ninbox_retention_days = -1\n":   "c.toml:2: storage.inbox_retention_days: must be between 0 (keep forever) and 3650, got -1",
		"[storage]\ninbox_retention_days = 4000\n": "c.toml:2: storage.inbox_retention_days: must be between 0 (keep forever) and 3650, got 4000",
		"[storage]\ninbox_retention = 7\n":         "inbox_retention",
	} {
		if _, err := Parse("c.toml", []byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", doc, err, want)
		}
	}
}

// The playground is on by default only without a configuration file; a
// file turns it on or off explicitly.
func TestPlaygroundDefault(t *testing.T) {
	if !Default().Server.PlaygroundOn() {
		t.Errorf("Default().Server.PlaygroundOn() = false, want true (no config file)")
	}
	for _, tc := range []struct {
		file string
		want bool
	}{
		{"", false},
		{"[server]\nplayground = true\n", true},
		{"[server]\nplayground = false\n", false},
	} {
		c, err := Parse("c.toml", []byte(tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Server.PlaygroundOn(); got != tc.want {
			t.Errorf("Parse(%q).Server.PlaygroundOn() = %v, want %v", tc.file, got, tc.want)
		}
	}
}

func TestPlaygroundIDsAreReserved(t *testing.T) {
	_, err := Parse("c.toml", []byte(`
[[integrations]]
id = "playground-meta"
name = "mine"
channel = "meta"
`))
	if err == nil || !strings.Contains(err.Error(), "c.toml:3:") || !strings.Contains(err.Error(), "reserved for the built-in playground") {
		t.Errorf("a config integration named playground-meta: err = %v, want c.toml:3: ... reserved", err)
	}
}

func TestTrustedProxies(t *testing.T) {
	c, err := Parse("conf.toml", []byte("[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"192.168.1.10\", \"::1\", \"172.16.5.4/12\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range c.Server.Proxies() {
		got = append(got, p.String())
	}
	if want := "10.0.0.0/8 192.168.1.10/32 ::1/128 172.16.0.0/12"; strings.Join(got, " ") != want {
		t.Errorf("Proxies() = %v, want %s", got, want)
	}
	if len(Default().Server.Proxies()) != 0 {
		t.Error("the defaults trust a proxy; want none")
	}
	_, err = Parse("conf.toml", []byte("[server]\nlisten = \"127.0.0.1:0\"\ntrusted_proxies = [\"10.0.0.0/8\", \"nginx\"]\n"))
	if err == nil || !strings.Contains(err.Error(), `conf.toml:3: server.trusted_proxies[1]: "nginx" is not an address or a CIDR`) {
		t.Errorf("Parse(a proxy named by host) = %v, want an error naming the entry and line", err)
	}
}
