package webhooknode

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// TestOnlyTheHostMayConnect: with AutoMTLS the plugin's socket accepts
// only a client presenting the host's certificate.
func TestOnlyTheHostMayConnect(t *testing.T) {
	r := start(t, true)
	addr := r.client.ReattachConfig().Addr
	stranger := selfSigned(t)
	for name, cfg := range map[string]*tls.Config{
		"no client certificate":      {InsecureSkipVerify: true},
		"another client certificate": {InsecureSkipVerify: true, Certificates: []tls.Certificate{stranger}},
	} {
		conn, err := grpc.NewClient("unix:"+addr.String(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: "plugin"})
		cancel()
		conn.Close()
		if err == nil {
			t.Errorf("%s: the plugin answered, want the TLS handshake refused", name)
		}
	}
	if err := r.rpc.Ping(); err != nil {
		t.Errorf("the host's own connection: %v", err)
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestContractFixtures runs testdata/contract the way the contract suite
// (conversa plugins test --fixtures) reads it, so the fixtures shipped
// with the plugin are known to hold: each webhook's events, each send's
// outcome against a fake receiver, each refused setting.
func TestContractFixtures(t *testing.T) {
	r := start(t, true)
	dir, err := filepath.Abs(filepath.Join("testdata", "contract"))
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeProvider{}
	srv := newReceiver(t, fake.serve)
	load := func(path string, into any) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte("{{provider_url}}"), []byte(srv.URL))
		b = bytes.ReplaceAll(b, []byte("{{fixtures}}"), []byte(dir))
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	var settings map[string]any
	load(filepath.Join(dir, "settings.json"), &settings)
	settingsJSON, _ := json.Marshal(settings)
	integration := &proto.Integration{Id: "contract", SettingsJson: settingsJSON}
	files := func(sub string) []string {
		m, _ := filepath.Glob(filepath.Join(dir, sub, "*.json"))
		if len(m) == 0 {
			t.Fatalf("no fixtures in %s", sub)
		}
		return m
	}

	for _, path := range files("webhooks") {
		t.Run("webhooks/"+filepath.Base(path), func(t *testing.T) {
			var f struct {
				Request struct {
					Method, Path, Query string
					Headers             map[string]string
					Body                json.RawMessage
					BodyText            *string `json:"body_text"`
				}
				Sign *struct {
					Header, Algorithm, Prefix string
					SecretSetting             string `json:"secret_setting"`
				}
				Want struct {
					Authenticated *bool
					Malformed     bool
					Status        int32
					Events        []map[string]any
				}
			}
			load(path, &f)
			body := []byte(nil)
			if f.Request.BodyText != nil {
				body = []byte(*f.Request.BodyText)
			} else if len(f.Request.Body) > 0 {
				var buf bytes.Buffer
				json.Compact(&buf, f.Request.Body)
				body = buf.Bytes()
			}
			req := &proto.WebhookRequest{Integrations: []*proto.Integration{integration}, Method: or(f.Request.Method, "POST"),
				Path: or(f.Request.Path, "/webhooks/contract"), Query: f.Request.Query, Body: body}
			for k, v := range f.Request.Headers {
				req.Headers = append(req.Headers, &proto.Header{Name: k, Value: v})
			}
			if f.Sign != nil {
				if f.Sign.Algorithm != "hmac-sha256" {
					t.Fatalf("sign.algorithm %q", f.Sign.Algorithm)
				}
				sig := signed(body, settings[f.Sign.SecretSetting].(string))
				req.Headers = append(req.Headers, &proto.Header{Name: f.Sign.Header, Value: f.Sign.Prefix + strings.TrimPrefix(sig, "sha256=")})
			}
			resp, err := r.channel.HandleWebhook(ctxFor(t, 10*time.Second), req)
			if err != nil {
				t.Fatal(err)
			}
			wantAuth := f.Want.Authenticated == nil || *f.Want.Authenticated
			if resp.GetAuthenticated() != wantAuth || resp.GetMalformed() != f.Want.Malformed {
				t.Errorf("authenticated %v malformed %v (%s), want %v %v", resp.GetAuthenticated(), resp.GetMalformed(), resp.GetError(), wantAuth, f.Want.Malformed)
			}
			if f.Want.Status != 0 && resp.GetStatus() != f.Want.Status && !(f.Want.Status == 200 && resp.GetStatus() == 0) {
				t.Errorf("status %d, want %d", resp.GetStatus(), f.Want.Status)
			}
			if f.Want.Events == nil {
				return
			}
			if len(resp.GetEvents()) != len(f.Want.Events) {
				t.Fatalf("%d events, want %d: %v", len(resp.GetEvents()), len(f.Want.Events), resp.GetEvents())
			}
			for i, want := range f.Want.Events {
				got := eventFields(resp.GetEvents()[i])
				for k, v := range want {
					if k == "contents" {
						matchContents(t, i, resp.GetEvents()[i].GetContents(), v.([]any))
						continue
					}
					if got[k] != v {
						t.Errorf("events[%d].%s = %q, want %q", i, k, got[k], v)
					}
				}
			}
		})
	}

	for _, path := range files("sends") {
		t.Run("sends/"+filepath.Base(path), func(t *testing.T) {
			var f struct {
				Request  json.RawMessage
				Provider []providerAnswer
				Want     struct {
					MessageIDs      *[]string       `json:"message_ids"`
					Error           json.RawMessage `json:"error"`
					ProviderCalls   *int            `json:"provider_calls"`
					ProviderRequest *struct {
						Method, Path string
						BodyContains []string `json:"body_contains"`
					} `json:"provider_request"`
				}
			}
			load(path, &f)
			var req proto.SendRequest
			if err := protojson.Unmarshal(f.Request, &req); err != nil {
				t.Fatal(err)
			}
			req.Integration = integration
			req.NowMs = time.Now().UnixMilli()
			if req.Contact != nil && req.Contact.LastInboundMs == 0 {
				req.Contact.LastInboundMs = time.Now().Add(-time.Minute).UnixMilli()
			}
			before := len(srv.got())
			fake.set(f.Provider)
			resp, err := r.channel.Send(ctxFor(t, 10*time.Second), &req)
			if err != nil {
				t.Fatal(err)
			}
			calls := srv.got()[before:]
			if w := f.Want.MessageIDs; w != nil && strings.Join(resp.GetMessageIds(), ",") != strings.Join(*w, ",") {
				t.Errorf("message ids %v, want %v (%v)", resp.GetMessageIds(), *w, resp.GetError())
			}
			switch e := string(bytes.TrimSpace(f.Want.Error)); {
			case e == "null":
				if resp.GetError() != nil {
					t.Errorf("error %v, want none", resp.GetError())
				}
			case e != "":
				var want map[string]any
				json.Unmarshal(f.Want.Error, &want)
				ge := resp.GetError()
				if ge == nil {
					t.Fatalf("no error, want %v", want)
				}
				got := map[string]any{"code": ge.GetCode(), "retryable": ge.GetRetryable(), "refused": ge.GetRefused(),
					"reauthorize": ge.GetReauthorize(), "unknown_outcome": ge.GetUnknownOutcome()}
				for k, v := range want {
					if got[k] != v {
						t.Errorf("error.%s = %v, want %v (%v)", k, got[k], v, ge)
					}
				}
			}
			if w := f.Want.ProviderCalls; w != nil && len(calls) != *w {
				t.Errorf("%d provider calls, want %d", len(calls), *w)
			}
			if w := f.Want.ProviderRequest; w != nil {
				if len(calls) == 0 {
					t.Fatal("no provider call")
				}
				c := calls[0]
				if w.Method != "" && c.Method != w.Method || w.Path != "" && c.Path != w.Path {
					t.Errorf("provider got %s %s, want %s %s", c.Method, c.Path, w.Method, w.Path)
				}
				for _, s := range w.BodyContains {
					if !strings.Contains(string(c.Body), s) {
						t.Errorf("provider body %s lacks %s", c.Body, s)
					}
				}
			}
			if b, _ := json.Marshal(resp); bytes.Contains(b, []byte(settings["callback_token"].(string))) || bytes.Contains(b, []byte(settings["secret"].(string))) {
				t.Errorf("the response shows a secret: %s", b)
			}
		})
	}

	for _, path := range files("settings_invalid") {
		t.Run("settings_invalid/"+filepath.Base(path), func(t *testing.T) {
			var f struct {
				Settings   map[string]any
				WantFields []string `json:"want_fields"`
			}
			load(path, &f)
			b, _ := json.Marshal(f.Settings)
			resp, err := r.channel.(sdk.SettingsValidator).ValidateSettings(ctxFor(t, 10*time.Second),
				&proto.ValidateSettingsRequest{Integration: &proto.Integration{Id: "contract", SettingsJson: b}})
			if err != nil {
				t.Fatal(err)
			}
			named := map[string]bool{}
			for _, p := range resp.GetProblems() {
				named[p.GetField()] = true
			}
			for _, f := range f.WantFields {
				if !named[f] {
					t.Errorf("no problem names %s: %v", f, resp.GetProblems())
				}
			}
		})
	}
	checkLogs(t, r, settings["secret"].(string), settings["callback_token"].(string))
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func eventFields(e *proto.Event) map[string]any {
	return map[string]any{"kind": e.GetKind(), "dedupe_key": e.GetDedupeKey(), "contact_id": e.GetContactId(),
		"contact_username": e.GetContactUsername(), "contact_name": e.GetContactName(), "message_id": e.GetMessageId(),
		"reply_to": e.GetReplyTo(), "status": e.GetStatus()}
}

func matchContents(t *testing.T, i int, got []*proto.Content, want []any) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("events[%d]: %d contents, want %d: %v", i, len(got), len(want), got)
		return
	}
	for j, w := range want {
		c := got[j]
		fields := map[string]any{"type": c.GetType(), "text": c.GetText(), "url": c.GetUrl(), "mime_type": c.GetMimeType(), "emoji": c.GetEmoji(), "mid": c.GetMid()}
		for k, v := range w.(map[string]any) {
			if fields[k] != v {
				t.Errorf("events[%d].contents[%d].%s = %q, want %q", i, j, k, fields[k], v)
			}
		}
	}
}

type providerAnswer struct {
	Status  int
	Headers map[string]string
	Body    json.RawMessage
}

// fakeProvider answers each call with the next of the fixture's answers.
type fakeProvider struct {
	mu      sync.Mutex
	answers []providerAnswer
}

func (f *fakeProvider) set(a []providerAnswer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers = a
}

func (f *fakeProvider) serve(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	var a providerAnswer
	if len(f.answers) > 0 {
		a, f.answers = f.answers[0], f.answers[1:]
	} else {
		a = providerAnswer{Status: 599}
	}
	f.mu.Unlock()
	for k, v := range a.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(a.Status)
	if len(a.Body) > 0 {
		io.Copy(w, bytes.NewReader(a.Body))
	}
}
