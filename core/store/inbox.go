package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/conversa/conversa/core/model"
)

// InboxItem is a received event waiting to be processed.
type InboxItem struct {
	ID            int64
	Partition     string
	Attempts      int
	NextAttemptAt time.Time
	Event         model.Event
}

// AddInbox stores a received event unless one with the same dedupe key was
// already stored for its integration. It reports whether the event is new.
func (t *Tx) AddInbox(ctx context.Context, ev *model.Event, partition string) (bool, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return false, err
	}
	var raw any
	if len(ev.Raw) > 0 {
		raw = []byte(ev.Raw)
	}
	res, err := t.exec(ctx, `INSERT INTO inbox (integration_id, dedupe_key, partition_key, kind, event, raw, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (integration_id, dedupe_key) DO NOTHING`,
		ev.Integration, ev.DedupeKey, partition, ev.Kind, string(b), raw, ms(t.now))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// PendingInbox lists unprocessed events with an id above after, due at now,
// oldest first.
func (s *Store) PendingInbox(ctx context.Context, after int64, now time.Time, limit int) ([]InboxItem, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, partition_key, attempts, next_attempt_at, event FROM inbox
		WHERE processed_at IS NULL AND id > ? AND next_attempt_at <= ? ORDER BY id LIMIT ?`, after, ms(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []InboxItem
	for rows.Next() {
		var it InboxItem
		var ev string
		var next int64
		if err := rows.Scan(&it.ID, &it.Partition, &it.Attempts, &next, &ev); err != nil {
			return nil, err
		}
		it.NextAttemptAt = fromMS(next)
		if err := json.Unmarshal([]byte(ev), &it.Event); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// InboxBacklog counts unprocessed events.
func (s *Store) InboxBacklog(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM inbox WHERE processed_at IS NULL`).Scan(&n)
	return n, err
}

// DoneInbox marks an event processed, with a note on what was done with it
// when that is worth recording (ignored, unknown message...).
func (t *Tx) DoneInbox(ctx context.Context, id int64, note string) error {
	_, err := t.exec(ctx, `UPDATE inbox SET processed_at = ?, note = ? WHERE id = ?`, ms(t.now), note, id)
	return err
}

// RetryInbox records a failed processing attempt and when to try again.
func (t *Tx) RetryInbox(ctx context.Context, id int64, next time.Time, note string) error {
	_, err := t.exec(ctx, `UPDATE inbox SET attempts = attempts + 1, next_attempt_at = ?, note = ? WHERE id = ?`,
		ms(next), note, id)
	return err
}
