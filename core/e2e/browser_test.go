package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's Chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// browserWait bounds each wait on the page. It is a deadline for something
// that should happen, not a timing assertion.
const browserWait = 30 * time.Second

// agentSpec is an account created with `conversa agents add`.
type agentSpec struct {
	Login, Name, Role, Password string
	Squads                      string
}

// newConsoleServer is newServer with agents created first, by running the
// binary's `agents add` against the server's configuration, as an operator
// would before the first start. env is added to the server's environment.
func newConsoleServer(t *testing.T, config string, env []string, agents ...agentSpec) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{t: t, dir: dir, config: filepath.Join(dir, "conversa.toml"), env: env}
	if err := os.WriteFile(s.config, []byte(strings.ReplaceAll(config, "{{DIR}}", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, a := range agents {
		s.addAgent(a)
	}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// addAgent runs `conversa agents add` with the password on standard input.
func (s *server) addAgent(a agentSpec) {
	s.t.Helper()
	args := []string{"agents", "add", "--config", s.config, "--login", a.Login, "--name", a.Name, "--role", a.Role}
	if a.Squads != "" {
		args = append(args, "--squads", a.Squads)
	}
	cmd := exec.Command(binary, args...)
	cmd.Dir = s.dir
	cmd.Stdin = strings.NewReader(a.Password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("conversa %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// bearer signs in through the API (a session of its own, apart from the
// browser's) and returns the bearer token.
func (s *server) bearer(login, password string) string {
	s.t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	if status := s.api("POST", "/api/v1/login", "", map[string]string{"login": login, "password": password}, &out); status != 200 {
		s.t.Fatalf("POST /api/v1/login as %s = %d, want 200", login, status)
	}
	return out.Token
}

// clockForward moves a server's clock (every server the harness builds has a
// movable one: see TestMain).
func (s *server) clockForward(d time.Duration) {
	s.t.Helper()
	if status, body := s.do("POST", fmt.Sprintf("/debug/clock?seconds=%d", int(d.Seconds())), nil, nil); status != 204 {
		s.t.Fatalf("POST /debug/clock = %d %s, want 204", status, body)
	}
}

// newBrowser starts a headless Chromium for the test. Without Chromium the
// test is skipped, unless CONVERSA_BROWSER_TESTS=required (CI), where it
// fails.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CONVERSA_BROWSER_TESTS") == "required" {
			t.Fatalf("Chromium is required (CONVERSA_BROWSER_TESTS=required) but %s is missing: %v", chromiumPath, err)
		}
		t.Skipf("browser test skipped: %s not found (install Debian's chromium, or set CONVERSA_BROWSER_TESTS=required to make this a failure)", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		// A headless tab counts as hidden: keep its timers and painting
		// running at full speed.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first action starts the browser and binds it to ctx, which has
	// no deadline: each step below gets its own.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	// The page's errors and console output help explain a failure. The
	// loops end when ctx does.
	pageLog := &syncBuffer{}
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	console := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			desc := ""
			if d.Exception != nil {
				desc = d.Exception.Description
			}
			fmt.Fprintf(pageLog, "exception: %s %s (%s:%d)\n", d.Text, desc, d.URL, d.LineNumber)
		}
	}()
	go func() {
		for ev, err := range console {
			if err != nil {
				return
			}
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value))
			}
			fmt.Fprintf(pageLog, "console.%s: %s\n", ev.Type, strings.Join(args, " "))
		}
	}()
	t.Cleanup(func() {
		if t.Failed() && pageLog.String() != "" {
			t.Logf("browser console:\n%s", pageLog)
		}
	})
	return ctx
}

// do runs browser actions with a deadline.
func act(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(tctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval runs a JavaScript expression and decodes its value.
func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition in the page until it is true. what
// names the condition for the failure message, which also shows the page's
// text to help see what was there instead.
func waitFor(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	_, err := chromedp.Run(tctx, chromedp.Poll[bool]("!!("+cond+")", chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(browserWait)))
	if err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("waiting for %s: %v\npage text:\n%s", what, err, page)
	}
}

// js quotes a Go string for a JavaScript expression.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// textOf is the trimmed text of the first element matching a CSS selector
// ("" when there is none).
func textOf(t *testing.T, ctx context.Context, selector string) string {
	t.Helper()
	return evalJS[string](t, ctx, fmt.Sprintf(`(document.querySelector(%s)?.textContent || "").trim()`, jsString(selector)))
}

// screenshotDir is where a test's screenshots go: the test's temporary
// directory, or $CONVERSA_SCREENSHOTS (kept after the run) when set.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CONVERSA_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot saves the viewport as a PNG in dir and logs where.
func screenshot(t *testing.T, ctx context.Context, dir, name string) string {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	// Let the page paint what it has before the capture.
	if err := chromedp.Do(tctx, chromedp.Evaluate[chromedp.Void](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	png, err := chromedp.Run(tctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	return path
}

// pressEnter presses Enter in the focused element the way a keyboard does:
// SendKeys("\n") would add a char event after the keydown, which inserts a
// line break even when the page cancelled the keydown.
func pressEnter() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{
				Type: typ, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13,
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// browserSignIn opens the console and signs in through its form.
func browserSignIn(t *testing.T, ctx context.Context, srv *server, login, password string) {
	t.Helper()
	act(t, ctx, "opening the console",
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-name")),
		chromedp.SendKeys(chromedp.CSS("#login-name"), login),
		chromedp.SendKeys(chromedp.CSS("#login-password"), password),
		chromedp.Click(chromedp.CSS(".login-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#status-switch")),
	)
}
