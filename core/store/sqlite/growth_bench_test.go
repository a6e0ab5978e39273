package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/storetest"
)

// BenchmarkGrowth times each query of the hot path and of the console's
// lists over a store seeded directly with 10,000 messages and with
// CONVERSA_GROWTH messages (default 100,000), so that the two sizes can be
// compared: no query should take more than twice as long at the larger
// size. The shapes: ten messages per conversation, one contact per
// conversation, half the messages inbound (each with its processed inbox
// row), half outbound (each with its sent outbox row), a label on one
// conversation in twenty; the open conversations do not grow with
// history: 50 queued, 100 assigned to 20 agents, 200 with the assistant,
// a few inbox events and sends waiting. Everything else ended.
//
//	go test ./core/store/sqlite -run XXX -bench Growth -benchtime 200x
//	CONVERSA_GROWTH=10000000 CONVERSA_GROWTH_DIR=/var/tmp/growth go test ./core/store/sqlite -run XXX -bench Growth -benchtime 200x -timeout 3h
//
// CONVERSA_GROWTH_DIR keeps the seeded databases (growth-N.db) for the
// next run, which opens them again (applying any newer migration) rather
// than seeding; without it they live in a temporary directory.
func BenchmarkGrowth(b *testing.B) {
	big, dir := growthSettings(b)
	for _, n := range []int{10_000, big} {
		b.Run(fmt.Sprintf("messages=%d", n), func(b *testing.B) {
			path := filepath.Join(dir, fmt.Sprintf("growth-%d.db", n))
			if _, err := os.Stat(path); err != nil {
				start := time.Now()
				seedGrowth(b, path, n)
				b.Logf("%d messages seeded in %v", n, time.Since(start).Round(time.Second))
			}
			start := time.Now()
			db, err := Open(context.Background(), path, Options{ReclaimLeases: true})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			b.Logf("opened in %v", time.Since(start).Round(time.Millisecond))
			// Search covers what its indexer has reached: all of it, before
			// anything is timed (the back-fill of a database seeded at an
			// older schema, the new messages of one seeded now).
			start = time.Now()
			if err := db.IndexSearch(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.Logf("search index complete in %v", time.Since(start).Round(time.Millisecond))
			growthQueries(b, db, n)
		})
	}
}

// growthSettings are the larger store's messages (CONVERSA_GROWTH,
// default 100,000) and where the seeded databases are kept
// (CONVERSA_GROWTH_DIR, else a temporary directory).
func growthSettings(b *testing.B) (messages int, dir string) {
	messages = 100_000
	if v := os.Getenv("CONVERSA_GROWTH"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10_000 {
			b.Fatalf("CONVERSA_GROWTH=%q: want a number of messages of at least 10000", v)
		}
		messages = n
	}
	if dir = os.Getenv("CONVERSA_GROWTH_DIR"); dir == "" {
		dir = b.TempDir()
	}
	return messages, dir
}

// growthSeed is what seedGrowth made, for the queries to ask about.
type growthShape struct {
	conversations int
	queued        int
	assigned      int
	bot           int
	agents        int
}

func shapeOf(messages int) growthShape {
	return growthShape{conversations: messages / 10, queued: 50, assigned: 100, bot: 200, agents: 20}
}

func growthQueries(b *testing.B, db *DB, n int) {
	ctx := context.Background()
	sh := shapeOf(n)
	corpus := storetest.NewSearchCorpus()
	r := rand.New(rand.NewPCG(3, 4))
	anyConversation := func() int64 { return 1 + r.Int64N(int64(sh.conversations)) }
	run := func(name string, fn func() error) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if err := fn(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	listed := func(f store.ConversationFilter, min int) func() error {
		return func() error {
			list, err := db.Conversations().List(ctx, f)
			if err == nil && len(list) < min {
				err = fmt.Errorf("List(%+v) = %d conversations, want at least %d", f, len(list), min)
			}
			return err
		}
	}
	seq := 0
	run("inbox-add", func() error {
		seq++
		ev := &model.Event{Kind: "message", Integration: "ig", DedupeKey: fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), seq),
			ContactID: "bench", MessageID: "m", Contents: []model.Content{{Type: model.Text, Text: "oi"}}}
		_, err := db.Inbox().Add(ctx, ev, "bench")
		return err
	})
	run("inbox-claim", func() error {
		items, err := db.Inbox().Claim(ctx, "bench", 8, time.Minute)
		if err == nil && len(items) == 0 {
			err = fmt.Errorf("no inbox event to claim")
		}
		if err != nil {
			return err
		}
		return db.Inbox().Release(ctx, "bench")
	})
	run("inbox-backlog", func() error { _, err := db.Inbox().Backlog(ctx); return err })
	run("outbox-claim", func() error {
		items, err := db.Outbox().Claim(ctx, "bench", 8, time.Minute)
		if err == nil && len(items) == 0 {
			err = fmt.Errorf("no send to claim")
		}
		if err != nil {
			return err
		}
		return db.Outbox().Release(ctx, "bench")
	})
	run("outbox-backlog", func() error { _, err := db.Outbox().Backlog(ctx); return err })
	run("outbox-next-due", func() error { _, err := db.Outbox().NextDue(ctx); return err })
	run("contact-by-user", func() error {
		c := anyConversation()
		integration := "ig"
		if c%4 == 0 {
			integration = "ig2"
		}
		_, err := db.Contacts().ByUser(ctx, integration, strconv.FormatInt(17_840_000_000+c, 10))
		return err
	})
	run("conversation-open", func() error {
		// The open conversations are the newest ones.
		_, err := db.Conversations().Open(ctx, int64(sh.conversations)-r.Int64N(int64(sh.queued+sh.assigned+sh.bot-1)))
		return err
	})
	run("messages-of-conversation", func() error { _, err := db.Messages().List(ctx, anyConversation()); return err })
	run("message-add", func() error {
		_, err := db.Messages().Add(ctx, &model.Message{Conversation: int64(sh.conversations), Integration: "ig",
			Direction: model.DirectionIn, Author: model.AuthorContact, Status: model.StatusReceived,
			Contents: []model.Content{{Type: model.Text, Text: corpus.Message()}}})
		return err
	})
	touched := time.UnixMilli(int64(sh.conversations) * 60_000)
	run("conversation-touch", func() error {
		// Each message moves its conversation's activity: every index on
		// last_activity_at is written.
		touched = touched.Add(time.Millisecond)
		return db.Conversations().Touch(ctx, int64(sh.conversations)-r.Int64N(int64(sh.bot)), touched, touched)
	})
	run("list-all", listed(store.ConversationFilter{Limit: 100}, 100))
	run("list-state-queued", listed(store.ConversationFilter{State: model.StateQueued, Limit: 100}, 50))
	run("list-state-ended", listed(store.ConversationFilter{State: model.StateEnded, Limit: 100}, 100))
	run("list-integration", listed(store.ConversationFilter{Integration: "ig2", Limit: 100}, 100))
	run("list-label", listed(store.ConversationFilter{Label: "vip", Limit: 100}, 50))
	run("list-agent-inbox", listed(store.ConversationFilter{Agent: "agent01", State: model.StateAssigned, Limit: 500}, 1))
	run("list-agent-all", listed(store.ConversationFilter{Agent: "agent01", Limit: 100}, 1))
	run("list-contact", listed(store.ConversationFilter{Contact: anyConversation(), Limit: 100}, 1))
	run("search-name", listed(store.ConversationFilter{Search: "Souza", Limit: 50}, 1))
	run("search-username", listed(store.ConversationFilter{Search: "ana.souza", Limit: 50}, 1))
	for _, q := range corpus.Queries() {
		run("search-text-"+q.Name, listed(store.ConversationFilter{Search: q.Text, Limit: 50}, 0))
	}
	// An agent's search box: their own conversations only (one in twenty).
	for _, q := range corpus.Queries()[:2] {
		run("search-agent-"+q.Name, listed(store.ConversationFilter{Search: q.Text, Agent: "agent01", Limit: 50}, 0))
	}
	list, err := db.Conversations().List(ctx, store.ConversationFilter{Limit: 100})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]int64, len(list))
	for i, c := range list {
		ids[i] = c.ID
	}
	run("unread-of-100", func() error { _, err := db.Conversations().Unread(ctx, ids); return err })
	run("queued", func() error {
		q, err := db.Conversations().Queued(ctx)
		if err == nil && len(q) < sh.queued {
			err = fmt.Errorf("%d queued, want %d", len(q), sh.queued)
		}
		return err
	})
	run("agents", func() error { _, err := db.Agents().List(ctx); return err })
	run("label-counts", func() error { _, err := db.Labels().Counts(ctx, ""); return err })
	run("inactive", func() error {
		_, err := db.Conversations().Inactive(ctx, "ig", time.UnixMilli(int64(sh.conversations)*60_000-3_600_000))
		return err
	})
	end := time.UnixMilli(int64(sh.conversations) * 60_000)
	run("report-last-day", func() error {
		_, err := db.Conversations().Report(ctx, store.ReportFilter{From: end.Add(-24 * time.Hour), To: end})
		return err
	})
	run("audit-list", func() error { _, err := db.Audit().List(ctx, store.AuditFilter{Limit: 100}); return err })
}

// seedGrowth writes a store of messages messages straight into the tables
// (the schema the migrations made), in transactions of 20,000
// conversations, with synchronous=OFF: the figures are about reading a
// large store, not about how it was written. The full-text index is
// filled by the store's indexer once the store is opened, as for any
// write (BenchmarkGrowth waits for it). No ANALYZE: the planner has
// what a server's database has.
func seedGrowth(b testing.TB, path string, messages int) {
	b.Helper()
	ctx := context.Background()
	db, err := Open(ctx, path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	db.Close()
	// No journal while seeding (the file is thrown away if it fails), one
	// connection holding the lock, and a cache the indexes fit in: the
	// writes go to the file once rather than through the WAL again and
	// again. Back to WAL at the end, as the server keeps it.
	w, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=OFF&_synchronous=OFF&_locking_mode=EXCLUSIVE&_foreign_keys=off&_cache_size=-2097152")
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	sh := shapeOf(messages)
	corpus := storetest.NewSearchCorpus()
	r := rand.New(rand.NewPCG(5, 6))
	first := []string{"Ana", "Bruno", "Carla", "Diego", "Elisa", "Fábio", "Gabriela", "Hugo", "Isabel", "João", "Karina", "Lucas",
		"Marina", "Nuno", "Olívia", "Paulo", "Quésia", "Rafael", "Sofia", "Tiago"}
	last := []string{"Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes",
		"Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes", "Vieira", "Barbosa"}
	exec := func(tx *sql.Tx, q string, args ...any) {
		if _, err := tx.Exec(q, args...); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	tx, err := w.Begin()
	if err != nil {
		b.Fatal(err)
	}
	exec(tx, `INSERT INTO integrations (id, name, channel, squad, inactivity_minutes, source, created_at, updated_at)
		VALUES ('ig', 'IG', 'meta', 'sales', 60, 'api', 0, 0), ('ig2', 'IG 2', 'meta', 'support', 60, 'api', 0, 0)`)
	for a := 1; a <= sh.agents; a++ {
		exec(tx, `INSERT INTO agents (id, name, role, password_hash, squads, max_chats, status, created_at)
			VALUES (?, ?, 'agent', 'x', '["sales","support"]', 20, 'available', 0)`, fmt.Sprintf("agent%02d", a), fmt.Sprintf("Agent %d", a))
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	const batch = 20_000
	msgID, inboxID, outboxID := int64(0), int64(0), int64(0)
	for from := 1; from <= sh.conversations; from += batch {
		tx, err := w.Begin()
		if err != nil {
			b.Fatal(err)
		}
		prep := func(q string) *sql.Stmt {
			s, err := tx.Prepare(q)
			if err != nil {
				b.Fatalf("%s: %v", q, err)
			}
			return s
		}
		contact := prep(`INSERT INTO contacts (id, integration_id, channel_user_id, username, name, last_inbound_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`)
		conversation := prep(`INSERT INTO conversations (id, integration_id, contact_id, state, squad, agent, origin,
			started_at, last_activity_at, last_inbound_at, queued_at, assigned_at, ended_at, end_reason, agent_read_id)
			VALUES (?, ?, ?, ?, ?, ?, 'direct', ?, ?, ?, ?, ?, ?, ?, ?)`)
		message := prep(`INSERT INTO messages (id, conversation_id, integration_id, direction, author, contents, status,
			provider_message_id, status_at, handled_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		providerID := prep(`INSERT INTO provider_ids (integration_id, provider_id, message_id) VALUES (?, ?, ?)`)
		inbox := prep(`INSERT INTO inbox (id, integration_id, dedupe_key, partition_key, kind, event, raw, received_at, processed_at)
			VALUES (?, ?, ?, ?, 'message', ?, ?, ?, ?)`)
		outbox := prep(`INSERT INTO outbox (id, message_id, integration_id, conversation_id, idempotency_key, attempts, created_at,
			done_at, attempt_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)`)
		label := prep(`INSERT INTO conversation_labels (conversation_id, label) VALUES (?, ?)`)
		do := func(s *sql.Stmt, args ...any) {
			if _, err := s.Exec(args...); err != nil {
				b.Fatal(err)
			}
		}
		for c := from; c < from+batch && c <= sh.conversations; c++ {
			// One minute of history per conversation, so the newest
			// conversations are the open ones.
			at := int64(c) * 60_000
			integration := "ig"
			if c%4 == 0 {
				integration = "ig2"
			}
			user := strconv.FormatInt(17_840_000_000+int64(c), 10)
			fn, ln := first[r.IntN(len(first))], last[r.IntN(len(last))]
			do(contact, c, integration, user, fmt.Sprintf("%s.%s%d", lower(fn), lower(ln), c), fn+" "+ln, at, at)
			open := sh.conversations - c // 0 is the newest
			state, agent, squad := model.StateEnded, "", ""
			var queued, assigned, ended any
			ended = at + 50_000
			switch {
			case open < sh.queued:
				state, squad, queued, ended = model.StateQueued, "sales", at+10_000, nil
			case open < sh.queued+sh.assigned:
				state, squad, agent, queued, assigned, ended = model.StateAssigned, "sales",
					fmt.Sprintf("agent%02d", 1+open%sh.agents), at+10_000, at+20_000, nil
			case open < sh.queued+sh.assigned+sh.bot:
				state, ended = model.StateBot, nil
			default:
				agent = fmt.Sprintf("agent%02d", 1+c%sh.agents)
			}
			endReason := ""
			if ended != nil {
				endReason = model.EndAgent
			}
			readUpTo := msgID + 5
			do(conversation, c, integration, c, state, squad, agent, at, at+45_000, at+40_000, queued, assigned, ended, endReason, readUpTo)
			if c%20 == 0 {
				do(label, c, "vip")
			}
			for i := range 10 {
				msgID++
				contents, _ := json.Marshal([]model.Content{{Type: model.Text, Text: corpus.Message()}})
				created := at + int64(i)*5_000
				pid := fmt.Sprintf("mid.%d", msgID)
				if i%2 == 0 {
					do(message, msgID, c, integration, model.DirectionIn, model.AuthorContact, string(contents), model.StatusReceived,
						pid, nil, created, created)
					do(providerID, integration, pid, msgID)
					inboxID++
					ev, _ := json.Marshal(model.Event{Kind: "message", Integration: integration, DedupeKey: pid, ContactID: user,
						MessageID: pid, Contents: []model.Content{{Type: model.Text, Text: "x"}}})
					do(inbox, inboxID, integration, pid, integration+":"+user, string(ev), `{"object":"instagram"}`, created, created+100)
				} else {
					do(message, msgID, c, integration, model.DirectionOut, model.AgentAuthor(fmt.Sprintf("agent%02d", 1+c%sh.agents)),
						string(contents), model.StatusDelivered, pid, created+200, nil, created)
					do(providerID, integration, pid, msgID)
					outboxID++
					do(outbox, outboxID, msgID, integration, c, fmt.Sprintf("k-%d", msgID), created, created+200, created+100)
				}
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	// Work waiting: 50 contacts' events not yet processed, 50
	// conversations' sends not yet made (each its queue key, due).
	tx, err = w.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for k := range 50 {
		c := sh.conversations - k
		user := strconv.FormatInt(17_840_000_000+int64(c), 10)
		pid := fmt.Sprintf("pending.%d", k)
		ev, _ := json.Marshal(model.Event{Kind: "message", Integration: "ig", DedupeKey: pid, ContactID: user, MessageID: pid,
			Contents: []model.Content{{Type: model.Text, Text: "x"}}})
		inboxID++
		exec(tx, `INSERT INTO inbox (id, integration_id, dedupe_key, partition_key, kind, event, received_at)
			VALUES (?, 'ig', ?, ?, 'message', ?, ?)`, inboxID, pid, "ig:"+user, string(ev), int64(c)*60_000)
		exec(tx, `INSERT INTO queue_keys (queue, key, ready_at) VALUES ('inbox', ?, 0)`, "ig:"+user)
		msgID++
		exec(tx, `INSERT INTO messages (id, conversation_id, integration_id, direction, author, contents, status, created_at)
			VALUES (?, ?, 'ig', 'out', 'assistant', '[{"type":"text","text":"ok"}]', 'pending', ?)`, msgID, c, int64(c)*60_000)
		outboxID++
		exec(tx, `INSERT INTO outbox (id, message_id, integration_id, conversation_id, idempotency_key, created_at)
			VALUES (?, ?, 'ig', ?, ?, ?)`, outboxID, msgID, c, fmt.Sprintf("pending-%d", k), int64(c)*60_000)
		exec(tx, `INSERT INTO queue_keys (queue, key, ready_at) VALUES ('outbox', ?, 0)`, strconv.Itoa(c))
	}
	// The contact the name searches look for, among the newest.
	exec(tx, `UPDATE contacts SET name = 'Ana Souza', username = 'ana.souza' WHERE id = ?`, sh.conversations-500)
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if _, err := w.Exec(`PRAGMA journal_mode=WAL`); err != nil {
		b.Fatal(err)
	}
}

func lower(s string) string {
	out := []rune(s)
	for i, r := range out {
		if r >= 'A' && r <= 'Z' {
			out[i] = r + 'a' - 'A'
		}
	}
	return string(out)
}
