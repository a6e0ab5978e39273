package scripting

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// debounce lets an editor finish saving (write to a temporary file, rename,
// change mode...) before the scripts are read again; a save takes effect well
// within a second.
const debounce = 200 * time.Millisecond

type watcher struct {
	fw          *fsnotify.Watcher
	dir, parent string
	// parentWatched: the dir was missing when last looked at, and the
	// parent is followed in its place.
	parentWatched bool
	quit          chan struct{}
	done          chan struct{}
}

// startWatch follows the scripts dir. While the dir is missing it follows
// the dir's parent instead, to notice the dir created (or put back after a
// removal or a rename). Only then: a watch on the parent hears of every
// write to every file beside the dir, which in a data directory is each
// write to the database's log, thousands a second.
func (e *Engine) startWatch() (*watcher, error) {
	dir, err := filepath.Abs(e.dir)
	if err != nil {
		return nil, fmt.Errorf("scripts dir: %w", err)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching %s: %w", dir, err)
	}
	w := &watcher{fw: fw, dir: dir, parent: filepath.Dir(dir), quit: make(chan struct{}), done: make(chan struct{})}
	if err := w.follow(); err != nil {
		fw.Close()
		return nil, err
	}
	go w.run(e)
	return w, nil
}

// follow watches the dir when it is there, and the parent when it is not.
// Watching again is harmless when the watch stands, and needed when the
// dir was just created or replaced.
func (w *watcher) follow() error {
	err := w.fw.Add(w.dir)
	if err == nil {
		if w.parentWatched {
			// The parent's watch may already be gone with the parent.
			_ = w.fw.Remove(w.parent)
			w.parentWatched = false
		}
		return nil
	}
	if perr := w.fw.Add(w.parent); perr != nil {
		return fmt.Errorf("watching %s: %w", w.dir, err)
	}
	w.parentWatched = true
	return nil
}

func (w *watcher) stop() {
	close(w.quit)
	<-w.done
	w.fw.Close()
}

func (w *watcher) run(e *Engine) {
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
			if ev.Name != w.dir && filepath.Dir(ev.Name) != w.dir {
				continue // a sibling of the scripts dir
			}
			if ev.Name == w.dir && ev.Has(fsnotify.Remove|fsnotify.Rename) && !w.parentWatched {
				// The dir went away: follow the parent at once, so that
				// a dir put in its place before the reload is not missed.
				if err := w.follow(); err != nil {
					e.log.Warn("watching the scripts dir", "dir", w.dir, "err", err)
				}
			}
			timer.Reset(debounce)
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			e.log.Warn("watching the scripts dir", "dir", w.dir, "err", err)
			timer.Reset(debounce) // events may have been lost: read again
		case <-timer.C:
			if err := w.follow(); err != nil {
				e.log.Warn("watching the scripts dir", "dir", w.dir, "err", err)
			}
			e.Reload()
			if e.onReload != nil {
				e.onReload()
			}
		}
	}
}
