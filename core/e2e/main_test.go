package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// binary is the conversa executable built once for the whole run;
// pluginsDir holds third-party plugin executables built for the run
// (conversa-plugin-echo, the SDK example; conversa-plugin-crashy, an
// assistant that dies mid-turn; conversa-plugin-igdirect, the Meta channel
// built apart; conversa-plugin-formcheck, a channel that checks its
// settings). None is trusted until a test runs `conversa plugins trust`.
var binary, pluginsDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "conversa-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "conversa")
	pluginsDir = filepath.Join(dir, "plugins")
	builds := [][2]string{
		{binary, "github.com/conversa/conversa/core/cmd/conversa"},
		{filepath.Join(pluginsDir, "conversa-plugin-echo"), "github.com/conversa/conversa/plugins/examples/echo"},
		{filepath.Join(pluginsDir, "conversa-plugin-crashy"), "github.com/conversa/conversa/core/e2e/testdata/crashy"},
		{filepath.Join(pluginsDir, "conversa-plugin-igdirect"), "github.com/conversa/conversa/core/e2e/testdata/igdirect"},
		{filepath.Join(pluginsDir, "conversa-plugin-formcheck"), "github.com/conversa/conversa/core/e2e/testdata/formcheck"},
	}
	for _, b := range builds {
		// conversa_testclock: the server's clock can be moved with POST
		// /debug/clock, which exists in no other build.
		args := []string{"build", "-tags", "conversa_testclock", "-o", b[0]}
		if raceEnabled {
			// The binaries under test are race-checked too, and share the
			// race build cache with the test binary instead of compiling
			// SQLite again.
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, b[1])...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", b[1]+":", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var watched sync.Once

// watchSources stats every source file of the module. The tests exercise a
// binary built by `go build`, which go test cannot see; the files a test
// opens or stats, though, are part of its cache key, so a change anywhere in
// the product reruns these tests instead of replaying a cached pass. (Only
// what a test does is recorded, not TestMain: every test that starts the
// binary calls this.)
func watchSources() {
	watched.Do(statSources)
}

func statSources() {
	root := filepath.Join("..", "..")
	for _, dir := range []string{"core", "plugins", "admin", "scripts", "go.mod", "go.sum"} {
		filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				os.Stat(path)
			}
			return nil
		})
	}
}
