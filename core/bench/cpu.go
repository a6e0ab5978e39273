package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ProcCPU is the CPU time one process has used, read from /proc (Linux);
// the bench reports it per webhook for its own process (server, load and
// fake provider together) and for each plugin process, which the in-process
// profile cannot see.
type ProcCPU struct {
	PID  int
	Name string // "bench" for this process, else the plugin's name
	CPU  time.Duration
}

// clockTicks is USER_HZ, 100 on every Linux the bench runs on.
const clockTicks = 100

// SampleCPU reads this process's CPU time and its children's; nil where
// /proc is not there.
func SampleCPU() []ProcCPU {
	self := os.Getpid()
	me, ok := readStat(self)
	if !ok {
		return nil
	}
	out := []ProcCPU{{PID: self, Name: "bench", CPU: me.cpu}}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == self {
			continue
		}
		st, ok := readStat(pid)
		if !ok || st.ppid != self {
			continue
		}
		name := st.comm
		if cmd, err := os.ReadFile(filepath.Join(d, "cmdline")); err == nil {
			args := strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")
			if len(args) >= 3 && args[1] == "plugin" {
				name = args[2]
			}
		}
		out = append(out, ProcCPU{PID: pid, Name: name, CPU: st.cpu})
	}
	return out
}

type procStat struct {
	comm string
	ppid int
	cpu  time.Duration
}

// readStat reads /proc/PID/stat: the command sits in parentheses (and may
// hold spaces), then state, ppid, ... utime and stime are fields 14 and 15.
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, false
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procStat{}, false
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 13 {
		return procStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return procStat{comm: s[open+1 : end], ppid: ppid, cpu: time.Duration(ut+st) * time.Second / clockTicks}, true
}

// CPUPerWebhook formats the CPU each process used between two samples,
// per webhook: "bench 0.21ms meta 0.08ms rules 0.05ms total 0.34ms".
func CPUPerWebhook(before, after []ProcCPU, n int) string {
	if n <= 0 || len(after) == 0 {
		return "n/a"
	}
	was := map[int]time.Duration{}
	for _, p := range before {
		was[p.PID] = p.CPU
	}
	var parts []string
	var total time.Duration
	for _, p := range after {
		d := p.CPU - was[p.PID]
		total += d
		parts = append(parts, fmt.Sprintf("%s %.3fms", p.Name, float64(d)/float64(time.Millisecond)/float64(n)))
	}
	parts = append(parts, fmt.Sprintf("total %.3fms", float64(total)/float64(time.Millisecond)/float64(n)))
	return strings.Join(parts, " ")
}

// CPUUsed is the CPU every process sampled used between two samples; false
// without samples (no /proc).
func CPUUsed(before, after []ProcCPU) (time.Duration, bool) {
	if len(after) == 0 {
		return 0, false
	}
	was := map[int]time.Duration{}
	for _, p := range before {
		was[p.PID] = p.CPU
	}
	var total time.Duration
	for _, p := range after {
		total += p.CPU - was[p.PID]
	}
	return total, true
}
