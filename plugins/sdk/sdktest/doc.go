// Package sdktest helps plugin authors test their plugin.
//
// Channel and Assistant serve an implementation over a real gRPC
// connection, in-process: what the host will call, minus the process.
//
// Run (and Test, its testing.T form) is the plugin contract suite, the one
// `conversa plugins test` runs: it launches a plugin executable exactly as
// Conversa does (go-plugin, Conversa's handshake, gRPC only, AutoMTLS, a
// minimal environment) and checks the handshake, Describe, health, each
// kind's calls against the author's fixtures and against hostile input,
// error classes, deadlines, a clean shutdown, and that no secret reaches
// the plugin's log output, errors or exchanges. The fixture format is in
// plugins/sdk/README.md ("Testing your plugin").
//
// The suite imports nothing of Conversa's server: a plugin's own tests can
// run it on the plugin's built executable, in any language.
package sdktest
