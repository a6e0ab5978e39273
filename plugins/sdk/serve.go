package sdk

import (
	"os"
	"runtime/pprof"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/conversa/conversa/plugins/proto"
)

// MaxMessageBytes caps one gRPC message in either direction. grpc-go's
// default receive limit is 4 MiB, and go-plugin raises only the client's, so
// a webhook body near the server's body limit would otherwise be refused by
// the plugin.
const MaxMessageBytes = 32 << 20

// Plugin describes what a binary serves.
type Plugin struct {
	Name    string
	Version string
	// At least one of the two.
	Channel   Channel
	Assistant Assistant
}

// Serve runs the plugin until the host stops it, and returns then.
//
// It also exits when the parent process changes (the host was killed without
// a chance to stop its plugins), so a crashed host leaves no orphans even on
// systems where the host cannot ask the kernel for a parent-death signal.
func Serve(p Plugin) {
	info := &proto.PluginInfo{Name: p.Name, Version: p.Version}
	if p.Channel != nil {
		info.Kinds = append(info.Kinds, KindChannel)
	}
	if p.Assistant != nil {
		info.Kinds = append(info.Kinds, KindAssistant)
	}
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       p.Name,
		Level:      hclog.Info,
		Output:     os.Stderr,
		JSONFormat: true,
	})
	go watchParent(os.Getppid(), time.Second)
	defer profileCPU(p.Name, logger)()
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         PluginSet(info, p.Channel, p.Assistant),
		Logger:          logger,
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, ServerOptions()...)...)
		},
	})
}

// ProfileEnv names the environment variable that has a plugin write its CPU
// profile: to the variable's value followed by "." and the plugin's name,
// from its start until the host stops it. The host passes it to built-in
// plugins when it is set (`conversa bench --cpuprofile` sets it), so a
// profile of the whole product covers the plugin processes too.
const ProfileEnv = "CONVERSA_PLUGIN_CPUPROFILE"

// profileCPU starts the CPU profile ProfileEnv asks for; the function it
// returns ends it.
func profileCPU(name string, log hclog.Logger) (stop func()) {
	prefix := os.Getenv(ProfileEnv)
	if prefix == "" {
		return func() {}
	}
	f, err := os.Create(prefix + "." + name)
	if err == nil {
		if err = pprof.StartCPUProfile(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		log.Warn("no CPU profile", "error", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// window is the gRPC flow-control window a plugin's server starts with. A
// fixed one turns off grpc-go's estimate of the link's bandwidth-delay
// product, which pings the host on every data frame it receives: a frame
// each way per small call, for nothing on a local socket. It is larger than
// any message the host sends (MaxMessageBytes aside), so no call waits for
// a window update.
const window = 4 << 20

// ServerOptions are the gRPC server options Serve adds to go-plugin's:
// message-size limits both ways and fixed flow-control windows.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.InitialWindowSize(window), grpc.InitialConnWindowSize(window),
	}
}

// watchParent exits the process once its parent is gone (re-parented to init
// or a subreaper).
func watchParent(parent int, every time.Duration) {
	for range time.Tick(every) {
		if os.Getppid() != parent {
			os.Exit(2)
		}
	}
}
