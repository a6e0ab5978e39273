package e2e

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The secrets at rest, seen from outside: the envelope's format is the one
// core/secrets documents, re-implemented here so the test does not trust
// the code it checks.

// sharedKey is a CONVERSA_SECRET_KEY setting with a new random key, for
// the nodes that share one database.
func sharedKey(t testing.TB) string {
	t.Helper()
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	return "CONVERSA_SECRET_KEY=" + base64.StdEncoding.EncodeToString(raw)
}

// keyText is the server's key in base64: CONVERSA_SECRET_KEY when it runs
// with one, else its key file's.
func (s *server) keyText() string {
	s.t.Helper()
	for _, e := range s.env {
		if k, ok := strings.CutPrefix(e, "CONVERSA_SECRET_KEY="); ok {
			return k
		}
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "data", "secret.key"))
	if err != nil {
		s.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// keyIDOf is the id a key (base64) has in the envelopes.
func keyIDOf(t testing.TB, text string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(raw) != 32 {
		t.Fatalf("key %q is not 32 bytes in base64", text)
	}
	h := sha256.Sum256(append([]byte("conversa secret key id\x00"), raw...))
	return hex.EncodeToString(h[:4])
}

// decrypt opens a stored secret of an integration's setting with the
// server's key.
func (s *server) decrypt(integration, setting, value string) string {
	s.t.Helper()
	raw, _ := base64.StdEncoding.DecodeString(s.keyText())
	parts := strings.SplitN(value, ":", 4)
	if len(parts) != 4 || parts[0] != "enc" || parts[1] != "v1" || parts[2] != keyIDOf(s.t, s.keyText()) {
		s.t.Fatalf("%s.%s = %q, not sealed by the server's key", integration, setting, value)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[3])
	block, _ := aes.NewCipher(raw)
	gcm, _ := cipher.NewGCM(block)
	if err != nil || len(b) < gcm.NonceSize() {
		s.t.Fatalf("%s.%s = %q: not base64url of nonce and ciphertext", integration, setting, value)
	}
	plain, err := gcm.Open(nil, b[:gcm.NonceSize()], b[gcm.NonceSize():],
		[]byte("integration\x00"+integration+"\x00setting\x00"+setting))
	if err != nil {
		s.t.Fatalf("%s.%s does not decrypt: %v", integration, setting, err)
	}
	return string(plain)
}

// storedSettings reads every integration's settings as the database holds
// them.
func (s *server) storedSettings() map[string]string {
	s.t.Helper()
	rows, err := s.db().Query(`SELECT id, settings FROM integrations`)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, settings string
		rows.Scan(&id, &settings)
		out[id] = settings
	}
	return out
}

var envelope = regexp.MustCompile(`"enc:v1:([0-9a-f]{8}):[A-Za-z0-9_-]+"`)

// sealedBy lists the ids of the keys the stored secrets were sealed with.
func (s *server) sealedBy() map[string]int {
	ids := map[string]int{}
	for _, settings := range s.storedSettings() {
		for _, m := range envelope.FindAllStringSubmatch(settings, -1) {
			ids[m[1]]++
		}
	}
	return ids
}

// serveFails runs `conversa serve` in srv's directory, expecting it to stop
// at start; it returns what it printed and its exit code. A server that
// starts instead is killed and the test fails.
func serveFails(t *testing.T, dir, config string, env ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	watchSources()
	cmd := exec.CommandContext(ctx, binary, "serve", "--config", config)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	for {
		select {
		case <-done:
			return out.String(), cmd.ProcessState.ExitCode()
		case <-time.After(50 * time.Millisecond):
			if strings.Contains(out.String(), "listening on") {
				cmd.Process.Signal(syscall.SIGTERM)
				<-done
				t.Fatalf("conversa started, want it refused:\n%s", out.String())
			}
		}
	}
}

// Every secret the channels hold, configured with values found nowhere
// else, then traffic through both channels (webhooks, handshakes, sends
// that fail and are retried, an integration created and edited through the
// API): none of them is in the database files or in anything the server
// printed.
func TestSecretsAreNeitherStoredNorLoggedInClear(t *testing.T) {
	old := syscall.Umask(0o022) // the modes below come from conversa, not the machine
	defer syscall.Umask(old)
	graph := newFakeGraph(t)
	zenvia := newFakeZenvia(t)
	const (
		fbAccount = "17841400555666777"
		// Distinctive: found in no fixture, no id and no other secret.
		metaAccess, metaApp, metaVerify = "sEcMetaAccess7Qx2Lp", "sEcMetaApp9Zr4Wd", "sEcMetaVerify3Wq8Kt"
		fbAccess, fbApp, fbVerify       = "sEcFbAccess5Lm2Hv", "sEcFbApp8Kp1Ns", "sEcFbVerify6Hs5Xe"
		zenAPI, zenUser, zenHook        = "sEcZenApi4Rv6Tb", "sEcZenUser2Nb1Qa", "sEcZenHook7Jc3Ym"
		apiToken                        = "sEcApiCreated1Gh9Pw"
		password                        = "sEcBossPassword0Fz"
	)
	srv := newServer(t, `
[server]
listen = "127.0.0.1:0"
# The integration made through the API below points at the local fake.
allow_private_urls = true

[storage]
path = "{{DIR}}/data/conversa.db"

[scripts]
dir = "{{DIR}}/scripts"

[plugins]
dir = "{{DIR}}/plugins"

[[integrations]]
id = "ig-meta"
name = "Instagram login"
channel = "meta"
assistant = "demo"
[integrations.settings]
account_id = "`+businessID+`"
access_token = "`+metaAccess+`"
app_secret = "`+metaApp+`"
verify_token = "`+metaVerify+`"
graph_url = "`+graph.URL+`"

[[integrations]]
id = "ig-fb"
name = "Facebook login"
channel = "meta"
assistant = "demo"
[integrations.settings]
account_id = "`+fbAccount+`"
login = "facebook"
access_token = "`+fbAccess+`"
app_secret = "`+fbApp+`"
verify_token = "`+fbVerify+`"
graph_url = "`+graph.URL+`"

[[integrations]]
id = "ig-zenvia"
name = "Zenvia"
channel = "zenvia"
assistant = "demo"
[integrations.settings]
sender_id = "`+zenviaSender+`"
api_token = "`+zenAPI+`"
api_url = "`+zenvia.URL+`"
webhook_username = "`+zenUser+`"
webhook_token = "`+zenHook+`"
`)
	srv.agentsAdd("boss", "admin", password)
	admin := srv.signIn("boss", password)
	mac := hmac.New(sha256.New, []byte(fbApp))
	mac.Write([]byte(fbAccess))
	proof := hex.EncodeToString(mac.Sum(nil))

	// The handshakes, right and wrong.
	for id, token := range map[string]string{"ig-meta": metaVerify, "ig-fb": fbVerify} {
		if status, _ := srv.do("GET", "/webhooks/"+id+"?hub.mode=subscribe&hub.verify_token="+token+"&hub.challenge=42", nil, nil); status != 200 {
			t.Errorf("%s handshake = %d, want 200", id, status)
		}
		srv.do("GET", "/webhooks/"+id+"?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=42", nil, nil)
	}
	// Messages to both Meta accounts; the first sends fail and are retried.
	graph.setSendError(`{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","is_transient":true,"code":2}}`)
	now := time.Now()
	if status, b := srv.postMeta("ig-meta", metaApp, metaText(customerA, "mid-sec-1", "oi", now)); status != 200 {
		t.Fatalf("ig-meta webhook = %d %s", status, b)
	}
	fbBody := bytes.ReplaceAll(metaText("7425819036458299", "mid-sec-2", "olá", now), []byte(businessID), []byte(fbAccount))
	if status, b := srv.postMeta("ig-meta", fbApp, fbBody); status != 200 { // one callback URL, routed by account
		t.Fatalf("ig-fb webhook = %d %s", status, b)
	}
	srv.postMeta("ig-meta", "not-the-secret", metaText(customerA, "mid-sec-3", "forged", now))
	eventually(t, "failed attempts at the Graph API", func() bool { return len(graph.sends()) >= 2 })
	graph.setSendError("")
	eventually(t, "both replies delivered", func() bool { return graph.delivered() >= 2 })
	// Zenvia: one send refused by a 500, then accepted.
	zenvia.failNext(zenviaAnswer{status: 500, body: `{"code":"INTERNAL_ERROR","message":"boom"}`})
	if status, b := srv.postZenvia(zenviaText(t, "oi"), zenUser, zenHook); status != 200 {
		t.Fatalf("zenvia webhook = %d %s", status, b)
	}
	srv.postZenvia(zenviaText(t, "forged"), zenUser, "wrong")
	waitSends(t, zenvia, 1)

	// An integration made and edited in the console (the API it uses).
	var created struct {
		Settings map[string]any `json:"settings"`
		Webhook  struct {
			Headers map[string]string `json:"headers"`
		} `json:"webhook"`
	}
	if status := srv.api("POST", "/api/v1/integrations", admin, map[string]any{"id": "ig-api", "name": "API", "channel": "zenvia",
		"settings": map[string]any{"sender_id": "api-sender", "api_token": apiToken, "api_url": zenvia.URL}}, &created); status != 201 {
		t.Fatalf("POST integration = %d", status)
	}
	if status := srv.api("PUT", "/api/v1/integrations/ig-api", admin, map[string]any{"name": "API 2", "channel": "zenvia",
		"settings": created.Settings}, nil); status != 200 {
		t.Fatalf("PUT integration = %d", status)
	}
	srv.api("GET", "/api/v1/integrations", admin, nil, nil)
	srv.settle()

	secrets := map[string]string{
		"meta access_token":         metaAccess,
		"meta app_secret":           metaApp,
		"meta verify_token":         metaVerify,
		"facebook access_token":     fbAccess,
		"facebook app_secret":       fbApp,
		"facebook verify_token":     fbVerify,
		"facebook appsecret_proof":  proof,
		"zenvia api_token":          zenAPI,
		"zenvia webhook_username":   zenUser,
		"zenvia webhook_token":      zenHook,
		"API-made api_token":        apiToken,
		"API-made webhook_token":    created.Webhook.Headers["AuthenticationToken"],
		"API-made webhook_username": created.Webhook.Headers["Username"],
	}
	inDB := map[string]string{"admin password": password, "session token": admin}
	for k, v := range secrets {
		if v == "" {
			t.Fatalf("%s is empty: the test lost a value", k)
		}
		inDB[k] = v
	}
	db := filepath.Join(srv.dir, "data", "conversa.db")
	grepFiles := func(when string) {
		t.Helper()
		for _, f := range []string{db, db + "-wal", db + "-shm"} {
			b, err := os.ReadFile(f)
			if err != nil {
				if when == "running" && !strings.HasSuffix(f, "-shm") {
					t.Errorf("%s: %v", f, err)
				}
				continue
			}
			for name, v := range inDB {
				if bytes.Contains(b, []byte(v)) {
					t.Errorf("%s (%s) holds the %s in clear", filepath.Base(f), when, name)
				}
			}
		}
	}
	grepFiles("running")

	// What is stored decrypts, with the key, to what was configured.
	if got := srv.settingOf("ig-fb", "app_secret"); got != fbApp {
		t.Errorf("ig-fb app_secret decrypts to %q, want %q", got, fbApp)
	}
	if got := srv.settingOf("ig-zenvia", "webhook_token"); got != zenHook {
		t.Errorf("ig-zenvia webhook_token decrypts to %q, want %q", got, zenHook)
	}
	if got := srv.settingOf("ig-meta", "graph_url"); got != graph.URL {
		t.Errorf("ig-meta graph_url = %q, want it stored as given (not a secret)", got)
	}
	// Private files: the data directory, the database and its key.
	for path, want := range map[string]os.FileMode{
		filepath.Join(srv.dir, "data"): 0o700, db: 0o600, db + "-wal": 0o600, db + "-shm": 0o600,
		filepath.Join(srv.dir, "data", "secret.key"): 0o600,
	} {
		if info, err := os.Stat(path); err != nil || info.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %04o", path, info.Mode().Perm(), err, want)
		}
	}

	srv.stop() // the WAL goes into the file
	grepFiles("stopped")
	logs := srv.logs.String() + srv.stdout.String()
	if !strings.Contains(logs, `msg="webhook ready" integration=ig-meta`) {
		t.Errorf("the log has no webhook ready line for ig-meta:\n%s", logs)
	}
	for name, v := range secrets {
		if strings.Contains(logs, v) {
			t.Errorf("the server's output holds the %s", name)
		}
	}
}

// A database whose secrets another key sealed is not served: the start
// stops and says which key it needs, never decrypting into garbage nor
// making a new key over the old one.
func TestWrongSecretKeyStopsTheStart(t *testing.T) {
	graph := newFakeGraph(t)
	srv := newServer(t, metaConfig(graph.URL, ""))
	srv.stop()
	keyFile := filepath.Join(srv.dir, "data", "secret.key")
	orig := srv.keyText()
	id := keyIDOf(t, orig)
	if got := srv.sealedBy(); len(got) != 1 || got[id] == 0 {
		t.Fatalf("stored secrets sealed by %v, want all by the key file's key %s", got, id)
	}

	other := strings.TrimPrefix(sharedKey(t), "CONVERSA_SECRET_KEY=")
	if err := os.WriteFile(keyFile, []byte(other+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := serveFails(t, srv.dir, srv.config)
	if code != 1 || !strings.Contains(out, "encrypted with key "+id) || !strings.Contains(out, keyIDOf(t, other)) ||
		!strings.Contains(out, "data/secret.key") {
		t.Errorf("start with another key = exit %d:\n%s\nwant exit 1 naming the key needed (%s), the one found and its file", code, out, id)
	}
	out, code = serveFails(t, srv.dir, srv.config, sharedKey(t))
	if code != 1 || !strings.Contains(out, "encrypted with key "+id) || !strings.Contains(out, "CONVERSA_SECRET_KEY") {
		t.Errorf("start with another CONVERSA_SECRET_KEY = exit %d:\n%s\nwant exit 1 naming the variable", code, out)
	}

	os.Remove(keyFile)
	out, code = serveFails(t, srv.dir, srv.config)
	if code != 1 || !strings.Contains(out, "no key file at data/secret.key") || !strings.Contains(out, id) {
		t.Errorf("start without the key file = exit %d:\n%s\nwant exit 1 saying the key file %s is missing", code, out, id)
	}
	if _, err := os.Stat(keyFile); err == nil {
		t.Error("a start without the key file made a new one, which cannot open the stored secrets")
	}

	// The right key, from the environment, opens them.
	srv.env = append(srv.env, "CONVERSA_SECRET_KEY="+orig)
	srv.start()
	if status, _ := srv.postMeta("ig-meta", metaSecret, metaText(customerA, "mid-key-1", "oi", time.Now())); status != 200 {
		t.Errorf("webhook with the key from CONVERSA_SECRET_KEY = %d, want 200", status)
	}
	eventually(t, "the reply", func() bool { return graph.delivered() > 0 })
}

// Nodes sharing a PostgreSQL database share its key: a node started with
// another one, or with none, is refused.
func TestNodesSharingADatabaseNeedItsKey(t *testing.T) {
	graph := newFakeGraph(t)
	c := newCluster(t, 1, func(db string) string { return clusterConfig(graph.URL, db, "") })
	id := keyIDOf(t, c.nodes[0].keyText())
	// PostgreSQL holds them encrypted too.
	rows := c.table(`SELECT id, settings FROM integrations`)
	if len(rows) == 0 {
		t.Fatal("no integration in PostgreSQL")
	}
	for _, row := range rows {
		if strings.Contains(row[1], metaSecret) || strings.Contains(row[1], "token-abc") || strings.Contains(row[1], "verify-me") ||
			!strings.Contains(row[1], `"enc:v1:`+id+`:`) {
			t.Errorf("integration %s is stored in PostgreSQL as %s, want its secrets encrypted with key %s", row[0], row[1], id)
		}
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "conversa.toml")
	body := strings.ReplaceAll(clusterConfig(graph.URL, c.dbURL, ""), "{{DIR}}", dir)
	if err := os.WriteFile(config, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := serveFails(t, dir, config, sharedKey(t))
	if code != 1 || !strings.Contains(out, "encrypted with key "+id) || !strings.Contains(out, "every node sharing a database needs the same key") {
		t.Errorf("a second node with another key = exit %d:\n%s\nwant exit 1 naming key %s", code, out, id)
	}
	out, code = serveFails(t, dir, config)
	if code != 1 || !strings.Contains(out, "no key file") {
		t.Errorf("a second node without a key = exit %d:\n%s\nwant exit 1 asking for the key file", code, out)
	}
}
