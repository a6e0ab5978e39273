// Package e2e holds Conversa's end-to-end tests: they build the real binary
// once, start it on 127.0.0.1:0 with a temporary data directory, talk to it
// over HTTP like Meta, Zenvia and the console would, and watch what reaches
// fake provider servers on loopback. Plugins run as real subprocesses.
package e2e
