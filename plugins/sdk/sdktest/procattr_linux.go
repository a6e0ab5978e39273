package sdktest

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel stop the plugin if the suite dies first.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
