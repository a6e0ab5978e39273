package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/conversa/conversa/core/store"
)

// The search indexer (migration 0012): messages are stored without
// touching the full-text index, and this indexes them moments later in
// transactions of its own, so an exchange never pays for indexing. It
// runs in the process that has the store open, woken by each stored
// message; search may trail a message by the time one pass takes.
//
// Each index keeps its rows in shards of ids (migration 0016), each
// row indexed in the shard of its id, a message's words listed for its
// shard (see searchShardBits), so that a search reads the newest shards
// first and never a doclist of the whole history.
//
// Two passes share it. The forward pass indexes the messages stored since
// the last one (above search_progress.indexed_to) and the contacts (above
// contacts_indexed_to, migration 0013, and those stored below it, which
// migration 0014 lists), oldest first, a slice of each a transaction (see
// indexHold). The back-fill indexes the messages stored
// before migration 0012 (at and below backfill_to), newest first (the
// ones a search shows first), then the contacts stored before it, a batch per transaction with a pause as long
// as the batch took, so it takes at most half of the writer's time while
// the server works. Each transaction moves its cursor with the rows it
// indexed: a crash redoes nothing twice and loses nothing.

// indexBatch is the most rows of each table (messages, contacts) one
// indexing transaction takes, where pace starts; indexMinBatch the least
// it takes while more are waiting.
const (
	indexBatch    = 500
	indexMinBatch = 32
)

// indexHold is how long one indexing transaction should hold the writer,
// its commit included: every writer that arrives meanwhile waits for it.
// At 1,000 exchanges a second a pass is about 500 messages and 250
// contacts; in one transaction it held the writer 10-15 ms (p90 9.4-9.7
// ms), four times a second, where a group commit of ordinary writes takes
// 1.1 ms (p90 2.4). In slices of about 4 ms (p90 4.9-5.3 ms) an ordinary
// write's p99, from its submission to its commit, fell from 10.8-10.9 ms
// to 8.5-9.4, for 30 % more of the writer's time in indexing (a
// transaction costs FTS4 a segment in each index: BenchmarkIndexPass
// shows 0.28 ms for one exchange's rows, 6 ms for 250 exchanges'); at 2 ms
// that was 80 % more for no better p99. How many rows fit is the
// machine's and the messages' (pace learns it).
const indexHold = 4 * time.Millisecond

// indexEvery is the least time between two forward passes that found
// work: while messages keep coming, each pass takes what arrived since the
// last one, in as few transactions as indexHold allows (a search trails
// them by at most about this long), rather than one transaction a message;
// the first message after a quiet spell is indexed at once. A transaction
// costs FTS4 a new segment in each of its four indexes (the words and
// three prefix lengths) and their merges, whatever it holds, so bigger
// ones cost far less a message:
// BenchmarkExchangeWrites (one exchange's writes and their indexing) took
// 555-713 µs an exchange at 20 ms, 424-456 at 100 ms, 401-426 at 250 ms
// and 393-414 at 500 ms.
const indexEvery = 250 * time.Millisecond

// indexPoll is how often the indexer looks for messages nobody woke it
// for.
const indexPoll = time.Minute

// backfillLogEvery is how often the back-fill logs its progress.
const backfillLogEvery = 30 * time.Second

// The indexer's statements (plans.go lists them for TestQueryPlans).
const (
	searchProgressQuery = `SELECT indexed_to, backfill_to, contacts_backfill_to, contacts_indexed_to FROM search_progress WHERE id = 1`
	// contactsRangeQuery and contactWordsRangeQuery back-fill contacts as
	// the ones above do messages.
	contactsRangeQuery = `INSERT INTO contact_search (docid, name, username, channel_user_id, shard)
		SELECT id, name, username, channel_user_id, id >> 18 FROM contacts WHERE id >= ? AND id <= ? ORDER BY id`
	contactWordsRangeQuery = `INSERT OR IGNORE INTO search_words (word)
		SELECT t.token FROM contacts c, search_tokens t WHERE c.id >= ? AND c.id <= ?
			AND t.input = c.name || ' ' || c.username || ' ' || c.channel_user_id`
	// The contacts stored below the forward cursor (migration 0014): each
	// indexed as it is now (the update trigger may have indexed it
	// already, so what is there is replaced), its words listed, the list
	// emptied.
	lateContactsUnindexQuery = `DELETE FROM contact_search WHERE docid IN (SELECT id FROM contact_search_late)`
	lateContactsIndexQuery   = `INSERT INTO contact_search (docid, name, username, channel_user_id, shard)
		SELECT c.id, c.name, c.username, c.channel_user_id, c.id >> 18 FROM contact_search_late l JOIN contacts c ON c.id = l.id
		ORDER BY c.id`
	lateContactWordsQuery = `INSERT OR IGNORE INTO search_words (word)
		SELECT t.token FROM contact_search_late l JOIN contacts c ON c.id = l.id, search_tokens t
			WHERE t.input = c.name || ' ' || c.username || ' ' || c.channel_user_id`
	lateContactsDoneQuery = `DELETE FROM contact_search_late`
	// indexRangeQuery indexes the searchable messages of a range, each in
	// its shard (migration 0016), in ascending docid order: FTS4 keeps a
	// transaction's terms in memory only while docids ascend (and the
	// shard stays the same), and would write a segment per row otherwise.
	indexRangeQuery = `INSERT INTO message_search (docid, body, shard)
		SELECT id, body, id >> 18 FROM message_search_source WHERE id >= ? AND id <= ? AND body IS NOT NULL ORDER BY id`
	// wordsRangeQuery lists the shards the words of a range's messages are
	// in (and, by its trigger, the words new to search_words).
	wordsRangeQuery = `INSERT OR IGNORE INTO message_search_shards (word, shard)
		SELECT t.token, s.id >> 18 FROM message_search_source s, search_tokens t WHERE s.id >= ? AND s.id <= ? AND t.input = s.body`
)

// searchCursors are search_progress's cursors (see the top of this file).
type searchCursors struct {
	messagesTo, backfillTo, contactsBackfillTo, contactsTo int64
}

func readCursors(ctx context.Context, t *txn) (c searchCursors, err error) {
	if err := t.tx.QueryRowContext(ctx, searchProgressQuery).Scan(&c.messagesTo, &c.backfillTo, &c.contactsBackfillTo,
		&c.contactsTo); err != nil {
		return c, fmt.Errorf("search progress: %w", err)
	}
	return c, nil
}

// forwardRangeQuery is the last id of the next batch of new messages or
// contacts.
var forwardRangeQuery = map[string]string{
	"messages": `SELECT max(id) FROM (SELECT id FROM messages WHERE id > ? ORDER BY id LIMIT ?)`,
	"contacts": `SELECT max(id) FROM (SELECT id FROM contacts WHERE id > ? ORDER BY id LIMIT ?)`,
}

// backfillRangeQuery is the first id of the next batch of old messages
// or contacts.
var backfillRangeQuery = map[string]string{
	"messages": `SELECT min(id) FROM (SELECT id FROM messages WHERE id <= ? ORDER BY id DESC LIMIT ?)`,
	"contacts": `SELECT min(id) FROM (SELECT id FROM contacts WHERE id <= ? ORDER BY id DESC LIMIT ?)`,
}

// indexRange indexes the searchable messages with from <= id <= to, and
// lists their words.
func indexRange(ctx context.Context, t *txn, from, to int64) error {
	if _, err := t.tx.ExecContext(ctx, indexRangeQuery, from, to); err != nil {
		return fmt.Errorf("indexing messages %d to %d: %w", from, to, err)
	}
	if _, err := t.tx.ExecContext(ctx, wordsRangeQuery, from, to); err != nil {
		return fmt.Errorf("listing the words of messages %d to %d: %w", from, to, err)
	}
	return nil
}

// wakeIndexer tells the indexer a message or a contact was stored (or is
// about to be: its pass queues behind the transaction that stores it).
func (db *DB) wakeIndexer() {
	select {
	case db.indexWake <- struct{}{}:
	default:
	}
}

// indexer runs the passes until the store closes: the forward pass on
// each wake, the back-fill while there is something left of it.
func (db *DB) indexer() {
	defer close(db.indexDone)
	ctx := context.Background()
	lastLog := time.Time{}
	backfilling, backfilled := true, false
	for {
		n, err := db.indexForward(ctx)
		if err != nil {
			if errors.Is(err, store.ErrClosed) {
				return
			}
			db.log.Error("indexing new messages for search", "err", err)
		}
		if n > 0 {
			select {
			case <-db.stop:
				return
			case <-time.After(indexEvery):
			}
		}
		// A message stored by another process wakes nobody here: look
		// now and then anyway.
		pause := time.After(indexPoll)
		if backfilling {
			start := time.Now()
			left, err := db.backfill(ctx)
			switch {
			case errors.Is(err, store.ErrClosed):
				return
			case err != nil:
				db.log.Error("back-filling the search index", "err", err)
				pause = time.After(10 * time.Second)
			case left == 0:
				backfilling = false
				if backfilled {
					db.log.Info("search index back-filled: search covers every message and contact")
				}
			default:
				backfilled = true
				pause = time.After(time.Since(start))
				if time.Since(lastLog) >= backfillLogEvery {
					lastLog = time.Now()
					// left: the ids of the messages, and then of the
					// contacts, still to index.
					db.log.Info("back-filling the search index, newest first: search covers the newer history meanwhile",
						"left", left)
				}
			}
		}
		select {
		case <-db.stop:
			return
		case <-db.indexWake:
		case <-pause:
		}
	}
}

// indexWrite runs fn in a transaction of its own (never in a group commit
// with other writers, who would wait for it) that need not wait for the
// disk: a pass lost in a crash is done again.
func (db *DB) indexWrite(ctx context.Context, fn func(*txn) error) (held time.Duration, err error) {
	j := &job{ctx: ctx, fn: fn, unsynced: true, alone: true}
	err = db.submitJob(ctx, j)
	return j.held, err
}

// pace learns how many rows of each table an indexing transaction takes,
// from one that held the writer for held and was full (a table gave it
// limit rows, more waiting): limit scaled to what would have held it for
// indexHold, averaged with limit, within indexMinBatch and indexBatch. A
// transaction that was not full says little (a few rows cost mostly the
// transaction), so the limit stays.
func (db *DB) pace(limit int, full bool, held time.Duration) {
	if !full || held <= 0 {
		return
	}
	fit := float64(limit) * float64(indexHold) / float64(held)
	next := int64((float64(limit) + fit) / 2)
	db.indexPace.Store(min(max(next, indexMinBatch), indexBatch))
}

// indexForward indexes the messages and contacts stored since the last
// pass, a batch of each per transaction, and reports how many it looked
// at.
func (db *DB) indexForward(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := db.indexForwardSlice(ctx)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

// indexForwardSlice is one transaction of the forward pass: the next slice
// of new messages and of new contacts (as many of each as the pace says),
// and the contacts stored late. It reports how many ids it covered.
func (db *DB) indexForwardSlice(ctx context.Context) (int, error) {
	n, full := 0, false
	limit := int(db.indexPace.Load())
	held, err := db.indexWrite(ctx, func(t *txn) error {
		cur, err := readCursors(ctx, t)
		if err != nil {
			return err
		}
		m, err := indexNew(ctx, t, "messages", cur.messagesTo, limit, indexRange, "indexed_to")
		if err != nil {
			return err
		}
		c, err := indexNew(ctx, t, "contacts", cur.contactsTo, limit, indexContacts, "contacts_indexed_to")
		if err != nil {
			return err
		}
		late, err := indexLateContacts(ctx, t)
		n, full = m+c+late, m >= limit || c >= limit
		return err
	})
	if err == nil {
		db.pace(limit, full, held)
	}
	return n, err
}

// indexNew indexes the next limit of table's rows above the cursor
// progress (at after), moves the cursor past them, and reports how many
// ids it covered.
func indexNew(ctx context.Context, t *txn, table string, after int64, limit int, index func(context.Context, *txn, int64, int64) error,
	progress string) (int, error) {
	var last sql.NullInt64
	if err := t.tx.QueryRowContext(ctx, forwardRangeQuery[table], after, limit).Scan(&last); err != nil {
		return 0, err
	}
	if !last.Valid {
		return 0, nil
	}
	if err := index(ctx, t, after+1, last.Int64); err != nil {
		return 0, err
	}
	if _, err := t.tx.ExecContext(ctx, `UPDATE search_progress SET `+progress+` = ? WHERE id = 1`, last.Int64); err != nil {
		return 0, err
	}
	return int(last.Int64 - after), nil
}

// backfill indexes the next batch of the messages stored before the
// index, newest first, then of the contacts, and reports the id below
// which messages or contacts are left (0: done).
func (db *DB) backfill(ctx context.Context) (int64, error) {
	var left int64
	full, limit := false, int(db.indexPace.Load())
	held, err := db.indexWrite(ctx, func(t *txn) error {
		cur, err := readCursors(ctx, t)
		if err != nil {
			return err
		}
		backfillTo, contactsTo := cur.backfillTo, cur.contactsBackfillTo
		table, below, index, progress := "messages", backfillTo, indexRange, "backfill_to"
		if backfillTo <= 0 {
			table, below, index, progress = "contacts", contactsTo, indexContacts, "contacts_backfill_to"
		}
		left = below
		if below <= 0 {
			return nil
		}
		var first sql.NullInt64
		if err := t.tx.QueryRowContext(ctx, backfillRangeQuery[table], below, limit).Scan(&first); err != nil {
			return err
		}
		from := int64(1)
		if first.Valid {
			from = first.Int64
		}
		full = below-from+1 == int64(limit)
		if err := index(ctx, t, from, below); err != nil {
			return fmt.Errorf("back-filling: %w", err)
		}
		left = from - 1
		if table == "messages" {
			left += contactsTo // the contacts come next
		}
		_, err = t.tx.ExecContext(ctx, `UPDATE search_progress SET `+progress+` = ? WHERE id = 1`, from-1)
		return err
	})
	if err == nil {
		db.pace(limit, full, held)
	}
	return left, err
}

// indexContacts indexes the contacts with from <= id <= to, and lists
// their words.
func indexContacts(ctx context.Context, t *txn, from, to int64) error {
	if _, err := t.tx.ExecContext(ctx, contactsRangeQuery, from, to); err != nil {
		return fmt.Errorf("indexing contacts %d to %d: %w", from, to, err)
	}
	if _, err := t.tx.ExecContext(ctx, contactWordsRangeQuery, from, to); err != nil {
		return fmt.Errorf("listing the words of contacts %d to %d: %w", from, to, err)
	}
	return nil
}

// indexLateContacts indexes the contacts stored below the forward cursor
// (contact_search_late), and reports how many there were.
func indexLateContacts(ctx context.Context, t *txn) (int, error) {
	var n int
	if err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM contact_search_late`).Scan(&n); err != nil || n == 0 {
		return 0, err
	}
	for _, q := range []string{lateContactsUnindexQuery, lateContactsIndexQuery, lateContactWordsQuery, lateContactsDoneQuery} {
		if _, err := t.tx.ExecContext(ctx, q); err != nil {
			return 0, fmt.Errorf("indexing contacts stored late: %w", err)
		}
	}
	return n, nil
}

// IndexSearch indexes every message not yet indexed, back-fill included,
// and returns once they are: what a search then finds covers every
// message stored before the call. Tests call it before they search; the
// growth benchmark, before it measures.
func (db *DB) IndexSearch(ctx context.Context) error {
	if _, err := db.indexForward(ctx); err != nil {
		return err
	}
	for {
		left, err := db.backfill(ctx)
		if err != nil || left == 0 {
			return err
		}
	}
}
