package e2e

import (
	"bytes"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// benchSummary is the last line of `conversa bench`.
var benchSummary = regexp.MustCompile(`^bench (meta|zenvia) rate=50/s connections=\d+ duration=3s store=sqlite: ` +
	`acked=(\d+)/(\d+) throughput=[\d.]+/s ack_p50=[\d.]+ms ack_p99=[\d.]+ms ack_max=[\d.]+ms ` +
	`replies=(\d+)/(\d+) reply_rate=[\d.]+/s reply_p50=[\d.]+ms reply_p99=[\d.]+ms reply_max=[\d.]+ms ` +
	`sustained=(yes|no) baseline=[\d.]+/s ratio=[\d.]+$`)

// conversa bench runs a whole instance in its own process, the real plugin
// processes included, and answers every webhook it offers. Only counts are
// checked: how fast is for the figures, not for a test.
func TestBenchCommandAnswersEveryWebhook(t *testing.T) {
	for _, channel := range []string{"meta", "zenvia"} {
		t.Run(channel, func(t *testing.T) {
			watchSources()
			cmd := exec.Command(binary, "bench", "--channel", channel, "--rate", "50", "--duration", "3s", "--warmup", "1s", "--baseline")
			cmd.Dir = t.TempDir()
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("conversa bench: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			last := lines[len(lines)-1]
			m := benchSummary.FindStringSubmatch(last)
			if m == nil {
				t.Fatalf("summary line %q does not parse; output:\n%s", last, stdout.String())
			}
			n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
			if m[1] != channel {
				t.Errorf("summary names channel %s, want %s", m[1], channel)
			}
			// 50/s for 3 s, the warm-up left out.
			if acked, offered := n(2), n(3); offered != 150 || acked != offered {
				t.Errorf("acked %d of %d webhooks, want 150 of 150:\n%s", acked, offered, stdout.String())
			}
			if replies, expected := n(4), n(5); expected != n(2) || replies != expected {
				t.Errorf("replies %d of %d expected (acked %d), want one per acknowledged webhook:\n%s", replies, expected, n(2), stdout.String())
			}
			for _, want := range []string{"baseline (bare Fiber handler, same load): offered 150, acked 150", "rule: sustained = "} {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, stdout.String())
				}
			}
		})
	}
}

func TestBenchCommandRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--channel", "sms"},
		{"bench", "--rate", "-1"},
		{"bench", "--store", "mysql://x"},
		{"bench", "--duration", "0s"},
	} {
		out, code := runConversa(t, t.TempDir(), "", args...)
		if code != 1 || strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.HasPrefix(out, "conversa bench: ") {
			t.Errorf("%v = exit %d, %q; want exit 1 and one line", args, code, out)
		}
	}
}
