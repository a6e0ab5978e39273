package sdktest

import (
	"strings"
	"testing"
)

// Test runs the contract suite as part of a Go test: each case's line is
// logged, and each failed case is an error naming it.
//
//	func TestContract(t *testing.T) {
//		bin := filepath.Join(t.TempDir(), "conversa-plugin-mine")
//		// go build -o bin . (see plugins/sdk/README.md)
//		sdktest.Test(t, sdktest.Suite{
//			Command:  func() *exec.Cmd { return exec.Command(bin) },
//			Fixtures: "testdata/contract",
//		})
//	}
func Test(t testing.TB, s Suite) Report {
	t.Helper()
	if s.Out == nil {
		s.Out = logWriter{t}
	}
	rep := Run(t.Context(), s)
	for _, f := range rep.Failures() {
		t.Errorf("%s: %s", f.Name, f.Reason)
	}
	return rep
}

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
