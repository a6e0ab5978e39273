package scripting

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

var errPoolClosed = errors.New("the Lua states were replaced by a reload")

// A pool lends Lua states, at most size at a time, creating them on demand.
// A caller that finds them all lent waits, within its context. Closing the
// pool closes the idle states at once and the lent ones as they come back,
// which is how a reload retires a generation without waiting for it.
type pool struct {
	tokens  chan struct{} // one per lent state
	newFunc func() (*sandbox, error)

	mu     sync.Mutex
	idle   []*sandbox
	closed bool
}

func newPool(size int, newFunc func() (*sandbox, error)) *pool {
	return &pool{tokens: make(chan struct{}, size), newFunc: newFunc}
}

func (p *pool) get(ctx context.Context) (*sandbox, error) {
	select {
	case p.tokens <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a free Lua state: %w", ctx.Err())
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.tokens
		return nil, errPoolClosed
	}
	if n := len(p.idle); n > 0 {
		s := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return s, nil
	}
	p.mu.Unlock()
	s, err := p.newFunc()
	if err != nil {
		<-p.tokens
		return nil, err
	}
	return s, nil
}

// put returns a lent state; one that failed a call is closed instead, since
// an interrupted script may have left it half-way through anything.
func (p *pool) put(s *sandbox, reuse bool) {
	p.mu.Lock()
	if reuse && !p.closed {
		p.idle = append(p.idle, s)
		s = nil
	}
	p.mu.Unlock()
	if s != nil {
		s.close()
	}
	<-p.tokens
}

// warm creates up to n idle states ahead of the first calls.
func (p *pool) warm(n int) {
	for i := 0; i < min(n, cap(p.tokens)); i++ {
		s, err := p.get(context.Background())
		if err != nil {
			return
		}
		defer p.put(s, true)
	}
}

func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, s := range idle {
		s.close()
	}
}
