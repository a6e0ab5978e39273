package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

type inbox struct {
	h
	queued
}

func newInbox(x h) inbox { return inbox{x, queued{x, inboxQueue}} }

// The inbox's queries (plans.go lists them for TestQueryPlans).
const (
	inboxBacklogQuery = `SELECT count(*) FROM inbox WHERE processed_at IS NULL`
	// inboxHeadQuery: a key's oldest event not processed, from inbox_open.
	inboxHeadQuery  = `SELECT id FROM inbox WHERE partition_key = ? AND processed_at IS NULL ORDER BY id LIMIT 1`
	inboxClaimQuery = `SELECT partition_key, attempts, received_at, event FROM inbox WHERE id = ?`
	inboxDoneQuery  = `UPDATE inbox SET processed_at = ?, note = ? WHERE id = ? AND processed_at IS NULL`
	inboxAddQuery   = `INSERT INTO inbox (integration_id, dedupe_key, partition_key, kind, event, raw, received_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (integration_id, dedupe_key) DO NOTHING`
	// inboxPruneScanQuery walks the inbox in id order (the order events
	// arrive in), a window at a time: no index but the table's own.
	inboxPruneScanQuery = `SELECT id, received_at, processed_at FROM inbox WHERE id > ? ORDER BY id LIMIT ?`
)

var inboxQueue = queue{name: "inbox", backlog: inboxBacklogQuery, head: func(ctx context.Context, q querier, key string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, inboxHeadQuery, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, err
}}

func (x inbox) Add(ctx context.Context, ev *model.Event, partition string) (bool, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return false, err
	}
	var raw any
	if len(ev.Raw) > 0 {
		raw = []byte(ev.Raw)
	}
	var added bool
	err = x.write(ctx, func(t *txn) error {
		res, err := t.tx.ExecContext(ctx, inboxAddQuery, ev.Integration, ev.DedupeKey, partition, ev.Kind, string(b), raw, ms(t.now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			added = false
			return err
		}
		added = true
		return inboxQueue.enlist(ctx, t, partition)
	})
	return added, err
}

func (x inbox) Claim(ctx context.Context, owner string, n int, lease time.Duration) ([]store.InboxItem, error) {
	var out []store.InboxItem
	err := x.write(ctx, func(t *txn) error {
		out = nil
		keys, err := inboxQueue.claim(ctx, t, owner, n, lease)
		if err != nil {
			return err
		}
		for _, k := range keys {
			it, err := claimedInbox(ctx, t, k)
			if err != nil {
				return err
			}
			out = append(out, it)
		}
		return nil
	})
	return out, err
}

// claimedInbox reads the head row of a key just claimed.
func claimedInbox(ctx context.Context, t *txn, k claimedKey) (store.InboxItem, error) {
	it := store.InboxItem{ID: k.head, Lease: k.lease}
	var ev string
	var received int64
	if err := t.tx.QueryRowContext(ctx, inboxClaimQuery, k.head).Scan(&it.Partition, &it.Attempts, &received, &ev); err != nil {
		return store.InboxItem{}, err
	}
	it.ReceivedAt = fromMS(received)
	if err := json.Unmarshal([]byte(ev), &it.Event); err != nil {
		return store.InboxItem{}, err
	}
	return it, nil
}

func (x inbox) Done(ctx context.Context, it *store.InboxItem, note string) error {
	return x.write(ctx, func(t *txn) error {
		if err := inboxQueue.held(ctx, t, it.Partition, it.Lease); err != nil {
			return err
		}
		if _, err := t.tx.ExecContext(ctx, inboxDoneQuery, ms(t.now), note, it.ID); err != nil {
			return err
		}
		return inboxQueue.next(ctx, t, it.Partition)
	})
}

func (x inbox) Retry(ctx context.Context, it *store.InboxItem, at time.Time, note string) error {
	return x.putOff(ctx, it, at, note, 1)
}

func (x inbox) Defer(ctx context.Context, it *store.InboxItem, at time.Time, note string) error {
	return x.putOff(ctx, it, at, note, 0)
}

// putOff gives the event's key back, due at at, counting attempts more.
func (x inbox) putOff(ctx context.Context, it *store.InboxItem, at time.Time, note string, attempts int) error {
	return x.write(ctx, func(t *txn) error {
		if err := inboxQueue.held(ctx, t, it.Partition, it.Lease); err != nil {
			return err
		}
		if _, err := t.tx.ExecContext(ctx, `UPDATE inbox SET attempts = attempts + ?, note = ? WHERE id = ?`,
			attempts, note, it.ID); err != nil {
			return err
		}
		return inboxQueue.release(ctx, t, it.Partition, it.Lease, at)
	})
}

func (x inbox) Prune(ctx context.Context, cutoff time.Time, after int64, max int) (int64, int64, error) {
	var removed, next int64
	err := x.write(ctx, func(t *txn) error {
		removed, next = 0, 0
		rows, err := t.tx.QueryContext(ctx, inboxPruneScanQuery, after, max)
		if err != nil {
			return err
		}
		var gone []int64
		seen, last, done := 0, after, false
		for rows.Next() {
			var id, received int64
			var processed sql.NullInt64
			if err := rows.Scan(&id, &received, &processed); err != nil {
				rows.Close()
				return err
			}
			seen++
			if received >= ms(cutoff) {
				done = true
				break
			}
			last = id
			if processed.Valid && processed.Int64 < ms(cutoff) {
				gone = append(gone, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(gone) > 0 {
			list, _ := json.Marshal(gone)
			res, err := t.tx.ExecContext(ctx, `DELETE FROM inbox WHERE id IN (SELECT value FROM json_each(?))`, string(list))
			if err != nil {
				return err
			}
			if removed, err = res.RowsAffected(); err != nil {
				return err
			}
		}
		if !done && seen == max {
			next = last
		}
		return nil
	})
	return removed, next, err
}
