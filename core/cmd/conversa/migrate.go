package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/conversa/conversa/core/store/postgres"
	"github.com/conversa/conversa/core/store/sqlite"
)

const migrateUsage = "usage: conversa migrate --config FILE --to postgres://user:password@host:5432/database"

// migrateCommand implements `conversa migrate`: it copies the configured
// SQLite install, every table with its ids, into an empty PostgreSQL
// database. The SQLite file is left as it is (a backup, and the way back).
//
// The URL carries a password, so nothing printed repeats it: not the URL,
// and not an error's text, which is scrubbed of it in case a driver quotes
// what it was given.
func migrateCommand(args []string, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		// One line, whatever the error's text holds.
		msg := strings.Join(strings.Fields(fmt.Sprintf(format, a...)), " ")
		fmt.Fprintln(stderr, "conversa migrate:", msg)
		return 1
	}
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the flag package's multi-line usage: fail says it in one
	cfgPath := fs.String("config", "", "configuration file (for the SQLite database's path)")
	to := fs.String("to", "", "the PostgreSQL database to copy into (postgres://…)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, migrateUsage)
			return 0
		}
		// The flag package quotes bad values, which may be the URL.
		return fail("%s (%s)", scrub(err.Error(), *to), migrateUsage)
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q (%s)", scrub(fs.Arg(0), *to), migrateUsage)
	}
	if *to == "" {
		return fail("--to is required (%s)", migrateUsage)
	}
	target, ok := describeURL(*to)
	if !ok {
		return fail("--to must be a PostgreSQL URL (postgres://user:password@host:5432/database)")
	}
	cfgArgs := []string{}
	if *cfgPath != "" {
		cfgArgs = []string{"--config", *cfgPath}
	}
	cfg, _, ok := loadConfig("migrate", cfgArgs, stderr)
	if !ok {
		return 1
	}
	if cfg.Storage.Postgres() {
		return fail("the configuration already uses PostgreSQL ([storage] url is set): there is no SQLite install to migrate")
	}

	// Interrupted, the copy's transaction rolls back and the target stays
	// empty.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	src, err := sqlite.OpenForExport(ctx, cfg.Storage.Path)
	if err != nil {
		return fail("%s", scrub(err.Error(), *to))
	}
	defer src.Close()
	counts, err := postgres.CopyFromSQLite(ctx, src, *to, postgres.Options{})
	if err != nil {
		return fail("%s", scrub(err.Error(), *to))
	}

	fmt.Fprintf(stdout, "copied %s into %s:\n", cfg.Storage.Path, target)
	var total int64
	for _, c := range counts {
		fmt.Fprintf(stdout, "  %-16s %8d\n", c.Table, c.Rows)
		total += c.Rows
	}
	fmt.Fprintf(stdout, "  %-16s %8d rows\n", "total", total)
	where := "the configuration file"
	if cfg.File != "" {
		where = cfg.File
	}
	fmt.Fprintf(stdout, "next: under [storage] in %s, set url to that database's URL and restart conversa; %s is left as it was\n",
		where, cfg.Storage.Path)
	return 0
}

// describeURL checks that raw is a PostgreSQL URL and names its database
// for the operator: user, host and database only (a password may also sit
// in the query, ?password=…, so none of the query is shown).
func describeURL(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return "", false
	}
	shown := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if u.User != nil {
		shown.User = url.User(u.User.Username())
	}
	return shown.String(), true
}

// scrub removes the URL's password from text, as written in the URL and
// decoded, wherever it sits (user info or ?password=).
func scrub(text, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// Unparseable: the URL itself is all that can be taken out.
		if raw != "" {
			text = strings.ReplaceAll(text, raw, "xxxxx")
		}
		return text
	}
	var secrets []string
	// As written: the authority's user info, up to its last '@'.
	if i := strings.Index(raw, "://"); i >= 0 {
		authority := raw[i+3:]
		if j := strings.IndexAny(authority, "/?#"); j >= 0 {
			authority = authority[:j]
		}
		if j := strings.LastIndex(authority, "@"); j >= 0 {
			if _, p, ok := strings.Cut(authority[:j], ":"); ok {
				secrets = append(secrets, p)
			}
		}
	}
	if p, ok := u.User.Password(); ok {
		secrets = append(secrets, p, url.PathEscape(p), url.QueryEscape(p))
	}
	if p := u.Query().Get("password"); p != "" {
		secrets = append(secrets, p, url.QueryEscape(p))
	}
	for _, s := range secrets {
		if s != "" {
			text = strings.ReplaceAll(text, s, "xxxxx")
		}
	}
	return text
}
