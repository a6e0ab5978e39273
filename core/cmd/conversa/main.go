// Command conversa is the Conversa server: the self-hosted Instagram contact
// center. See README.md for how to run it.
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return serve(nil, stdout, stderr)
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "plugin":
		// Nothing may be written to stdout here before the handshake.
		return servePlugin(args[1:], stderr)
	case "check":
		return check(args[1:], stdout, stderr)
	case "agents":
		return agentsCommand(args[1:], stdin, stdout, stderr)
	case "migrate":
		return migrateCommand(args[1:], stdout, stderr)
	case "backup":
		return backupCommand(args[1:], stdout, stderr)
	case "keys":
		return keysCommand(args[1:], stdout, stderr)
	case "plugins":
		return pluginsCommand(args[1:], stdout, stderr)
	case "scripts":
		return scriptsCommand(args[1:], stdout, stderr)
	case "bench":
		return benchCommand(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "conversa", version)
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "conversa: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  conversa                          serve on the built-in defaults (127.0.0.1:8080, ./data)
  conversa serve --config FILE      serve with a configuration file
  conversa check --config FILE      validate the configuration and every script
  conversa agents add --config FILE --login L --name N --role agent|admin [--squads a,b] [--max-chats 8]
                                    create an agent (asks for the password on a terminal,
                                    else reads one line from standard input)
  conversa migrate --config FILE --to postgres://user:password@host:5432/database
                                    copy the SQLite install into an empty PostgreSQL database
  conversa backup --config FILE --to PATH [--force]
                                    copy the running install's SQLite database, consistently
  conversa keys rotate --config FILE [--new-key-file PATH]
                                    encrypt the stored secrets under a new key (server stopped)
  conversa plugins trust --config FILE NAME
                                    trust the third-party plugin conversa-plugin-NAME as it is now
                                    (also: plugins untrust NAME, plugins list)
  conversa plugins test PATH [--fixtures DIR]
                                    run the plugin contract suite against a plugin executable
                                    (or a built-in: meta, zenvia, rules, rasa); exit 1 on a failure
  conversa scripts test --config FILE DIR
                                    run the case files in DIR against the configured scripts
  conversa bench [--channel meta|zenvia] [--rate N] [--duration 60s] [--baseline]
                                    size this machine: a self-contained instance (temporary data,
                                    the real plugins, the demo assistant, a fake provider) under
                                    N signed webhooks a second (0: saturation); see bench --help
  conversa version                  print the version
`)
}
