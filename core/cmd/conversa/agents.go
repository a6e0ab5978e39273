package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/conversa/conversa/core/agents"
	"github.com/conversa/conversa/core/model"
)

// agentsCommand implements `conversa agents add`.
func agentsCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "add" {
		fmt.Fprintln(stderr, "usage: conversa agents add --config FILE --login L --name N --role agent|admin [--squads a,b] [--max-chats 8] < password")
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
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		fmt.Fprintln(stderr, "conversa: reading the password from standard input:", err)
		return 1
	}
	password := strings.TrimRight(line, "\r\n")
	a := &model.Agent{ID: *login, Name: *name, Role: *role, MaxChats: *maxChats}
	for _, s := range strings.Split(*squads, ",") {
		if s = strings.TrimSpace(s); s != "" {
			a.Squads = append(a.Squads, s)
		}
	}
	ctx := context.Background()
	st, err := openStore(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "conversa: database:", err)
		return 1
	}
	defer st.Close()
	if err := agents.Create(ctx, st.Agents(), a, password); err != nil {
		fmt.Fprintln(stderr, "conversa:", err)
		return 1
	}
	fmt.Fprintf(stdout, "agent %s (%s) created\n", a.ID, a.Role)
	return 0
}
