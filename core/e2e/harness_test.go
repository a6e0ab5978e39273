package e2e

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// server is a running conversa binary.
type server struct {
	t      testing.TB
	dir    string
	config string
	env    []string
	cmd    *exec.Cmd
	URL    string
	logs   *syncBuffer
	// stdout is what the server printed (the start banner).
	stdout *syncBuffer
	exited chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newServer writes config (TOML, with {{DIR}} replaced by the server's
// directory and {{PLUGINS}} by the directory of the third-party plugins
// built for the run) and starts conversa with it. The server stops at the end of the
// test.
func newServer(t testing.TB, config string, env ...string) *server {
	t.Helper()
	s := preparedServer(t, config, env...)
	s.start()
	t.Cleanup(s.stop)
	return s
}

// preparedServer is newServer's configuration, written but not started: the
// test may run commands first (s.start, then t.Cleanup(s.stop)).
func preparedServer(t testing.TB, config string, env ...string) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{t: t, dir: dir, config: filepath.Join(dir, "conversa.toml"), env: env}
	config = strings.ReplaceAll(config, "{{DIR}}", dir)
	config = strings.ReplaceAll(config, "{{PLUGINS}}", pluginsDir)
	if err := os.WriteFile(s.config, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// newTrustingServer is newServer with the named third-party plugins trusted
// first (`conversa plugins trust`), as an operator does before the start.
func newTrustingServer(t testing.TB, config string, plugins ...string) *server {
	t.Helper()
	s := preparedServer(t, config)
	for _, name := range plugins {
		s.cli("plugins", "trust", "--config", s.config, name)
	}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// cli runs a conversa command beside the server and fails the test unless
// it exits 0; it returns what the command printed.
func (s *server) cli(args ...string) string {
	s.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = s.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("conversa %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

func (s *server) start() {
	t := s.t
	t.Helper()
	watchSources()
	args := []string{"serve", "--config", s.config}
	if s.config == "" {
		args = nil // `conversa` alone, as a newcomer runs it (see newBareServer)
	}
	s.cmd = exec.Command(binary, args...)
	s.cmd.Dir = s.dir
	s.cmd.Env = append(os.Environ(), s.env...)
	s.logs, s.stdout = &syncBuffer{}, &syncBuffer{}
	s.cmd.Stderr = s.logs
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.exited = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.exited) }()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(s.stdout, sc.Text())
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case s.URL = <-found:
	case <-s.exited:
		t.Fatalf("conversa exited before listening:\n%s", s.logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("conversa did not start listening:\n%s", s.logs)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			s.t.Errorf("conversa exited %d after SIGTERM; logs:\n%s", code, s.logs)
		}
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		s.t.Errorf("conversa did not stop within 30s of SIGTERM; logs:\n%s", s.logs)
	}
	if s.t.Failed() {
		s.t.Logf("conversa logs:\n%s", s.logs)
	}
}

// kill ends the server with SIGKILL: no chance to clean up.
func (s *server) kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// restart starts the server again on the same configuration and data.
func (s *server) restart() {
	s.start()
}

// post sends a request to the server and returns the status and body.
func (s *server) do(method, path string, body []byte, headers map[string]string) (int, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// announceBody starts a POST announcing a body of n bytes and reads the
// answer without sending the body: a server enforcing its body limit answers
// 413 from the Content-Length alone. (A client writing the whole body would
// race the server closing the connection.)
func (s *server) announceBody(path string, n int) int {
	s.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: conversa\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, n)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		s.t.Fatalf("reading the answer to an oversized POST: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// db opens the server's database read-only.
func (s *server) db() *sql.DB {
	s.t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(s.dir, "data", "conversa.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { db.Close() })
	return db
}

// count runs a query for one number, on a connection closed right after.
func (s *server) count(query string, args ...any) int {
	s.t.Helper()
	var n int
	s.one(query, args, &n)
	return n
}

// children lists the command lines of the server's child processes.
func (s *server) children() []string {
	return childrenOf(s.cmd.Process.Pid)
}

func childrenOf(pid int) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid(child) == pid {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", child))
			out = append(out, strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")))
		}
	}
	return out
}

func ppid(pid int) int {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name may contain spaces; fields resume after its ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return -1
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

// pluginPIDs finds processes running `conversa plugin NAME` whose parent is
// pid.
func pluginPIDs(pid int) map[string]int {
	out := map[string]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil || ppid(child) != pid {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", child))
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(args) == 3 && args[1] == "plugin" {
			out[args[2]] = child
		}
	}
	return out
}

func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// A zombie has exited; it only waits to be reaped.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || !bytes.HasPrefix(bytes.TrimSpace(stat[i+1:]), []byte("Z"))
}

// eventually polls cond until it holds or the deadline passes. It waits for
// asynchronous work; it is not a timing assertion.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// fixture reads a file of testdata.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var metaTimes = regexp.MustCompile(`"(timestamp|time)": ?\d{13}`)

// fresh moves a Meta fixture's timestamps to now: the messaging window and
// inactivity run from the time the user wrote.
func fresh(body []byte) []byte { return freshAt(body, time.Now()) }

// freshAt sets a Meta fixture's timestamps to t (a server whose clock was
// moved receives messages written at its own "now").
func freshAt(body []byte, t time.Time) []byte {
	at := t.UnixMilli()
	return metaTimes.ReplaceAllFunc(body, func(m []byte) []byte {
		key := metaTimes.FindSubmatch(m)[1]
		return []byte(fmt.Sprintf("%q: %d", key, at))
	})
}

// sign computes Meta's X-Hub-Signature-256 for a body.
func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// postMeta delivers a body to a Meta integration's webhook, signed.
func (s *server) postMeta(integration, secret string, body []byte) (int, []byte) {
	return s.do("POST", "/webhooks/"+integration, body, map[string]string{
		"Content-Type": "application/json", "X-Hub-Signature-256": sign(secret, body)})
}

// api calls the REST API with a bearer token and decodes the JSON answer,
// which must match the OpenAPI document (checkOpenAPI).
func (s *server) api(method, path, token string, in, out any) int {
	s.t.Helper()
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			s.t.Fatal(err)
		}
	}
	headers := map[string]string{"Content-Type": "application/json"}
	if token != "" {
		headers["Authorization"] = "Bearer " + token
	}
	status, b := s.do(method, path, body, headers)
	s.checkOpenAPI(method, path, status, b)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: decoding %q: %v", method, path, b, err)
		}
	}
	return status
}
