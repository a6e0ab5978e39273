package scripting

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// debounce lets an editor finish saving (write to a temporary file, rename,
// change mode...) before the scripts are read again; a save takes effect well
// within a second.
const debounce = 200 * time.Millisecond

type watcher struct {
	fw   *fsnotify.Watcher
	quit chan struct{}
	done chan struct{}
}

// startWatch follows the scripts dir, and its parent too so that a dir
// created, removed or replaced after start is noticed.
func (e *Engine) startWatch() (*watcher, error) {
	dir, err := filepath.Abs(e.dir)
	if err != nil {
		return nil, fmt.Errorf("scripts dir: %w", err)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching %s: %w", dir, err)
	}
	errParent := fw.Add(filepath.Dir(dir))
	errDir := fw.Add(dir)
	if errParent != nil && errDir != nil {
		fw.Close()
		return nil, fmt.Errorf("watching %s: %w", dir, errDir)
	}
	w := &watcher{fw: fw, quit: make(chan struct{}), done: make(chan struct{})}
	go w.run(e, dir)
	return w, nil
}

func (w *watcher) stop() {
	close(w.quit)
	<-w.done
	w.fw.Close()
}

func (w *watcher) run(e *Engine, dir string) {
	defer close(w.done)
	timer := time.NewTimer(debounce)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-w.quit:
			return
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			if ev.Name != dir && filepath.Dir(ev.Name) != dir {
				continue // a sibling of the scripts dir
			}
			timer.Reset(debounce)
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			e.log.Warn("watching the scripts dir", "dir", dir, "err", err)
			timer.Reset(debounce) // events may have been lost: read again
		case <-timer.C:
			if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
				// Watching again is harmless when the watch stands, and
				// needed when the dir was just created or replaced.
				if err := w.fw.Add(dir); err != nil {
					e.log.Warn("watching the scripts dir", "dir", dir, "err", err)
				}
			}
			e.Reload()
			if e.onReload != nil {
				e.onReload()
			}
		}
	}
}
