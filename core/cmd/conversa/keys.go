package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"syscall"

	"github.com/conversa/conversa/core/engine"
	"github.com/conversa/conversa/core/secrets"
)

const keysUsage = "usage: conversa keys rotate --config FILE [--new-key-file PATH]"

// keysCommand implements `conversa keys rotate`: every stored secret is
// encrypted again under a new key, in one transaction, and the new key
// takes the key file's place; the old one is kept beside it (backups of
// the database made before need it). Run it with the server stopped (every
// node).
func keysCommand(args []string, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintln(stderr, "conversa keys rotate:", fmt.Sprintf(format, a...))
		return 1
	}
	if len(args) == 0 || args[0] != "rotate" {
		fmt.Fprintln(stderr, keysUsage)
		return 2
	}
	flags := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	flags.SetOutput(stderr)
	cfgPath := flags.String("config", "", "configuration file (for the database and [security] key_file)")
	newKeyFile := flags.String("new-key-file", "", "the new key: this file's, or a new one written there when it does not exist")
	if err := flags.Parse(args[1:]); err != nil {
		return 2
	}
	if flags.NArg() > 0 {
		return fail("unexpected argument %q (%s)", flags.Arg(0), keysUsage)
	}
	cfgArgs := []string{}
	if *cfgPath != "" {
		cfgArgs = []string{"--config", *cfgPath}
	}
	cfg, _, ok := loadConfig("keys rotate", cfgArgs, stderr)
	if !ok {
		return 1
	}
	path, env := cfg.Security.KeyFile, os.Getenv(secrets.EnvVar)
	cur, _, err := secrets.Load(path, env, false)
	if errors.Is(err, fs.ErrNotExist) {
		return fail("there is no key file at %s (and %s is not set): nothing was encrypted yet", path, secrets.EnvVar)
	}
	if err != nil {
		return fail("%v", err)
	}
	// The new key is on disk before the database changes: whatever stops
	// this command, the key the database needs exists.
	next := *newKeyFile
	if next == "" {
		if env != "" {
			return fail("the current key comes from %s: give --new-key-file PATH for the new one", secrets.EnvVar)
		}
		next = path + ".new" // from an interrupted run, resumed
	}
	to, err := secrets.ReadFile(next)
	if errors.Is(err, fs.ErrNotExist) {
		var raw []byte
		if raw, err = secrets.Generate(); err == nil {
			if err = secrets.WriteFile(next, raw); err == nil {
				to, err = secrets.New(raw, next)
			}
		}
	}
	if err != nil {
		return fail("%v", err)
	}
	if to.ID() == cur.ID() {
		return fail("%s holds the current key (%s): give a new one", next, cur.ID())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := openStore(ctx, cfg)
	if err != nil {
		return fail("database: %v", err)
	}
	defer st.Close()
	backup := ""
	if env == "" {
		backup = backupPath(path, cur.ID())
		if err := os.Link(path, backup); err != nil && !errors.Is(err, fs.ErrExist) {
			if err := secrets.CopyFile(path, backup); err != nil {
				return fail("keeping the old key: %v", err)
			}
		}
	}
	n, err := engine.RotateSecrets(ctx, st, cur, to)
	if err != nil {
		return fail("nothing was changed: %v", err)
	}
	if env != "" {
		fmt.Fprintf(stdout, "%d secrets re-encrypted under key %s, which is in %s.\n"+
			"Set %s to its content on every node before starting them; keep the old key (%s) for the backups made before.\n",
			n, to.ID(), next, secrets.EnvVar, cur.ID())
		return 0
	}
	if next == path+".new" {
		err = os.Rename(next, path)
	} else {
		err = secrets.CopyFile(next, path)
	}
	if err != nil {
		return fail("the database now needs key %s, in %s, but it could not be put at %s: %v; move it there by hand",
			to.ID(), next, path, err)
	}
	fmt.Fprintf(stdout, "%d secrets re-encrypted under key %s, now in %s.\n"+
		"The old key (%s) is kept in %s: the backups made before need it.\n"+
		"Start the server; with several nodes, copy %s to each first.\n",
		n, to.ID(), path, cur.ID(), backup, path)
	return 0
}
