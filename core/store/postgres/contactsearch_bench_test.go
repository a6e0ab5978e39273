package postgres

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/conversa/conversa/core/store"
)

// BenchmarkContactSearchGrowth times a search by a contact (GET
// /api/v1/conversations?q=) over 10,000 conversations and over
// CONVERSA_GROWTH of them (default 100,000), so that the two sizes can be
// compared: the goal is at most twice the time at the larger size. Each
// conversation has its own contact and one message; one contact in eight
// is a Maria (common: more than store.SearchHits of them at either size),
// one in fifty a Bento (uncommon: fewer than store.SearchHits among the
// newest ten thousand, so read from the full-text index at any size),
// five at any size are Zuleica (rare), nobody is Xyzzy (absent). "mari"
// is a prefix of Maria and Mariana, "zule" of Zuleica.
//
// It runs on the store before contacts had search words too (the seed
// writes no search words; Open indexes them), to compare.
//
// The store is seeded directly (generate_series) and opened again, as an
// upgraded installation is, so that Open indexes what was seeded.
//
//	go test ./core/store/postgres -run XXX -bench ContactSearchGrowth -benchtime 100x
//	CONVERSA_GROWTH=1000000 go test ./core/store/postgres -run XXX -bench ContactSearchGrowth -benchtime 100x -timeout 1h
func BenchmarkContactSearchGrowth(b *testing.B) {
	big := 100_000
	if v := os.Getenv("CONVERSA_GROWTH"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10_000 {
			b.Fatalf("CONVERSA_GROWTH=%q: want a number of conversations of at least 10000", v)
		}
		big = n
	}
	ctx := context.Background()
	for _, n := range []int{10_000, big} {
		b.Run(fmt.Sprintf("conversations=%d", n), func(b *testing.B) {
			url := testURL(b)
			start := time.Now()
			seedContactGrowth(b, url, n)
			b.Logf("%d conversations seeded in %v", n, time.Since(start).Round(time.Millisecond))
			start = time.Now()
			db, err := Open(ctx, url, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			b.Logf("opened (indexing what was seeded) in %v", time.Since(start).Round(time.Millisecond))
			if _, err := db.pool.Exec(ctx, `ANALYZE`); err != nil {
				b.Fatal(err)
			}
			for _, q := range []struct{ name, text string }{
				{"common", "Maria"}, {"uncommon", "Bento"}, {"rare", "Zuleica"}, {"prefix-common", "mari"},
				{"prefix-rare", "zule"}, {"absent", "Xyzzy"}, {"two-words", "maria zuleica"},
			} {
				b.Run(q.name, func(b *testing.B) {
					got := 0
					for b.Loop() {
						list, err := db.Conversations().List(ctx, store.ConversationFilter{Search: q.text, Limit: 100})
						if err != nil {
							b.Fatal(err)
						}
						got = len(list)
					}
					b.ReportMetric(float64(got), "results")
				})
			}
		})
	}
}

// seedContactGrowth fills the store at url with n conversations, each of
// its own contact, with one message; newer ids are newer activity.
func seedContactGrowth(b testing.TB, url string, n int) {
	ctx := context.Background()
	db, err := Open(ctx, url, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rare := n / 5 // five Zuleicas, spread over the ids
	for _, q := range []string{
		`INSERT INTO integrations (id, name, channel, squad, inactivity_minutes, source, created_at, updated_at)
			VALUES ('ig', 'IG', 'meta', 'sales', 60, 'config', 0, 0)`,
		`INSERT INTO contacts (id, integration_id, channel_user_id, username, name, created_at)
			SELECT g, 'ig', (17841400000000 + g)::text, 'user_' || g,
				CASE WHEN g % ` + strconv.Itoa(rare) + ` = 7 THEN 'Zuleica Quintanilha'
					ELSE (ARRAY['Maria', 'José', 'Ana', 'João', 'Mariana', 'Pedro', 'Lucas', 'Carla'])[g % 8 + 1] || ' ' ||
						CASE WHEN g % 50 = 3 THEN 'Bento'
							ELSE (ARRAY['Silva', 'Santos', 'Oliveira', 'Souza', 'Lima', 'Costa', 'Ferreira'])[g % 7 + 1] END || ' ' ||
						(g % 9973) END,
				0
			FROM generate_series(1::bigint, ` + strconv.Itoa(n) + `) g`,
		`INSERT INTO conversations (id, integration_id, contact_id, state, squad, agent, origin, started_at, last_activity_at, ended_at)
			SELECT g, 'ig', g, CASE WHEN g > ` + strconv.Itoa(n-100) + ` THEN 'bot' ELSE 'ended' END, 'sales', '', 'direct',
				g * 60000, g * 60000 + 45000, CASE WHEN g <= ` + strconv.Itoa(n-100) + ` THEN g * 60000 + 50000 END
			FROM generate_series(1::bigint, ` + strconv.Itoa(n) + `) g`,
		`INSERT INTO messages (id, conversation_id, integration_id, direction, author, contents, status, created_at, search)
			SELECT g, g, 'ig', 'in', 'contact', '[{"type":"text","text":"obrigado pela ajuda"}]', 'received', g * 60000,
				array_to_tsvector(ARRAY['obrigado', 'pela', 'ajuda'])
			FROM generate_series(1::bigint, ` + strconv.Itoa(n) + `) g`,
		`SELECT setval(pg_get_serial_sequence('contacts', 'id'), ` + strconv.Itoa(n) + `)`,
		`SELECT setval(pg_get_serial_sequence('conversations', 'id'), ` + strconv.Itoa(n) + `)`,
		`SELECT setval(pg_get_serial_sequence('messages', 'id'), ` + strconv.Itoa(n) + `)`,
	} {
		if _, err := db.pool.Exec(ctx, q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
}
