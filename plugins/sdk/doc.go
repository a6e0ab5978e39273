// Package sdk is what a Conversa plugin imports: the handshake, the Channel
// and Assistant interfaces, the gRPC adapters that carry them across the
// process boundary, and Serve, which turns a binary into a plugin.
//
// A plugin is a separate executable that Conversa launches with go-plugin.
// It serves one or both kinds:
//
//	func main() {
//		sdk.Serve(sdk.Plugin{Name: "echo", Version: "1.0.0", Assistant: echo{}})
//	}
//
// A channel written in Go embeds ChannelBase, which holds what every channel
// shares (the HTTP client whose calls reach the delivery log, the clock, the
// logger, and the frame around Send and CheckSend), and reports what is
// wrong with an integration's settings as Problems, both when the operator
// saves them (ValidateSettings) and when a send is refused over them.
//
// Plugins are stateless per call: every call carries the settings it needs,
// so the host may restart a plugin at any time without losing anything.
//
// A plugin must never write to standard output before Serve: go-plugin reads
// the handshake line from there. Log to standard error (Serve sets up an
// hclog JSON logger there, which the host bridges into its own log).
package sdk
