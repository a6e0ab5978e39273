package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/conversa/conversa/core/agents"
	"github.com/conversa/conversa/core/model"
)

// agentsCommand implements `conversa agents add`.
func agentsCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "add" {
		fmt.Fprintln(stderr, "usage: conversa agents add --config FILE --login L --name N --role agent|admin [--squads a,b] [--max-chats 8]   (asks for the password, or reads it from standard input)")
		return 2
	}
	fs := flag.NewFlagSet("agents add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (for the database path)")
	login := fs.String("login", "", "login (lowercase)")
	name := fs.String("name", "", "display name")
	role := fs.String("role", model.RoleAgent, "agent or admin")
	squads := fs.String("squads", "", "comma-separated squads (default geral for agents)")
	maxChats := fs.Int("max-chats", model.DefaultMaxChats, "concurrent conversations")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	cfgArgs := []string{}
	if *cfgPath != "" {
		cfgArgs = []string{"--config", *cfgPath}
	}
	cfg, _, ok := loadConfig("agents add", cfgArgs, stderr)
	if !ok {
		return 1
	}
	a := &model.Agent{ID: *login, Name: *name, Role: *role, MaxChats: *maxChats}
	for _, s := range strings.Split(*squads, ",") {
		if s = strings.TrimSpace(s); s != "" {
			a.Squads = append(a.Squads, s)
		}
	}
	// A bad value is told before anyone types a password for nothing.
	if err := agents.Normalize(a); err != nil {
		fmt.Fprintln(stderr, "conversa:", err)
		return 1
	}
	password, err := readPassword(stdin, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "conversa:", err)
		return 1
	}
	ctx := context.Background()
	st, err := openStore(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "conversa: database:", err)
		return 1
	}
	defer st.Close()
	// Whoever runs the command is a person too: the audit log says so.
	if err := agents.CreateBy(ctx, st, a, password, cliActor); err != nil {
		fmt.Fprintln(stderr, "conversa:", err)
		return 1
	}
	fmt.Fprintf(stdout, "agent %s (%s) created\n", a.ID, a.Role)
	return 0
}

// readPassword reads the password: on a terminal, typed twice at prompts on
// stderr without echo; otherwise one line of standard input (a pipe, a
// script, the tests).
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			return "", fmt.Errorf("reading the password from standard input: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	fd := int(f.Fd())
	// Ctrl-C at the prompt must not leave the terminal without echo.
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("reading the terminal: %w", err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-sig:
			_ = term.Restore(fd, state)
			fmt.Fprintln(stderr)
			os.Exit(130)
		case <-done:
		}
	}()
	defer func() {
		signal.Stop(sig)
		close(done)
		<-stopped
	}()
	ask := func(prompt string) (string, error) {
		fmt.Fprint(stderr, prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		return string(b), nil
	}
	first, err := ask("Password: ")
	if err != nil {
		return "", err
	}
	again, err := ask("Repeat: ")
	if err != nil {
		return "", err
	}
	if first != again {
		return "", errors.New("the two passwords differ; nothing was created")
	}
	return first, nil
}
