// Package pluginhost launches and supervises Conversa's plugins: the
// built-in ones (the conversa binary re-executed as `conversa plugin NAME`)
// and third-party executables found in the plugins directory
// (conversa-plugin-NAME). Both go through the same go-plugin client, so the
// built-ins exercise the exact path third parties use.
//
// # Supervision
//
// Each plugin has a supervisor: one goroutine, started by the plugin's first
// use (a call, or Host.Start), that starts the process, watches it and
// restarts it until the host closes. Only that goroutine starts the plugin;
// callers that arrive during a start wait for it within their context, and
// nothing that reports state (Statuses, Availability) ever waits for a
// process. The fork itself happens on one locked OS thread (the parent-death
// signal is tied to it); the handshake is waited for elsewhere, so a plugin
// slow to start delays no other.
//
//   - Crash detection: the process is polled every 100 ms, and an RPC that
//     fails with codes.Unavailable on an exited process is reported at once.
//   - Health: every HealthEvery (5 s) a running plugin gets a gRPC health
//     check bounded by HealthTimeout (2 s). After 2 failures in a row the
//     process is considered wedged, killed (SIGKILL) and restarted.
//   - Restarts: a plugin that had run stably (2 s or more) is restarted at
//     once. Quick crashes (less than 2 s after the start) and failed starts
//     in a row back off 250 ms, 500 ms, 1 s, ... up to 30 s, retried in the
//     background forever: a third-party executable added, fixed or replaced
//     later is picked up by the next attempt, since its path is resolved
//     again at every attempt.
//   - States: stopped (not started yet, or the host is closing), running,
//     restarting (down, being retried), failing (3 or more quick crashes or
//     failed starts in a row; still retried), untrusted (a third-party
//     executable without a pin, or that does not match it: not started; see
//     trust.go).
//     Options.OnChange hears every change, in order, without a lock held.
//
// While a plugin is down its calls fail at once with a *DownError, whose
// NotAttempted method tells the engine the request never reached the plugin:
// it leaves its inbox and outbox rows pending and retries them when the
// plugin is back, and nothing is lost. An error from an RPC that was made has
// no NotAttempted: the plugin may have acted on it.
//
// A name the host does not know makes it read the plugins directory again
// (at most once a second), so an executable added after start-up is found.
//
// # Transport
//
// A webhook costs one message each way on the channel's HandleWebhooks
// stream (plugins/sdk), opened once per process, rather than a gRPC call of
// its own; a plugin that does not serve the stream gets HandleWebhook
// calls. Send and Profile travel the same way on the channel's Calls
// stream, and Converse on the assistant's Converses stream, each falling
// back to calls of its own for a plugin without it. Describe is asked once per process (the engine caches it), so a
// webhook is nothing else. Built-in plugins are reached without TLS: they
// are this executable, on a unix socket in a directory go-plugin makes
// with mode 0700, which only a process of the host's user can reach, and
// such a process could read the host's memory and database anyway.
// Third-party plugins always get go-plugin's AutoMTLS. Both ends fix their
// flow-control windows (grpc-go's estimate pings on every call), and
// built-ins run with a GOGC that trades a few MB for less collection, and
// on a quarter of the host's threads (see transport in host.go;
// hop_bench_test.go measures each part).
//
// # The boundary
//
// Host.Channel and Host.Assistant return the Go interfaces of contract.go,
// whose requests and responses are plain Go values (core/model's Content,
// Event and Contact where they fit). Protobuf messages are built and read
// only in this package (convert.go), which also stands in for the optional
// calls a plugin lacks (CheckSend: no objection; Action: unsupported;
// ValidateSettings: no problems). The engine and the server never import
// plugins/proto; boundary_test.go keeps it so.
package pluginhost
