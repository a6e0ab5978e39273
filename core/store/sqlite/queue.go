package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/conversa/conversa/core/store"
)

// The queues' own queries (plans.go lists them for TestQueryPlans).
const (
	// claimKeysQuery: the keys due the longest, from queue_keys_due.
	claimKeysQuery = `SELECT key FROM queue_keys WHERE queue = ? AND ready_at <= ? ORDER BY ready_at, key LIMIT ?`
	nextDueQuery   = `SELECT min(ready_at) FROM queue_keys WHERE queue = ?`
)

// queue is the leased, fair dispatch over queue_keys that the inbox and the
// outbox share. head finds a key's oldest row not done (0: none).
type queue struct {
	name string
	head func(ctx context.Context, q querier, key string) (int64, error)
	// backlog counts the rows not done.
	backlog string
}

// queued is what the inbox and the outbox offer alike (store.Queue).
type queued struct {
	h  h
	qu queue
}

func (x queued) Renew(ctx context.Context, owner string, lease time.Duration) (int, error) {
	return x.qu.renew(ctx, x.h, owner, lease)
}

func (x queued) Release(ctx context.Context, owner string) error {
	return x.qu.releaseAll(ctx, x.h, owner)
}

func (x queued) NextDue(ctx context.Context) (time.Time, error) { return x.qu.nextDue(ctx, x.h) }

func (x queued) Backlog(ctx context.Context) (int, error) {
	var n int
	err := x.h.q().QueryRowContext(ctx, x.qu.backlog).Scan(&n)
	return n, err
}

// claimedKey is one key a claim leased, with its head row.
type claimedKey struct {
	key   string
	head  int64
	lease store.Lease
}

// claim leases up to n due keys, the one due the longest first, and
// returns their head rows. Keys left with no row are removed on the way.
func (qu queue) claim(ctx context.Context, t *txn, owner string, n int, lease time.Duration) ([]claimedKey, error) {
	if n <= 0 {
		return nil, nil
	}
	now := ms(t.now)
	var out []claimedKey
	seen := map[string]bool{}
	for len(out) < n {
		keys, err := collectStrings(t.tx.QueryContext(ctx, claimKeysQuery, qu.name, now, n-len(out)))
		if err != nil {
			return nil, err
		}
		fresh := 0
		for _, k := range keys {
			if seen[k] {
				continue
			}
			seen[k] = true
			fresh++
			head, err := qu.head(ctx, t.tx, k)
			if err != nil {
				return nil, err
			}
			if head == 0 {
				if _, err := t.tx.ExecContext(ctx, `DELETE FROM queue_keys WHERE queue = ? AND key = ?`, qu.name, k); err != nil {
					return nil, err
				}
				continue
			}
			c, err := qu.lease(ctx, t, owner, k, head, lease)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		if fresh == 0 {
			break
		}
	}
	return out, nil
}

// lease leases key, whose head row is head, to owner.
func (qu queue) lease(ctx context.Context, t *txn, owner, key string, head int64, lease time.Duration) (claimedKey, error) {
	token := rand.Int64N(1<<62) + 1
	if _, err := t.tx.ExecContext(ctx, `UPDATE queue_keys SET ready_at = ?, lease_owner = ?, lease_token = ?
		WHERE queue = ? AND key = ?`, ms(t.now.Add(lease)), owner, token, qu.name, key); err != nil {
		return claimedKey{}, err
	}
	return claimedKey{key: key, head: head, lease: store.Lease{Owner: owner, Token: token}}, nil
}

// claimKey leases one key by name, as claim leases the line's first ones,
// when it is due now: ok is false, and nothing changes, when the key is
// leased (by any worker, its owner's included), put off, or has no row.
func (qu queue) claimKey(ctx context.Context, t *txn, owner, key string, lease time.Duration) (c claimedKey, ok bool, err error) {
	var ready int64
	err = t.tx.QueryRowContext(ctx, `SELECT ready_at FROM queue_keys WHERE queue = ? AND key = ?`, qu.name, key).Scan(&ready)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && ready > ms(t.now)) {
		return claimedKey{}, false, nil
	}
	if err != nil {
		return claimedKey{}, false, err
	}
	head, err := qu.head(ctx, t.tx, key)
	if err != nil || head == 0 {
		return claimedKey{}, false, err
	}
	c, err = qu.lease(ctx, t, owner, key, head, lease)
	return c, err == nil, err
}

// held checks that the lease still holds its key.
func (qu queue) held(ctx context.Context, t *txn, key string, l store.Lease) error {
	var one int
	err := t.tx.QueryRowContext(ctx, `SELECT 1 FROM queue_keys WHERE queue = ? AND key = ? AND lease_owner = ? AND lease_token = ?`,
		qu.name, key, l.Owner, l.Token).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrLeaseLost
	}
	return err
}

// release gives the key back, due at at.
func (qu queue) release(ctx context.Context, t *txn, key string, l store.Lease, at time.Time) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE queue_keys SET ready_at = ?, lease_owner = '', lease_token = 0
		WHERE queue = ? AND key = ? AND lease_owner = ? AND lease_token = ?`, ms(at), qu.name, key, l.Owner, l.Token)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrLeaseLost
	}
	return nil
}

// advance hands the key to its next row, at the back of the line (due now,
// behind every key already due), or removes it when nothing is left.
func (qu queue) advance(ctx context.Context, t *txn, key string, l store.Lease) error {
	if err := qu.held(ctx, t, key, l); err != nil {
		return err
	}
	return qu.next(ctx, t, key)
}

// next makes the key due now for its next row, or removes it when it has
// none; it leaves a key leased by someone else alone.
func (qu queue) next(ctx context.Context, t *txn, key string) error {
	head, err := qu.head(ctx, t.tx, key)
	if err != nil {
		return err
	}
	if head == 0 {
		_, err = t.tx.ExecContext(ctx, `DELETE FROM queue_keys WHERE queue = ? AND key = ?`, qu.name, key)
		return err
	}
	_, err = t.tx.ExecContext(ctx, `UPDATE queue_keys SET ready_at = ?, lease_owner = '', lease_token = 0
		WHERE queue = ? AND key = ?`, ms(t.now), qu.name, key)
	return err
}

// nudge makes an idle key due now (its head row was completed by someone
// other than a worker: an echo); a leased key is left to its worker.
func (qu queue) nudge(ctx context.Context, t *txn, key string) error {
	var owner string
	err := t.tx.QueryRowContext(ctx, `SELECT lease_owner FROM queue_keys WHERE queue = ? AND key = ?`, qu.name, key).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && owner != "") {
		return nil
	}
	if err != nil {
		return err
	}
	return qu.next(ctx, t, key)
}

// enlist makes sure a key with a new row is queued; a new key is due now.
func (qu queue) enlist(ctx context.Context, t *txn, key string) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO queue_keys (queue, key, ready_at) VALUES (?, ?, ?)
		ON CONFLICT (queue, key) DO NOTHING`, qu.name, key, ms(t.now))
	return err
}

func (qu queue) renew(ctx context.Context, h h, owner string, lease time.Duration) (int, error) {
	var n int64
	err := h.write(ctx, func(t *txn) error {
		res, err := t.tx.ExecContext(ctx, `UPDATE queue_keys SET ready_at = ? WHERE queue = ? AND lease_owner = ?`,
			ms(t.now.Add(lease)), qu.name, owner)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

func (qu queue) releaseAll(ctx context.Context, h h, owner string) error {
	return h.write(ctx, func(t *txn) error {
		_, err := t.tx.ExecContext(ctx, `UPDATE queue_keys SET ready_at = ?, lease_owner = '', lease_token = 0
			WHERE queue = ? AND lease_owner = ?`, ms(t.now), qu.name, owner)
		return err
	})
}

func (qu queue) nextDue(ctx context.Context, h h) (time.Time, error) {
	var v sql.NullInt64
	err := h.q().QueryRowContext(ctx, nextDueQuery, qu.name).Scan(&v)
	if err != nil || !v.Valid {
		return time.Time{}, err
	}
	// A key due at 0 (migrated, never scheduled) is due now.
	return fromMS(max(v.Int64, 1)), nil
}

var collectStrings = collect(func(r scanner) (string, error) {
	var s string
	err := r.Scan(&s)
	return s, err
})
