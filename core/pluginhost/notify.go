package pluginhost

import "sync"

// notifier calls Options.OnChange from one goroutine, in the order the
// changes were posted, with no lock held. Posting never blocks: a slow
// OnChange delays only later calls, never a supervisor.
type notifier struct {
	f    func(name, state string)
	wake chan struct{}

	mu    sync.Mutex
	queue []change
}

type change struct{ name, state string }

func newNotifier(f func(name, state string)) *notifier {
	return &notifier{f: f, wake: make(chan struct{}, 1)}
}

func (n *notifier) post(name, state string) {
	if n.f == nil {
		return
	}
	n.mu.Lock()
	n.queue = append(n.queue, change{name, state})
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// run delivers changes until stop is closed, then delivers what is left.
func (n *notifier) run(stop <-chan struct{}) {
	for {
		n.mu.Lock()
		batch := n.queue
		n.queue = nil
		n.mu.Unlock()
		for _, c := range batch {
			n.f(c.name, c.state)
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-n.wake:
		case <-stop:
			n.mu.Lock()
			batch = n.queue
			n.queue = nil
			n.mu.Unlock()
			for _, c := range batch {
				n.f(c.name, c.state)
			}
			return
		}
	}
}
