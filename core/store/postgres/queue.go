package postgres

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/conversa/conversa/core/store"
)

// claimKeysQuery: the keys due the longest, in queue_keys_due's order.
const claimKeysQuery = `SELECT key FROM queue_keys WHERE queue = $1 AND ready_at <= $2
	ORDER BY ready_at, key COLLATE "C" LIMIT $3 FOR UPDATE SKIP LOCKED`

// queue is the leased, fair dispatch over queue_keys that the inbox and the
// outbox share: one row per key (a contact's events, a conversation's
// sends) saying when the key is next due and, while a worker holds it, its
// lease. head finds a key's oldest row not done (0: none).
//
// Several nodes share the table, so what SQLite's single writer gave for
// free rests here on the lock of the key's row, taken before anything that
// decides on the key is read:
//
//   - Claim picks due keys with FOR UPDATE SKIP LOCKED: a key another
//     transaction is working on is passed over, never waited for, so two
//     claimers never lock one key; the lease it writes (ready_at = when the
//     lease expires) keeps later claimers away until it lapses.
//   - A new row enlists its key before it is inserted, with an upsert whose
//     no-op DO UPDATE takes the key row's lock (or creates the row). Every
//     row of a key is therefore inserted under the key's lock: a key's rows
//     get their ids in commit order (a key's order is by id), and whoever
//     holds the lock knows no row of the key is being added meanwhile.
//   - Completing, retrying or deferring a row (and a claim finding a key
//     empty) first locks the key row, checking the lease against its
//     newest version, and only then, in a new statement (a new snapshot
//     under READ COMMITTED), looks for the key's next row, deleting the key
//     when there is none. A row committed before the lock was granted is
//     seen; one still being added waits at its enlist for the lock and,
//     finding the key deleted, inserts it again (ON CONFLICT tries the
//     insert again when the conflicting row is gone). One "DELETE … WHERE
//     NOT EXISTS (open rows)" would not do: after waiting for the lock it
//     re-checks the key row, but its subquery keeps the old snapshot and
//     can miss a row committed meanwhile, which would be stranded with no
//     key.
//
// Locks are taken in one order, the key's row first, then the message and
// the outbox row, so the queue's own writers do not deadlock one another
// (a deadlock with a caller's transaction is retried whole by DB.write).
type queue struct {
	name string
	// backlog counts the rows not done.
	backlog string
	// headArg makes a key into its head query's argument (newQueue's
	// headSQL takes it as $1).
	headArg func(key string) (any, error)
	// The statements that find the key's head and act on it in one round
	// trip (newQueue makes them from the head query). Each runs after the
	// key row's lock was granted, so its snapshot, taken then, holds every
	// row of the key, as a head query run on its own after the lock would.
	// $1 queue, $2 key, $3 headArg, then the statement's own arguments.
	//   - leaseSQL: lease the key when it has a row (ready_at $4, owner
	//     $5, token $6), returning the head; nothing changes when it has
	//     none.
	//   - leaseOrDropSQL: lease, or delete the key when it has no row.
	//   - nextSQL: make the key due at $4 for its next row, unleased, or
	//     delete it when it has none.
	leaseSQL, leaseOrDropSQL, nextSQL string
}

// newQueue is the queue over queue_keys named name whose rows headSQL
// finds the oldest not done of (its key's argument as $1, made by headArg).
func newQueue(name, backlog, headSQL string, headArg func(key string) (any, error)) queue {
	h := `WITH h AS (` + strings.Replace(headSQL, "$1", "$3", 1) + `)`
	const (
		key  = ` WHERE queue = $1 AND key = $2`
		drop = `, gone AS (DELETE FROM queue_keys` + key + ` AND NOT EXISTS (SELECT 1 FROM h))`
		some = ` AND EXISTS (SELECT 1 FROM h)`
	)
	lease := ` UPDATE queue_keys SET ready_at = $4, lease_owner = $5, lease_token = $6` + key + some + ` RETURNING (SELECT id FROM h)`
	return queue{name: name, backlog: backlog, headArg: headArg,
		leaseSQL:       h + lease,
		leaseOrDropSQL: h + drop + lease,
		nextSQL:        h + drop + ` UPDATE queue_keys SET ready_at = $4, lease_owner = '', lease_token = 0` + key + some,
	}
}

// queueMethods is what the inbox and the outbox offer alike (store.Queue).
type queueMethods struct {
	h  h
	qu queue
}

func (x queueMethods) Renew(ctx context.Context, owner string, lease time.Duration) (int, error) {
	return x.qu.renew(ctx, x.h, owner, lease)
}

func (x queueMethods) Release(ctx context.Context, owner string) error {
	return x.qu.releaseAll(ctx, x.h, owner)
}

func (x queueMethods) NextDue(ctx context.Context) (time.Time, error) { return x.qu.nextDue(ctx, x.h) }

func (x queueMethods) Backlog(ctx context.Context) (int, error) {
	var n int
	err := x.h.q().QueryRow(ctx, x.qu.backlog).Scan(&n)
	return n, err
}

// qClaimed is one key a claim leased, with its head row.
type qClaimed struct {
	key   string
	head  int64
	lease store.Lease
}

// claim leases up to n due keys, the one due the longest first, and
// returns their head rows. Keys left with no row are removed on the way.
// Keys are ordered bytewise (COLLATE "C"), as SQLite does, whatever the
// database's collation.
func (qu queue) claim(ctx context.Context, t *txn, owner string, n int, lease time.Duration) ([]qClaimed, error) {
	if n <= 0 {
		return nil, nil
	}
	var out []qClaimed
	seen := map[string]bool{}
	for len(out) < n {
		// Keys this transaction leased or deleted no longer match; the loop
		// goes on while deleted keys leave room for more.
		keys, err := collectStrings(t.tx.Query(ctx, claimKeysQuery, qu.name, ms(t.now), n-len(out)))
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
			// The key is locked: a row being added to it waits at its enlist,
			// so this (new) snapshot holds every row the key has. A key with
			// none is deleted.
			c, ok, err := qu.leaseKey(ctx, t, qu.leaseOrDropSQL, owner, k, lease)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, c)
			}
		}
		if fresh == 0 {
			break
		}
	}
	return out, nil
}

// leaseKey leases key to owner with stmt (leaseSQL or leaseOrDropSQL) when it
// has a row not done: ok is false when it has none. The caller holds the
// key row's lock.
func (qu queue) leaseKey(ctx context.Context, t *txn, stmt, owner, key string, lease time.Duration) (c qClaimed, ok bool, err error) {
	arg, err := qu.headArg(key)
	if err != nil {
		return qClaimed{}, false, err
	}
	token := rand.Int64N(1<<62) + 1
	var head int64
	err = t.tx.QueryRow(ctx, stmt, qu.name, key, arg, ms(t.now.Add(lease)), owner, token).Scan(&head)
	if errors.Is(err, pgx.ErrNoRows) {
		return qClaimed{}, false, nil
	}
	if err != nil {
		return qClaimed{}, false, err
	}
	return qClaimed{key: key, head: head, lease: store.Lease{Owner: owner, Token: token}}, true, nil
}

// claimKey leases one key by name, as claim leases the line's first ones,
// when it is due now: ok is false, and nothing changes, when the key is
// leased (by any worker, its owner's included), put off, or has no row.
// The key row's lock orders it against the other nodes' claims and
// completions, as claim's SKIP LOCKED does (a key another transaction is
// claiming is waited for, then seen leased).
func (qu queue) claimKey(ctx context.Context, t *txn, owner, key string, lease time.Duration) (c qClaimed, ok bool, err error) {
	var ready int64
	err = t.tx.QueryRow(ctx, `SELECT ready_at FROM queue_keys WHERE queue = $1 AND key = $2 FOR UPDATE`,
		qu.name, key).Scan(&ready)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && ready > ms(t.now)) {
		return qClaimed{}, false, nil
	}
	if err != nil {
		return qClaimed{}, false, err
	}
	return qu.leaseKey(ctx, t, qu.leaseSQL, owner, key, lease)
}

// lock takes the key row's lock for the rest of the transaction and
// returns its lease as of then (queued false: the key has no row). It
// waits for a transaction working on the key, then reads the key's newest
// version.
func (qu queue) lock(ctx context.Context, t *txn, key string) (l store.Lease, queued bool, err error) {
	err = t.tx.QueryRow(ctx, `SELECT lease_owner, lease_token FROM queue_keys WHERE queue = $1 AND key = $2 FOR UPDATE`,
		qu.name, key).Scan(&l.Owner, &l.Token)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Lease{}, false, nil
	}
	return l, err == nil, err
}

// held locks the key and checks that the lease still holds it.
func (qu queue) held(ctx context.Context, t *txn, key string, l store.Lease) error {
	cur, queued, err := qu.lock(ctx, t, key)
	if err != nil {
		return err
	}
	if !queued || cur != l {
		return store.ErrLeaseLost
	}
	return nil
}

// release gives the key back, due at at. The caller holds the key (held).
func (qu queue) release(ctx context.Context, t *txn, key string, l store.Lease, at time.Time) error {
	tag, err := t.tx.Exec(ctx, `UPDATE queue_keys SET ready_at = $1, lease_owner = '', lease_token = 0
		WHERE queue = $2 AND key = $3 AND lease_owner = $4 AND lease_token = $5`, ms(at), qu.name, key, l.Owner, l.Token)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
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
// none. The caller must hold the key row's lock (lock, held): the head is
// looked for only after it was granted, so no row committed or being added
// meanwhile is missed.
func (qu queue) next(ctx context.Context, t *txn, key string) error {
	arg, err := qu.headArg(key)
	if err != nil {
		return err
	}
	_, err = t.tx.Exec(ctx, qu.nextSQL, qu.name, key, arg, ms(t.now))
	return err
}

// enlist makes sure a key about to get a new row is queued (a new key is
// due at now) and takes its lock: run it before inserting the row. The
// no-op DO UPDATE is what takes the lock of an existing key; it leaves its
// due time and lease alone. q is the transaction or a savepoint of it.
func (qu queue) enlist(ctx context.Context, q querier, key string, now time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO queue_keys (queue, key, ready_at) VALUES ($1, $2, $3)
		ON CONFLICT (queue, key) DO UPDATE SET queue = excluded.queue`, qu.name, key, ms(now))
	return err
}

// renew extends owner's leases. An UPDATE that waited for a claimer
// re-checks lease_owner against the newest row, so a lease lost meanwhile
// is not renewed.
func (qu queue) renew(ctx context.Context, h h, owner string, lease time.Duration) (int, error) {
	var n int64
	err := h.write(ctx, func(t *txn) error {
		tag, err := t.tx.Exec(ctx, `UPDATE queue_keys SET ready_at = $1 WHERE queue = $2 AND lease_owner = $3`,
			ms(t.now.Add(lease)), qu.name, owner)
		n = tag.RowsAffected()
		return err
	})
	return int(n), err
}

func (qu queue) releaseAll(ctx context.Context, h h, owner string) error {
	return h.write(ctx, func(t *txn) error {
		_, err := t.tx.Exec(ctx, `UPDATE queue_keys SET ready_at = $1, lease_owner = '', lease_token = 0
			WHERE queue = $2 AND lease_owner = $3`, ms(t.now), qu.name, owner)
		return err
	})
}

func (qu queue) nextDue(ctx context.Context, h h) (time.Time, error) {
	var v *int64
	err := h.q().QueryRow(ctx, `SELECT min(ready_at) FROM queue_keys WHERE queue = $1`, qu.name).Scan(&v)
	if err != nil || v == nil {
		return time.Time{}, err
	}
	// A key due at 0 (migrated, never scheduled) is due now.
	return fromMS(max(*v, 1)), nil
}
