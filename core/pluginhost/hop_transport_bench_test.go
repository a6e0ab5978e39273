package pluginhost

import (
	"os"
	"path/filepath"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/conversa/conversa/plugins/meta"
	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

func init() {
	// meta-plain is the Meta channel served as the SDK served it before its
	// gRPC server was tuned: go-plugin's defaults and the size limits (with
	// this SDK's channel server, so the webhook stream too).
	plugins["meta-plain"] = func() {
		ch := meta.New()
		info := &proto.PluginInfo{Name: meta.Name, Version: meta.Version, Kinds: []string{sdk.KindChannel}}
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: sdk.Handshake,
			Plugins:         sdk.PluginSet(info, ch, nil),
			GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
				opts = append(opts, grpc.MaxRecvMsgSize(sdk.MaxMessageBytes), grpc.MaxSendMsgSize(sdk.MaxMessageBytes))
				return grpc.NewServer(opts...)
			},
		})
	}
}

// BenchmarkWebhookHopTransport measures each part of the transport on its
// own: "before" is the configuration it replaced (mTLS for built-ins,
// grpc-go's estimated windows, Go's default GOGC, a call per webhook, the
// SDK's server as it was), "after" the current one, and each "after-X"
// the current one without X:
//
//	go test -run XXX -bench WebhookHopTransport -benchtime 2s -count 6 ./core/pluginhost
func BenchmarkWebhookHopTransport(b *testing.B) {
	after := defaultTransport()
	with := func(f func(*transport)) transport { tr := after; f(&tr); return tr }
	for _, bc := range []struct {
		name, plugin string
		tr           transport
	}{
		{"before", "meta-plain", transport{mtlsBuiltins: true, unary: true}},
		{"after", "meta", after},
		{"after+mtls", "meta", with(func(tr *transport) { tr.mtlsBuiltins = true })},
		{"after-windows", "meta-plain", with(func(tr *transport) { tr.windows = false })},
		{"after-gogc", "meta", with(func(tr *transport) { tr.gogc = "" })},
		{"after-gogc+400", "meta", with(func(tr *transport) { tr.gogc = "400" })},
		{"after-stream", "meta", with(func(tr *transport) { tr.unary = true })},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h, err := New(Options{Self: os.Args[0], Builtins: []string{bc.plugin}})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			h.tr = bc.tr
			benchHop(b, h, bc.plugin)
		})
	}
}

// BenchmarkWebhookHopPluginProfile is BenchmarkWebhookHop with the plugin
// process profiling itself for its first 5 s, into
// $TMPDIR/conversa-hop-plugin.prof (-cpuprofile has the host's side):
//
//	go test -run XXX -bench WebhookHopPluginProfile -benchtime 8s -cpuprofile host.prof ./core/pluginhost
//	go tool pprof -top $TMPDIR/conversa-hop-plugin.prof
func BenchmarkWebhookHopPluginProfile(b *testing.B) {
	h, err := New(Options{Self: os.Args[0], Builtins: []string{"meta-prof"}})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	benchHop(b, h, "meta-prof")
	b.Logf("the plugin's profile: %s", pluginProfile())
}

func pluginProfile() string { return filepath.Join(os.TempDir(), "conversa-hop-plugin.prof") }

func init() {
	plugins["meta-prof"] = func() {
		f, err := os.Create(pluginProfile())
		if err == nil && pprof.StartCPUProfile(f) == nil {
			time.AfterFunc(5*time.Second, func() { pprof.StopCPUProfile(); f.Close() })
		}
		plugins["meta"]()
	}
}
