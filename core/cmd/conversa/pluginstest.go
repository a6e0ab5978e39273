package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/conversa/conversa/plugins/sdk/sdktest"
)

const pluginsTestUsage = `usage: conversa plugins test PATH [--fixtures DIR]
  PATH is a plugin executable, or the name of a built-in plugin (meta, zenvia, rules, rasa)`

// pluginsTest implements `conversa plugins test`: the plugin contract
// suite against one executable, one line per case. Exit 0 when every case
// passes, 1 when one fails, 2 for a usage error.
func pluginsTest(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("plugins test", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	fixtures := fl.String("fixtures", "", "the plugin's fixtures directory")
	// PATH may come before or after the flags.
	var pos []string
	for rest := args; ; {
		if err := fl.Parse(rest); err != nil {
			fmt.Fprintf(stderr, "conversa: %v\n%s\n", err, pluginsTestUsage)
			return 2
		}
		if fl.NArg() == 0 {
			break
		}
		pos = append(pos, fl.Arg(0))
		rest = fl.Args()[1:]
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, pluginsTestUsage)
		return 2
	}
	command, err := pluginCommand(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "conversa: %v\n", err)
		return 2
	}
	if *fixtures != "" {
		if fi, err := os.Stat(*fixtures); err != nil || !fi.IsDir() {
			fmt.Fprintf(stderr, "conversa: --fixtures %s: not a directory\n", *fixtures)
			return 2
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	rep := sdktest.Run(ctx, sdktest.Suite{Command: command, Fixtures: *fixtures, Out: stdout})
	if !rep.Passed() {
		return 1
	}
	return 0
}

// pluginCommand is how the suite starts the plugin at path: the executable
// itself, or, for a built-in's name, this binary as `conversa plugin NAME`
// (as the server runs it).
func pluginCommand(path string) (func() *exec.Cmd, error) {
	fi, err := os.Stat(path)
	if err == nil {
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a file", path)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		return func() *exec.Cmd { return exec.Command(abs) }, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if _, ok := builtins[path]; !ok {
		return nil, fmt.Errorf("%s: no such file, nor a built-in plugin (have %v)", path, builtinNames())
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the conversa executable: %w", err)
	}
	return func() *exec.Cmd { return exec.Command(self, "plugin", path) }, nil
}
