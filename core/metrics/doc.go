// Package metrics is what GET /metrics shows: Conversa's own Prometheus
// registry (prometheus/client_golang), with the Go runtime's and the
// process's collectors, counters and histograms fed by the server, the
// engine, the plugin host and the scripts, and gauges read at scrape time.
//
// Label sets are bounded by what an operator configured: an integration
// label is a configured integration's id (Unknown for any other id a request
// names), a plugin label a known plugin, a hook label one of the three hooks.
package metrics
