package bench

import (
	"sync"
	"sync/atomic"
)

// slot is what is recorded of one webhook: times are Clock readings
// (nanoseconds since the run began); 0 means "did not happen".
type slot struct {
	due    int64 // when the scheduler started it (latencies count from here)
	sent   int64 // when a connection took it
	acked  int64 // when the 200 was read
	status int32 // the HTTP status; -1 for a transport error
	// reply is when the fake provider received the first reply to this
	// webhook's user; written by the provider's goroutines.
	reply atomic.Int64
	// replies counts every reply to the user (more than one is a
	// duplicate send).
	replies atomic.Int32
}

const (
	chunkBits = 16
	chunkSize = 1 << chunkBits
	// maxChunks bounds a run at 64 Mi webhooks.
	maxChunks = 1024
)

// slots is a table of slots indexed by webhook number, allocated a chunk
// at a time as the run reaches it, so a slot never moves and recording
// takes no lock once its chunk exists.
type slots struct {
	mu     sync.Mutex
	chunks [maxChunks]atomic.Pointer[[chunkSize]slot]
	n      atomic.Int64 // highest index handed out + 1
}

// at returns slot i, allocating its chunk if needed; nil past the table's
// end.
func (s *slots) at(i int) *slot {
	c := i >> chunkBits
	if i < 0 || c >= maxChunks {
		return nil
	}
	p := s.chunks[c].Load()
	if p == nil {
		s.mu.Lock()
		if p = s.chunks[c].Load(); p == nil {
			p = new([chunkSize]slot)
			s.chunks[c].Store(p)
		}
		s.mu.Unlock()
	}
	for {
		n := s.n.Load()
		if int64(i) < n || s.n.CompareAndSwap(n, int64(i)+1) {
			break
		}
	}
	return &p[i&(chunkSize-1)]
}

// lookup returns slot i if it was handed out, else nil (a reply to a user
// the load never wrote as).
func (s *slots) lookup(i int) *slot {
	if i < 0 || int64(i) >= s.n.Load() {
		return nil
	}
	p := s.chunks[i>>chunkBits].Load()
	if p == nil {
		return nil
	}
	return &p[i&(chunkSize-1)]
}

// len is how many slots were handed out.
func (s *slots) len() int { return int(s.n.Load()) }

// reserve allocates the chunks for n slots ahead of a run, so that no
// allocation happens while it is being measured.
func (s *slots) reserve(n int) {
	for c := 0; c < min((n+chunkSize-1)>>chunkBits, maxChunks); c++ {
		s.mu.Lock()
		if s.chunks[c].Load() == nil {
			s.chunks[c].Store(new([chunkSize]slot))
		}
		s.mu.Unlock()
	}
}
