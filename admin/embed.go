// Package admin is Conversa's web console: plain HTML, CSS and JavaScript
// embedded in the binary (no Node build step). The console talks to the
// REST API and its live events; core/server serves these files.
package admin

import "embed"

// UI holds the console: ui/index.html and ui/static/...
//
//go:embed ui
var UI embed.FS
