// Package webhooknode holds the Go tests of conversa-plugin-webhook, the
// generic webhook channel written in Node.js (plugin.js beside this file).
// The tests start the script as Conversa does, through go-plugin with
// automatic mutual TLS, and call it over gRPC; they need node and the
// plugin's node_modules (npm ci), and are skipped without them unless
// CONVERSA_NODE_TESTS=required.
package webhooknode
