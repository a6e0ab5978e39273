package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store/internal/fulltext"
)

// Search over the text of messages and contacts: messages.search holds
// each message's folded words (migration 0003), set with every write of
// its contents; contacts.search each contact's (migration 0010), set with
// every write of its name, username or channel id.

// searchVector is the SQL for messages.search from the words searchWords
// gives (one parameter, words separated by spaces).
func searchVector(param string) string {
	return `array_to_tsvector(string_to_array(` + param + `::text, ' '))`
}

// searchWords are the words a message is found by, separated by spaces
// ("" for none).
func searchWords(author string, deleted bool, contents []model.Content) string {
	if !fulltext.Searchable(author, deleted) {
		return ""
	}
	return strings.Join(fulltext.Lexemes(fulltext.Text(contents)), " ")
}

// tsQuery is the text search query for terms (every word, the last as a
// prefix when long enough: fulltext.MinPrefix), in tsquery's own syntax:
// each word is folded and quoted, so nothing typed is read as an operator. ok is false without terms, or when
// a word is longer than any the index holds (then no message matches).
func tsQuery(terms []string) (q string, ok bool) {
	if len(terms) == 0 {
		return "", false
	}
	parts := make([]string, 0, len(terms))
	for _, t := range terms {
		f := fulltext.Fold(t)
		if len(f) > fulltext.MaxWord {
			return "", false
		}
		parts = append(parts, "'"+strings.NewReplacer(`'`, `''`, `\`, `\\`).Replace(f)+"'")
	}
	if fulltext.Prefix(terms[len(terms)-1]) {
		parts[len(parts)-1] += ":*"
	}
	return strings.Join(parts, " & "), true
}

// indexBatch is how many rows an index pass reads and writes at a time.
const indexBatch = 500

// indexMessages indexes the messages that are not yet (written before
// migration 0003, or copied in by `conversa migrate`). Nodes opening at
// once may both do it: each write is guarded, and the result the same.
func indexMessages(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	return indexUnsearched(ctx, pool, "messages", "author, deleted_at IS NOT NULL, contents", func(rows pgx.Rows) (int64, string, error) {
		var id int64
		var author, raw string
		var deleted bool
		if err := rows.Scan(&id, &author, &deleted, &raw); err != nil {
			return 0, "", err
		}
		var contents []model.Content
		if err := json.Unmarshal([]byte(raw), &contents); err != nil {
			return 0, "", fmt.Errorf("message %d contents: %w", id, err)
		}
		return id, searchWords(author, deleted, contents), nil
	})
}

// indexContacts indexes the contacts that are not yet (written before
// migration 0010, or copied in by `conversa migrate`), as indexMessages
// does messages. A write of the contact meanwhile indexes it itself, and
// the guard keeps this from overwriting it with older words.
func indexContacts(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	return indexUnsearched(ctx, pool, "contacts", "channel_user_id, username, name", func(rows pgx.Rows) (int64, string, error) {
		var id int64
		var userID, username, name string
		if err := rows.Scan(&id, &userID, &username, &name); err != nil {
			return 0, "", err
		}
		return id, contactWords(userID, username, name), nil
	})
}

// indexUnsearched sets the search words of table's rows that have none, in
// id order, indexBatch at a time: cols are what words reads after the id.
// The write is guarded (search IS NULL), so a row written meanwhile keeps
// the words its own write gave it.
func indexUnsearched(ctx context.Context, pool *pgxpool.Pool, table, cols string, words func(pgx.Rows) (int64, string, error)) (int, error) {
	total := 0
	for after := int64(0); ; {
		rows, err := pool.Query(ctx, `SELECT id, `+cols+` FROM `+table+`
			WHERE search IS NULL AND id > $1 ORDER BY id LIMIT $2`, after, indexBatch)
		if err != nil {
			return total, err
		}
		var ids []int64
		var batch []string
		for rows.Next() {
			id, w, err := words(rows)
			if err != nil {
				rows.Close()
				return total, err
			}
			ids, batch = append(ids, id), append(batch, w)
			after = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, err
		}
		if len(ids) == 0 {
			return total, nil
		}
		if _, err := pool.Exec(ctx, `UPDATE `+table+` t SET search = `+searchVector("u.words")+`
			FROM unnest($1::bigint[], $2::text[]) AS u (id, words) WHERE t.id = u.id AND t.search IS NULL`, ids, batch); err != nil {
			return total, err
		}
		total += len(ids)
	}
}

// matches sets the Match of the conversations found by a message (hits:
// message id -> conversation id).
func matches(ctx context.Context, q querier, convs []*model.Conversation, hits map[int64]int64, terms []string) error {
	ids := make([]int64, 0, len(hits))
	for id := range hits {
		ids = append(ids, id)
	}
	rows, err := q.Query(ctx, `SELECT id, contents FROM messages WHERE id = ANY($1)`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	byConv := map[int64]*model.SearchMatch{}
	for rows.Next() {
		var id int64
		var raw string
		if err := rows.Scan(&id, &raw); err != nil {
			return err
		}
		m, err := fulltext.Match(id, raw, terms)
		if err != nil {
			return err
		}
		byConv[hits[id]] = m
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range convs {
		c.Match = byConv[c.ID]
	}
	return nil
}
