package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/conversa/conversa/core/config"
	"github.com/conversa/conversa/core/scripting"
)

// scriptsCommand is `conversa scripts test --config FILE DIR`: the case files
// in DIR run against the configured scripts, loaded as the server loads them
// (the [scripts] dir, the built-in defaults for what it lacks).
func scriptsCommand(args []string, stdout, stderr io.Writer) int {
	const use = "usage: conversa scripts test --config FILE DIR"
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprintln(stderr, use)
		return 2
	}
	fs := flag.NewFlagSet("scripts test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (TOML); built-in defaults when omitted")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, use)
		return 2
	}
	dir := fs.Arg(0)
	cfg := config.Default()
	if *path != "" {
		var err error
		if cfg, err = config.Load(*path); err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
	}
	e, err := scripting.New(scripting.Options{Dir: cfg.Scripts.Dir,
		Timeout: time.Duration(cfg.Scripts.TimeoutMS) * time.Millisecond, Logger: slog.New(slog.DiscardHandler), PoolSize: 1})
	if err != nil {
		fmt.Fprintln(stderr, "conversa: scripts:", err)
		return 2
	}
	defer e.Close()
	results, err := e.TestCasesDir(context.Background(), dir)
	if err != nil {
		fmt.Fprintf(stderr, "conversa: cannot read the case files: %v\n", err)
		return 2
	}
	if len(results) == 0 {
		fmt.Fprintf(stdout, "%s: no case files (*.json)\n", dir)
		return 1
	}
	failed := 0
	for _, r := range results {
		if r.OK {
			fmt.Fprintf(stdout, "%s: ok\n", r.File)
			continue
		}
		failed++
		fmt.Fprintf(stdout, "%s: FAIL %s\n", r.File, r.Problem)
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "%d of %d case files failed\n", failed, len(results))
		return 1
	}
	fmt.Fprintf(stdout, "all %d case files pass\n", len(results))
	return 0
}
