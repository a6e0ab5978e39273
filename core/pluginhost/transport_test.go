package pluginhost

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

func init() {
	plugins["env"] = func() { sdk.Serve(sdk.Plugin{Name: "env", Version: "0.0.1", Assistant: envAssistant{}}) }
}

// envAssistant answers with what its environment says of the transport.
type envAssistant struct{}

func (envAssistant) Describe(context.Context) (*proto.AssistantInfo, error) {
	return &proto.AssistantInfo{Name: "env"}, nil
}

func (envAssistant) Converse(context.Context, *proto.ConverseRequest) (*proto.ConverseResponse, error) {
	tls := "plain"
	if os.Getenv("PLUGIN_CLIENT_CERT") != "" {
		tls = "mtls"
	}
	text := fmt.Sprintf("%s GOGC=%s GOMAXPROCS=%s threads=%d", tls, os.Getenv("GOGC"), os.Getenv("GOMAXPROCS"), runtime.GOMAXPROCS(0))
	return &proto.ConverseResponse{Replies: []*proto.Content{{Type: "text", Text: text}}}, nil
}

// Built-ins (the host's own executable, on a socket only its user can
// reach) are spoken to without TLS and run with the collector set for
// them and on a quarter of the host's threads; a third-party plugin always
// gets mutual TLS, and Go's defaults.
func TestTransportOfBuiltinsAndThirdParties(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "third", serving("env"), 0o755)
	h, _ := newHost(t, dir, "env")
	tr := defaultTransport()
	want := fmt.Sprintf("plain GOGC=%s GOMAXPROCS=%d threads=%d", tr.gogc, tr.procs, tr.procs)
	if got, err := converse(t, h, "env", "?"); err != nil || got != want {
		t.Errorf("the built-in's transport: %q, %v; want %q", got, err, want)
	}
	got, err := converse(t, h, "third", "?")
	if err != nil || !strings.HasPrefix(got, "mtls GOGC= GOMAXPROCS= threads=") {
		t.Errorf("the third-party plugin's transport: %q, %v; want mtls and Go's defaults", got, err)
	}
}

func TestPluginProcs(t *testing.T) {
	for host, want := range map[int]int{1: 1, 2: 1, 4: 1, 7: 1, 8: 2, 16: 4, 64: 16} {
		if got := pluginProcs(host); got != want {
			t.Errorf("pluginProcs(%d) = %d, want %d", host, got, want)
		}
	}
}

// A signed Meta webhook through the real Meta plugin process, on the
// webhook stream and as a call of its own, comes back as the same events.
func TestWebhookThroughThePlugin(t *testing.T) {
	for _, unary := range []bool{false, true} {
		hs := newHarness(t, Options{Builtins: []string{"meta"}}, nil)
		hs.tr.unary = unary
		ch, err := hs.Channel("meta")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ch.HandleWebhook(context.Background(), hopRequest(t))
		if err != nil || !resp.Authenticated || len(resp.Events) != 1 {
			t.Fatalf("unary %v: HandleWebhook = %+v, %v", unary, resp, err)
		}
		ev := resp.Events[0]
		if ev.Kind != "message" || ev.ContactID != "7425819036458213" || ev.Integration != "ig" ||
			len(ev.Contents) != 1 || !strings.HasPrefix(ev.Contents[0].Text, "Hi! Is the blue jacket") ||
			!strings.Contains(hopBody, string(ev.Raw)) {
			t.Errorf("unary %v: event %+v", unary, ev)
		}
		bad := hopRequest(t)
		bad.Body = append([]byte(nil), bad.Body...)
		bad.Body[len(bad.Body)-2] = ' '
		if resp, err := ch.HandleWebhook(context.Background(), bad); err != nil || resp.Authenticated || len(resp.Events) != 0 {
			t.Errorf("unary %v: a body that does not match its signature = %+v, %v; want refused", unary, resp, err)
		}
	}
}
