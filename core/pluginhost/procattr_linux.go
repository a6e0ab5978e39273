package pluginhost

import "syscall"

// sysProcAttr asks the kernel to signal a plugin when the host dies, even by
// SIGKILL, so no plugin outlives its host. The signal fires when the thread
// that forked exits, which is why plugins are launched from one locked,
// long-lived thread (see Host.launcher).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
