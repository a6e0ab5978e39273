// Command igdirect is a third-party channel plugin for the end-to-end tests:
// the Meta channel built on its own, outside the conversa binary, and
// installed in the plugins directory as conversa-plugin-igdirect. The trust
// tests run it untrusted, trusted and changed.
package main

import (
	"github.com/conversa/conversa/plugins/meta"
	"github.com/conversa/conversa/plugins/sdk"
)

func main() {
	sdk.Serve(sdk.Plugin{Name: "igdirect", Version: "1.0.0", Channel: meta.New()})
}
