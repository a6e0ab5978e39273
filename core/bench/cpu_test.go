package bench

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestSampleCPUFindsThisProcessAndItsChildren(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	// Burn a little CPU so that this process has some to show.
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = strings.Repeat("x", x%64)
	}
	got := SampleCPU()
	var self, kid bool
	for _, p := range got {
		switch p.PID {
		case os.Getpid():
			self = p.Name == "bench" && p.CPU > 0
		case child.Process.Pid:
			kid = p.Name == "sleep"
		}
	}
	if !self || !kid {
		t.Errorf("SampleCPU() = %+v; want this process (as bench, with CPU used) and the sleep child", got)
	}
	line := CPUPerWebhook([]ProcCPU{{PID: 1, Name: "bench", CPU: 0}}, []ProcCPU{{PID: 1, Name: "bench", CPU: 10 * time.Millisecond}, {PID: 2, Name: "meta", CPU: 5 * time.Millisecond}}, 10)
	if line != "bench 1.000ms meta 0.500ms total 1.500ms" {
		t.Errorf("CPUPerWebhook = %q", line)
	}
}
