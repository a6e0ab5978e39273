package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// files caches parsed rules files by absolute path. An entry is good while
// the file's modification time and size are unchanged, so an edited file is
// picked up by the next conversation turn without restarting anything.
// Parse failures are cached too: a broken file is reported on every call
// without being parsed again until it changes.
type files struct {
	mu      sync.Mutex
	entries map[string]entry
}

type entry struct {
	mod  time.Time
	size int64
	a    *assistant
	err  error
}

func (f *files) load(path string) (*assistant, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	e, ok := f.entries[abs]
	f.mu.Unlock()
	if ok && e.mod.Equal(st.ModTime()) && e.size == st.Size() {
		return e.a, e.err
	}

	// Stat came first: if the file changes while it is read, the entry
	// carries the older stamp and the next call reads the file again.
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, err
	}
	e = entry{mod: st.ModTime(), size: st.Size()}
	e.a, e.err = parse(data, path)
	f.mu.Lock()
	if f.entries == nil {
		f.entries = map[string]entry{}
	}
	f.entries[abs] = e
	f.mu.Unlock()
	return e.a, e.err
}
