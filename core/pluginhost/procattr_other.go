//go:build !linux

package pluginhost

import "syscall"

// sysProcAttr: elsewhere there is no parent-death signal; plugins built with
// plugins/sdk watch their parent process instead.
func sysProcAttr() *syscall.SysProcAttr { return nil }
