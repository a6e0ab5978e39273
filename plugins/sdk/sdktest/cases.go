package sdktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// handshakeLine is the line go-plugin's server prints on stdout:
// CORE|APP|NET|ADDR|PROTOCOL[...].
var handshakeLine = regexp.MustCompile(`(?m)^\s*\d+\|\d+\|(unix|tcp)\|`)

// cookieCase starts the executable without the magic cookie, as a person
// running it by hand would: it must refuse, exit non-zero, and print no
// handshake.
func (r *runner) cookieCase(c *tcase) {
	cmd := r.s.Command()
	if cmd == nil {
		c.fail("Suite.Command returned no command")
		return
	}
	cmd.Env = hostEnv()
	setProcAttr(cmd)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = r.logs
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		c.errorf("cannot run the executable: %v", err)
		return
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		_ = cmd.Process.Kill()
		<-done
		c.errorf("started without %s in its environment, it was still running after 5 s (it must refuse to run and exit non-zero)", sdk.Handshake.MagicCookieKey)
		return
	}
	if cmd.ProcessState.Success() {
		c.errorf("started without %s in its environment, it exited 0 (want a non-zero exit)", sdk.Handshake.MagicCookieKey)
	}
	if handshakeLine.Match(stdout.Bytes()) {
		c.errorf("started without %s in its environment, it printed a handshake line", sdk.Handshake.MagicCookieKey)
	}
}

func (r *runner) handshakeCase() {
	begin := time.Now()
	c := &tcase{r: r}
	if err := r.restart(); err != nil {
		c.errorf("the plugin did not start: %v", err)
		r.finish("handshake", c, begin)
		return
	}
	if v := r.p.client.NegotiatedVersion(); v != sdk.ProtocolVersion {
		c.errorf("negotiated protocol version %d, want %d", v, sdk.ProtocolVersion)
	}
	if p := r.p.client.Protocol(); p != "grpc" {
		c.errorf("protocol %q, want grpc", p)
	}
	r.finish("handshake", c, begin)
}

func (r *runner) infoCase(c *tcase) {
	ctx, cancel := context.WithTimeout(r.ctx, callTimeout)
	defer cancel()
	info, err := proto.NewInfoClient(r.p.conn).Describe(ctx, &proto.InfoRequest{})
	if err != nil {
		c.errorf("Info.Describe: %s", grpcText(err))
		return
	}
	r.info = info
	r.rep.Plugin = strings.TrimSpace(info.GetName() + " " + info.GetVersion())
	if info.GetName() == "" {
		c.errorf("name is empty")
	}
	if info.GetVersion() == "" {
		c.errorf("version is empty")
	}
	if len(info.GetKinds()) == 0 {
		c.errorf("kinds is empty (want channel, assistant or both)")
	}
	seen := map[string]bool{}
	for _, k := range info.GetKinds() {
		if k != sdk.KindChannel && k != sdk.KindAssistant {
			c.errorf("kind %q is neither channel nor assistant", k)
		}
		if seen[k] {
			c.errorf("kind %q is listed twice", k)
		}
		seen[k] = true
	}
}

// fixturesCase checks that the fixtures fit the plugin's kinds, so that
// fixtures nobody runs are not mistaken for passing ones.
func (r *runner) fixturesCase() {
	if r.fx.dir == "" {
		r.record(Result{Name: "fixtures", Status: Skip, Reason: "no fixtures directory given (--fixtures DIR): only the cases that need none run"})
		return
	}
	r.runLocal("fixtures", func(c *tcase) {
		channel, assistant := r.serves(sdk.KindChannel), r.serves(sdk.KindAssistant)
		for _, d := range []struct {
			dir   string
			n     int
			needs bool
			kind  string
		}{
			{"webhooks", len(r.fx.webhooks), channel, "channel"},
			{"sends", len(r.fx.sends), channel, "channel"},
			{"profiles", len(r.fx.profiles), channel, "channel"},
			{"settings_invalid", len(r.fx.settingsInvalid), channel, "channel"},
			{"converse", len(r.fx.converse), assistant, "assistant"},
		} {
			if d.n > 0 && !d.needs {
				c.errorf("%s/ has fixtures, but the plugin serves no %s", d.dir, d.kind)
			}
		}
		if r.fx.settings == nil {
			c.errorf("settings.json is missing (required: the settings every call carries)")
		} else if _, err := r.fx.settingsJSON(r.vars()); err != nil {
			c.fail(err.Error())
		}
		if _, err := r.fx.secretStrings(r.vars()); err != nil {
			c.fail(err.Error())
		}
	})
}

func (r *runner) shutdownCase(c *tcase) {
	p := r.p
	r.p = nil
	begin := time.Now()
	// GRPCClient.Close asks the plugin to stop (plugin.GRPCController
	// Shutdown) and closes the connection.
	_ = p.rpc.Close()
	for !p.exited() && time.Since(begin) < shutdownGrace {
		time.Sleep(20 * time.Millisecond)
	}
	exited := p.exited()
	p.client.Kill()
	if !exited {
		c.errorf("still running %v after plugin.GRPCController/Shutdown (it must stop serving and exit)", shutdownGrace)
		return
	}
	if st := p.cmd.ProcessState; st != nil && !st.Success() {
		c.errorf("exited with %s after Shutdown, want 0 (%s)", st, r.logs.tail())
	}
}

// minSecretLen: shorter values are not looked for; they would turn up by
// chance.
const minSecretLen = 6

// secretsCase, run last, looks for every secret value in everything the
// plugin produced: its log output, its errors and its exchanges.
func (r *runner) secretsCase(c *tcase) {
	type secret struct{ name, value string }
	var secrets []secret
	var short []string
	add := func(name, value string) {
		if len(value) < minSecretLen {
			if value != "" {
				short = append(short, name)
			}
			return
		}
		secrets = append(secrets, secret{name, value})
	}
	if r.fx.settings != nil && r.channelInfo != nil {
		doc, err := r.fx.settingsJSON(r.vars())
		if err == nil {
			settings := map[string]any{}
			d := json.NewDecoder(bytes.NewReader(doc))
			d.UseNumber()
			_ = d.Decode(&settings)
			for _, k := range r.channelInfo.GetSecretSettings() {
				switch v := settings[k].(type) {
				case string:
					add("settings."+k, v)
				case json.Number:
					add("settings."+k, v.String())
				}
			}
		}
	}
	extra, _ := r.fx.secretStrings(r.vars())
	for i, s := range extra {
		add(fmt.Sprintf("secrets.json[%d]", i), s)
	}
	if len(secrets) == 0 {
		why := "no secret values to look for (none of a channel's secret_settings in settings.json, no secrets.json)"
		if len(short) > 0 {
			why += fmt.Sprintf(" (%s shorter than %d characters, not looked for)", strings.Join(short, ", "), minSecretLen)
		}
		c.skip(why)
		return
	}
	logs, dropped := r.logs.text()
	if dropped > 0 {
		c.errorf("the plugin logged more than %d MiB; %d bytes were not checked", maxLog>>20, dropped)
	}
	places := append([]seenText{{where: "the plugin's log output (stderr)", text: logs}}, r.seen...)
	found := 0
	for _, s := range secrets {
		where, at, n := locate(s.value, places)
		if where == nil {
			continue
		}
		found++
		if found <= 3 {
			c.errorf("the value of %s appears in %s: %s", s.name, where.where, leakContext(where.text, at, n))
		}
	}
	if found > 3 {
		c.errorf("and %d more", found-3)
	}
}

// locate finds the first place holding value in any of its forms.
func locate(value string, places []seenText) (where *seenText, at, n int) {
	for _, form := range secretForms(value) {
		for i := range places {
			if j := strings.Index(places[i].text, form); j >= 0 {
				return &places[i], j, len(form)
			}
		}
	}
	return nil, 0, 0
}

// secretForms are the ways a value may be written out: as is, escaped in
// a JSON string, escaped in a URL query.
func secretForms(v string) []string {
	forms := []string{v}
	if q := strconv.Quote(v); q[1:len(q)-1] != v {
		forms = append(forms, q[1:len(q)-1])
	}
	if q := url.QueryEscape(v); q != v {
		forms = append(forms, q)
	}
	return forms
}

// leakContext shows where a secret was found, without the secret.
func leakContext(text string, i, n int) string {
	from, to := max(0, i-60), min(len(text), i+n+40)
	s := text[from:i] + "[SECRET]" + text[i+n:to]
	return quoteShort(strings.ToValidUTF8(s, "?"))
}

// codeOf is a gRPC error's code, OK for nil.
func codeOf(err error) codes.Code { return status.Code(err) }

// callCtx is a context for one call to the plugin.
func (r *runner) callCtx(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.ctx, d)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
