//go:build !linux

package sdktest

import "os/exec"

// setProcAttr: only Linux has a parent-death signal; sdk.Serve's plugins
// also stop on their own once their parent is gone.
func setProcAttr(*exec.Cmd) {}
