package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/conversa/conversa/core/agents"
	"github.com/conversa/conversa/core/pluginhost"
	"github.com/conversa/conversa/core/store"
)

const pluginsUsage = `usage:
  conversa plugins trust --config FILE NAME     trust the executable conversa-plugin-NAME as it is now
  conversa plugins untrust --config FILE NAME   stop trusting it (a running one is stopped)
  conversa plugins list --config FILE           every plugin, with its executable's sha256 and whether it is trusted
  conversa plugins test PATH [--fixtures DIR]   run the plugin contract suite against an executable or a built-in`

// pluginsCommand implements `conversa plugins trust|untrust|list`. The pins
// are kept in the database, so every node sharing it runs the same bytes.
func pluginsCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, pluginsUsage)
		return 2
	}
	sub := args[0]
	if sub == "test" {
		// Needs no configuration: it runs a plugin, not a server.
		return pluginsTest(args[1:], stdout, stderr)
	}
	flags, names := splitFlags(args[1:])
	cfg, rest, ok := loadConfig("plugins "+sub, flags, stderr)
	if !ok {
		return 2
	}
	names = append(names, rest...)
	want := 1
	if sub == "list" {
		want = 0
	}
	switch sub {
	case "trust", "untrust", "list":
	default:
		fmt.Fprintf(stderr, "conversa: unknown plugins command %q\n%s\n", sub, pluginsUsage)
		return 2
	}
	if len(names) != want {
		fmt.Fprintln(stderr, pluginsUsage)
		return 2
	}
	if want == 1 {
		if _, ok := builtins[names[0]]; ok {
			fmt.Fprintf(stderr, "conversa: %s is a built-in plugin, part of the conversa binary: it is trusted with it\n", names[0])
			return 1
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := openStore(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "conversa: database:", err)
		return 1
	}
	defer st.Close()
	pt := st.PluginTrust()
	switch sub {
	case "trust":
		return trustPlugin(ctx, st, cfg.Plugins.Dir, names[0], stdout, stderr)
	case "untrust":
		// Recorded in the audit log with the change, by whoever ran it.
		err := st.Tx(ctx, func(tx store.Tx) error {
			if err := tx.PluginTrust().Untrust(ctx, names[0]); err != nil {
				return err
			}
			return tx.Audit().Add(ctx, cliActor.Entry("plugin.untrust", names[0], ""))
		})
		if errors.Is(err, store.ErrNotFound) {
			fmt.Fprintf(stderr, "conversa: plugin %s was not trusted\n", names[0])
			return 1
		}
		if err != nil {
			fmt.Fprintln(stderr, "conversa: database:", err)
			return 1
		}
		fmt.Fprintf(stdout, "plugin %s is no longer trusted: it is not started, and a running one is stopped\n", names[0])
		return 0
	default:
		return listPlugins(ctx, pt, cfg.Plugins.Dir, stdout, stderr)
	}
}

// cliActor is who makes a change with the conversa command, for the audit
// log.
var cliActor = &store.Actor{Login: agents.CommandLine}

func trustPlugin(ctx context.Context, st store.Store, dir, name string, stdout, stderr io.Writer) int {
	path, err := pluginhost.Executable(dir, name)
	if err != nil {
		fmt.Fprintln(stderr, "conversa:", err)
		return 1
	}
	raw, err := pluginhost.Sum(path)
	if err != nil {
		fmt.Fprintln(stderr, "conversa:", err)
		return 1
	}
	sum := hex.EncodeToString(raw)
	old, err := st.PluginTrust().Pin(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		fmt.Fprintln(stderr, "conversa: database:", err)
		return 1
	}
	err = st.Tx(ctx, func(tx store.Tx) error {
		if err := tx.PluginTrust().Trust(ctx, name, sum); err != nil {
			return err
		}
		return tx.Audit().Add(ctx, cliActor.Entry("plugin.trust", name, "sha256 "+sum))
	})
	if err != nil {
		fmt.Fprintln(stderr, "conversa: database:", err)
		return 1
	}
	fmt.Fprintf(stdout, "plugin %s trusted: %s sha256 %s\n", name, path, sum)
	if old != nil && old.SHA256 != sum {
		fmt.Fprintf(stdout, "(it replaces sha256 %s, trusted %s)\n", old.SHA256, old.TrustedAt.UTC().Format(time.RFC3339))
	}
	return 0
}

func listPlugins(ctx context.Context, pt store.PluginTrust, dir string, stdout, stderr io.Writer) int {
	found, err := pluginhost.Discover(dir)
	if err != nil {
		fmt.Fprintln(stderr, "conversa:", err)
		return 1
	}
	pins, err := pt.Pins(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "conversa: database:", err)
		return 1
	}
	pinned := map[string]*store.PluginPin{}
	for _, p := range pins {
		pinned[p.Name] = p
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTRUST\tSHA256\tEXECUTABLE")
	for _, name := range builtinNames() {
		fmt.Fprintf(tw, "%s\tbuilt-in\t-\t(the conversa binary)\n", name)
	}
	var names []string
	for n := range found {
		names = append(names, n)
	}
	for n := range pinned {
		if _, ok := found[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		path, ok := found[n]
		p := pinned[n]
		switch {
		case !ok:
			fmt.Fprintf(tw, "%s\ttrusted, missing\t%s\t(no %s%s in %s)\n", n, p.SHA256, pluginhost.ExternalPrefix, n, dir)
			continue
		case builtins[n] != nil:
			fmt.Fprintf(tw, "%s\tignored: a built-in has this name\t-\t%s\n", n, path)
			continue
		}
		raw, err := pluginhost.Sum(path)
		if err != nil {
			fmt.Fprintf(tw, "%s\tunreadable\t-\t%s: %v\n", n, path, err)
			continue
		}
		sum := hex.EncodeToString(raw)
		trust := "not trusted"
		switch {
		case p != nil && p.SHA256 == sum:
			trust = "trusted " + p.TrustedAt.UTC().Format(time.RFC3339)
		case p != nil:
			trust = "changed since trusted (" + p.SHA256[:min(12, len(p.SHA256))] + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n, trust, sum, path)
	}
	tw.Flush()
	return 0
}

// splitFlags separates flags (with their values) from the other arguments,
// wherever they are: `plugins trust NAME --config F` and `plugins trust
// --config F NAME` are the same.
func splitFlags(args []string) (flags, others []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(others, args[i+1:]...)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			flags = append(flags, a)
			if !strings.Contains(a, "=") && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		default:
			others = append(others, a)
		}
	}
	return flags, others
}
