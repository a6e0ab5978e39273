package model

import (
	"slices"
	"testing"
)

// A failed send leaves failed only when a change names it (a person's
// Retry): a change that goes wherever the machine allows (a provider's
// report, the engine's own retry) never takes it out.
func TestSendMachineLeavesFailedOnlyExplicitly(t *testing.T) {
	if !SendMachine.Allowed(StatusFailed, StatusPending) {
		t.Errorf("SendMachine.Allowed(failed, pending) = false, want true (Retry)")
	}
	if got := SendMachine.From(StatusPending); slices.Contains(got, StatusFailed) {
		t.Errorf("SendMachine.From(pending) = %v, want failed left out (explicit only)", got)
	}
	for _, to := range []string{StatusInFlight, StatusSent, StatusDelivered, StatusRead} {
		if SendMachine.Allowed(StatusFailed, to) {
			t.Errorf("SendMachine.Allowed(failed, %s) = true, want false", to)
		}
	}
	if SendMachine.Final(StatusFailed) {
		t.Errorf("SendMachine.Final(failed) = true, want false: Retry leaves it")
	}
	if !SendMachine.Known(StatusFailed) || !SendMachine.Known(StatusPending) {
		t.Errorf("SendMachine.Known(failed/pending) = false, want true")
	}
}
