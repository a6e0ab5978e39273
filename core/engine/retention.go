package engine

import (
	"context"
)

// inboxPruneWindow is how many inbox rows one pruning transaction looks
// at: small, so the writer is never held for long.
const inboxPruneWindow = 500

// pruneInbox forgets the processed events older than the inbox retention
// ([storage] inbox_retention_days), a window per transaction. Only the
// leader does it. An event still waiting is never removed.
func (e *Engine) pruneInbox() {
	if e.o.InboxRetention <= 0 || !e.o.Cluster.Leader() {
		return
	}
	n, err := e.PruneInbox(context.Background())
	if err != nil {
		e.log.Error("pruning the inbox", "err", err)
	}
	if n > 0 {
		e.log.Info("inbox pruned", "events", n)
	}
}

// PruneInbox removes the events processed before the retention, oldest
// first, and reports how many.
func (e *Engine) PruneInbox(ctx context.Context) (int64, error) {
	cutoff := e.now().Add(-e.o.InboxRetention)
	var total int64
	for after := int64(0); ; {
		n, next, err := e.st.Inbox().Prune(ctx, cutoff, after, inboxPruneWindow)
		total += n
		if err != nil || next == 0 {
			return total, err
		}
		after = next
		select {
		case <-e.stop:
			return total, nil
		default:
		}
	}
}
