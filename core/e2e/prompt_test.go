//go:build linux

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair (Linux's /dev/ptmx): what the
// program reads and writes (the terminal side) and what the person at the
// keyboard sees and types (the controller side).
func openPTY(t *testing.T) (controller, terminal *os.File) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	controller = os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		controller.Close()
		t.Fatalf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		controller.Close()
		t.Fatalf("numbering the pseudo-terminal: %v", err)
	}
	terminal, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		controller.Close()
		t.Fatalf("opening the terminal side: %v", err)
	}
	t.Cleanup(func() { controller.Close(); terminal.Close() })
	return controller, terminal
}

// screen is everything the program showed on the terminal, including what
// the terminal echoed of the keys typed.
type screen struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// agentsAddOnTerminal runs `conversa agents add` on a pseudo-terminal and
// types each password when its prompt shows and the terminal no longer
// echoes (typing earlier would be echoed by a program that turns echo off
// a moment after printing the prompt). It returns the screen and the exit
// code.
func agentsAddOnTerminal(t *testing.T, srv *server, login string, typed ...string) (string, int) {
	t.Helper()
	controller, terminal := openPTY(t)
	cmd := exec.Command(binary, "agents", "add", "--config", srv.config, "--login", login, "--name", "Ana", "--role", "agent")
	cmd.Dir = srv.dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = terminal, terminal, terminal
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out screen
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := controller.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	prompts := []string{"Password: ", "Repeat: "}
	for i, p := range typed {
		if !waitUntil(10*time.Second, func() bool { return strings.Count(out.String(), prompts[i]) == 1 && !echoes(terminal) }) {
			cmd.Process.Kill()
			<-exited
			t.Fatalf("no %q prompt with echo off on the terminal; screen so far: %q", prompts[i], out.String())
		}
		if _, err := controller.Write([]byte(p + "\r")); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("conversa agents add did not finish; screen: %q", out.String())
	}
	if !echoes(terminal) {
		t.Errorf("conversa agents add left the terminal without echo")
	}
	// The last line may still be on its way to the controller side.
	waitUntil(2*time.Second, func() bool {
		s := out.String()
		return strings.Contains(s, "created") || strings.Contains(s, "conversa: ")
	})
	return out.String(), cmd.ProcessState.ExitCode()
}

func echoes(terminal *os.File) bool {
	tio, err := unix.IoctlGetTermios(int(terminal.Fd()), unix.TCGETS)
	return err != nil || tio.Lflag&unix.ECHO != 0
}

func waitUntil(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// On a terminal `conversa agents add` asks for the password twice, on
// stderr, without echo (CONTRACT §1); the password it stored signs in.
func TestAgentsAddPromptsWithoutEcho(t *testing.T) {
	srv := newServer(t, "[server]\nlisten = \"127.0.0.1:0\"\n\n[storage]\npath = \"{{DIR}}/data/conversa.db\"\n")
	const password = "typed-s3cret"
	screen, code := agentsAddOnTerminal(t, srv, "ana", password, password)
	if code != 0 {
		t.Fatalf("agents add on a terminal = exit %d; screen:\n%s", code, screen)
	}
	if strings.Contains(screen, password) {
		t.Errorf("the terminal showed the password: %q", screen)
	}
	if !strings.Contains(screen, "Password: ") || !strings.Contains(screen, "Repeat: ") || !strings.Contains(screen, "agent ana (agent) created") {
		t.Errorf("screen = %q, want the prompts Password: and Repeat: and the agent created", screen)
	}
	srv.signIn("ana", password)

	screen, code = agentsAddOnTerminal(t, srv, "bia", "first-s3cret", "other-s3cret")
	if code != 1 || !strings.Contains(screen, "differ") {
		t.Errorf("agents add with two different passwords = exit %d, screen %q; want exit 1 saying they differ", code, screen)
	}
}
