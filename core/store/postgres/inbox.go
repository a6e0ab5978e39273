package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

type inbox struct {
	h
	queueMethods
}

var _ store.Inbox = inbox{}

func newInbox(x h) inbox { return inbox{x, queueMethods{x, ibQueue}} }

// inboxHeadQuery: a key's oldest event not processed (inbox_open).
const inboxHeadQuery = `SELECT id FROM inbox WHERE partition_key = $1 AND processed_at IS NULL ORDER BY id LIMIT 1`

// A contact's events are one queue key: the partition Add is given.
var ibQueue = newQueue("inbox", `SELECT count(*) FROM inbox WHERE processed_at IS NULL`, inboxHeadQuery,
	func(key string) (any, error) { return key, nil })

func (x inbox) Add(ctx context.Context, ev *model.Event, partition string) (bool, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return false, err
	}
	var raw []byte // NULL when the channel kept nothing
	if len(ev.Raw) > 0 {
		raw = []byte(ev.Raw)
	}
	var added bool
	err = x.write(ctx, func(t *txn) error {
		added = false
		// The key first (see queue): the row is inserted under its lock. A
		// redelivery leaves the key enlisted; a claim removes it when it
		// has no row.
		if err := ibQueue.enlist(ctx, t.tx, partition, t.now); err != nil {
			return err
		}
		// The unique key decides between concurrent deliveries, without an
		// error that would abort the transaction.
		tag, err := t.tx.Exec(ctx, `INSERT INTO inbox (integration_id, dedupe_key, partition_key, kind, event, raw, received_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (integration_id, dedupe_key) DO NOTHING`,
			ev.Integration, ev.DedupeKey, partition, ev.Kind, string(b), raw, ms(t.now))
		if err != nil {
			return err
		}
		added = tag.RowsAffected() == 1
		return nil
	})
	return added, err
}

func (x inbox) Claim(ctx context.Context, owner string, n int, lease time.Duration) ([]store.InboxItem, error) {
	var out []store.InboxItem
	err := x.write(ctx, func(t *txn) error {
		out = nil
		keys, err := ibQueue.claim(ctx, t, owner, n, lease)
		if err != nil || len(keys) == 0 {
			return err
		}
		ids := make([]int64, len(keys))
		for i, k := range keys {
			ids[i] = k.head
		}
		rows, err := t.tx.Query(ctx, ibClaimedQuery, ids)
		if err != nil {
			return err
		}
		byID, err := ibScanItems(rows)
		if err != nil {
			return err
		}
		for _, k := range keys {
			it, ok := byID[k.head]
			if !ok {
				return fmt.Errorf("inbox row %d, head of %s: gone", k.head, k.key)
			}
			it.Lease = k.lease
			out = append(out, it)
		}
		return nil
	})
	return out, err
}

// ibClaimedQuery reads the head rows of keys just claimed, by id.
const ibClaimedQuery = `SELECT id, partition_key, attempts, received_at, event FROM inbox WHERE id = ANY($1)`

// ibScanItems reads claimed rows by id (their lease not yet set).
func ibScanItems(rows pgx.Rows) (map[int64]store.InboxItem, error) {
	defer rows.Close()
	out := map[int64]store.InboxItem{}
	for rows.Next() {
		var it store.InboxItem
		var ev string
		var received int64
		if err := rows.Scan(&it.ID, &it.Partition, &it.Attempts, &received, &ev); err != nil {
			return nil, err
		}
		it.ReceivedAt = fromMS(received)
		if err := json.Unmarshal([]byte(ev), &it.Event); err != nil {
			return nil, fmt.Errorf("inbox row %d event: %w", it.ID, err)
		}
		out[it.ID] = it
	}
	return out, rows.Err()
}

func (x inbox) Done(ctx context.Context, it *store.InboxItem, note string) error {
	return x.write(ctx, func(t *txn) error {
		if err := ibQueue.held(ctx, t, it.Partition, it.Lease); err != nil {
			return err
		}
		if _, err := t.tx.Exec(ctx, `UPDATE inbox SET processed_at = $1, note = $2 WHERE id = $3 AND processed_at IS NULL`,
			ms(t.now), note, it.ID); err != nil {
			return err
		}
		return ibQueue.next(ctx, t, it.Partition)
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
		if err := ibQueue.held(ctx, t, it.Partition, it.Lease); err != nil {
			return err
		}
		if _, err := t.tx.Exec(ctx, `UPDATE inbox SET attempts = attempts + $1, note = $2 WHERE id = $3`,
			attempts, note, it.ID); err != nil {
			return err
		}
		return ibQueue.release(ctx, t, it.Partition, it.Lease, at)
	})
}

// inboxPruneScanQuery walks the inbox in id order (the order events arrive
// in), a window at a time, on the primary key.
const inboxPruneScanQuery = `SELECT id, received_at, processed_at FROM inbox WHERE id > $1 ORDER BY id LIMIT $2`

func (x inbox) Prune(ctx context.Context, cutoff time.Time, after int64, max int) (int64, int64, error) {
	var removed, next int64
	err := x.write(ctx, func(t *txn) error {
		removed, next = 0, 0
		rows, err := t.tx.Query(ctx, inboxPruneScanQuery, after, max)
		if err != nil {
			return err
		}
		var gone []int64
		seen, last, done := 0, after, false
		for rows.Next() {
			var id, received int64
			var processed *int64
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
			if processed != nil && *processed < ms(cutoff) {
				gone = append(gone, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(gone) > 0 {
			// processed_at is checked again: the rows were read without a lock.
			tag, err := t.tx.Exec(ctx, `DELETE FROM inbox WHERE id = ANY($1) AND processed_at < $2`, gone, ms(cutoff))
			if err != nil {
				return err
			}
			removed = tag.RowsAffected()
		}
		if !done && seen == max {
			next = last
		}
		return nil
	})
	return removed, next, err
}
