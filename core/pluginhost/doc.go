// Package pluginhost launches and supervises Conversa's plugins: the
// built-in ones (the conversa binary re-executed as `conversa plugin NAME`)
// and third-party executables found in the plugins directory. Both go
// through the same go-plugin client, so the built-ins exercise the exact path
// third parties use.
//
// Each plugin has a supervisor that starts it on first use, watches for it to
// exit, restarts it with backoff, pings it, and reports its state. While a
// plugin is down, callers get an error and the engine leaves its inbox and
// outbox rows pending: nothing is lost.
package pluginhost
