package pluginhost

import (
	"os"
	"path/filepath"
	"runtime"
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
	// meta-workers runs calls on a fixed set of goroutines rather than one
	// new goroutine per call.
	plugins["meta-workers"] = func() {
		ch := meta.New()
		info := &proto.PluginInfo{Name: meta.Name, Version: meta.Version, Kinds: []string{sdk.KindChannel}}
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: sdk.Handshake,
			Plugins:         sdk.PluginSet(info, ch, nil),
			GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
				opts = append(opts, sdk.ServerOptions()...)
				return grpc.NewServer(append(opts, grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))))...)
			},
		})
	}
	// meta-plain is the Meta channel served as the SDK served it before its
	// gRPC server was tuned: go-plugin's defaults and the size limits.
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
// own, against the configuration it replaced ("before": mTLS for
// built-ins, grpc-go's estimated windows, Go's default GOGC):
//
//	go test -run XXX -bench WebhookHopTransport -benchtime 3s -count 6 ./core/pluginhost
func BenchmarkWebhookHopTransport(b *testing.B) {
	before := transport{mtlsBuiltins: true, unary: true}
	for _, bc := range []struct {
		name, plugin string
		tr           transport
	}{
		{"before", "meta-plain", before},
		{"mtls-off", "meta-plain", transport{unary: true}},
		{"windows", "meta", transport{windows: true, unary: true}},
		{"gogc=200", "meta", transport{windows: true, gogc: "200", unary: true}},
		{"gogc=400", "meta", transport{windows: true, gogc: "400", unary: true}},
		{"workers", "meta-workers", transport{windows: true, gogc: "400", unary: true}},
		{"stream", "meta", transport{windows: true, unary: false}},
		{"after", "meta", defaultTransport()},
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
// process profiling itself for its first 10 s, into
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
			time.AfterFunc(10*time.Second, func() { pprof.StopCPUProfile(); f.Close() })
		}
		plugins["meta"]()
	}
}
