package main

import (
	"fmt"
	"io"
	"time"

	"github.com/conversa/conversa/core/scripting"
)

// check validates the configuration and every script, printing problems as
// FILE:LINE: message.
func check(args []string, stdout, stderr io.Writer) int {
	cfg, _, ok := loadConfig("check", args, stdout)
	if !ok {
		return 1
	}
	problems := scripting.Check(cfg.Scripts.Dir, time.Duration(cfg.Scripts.TimeoutMS)*time.Millisecond)
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
	}
	if len(problems) > 0 {
		return 1
	}
	fmt.Fprintln(stdout, "configuration and scripts are valid")
	return 0
}
