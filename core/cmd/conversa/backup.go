package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/conversa/conversa/core/secrets"
	"github.com/conversa/conversa/core/store/sqlite"
)

const backupUsage = "usage: conversa backup --config FILE --to PATH [--force]"

// backupCommand implements `conversa backup`: a consistent copy of the
// install's SQLite database, taken while the server runs (see
// sqlite.Backup). PostgreSQL has its own tools for this.
func backupCommand(args []string, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintln(stderr, "conversa backup:", fmt.Sprintf(format, a...))
		return 1
	}
	flags := flag.NewFlagSet("backup", flag.ContinueOnError)
	flags.SetOutput(stderr)
	cfgPath := flags.String("config", "", "configuration file (for the database path)")
	to := flags.String("to", "", "the file to write the copy to")
	force := flags.Bool("force", false, "replace the file if it exists")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() > 0 {
		return fail("unexpected argument %q (%s)", flags.Arg(0), backupUsage)
	}
	if *to == "" {
		return fail("--to is required (%s)", backupUsage)
	}
	cfgArgs := []string{}
	if *cfgPath != "" {
		cfgArgs = []string{"--config", *cfgPath}
	}
	cfg, _, ok := loadConfig("backup", cfgArgs, stderr)
	if !ok {
		return 1
	}
	if cfg.Storage.Postgres() {
		return fail("the database is PostgreSQL ([storage] url): back it up with pg_dump (see README.md, \"Backup and restore\")")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := sqlite.Backup(ctx, cfg.Storage.Path, *to, *force)
	if err != nil {
		return fail("%v", err)
	}
	key := "the key file (" + cfg.Security.KeyFile + ")"
	if os.Getenv(secrets.EnvVar) != "" {
		key = "the key (" + secrets.EnvVar + ")"
	}
	fmt.Fprintf(stdout, "backup of %s written to %s: %d bytes, %d conversations, %d messages, integrity ok.\n"+
		"Back up %s too, apart from this copy: the secrets in it are encrypted with that key.\n",
		cfg.Storage.Path, *to, res.Bytes, res.Conversations, res.Messages, key)
	return 0
}
