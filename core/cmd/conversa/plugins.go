package main

import (
	"fmt"
	"io"
	"sort"

	"github.com/conversa/conversa/plugins/meta"
	"github.com/conversa/conversa/plugins/rasa"
	"github.com/conversa/conversa/plugins/rules"
	"github.com/conversa/conversa/plugins/sdk"
	"github.com/conversa/conversa/plugins/zenvia"
)

// builtins are the plugins linked into this binary. The host runs each as
// `conversa plugin NAME`, a separate process, exactly like a third-party
// plugin.
var builtins = map[string]func() sdk.Plugin{
	"meta":   func() sdk.Plugin { return sdk.Plugin{Name: "meta", Version: version, Channel: meta.New()} },
	"zenvia": func() sdk.Plugin { return sdk.Plugin{Name: "zenvia", Version: version, Channel: zenvia.New()} },
	"rules":  func() sdk.Plugin { return sdk.Plugin{Name: "rules", Version: version, Assistant: rules.New()} },
	"rasa":   func() sdk.Plugin { return sdk.Plugin{Name: "rasa", Version: version, Assistant: rasa.New()} },
}

func builtinNames() []string {
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func servePlugin(args []string, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: conversa plugin NAME (started by the server, not by hand)")
		return 2
	}
	p, ok := builtins[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "conversa: no built-in plugin %q (have %v)\n", args[0], builtinNames())
		return 2
	}
	sdk.Serve(p())
	return 0
}
