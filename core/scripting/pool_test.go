package scripting

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

func TestPool(t *testing.T) {
	made := 0
	p := newPool(2, func() (*sandbox, error) {
		made++
		return newSandbox(time.Now, slog.New(slog.DiscardHandler))
	})
	a, err := p.get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Both states are lent: a third caller waits, within its context.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.get(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("get on a full pool = %v, want the context's error", err)
	}
	p.put(a, true)
	if got, err := p.get(t.Context()); err != nil || got != a {
		t.Errorf("get after put = %p, %v; want the returned state %p", got, err, a)
	} else {
		a = got
	}
	// A state that failed a call is not lent again.
	p.put(b, false)
	if c, err := p.get(t.Context()); err != nil || c == b {
		t.Errorf("get after a failed call = %p, %v; want a new state", c, err)
	} else {
		p.put(c, true)
	}
	if made != 3 {
		t.Errorf("%d states made, want 3", made)
	}
	p.close()
	if _, err := p.get(t.Context()); !errors.Is(err, errPoolClosed) {
		t.Errorf("get on a closed pool = %v, want errPoolClosed", err)
	}
	p.put(a, true) // a state lent before the close is closed on return
	if len(p.idle) != 0 {
		t.Errorf("%d idle states after close, want none", len(p.idle))
	}
}
