package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// procRunner is the go-plugin runner of a plugin process. It does what
// go-plugin's own command runner does, except that the fork happens on the
// host's launcher thread (see Host.launcher), and only the fork: the
// handshake that follows is waited for on the supervisor's goroutine, so a
// plugin that is slow to start never delays another's start.
type procRunner struct {
	h   *Host
	cmd *exec.Cmd
	// secure, for a third-party plugin, is checked on cmd.Path right
	// before the fork (see trust.go); name is then the plugin's.
	secure *plugin.SecureConfig
	name   string

	stdout, stderr io.ReadCloser

	mu     sync.Mutex
	proc   *os.Process
	killed bool             // Kill was called; a fork that completes later is killed at once
	ended  *os.ProcessState // set when the process has been waited for
}

var _ runner.Runner = (*procRunner)(nil)

func newProcRunner(h *Host, cmd *exec.Cmd) (*procRunner, error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	return &procRunner{h: h, cmd: cmd, stdout: stdout, stderr: stderr}, nil
}

// forkError is a failure to run the executable at all.
type forkError struct{ err error }

func (e forkError) Error() string { return e.err.Error() }
func (e forkError) Unwrap() error { return e.err }

func (r *procRunner) Start(context.Context) error {
	r.mu.Lock()
	killed := r.killed
	r.mu.Unlock()
	if killed || r.h.ctx.Err() != nil {
		return errClosing
	}
	if r.secure != nil {
		ok, err := r.secure.Check(r.cmd.Path)
		if err != nil {
			return forkError{fmt.Errorf("checking the executable's sha256: %w", err)}
		}
		if !ok {
			sum, _ := Sum(r.cmd.Path)
			return &untrustedError{ChangedReason(r.name, sum, r.secure.Checksum)}
		}
	}
	var err error
	if lerr := r.h.onLauncher(func() { err = r.cmd.Start() }); lerr != nil {
		return lerr
	}
	if err != nil {
		return forkError{err}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.proc = r.cmd.Process
	if r.killed {
		_ = r.proc.Kill()
	}
	return nil
}

func (r *procRunner) Wait(context.Context) error {
	err := r.cmd.Wait()
	r.mu.Lock()
	r.ended = r.cmd.ProcessState
	r.mu.Unlock()
	return err
}

// Kill sends SIGKILL. It may be called before the process exists, from
// Close, to abort a start.
func (r *procRunner) Kill(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.killed = true
	if r.proc == nil {
		return nil
	}
	if err := r.proc.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// pid is 0 until the fork.
func (r *procRunner) pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return 0
	}
	return r.proc.Pid
}

// exit is how the process ended, nil while it runs.
func (r *procRunner) exit() *os.ProcessState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ended
}

func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser { return r.stderr }
func (r *procRunner) Name() string          { return r.cmd.Path }

// ID is never empty: go-plugin's Kill skips its clean-up (the socket
// directory it made for this process) for a runner without one.
func (r *procRunner) ID() string { return strconv.Itoa(r.pid()) }

// Diagnose adds nothing: the supervisor reports the exit status and the
// plugin's last stderr lines instead.
func (r *procRunner) Diagnose(context.Context) string { return "" }

func (r *procRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *procRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// process is one running plugin process and its clients. Its fields do not
// change once it is running.
type process struct {
	client    *plugin.Client
	runner    *procRunner
	conn      *grpc.ClientConn
	started   time.Time
	pid       int
	path      string // a third-party plugin's executable
	sum       []byte // its digest when it was started
	info      *proto.PluginInfo
	channel   sdk.Channel
	assistant sdk.Assistant
}

// ping asks go-plugin's health service, as plugin.GRPCClient.Ping does, but
// with a deadline: a plugin that is alive but wedged never answers.
func (p *process) ping(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := grpc_health_v1.NewHealthClient(p.conn).Check(ctx,
		&grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
	if err != nil {
		return err
	}
	if s := resp.GetStatus(); s != grpc_health_v1.HealthCheckResponse_SERVING {
		return fmt.Errorf("health status %s", s)
	}
	return nil
}

// exitReason describes a process that exited on its own.
func (p *process) exitReason() string {
	if st := p.runner.exit(); st != nil {
		return "process exited (" + st.String() + ")"
	}
	return "process exited"
}

// stop ends the process and waits for go-plugin to clean up after it.
// go-plugin's Kill first asks the plugin to shut down over gRPC, which never
// returns from a wedged process; so after grace the process is killed, and
// at once when grace is 0.
func (p *process) stop(grace time.Duration) {
	stopProcess(p.client, p.runner, grace)
}

func stopProcess(c *plugin.Client, r *procRunner, grace time.Duration) {
	if grace <= 0 {
		_ = r.Kill(context.Background())
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Kill()
	}()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	_ = r.Kill(context.Background())
	<-done
}
