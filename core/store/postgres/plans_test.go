package postgres

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/internal/fulltext"
)

// pgPlanned is one query of the hot path or of a console list, as the code
// runs it, with arguments of the kind it gets.
type pgPlanned struct {
	name string
	sql  string
	args []any
	// sorts: a sort is expected, of rows the query bounded already.
	sorts bool
	// uses are indexes (or functions) the plan must read.
	uses []string
	// settings are name=value pairs set for the statement (a function's
	// SET clauses).
	settings []string
}

func pgPlannedQueries() []pgPlanned {
	list := func(name string, f store.ConversationFilter, uses ...string) pgPlanned {
		tsq, _ := tsQuery(fulltext.Terms(fulltext.Clean(f.Search)))
		q, a := listQuery(f, tsq)
		// One contact's conversations are few; a search sorts its
		// candidates, at most store.SearchHits of each kind.
		return pgPlanned{name: name, sql: q, args: a, sorts: f.Contact != 0 || tsq != "", uses: uses}
	}
	return []pgPlanned{
		{name: "queue claim keys", sql: claimKeysQuery, args: []any{"inbox", int64(1), 8}},
		{name: "inbox head", sql: inboxHeadQuery, args: []any{"ig:u1"}},
		{name: "outbox head", sql: outboxHeadQuery, args: []any{int64(1)}},
		// A key's head found and acted on in one statement.
		{name: "inbox lease", sql: ibQueue.leaseSQL, args: []any{"inbox", "ig:u1", "ig:u1", int64(1), "node", int64(7)}},
		{name: "inbox lease or drop", sql: ibQueue.leaseOrDropSQL, args: []any{"inbox", "ig:u1", "ig:u1", int64(1), "node", int64(7)}},
		{name: "inbox next", sql: ibQueue.nextSQL, args: []any{"inbox", "ig:u1", "ig:u1", int64(1)}},
		{name: "outbox lease", sql: obQueue.leaseSQL, args: []any{"outbox", "1", int64(1), int64(1), "node", int64(7)}},
		{name: "outbox next", sql: obQueue.nextSQL, args: []any{"outbox", "1", int64(1), int64(1)}},
		{name: "outbox by message (echo)", sql: outboxByMessageQuery, args: []any{int64(1)}},
		{name: "inbox prune", sql: inboxPruneScanQuery, args: []any{int64(0), 500}},
		{name: "queued (assignment, /queues)", sql: queuedQuery},
		{name: "unread", sql: unreadQuery, args: []any{[]int64{1, 2, 3}}},
		list("list: all", store.ConversationFilter{Limit: 100}),
		list("list: state", store.ConversationFilter{State: model.StateQueued, Limit: 100}),
		list("list: integration", store.ConversationFilter{Integration: "ig", Limit: 100}),
		list("list: state and integration", store.ConversationFilter{State: model.StateQueued, Integration: "ig", Limit: 100}),
		list("list: label", store.ConversationFilter{Label: "vip", Limit: 100}),
		list("list: agent's inbox", store.ConversationFilter{Agent: "agent01", State: model.StateAssigned, Limit: 500}),
		list("list: agent's all", store.ConversationFilter{Agent: "agent01", Limit: 100}),
		list("list: contact panel", store.ConversationFilter{Contact: 1, Limit: 100}),
		// A search reads both full-text indexes for what is rare, whatever
		// the words match.
		// (contacts_matching and messages_matching are planned on their
		// own: TestQueryPlans adds them.)
		list("search: a rare name", store.ConversationFilter{Search: "Zuleica", Limit: 100}, "contacts_matching", "messages_matching"),
		list("search: a name's prefix", store.ConversationFilter{Search: "zule", Limit: 100}, "contacts_matching", "messages_matching"),
		list("search: an Instagram id", store.ConversationFilter{Search: "17841400123456", Limit: 100}, "contacts_matching"),
		list("search: a username", store.ConversationFilter{Search: "@zuleica.q", Limit: 100}, "contacts_matching"),
		list("search: a word of messages", store.ConversationFilter{Search: "w4242", Limit: 100}, "contacts_matching", "messages_matching"),
		list("search: two words and a state", store.ConversationFilter{Search: "w4242 zuleica", State: model.StateEnded, Limit: 100},
			"contacts_matching", "messages_matching"),
		// Every contact's word: read newest first until enough match, or
		// from the index; never the whole table.
		list("search: a common word", store.ConversationFilter{Search: "contact", Limit: 100}),
	}
}

var (
	pgSeqScan = regexp.MustCompile(`Seq Scan on (\w+)`)
	pgSort    = regexp.MustCompile(`^\s*(?:->\s*)?(?:Incremental )?Sort\s+\(cost=[0-9.]+ rows=(\d+)`)
)

// TestQueryPlans asks PostgreSQL (EXPLAIN, after ANALYZE of a seeded
// store) how it runs each query of the inventory, and fails on a
// sequential scan of a growing table or a sort of more rows than are open
// at once.
// go test -v prints the plans.
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, testURL(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// 200,000 conversations of 5 messages, most ended; the open ones the
	// newest; one in twenty labelled.
	for _, q := range []string{
		`INSERT INTO integrations (id, name, channel, squad, inactivity_minutes, source, created_at, updated_at)
			VALUES ('ig', 'IG', 'meta', 'sales', 60, 'config', 0, 0), ('ig2', 'IG 2', 'meta', 'sales', 60, 'config', 0, 0)`,
		// One contact in 20,000 a Zuleica; search as the store writes it.
		`INSERT INTO contacts (id, integration_id, channel_user_id, username, name, created_at, search)
			SELECT g, 'ig', (17841400000000 + g)::text, u, n, 0, array_to_tsvector(ARRAY[lower(n), (g % 9973)::text,
				(17841400000000 + g)::text] || string_to_array(u, '.'))
			FROM generate_series(1::bigint, 200000) g,
				LATERAL (SELECT CASE WHEN g % 20000 = 7 THEN 'Zuleica' ELSE 'Contact' END AS n,
					CASE WHEN g % 20000 = 7 THEN 'zuleica.q' ELSE 'user.' || g END AS u) x`,
		`INSERT INTO conversations (id, integration_id, contact_id, state, squad, agent, origin, started_at, last_activity_at, queued_at, ended_at)
			SELECT g, CASE WHEN g % 4 = 0 THEN 'ig2' ELSE 'ig' END, g,
				CASE WHEN g > 199900 THEN 'queued' WHEN g > 199700 THEN 'assigned' ELSE 'ended' END, 'sales',
				CASE WHEN g > 199900 THEN '' ELSE 'agent' || lpad((g % 20 + 1)::text, 2, '0') END, 'direct',
				g * 60000, g * 60000 + 45000, CASE WHEN g > 199700 THEN g * 60000 END, CASE WHEN g <= 199700 THEN g * 60000 + 50000 END
			FROM generate_series(1::bigint, 200000) g`,
		`INSERT INTO messages (id, conversation_id, integration_id, direction, author, contents, status, created_at, search)
			SELECT g, (g - 1) / 5 + 1, 'ig', CASE WHEN g % 2 = 0 THEN 'in' ELSE 'out' END, 'contact',
				'[{"type":"text","text":"oi"}]', 'received', g * 12000, array_to_tsvector(ARRAY['oi', 'w' || (g % 5000)])
			FROM generate_series(1::bigint, 1000000) g`,
		`INSERT INTO outbox (message_id, integration_id, conversation_id, idempotency_key, created_at, done_at)
			SELECT g, 'ig', (g - 1) / 5 + 1, 'k' || g, g * 12000, CASE WHEN g < 999900 THEN g * 12000 END
			FROM generate_series(1::bigint, 1000000, 2) g`,
		`INSERT INTO inbox (integration_id, dedupe_key, partition_key, kind, event, received_at, processed_at)
			SELECT 'ig', 'd' || g, 'ig:u' || ((g - 1) / 5 + 1), 'message', '{}', g * 12000, CASE WHEN g < 999900 THEN g * 12000 END
			FROM generate_series(2::bigint, 1000000, 2) g`,
		`INSERT INTO queue_keys (queue, key, ready_at) SELECT 'inbox', 'ig:u' || g, g FROM generate_series(1, 5000) g`,
		`INSERT INTO conversation_labels (conversation_id, label) SELECT g, 'vip' FROM generate_series(20, 200000, 20) g`,
		`ANALYZE`,
	} {
		if _, err := db.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// What a search's rare words match is read by functions, whose plans
	// EXPLAIN of the list does not show: their statements, with their
	// settings.
	var functions []pgPlanned
	for _, fn := range []struct{ name, index string }{{"contacts_matching", "contacts_search"}, {"messages_matching", "messages_search"}} {
		q := pgPlanned{name: fn.name + " (a rare word)", args: []any{"'zuleica':*", int64(store.SearchHits)},
			uses: []string{fn.index}, sorts: true}
		if err := db.pool.QueryRow(ctx, `SELECT prosrc, proconfig FROM pg_proc WHERE proname = $1
			AND pronamespace = current_schema()::regnamespace`, fn.name).Scan(&q.sql, &q.settings); err != nil {
			t.Fatalf("%s: %v", fn.name, err)
		}
		functions = append(functions, q)
	}
	for _, q := range append(pgPlannedQueries(), functions...) {
		plan, err := explain(ctx, db, q)
		if err != nil {
			t.Errorf("%s: %v", q.name, err)
			continue
		}
		t.Logf("%s:\n\t%s", q.name, strings.Join(plan, "\n\t"))
		for _, idx := range q.uses {
			if !slices.ContainsFunc(plan, func(l string) bool { return strings.Contains(l, " on "+idx+" ") }) {
				t.Errorf("%s: does not read %s\n\tquery: %s", q.name, idx, q.sql)
			}
		}
		for _, line := range plan {
			if m := pgSeqScan.FindStringSubmatch(line); m != nil && pgGrowing[m[1]] {
				t.Errorf("%s: reads the whole of %s: %s\n\tquery: %s", q.name, m[1], strings.TrimSpace(line), q.sql)
			}
			// The planner may sort what an index found when it expects
			// few rows (a queue, an agent's open chats); a sort of many
			// is a sort of history.
			if m := pgSort.FindStringSubmatch(line); m != nil && !q.sorts {
				if n, _ := strconv.Atoi(m[1]); n > pgSortBound {
					t.Errorf("%s: sorts %d rows where an index should give the order: %s\n\tquery: %s", q.name, n,
						strings.TrimSpace(line), q.sql)
				}
			}
		}
	}
}

// explain is q's plan, planned with q's settings.
func explain(ctx context.Context, db *DB, q pgPlanned) ([]string, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	for _, s := range q.settings {
		name, value, _ := strings.Cut(s, "=")
		if _, err := tx.Exec(ctx, `SELECT set_config($1, $2, true)`, name, value); err != nil {
			return nil, err
		}
	}
	rows, err := tx.Query(ctx, "EXPLAIN "+q.sql, q.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		plan = append(plan, line)
	}
	return plan, rows.Err()
}

// pgSortBound is the most rows a query may sort without an index: what
// is open at once (queues, an agent's chats), never what ended.
const pgSortBound = 1000

var pgGrowing = map[string]bool{"messages": true, "conversations": true, "contacts": true, "inbox": true, "outbox": true,
	"provider_ids": true, "conversation_labels": true, "reactions": true, "audit_log": true, "deliveries": true}
