package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/internal/fulltext"
)

type conversations struct{ h }

const conversationCols = `c.id, c.integration_id, c.contact_id, c.state, c.squad, c.agent, c.preferred_agent, c.origin, c.priority,
	c.session, c.started_at, c.last_activity_at, c.last_inbound_at, c.queued_at, c.ended_at, c.end_reason,
	(SELECT group_concat(l.label, char(31)) FROM (SELECT label FROM conversation_labels
		WHERE conversation_id = c.id ORDER BY label) l)`

func scanConversation(r scanner) (*model.Conversation, error) { return scanConversationWith(r) }

// scanConversationWith scans a conversation followed by the extra columns
// of a query that adds some (a list's unread count).
func scanConversationWith(r scanner, extra ...any) (*model.Conversation, error) {
	var c model.Conversation
	var started, activity, inbound int64
	var queued, ended sql.NullInt64
	var labels sql.NullString
	var ct model.Contact
	var ctInbound, ctProfile int64
	dest := append([]any(nil), &c.ID, &c.Integration, &c.ContactID, &c.State, &c.Squad, &c.Agent, &c.PreferredAgent, &c.Origin,
		&c.Priority, &c.Session, &started, &activity, &inbound, &queued, &ended, &c.EndReason, &labels,
		&ct.ID, &ct.Integration, &ct.ChannelUserID, &ct.Username, &ct.Name, &ct.AvatarURL, &ctInbound, &ctProfile)
	if err := r.Scan(append(dest, extra...)...); err != nil {
		return nil, notFound(err)
	}
	c.StartedAt, c.LastActivityAt, c.LastInboundAt = fromMS(started), fromMS(activity), fromMS(inbound)
	c.QueuedAt, c.EndedAt = nullMS(queued), nullMS(ended)
	ct.LastInboundAt, ct.ProfileAt = fromMS(ctInbound), fromMS(ctProfile)
	c.Contact = &ct
	c.Labels = []string{}
	if labels.Valid && labels.String != "" {
		c.Labels = strings.Split(labels.String, "\x1f")
	}
	return &c, nil
}

var collectConversations = collect(scanConversation)

const conversationWithContact = `SELECT ` + conversationCols + `, ct.id, ct.integration_id, ct.channel_user_id,
	ct.username, ct.name, ct.avatar_url, ct.last_inbound_at, ct.profile_at
	FROM conversations c JOIN contacts ct ON ct.id = c.contact_id`

func (x conversations) get(ctx context.Context, q reader, id int64) (*model.Conversation, error) {
	return scanConversation(q.QueryRowContext(ctx, conversationWithContact+` WHERE c.id = ?`, id))
}

func (x conversations) Get(ctx context.Context, id int64) (*model.Conversation, error) {
	return x.get(ctx, x.q(), id)
}

// The conversations' fixed queries (plans.go lists them for
// TestQueryPlans).
const (
	openConversationQuery = conversationWithContact + ` WHERE c.contact_id = ? AND c.state <> 'ended'`
	// queuedQuery reads conversations_queued in serving order: what it
	// costs follows the queue, never the conversations that ended.
	queuedQuery = conversationWithContact + ` WHERE c.state = 'queued' ORDER BY c.priority DESC, c.queued_at, c.id`
	// unreadQuery counts from messages_conversation, above the last read.
	unreadQuery = `SELECT count(*) FROM messages m WHERE m.conversation_id = ?1
		AND m.id > (SELECT agent_read_id FROM conversations WHERE id = ?1) AND m.direction = 'in'`
	// inactiveQuery reads the open conversations silent the longest from
	// conversations_inactivity (the unary + keeps the planner off the
	// integration's index, which holds its ended conversations too).
	inactiveQuery = `SELECT id FROM conversations WHERE +integration_id = ? AND state <> 'ended'
		AND last_inbound_at > 0 AND last_inbound_at < ? ORDER BY id`
	// unreadCol is a listed conversation's unread count, in the list's
	// own query (no query per conversation).
	unreadCol = `(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.id > c.agent_read_id AND m.direction = 'in')`
	// listSelect is what a list reads: the conversation, its contact and
	// its unread count.
	listSelect = `SELECT ` + conversationCols + `, ct.id, ct.integration_id, ct.channel_user_id,
	ct.username, ct.name, ct.avatar_url, ct.last_inbound_at, ct.profile_at, ` + unreadCol
	// searchHits bounds what one search reads from each full-text index:
	// the newest matches (a word in a million messages costs what a word
	// in a thousand does), among which the list's filters and order apply.
	searchHits = store.SearchHits
)

func (x conversations) Open(ctx context.Context, contactID int64) (*model.Conversation, error) {
	return scanConversation(x.q().QueryRowContext(ctx, openConversationQuery, contactID))
}

func (x conversations) Latest(ctx context.Context, contactID int64) (*model.Conversation, error) {
	return scanConversation(x.q().QueryRowContext(ctx, conversationWithContact+` WHERE c.contact_id = ? ORDER BY c.id DESC LIMIT 1`,
		contactID))
}

func (x conversations) List(ctx context.Context, f store.ConversationFilter) ([]*model.Conversation, error) {
	search := fulltext.Clean(f.Search)
	terms := fulltext.Terms(search)
	if f.Search != "" && len(terms) == 0 {
		return nil, nil // nothing searchable was typed: nothing matches
	}
	f.Limit = f.Page()
	r := x.q()
	// Found by a message or by the contact: the candidates the full-text
	// indexes name, read first; the list is then made of those only.
	var hits map[int64]int64
	var found []int64
	if len(terms) > 0 {
		var err error
		if hits, found, err = searchCandidates(ctx, r, terms, f); err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, nil
		}
	}
	q, args := listQuery(f, found)
	convs, err := collect(func(r scanner) (*model.Conversation, error) {
		var unread int
		c, err := scanConversationWith(r, &unread)
		if c != nil {
			c.Unread = unread
		}
		return c, err
	})(r.QueryContext(ctx, q, args...))
	if err != nil || len(hits) == 0 {
		return convs, err
	}
	return convs, matches(ctx, r, convs, hits, terms)
}

// conversationFilters are the conditions on c, a conversation, of the
// fields of f other than the search and the limit; each argument's
// placeholder is ph's.
func conversationFilters(f store.ConversationFilter, ph func() string) (where []string, args []any) {
	if f.State != "" {
		where, args = append(where, "c.state = "+ph()), append(args, f.State)
	}
	if f.Integration != "" {
		where, args = append(where, "c.integration_id = "+ph()), append(args, f.Integration)
	}
	if f.Agent != "" {
		where, args = append(where, "c.agent = "+ph()), append(args, f.Agent)
	}
	if f.Label != "" {
		// Checked on each conversation met in activity order: what it costs
		// follows how common the label is, not how many conversations carry
		// it (reading those all would sort them all).
		where = append(where, "EXISTS (SELECT 1 FROM conversation_labels cl WHERE cl.conversation_id = c.id AND cl.label = "+ph()+")")
		args = append(args, f.Label)
	}
	if f.Contact != 0 {
		where, args = append(where, "c.contact_id = "+ph()), append(args, f.Contact)
	}
	return where, args
}

// anonymous is a placeholder numbered by its place.
func anonymous() string { return "?" }

// listQuery is the statement of List: the conversations f selects, newest
// activity first, read from the index that serves the filter in that
// order (conversations_activity and the others of 0011_growth.sql) so it
// stops at the limit. found, when set, are the only candidates (a
// search's): they are read by id and sorted, never the whole table.
func listQuery(f store.ConversationFilter, found []int64) (string, []any) {
	var args []any
	from := ` FROM conversations c JOIN contacts ct ON ct.id = c.contact_id`
	if found != nil {
		list, _ := json.Marshal(found) // []int64 always encodes
		// The candidates are sorted by their ids and times alone; only the
		// ones listed are read whole (labels, contact, unread count).
		from = ` FROM json_each(?) k CROSS JOIN conversations c ON c.id = k.value`
		args = append(args, string(list))
	}
	where, wargs := conversationFilters(f, anonymous)
	args = append(args, wargs...)
	q := listSelect + from
	if found != nil {
		q = `SELECT c.id` + from
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	const order = " ORDER BY c.last_activity_at DESC, c.id DESC"
	q += order + " LIMIT ?"
	if found != nil {
		q = listSelect + ` FROM (` + q + `) top CROSS JOIN conversations c ON c.id = top.id
			JOIN contacts ct ON ct.id = c.contact_id` + order
	}
	return q, append(args, f.Page())
}

// searchShardBits: the search indexes keep their rows in shards of ids,
// shard = id >> searchShardBits, each with segments of its own. Migration
// 0016's triggers and the indexer's statements (searchindex.go) write the
// same shift as a literal; TestSearchAcrossShards fails when they and
// this disagree.
const searchShardBits = 18

// The full-text lookups of a search, in one shard: the newest matching
// messages and the newest matching contacts, at most the limit (docid
// order is what FTS4 reads without sorting), each with its conversation
// and whether that conversation passes the list's other filters (?1, the
// first argument, is 1 when there are none). The rows are read as the
// search needs them: a search stops reading once it has a page.
const (
	textHitsQuery = `SELECT m.conversation_id, m.id, ?1 FROM (SELECT docid FROM message_search WHERE message_search MATCH ?2
		AND shard = ?3 ORDER BY docid DESC LIMIT ?4) s JOIN messages m ON m.id = s.docid`
	contactHitsQuery = `SELECT s.docid, c.id, ?1 FROM (SELECT docid FROM contact_search WHERE contact_search MATCH ?2
		AND shard = ?3 ORDER BY docid DESC LIMIT ?4) s JOIN conversations c ON c.contact_id = s.docid`
	// The newest shard of each index (its highest id's).
	newestMessageQuery = `SELECT coalesce(max(id), 0) FROM messages`
	newestContactQuery = `SELECT coalesce(max(id), 0) FROM contacts`
)

// filteredHits is textHitsQuery or contactHitsQuery for a list with
// filters: ?1 becomes the filters' conditions on the conversation (their
// arguments numbered from 5).
func filteredHits(q string, f store.ConversationFilter) (string, []any) {
	n := 4
	where, args := conversationFilters(f, func() string { n++; return "?" + strconv.Itoa(n) })
	if len(where) == 0 {
		return q, nil
	}
	pass := "(" + strings.Join(where, " AND ") + ")"
	if q == textHitsQuery {
		q += ` JOIN conversations c ON c.id = m.conversation_id`
	}
	return strings.Replace(q, "?1", pass, 1), args
}

// searchCandidates runs the full-text queries for terms, for the list f
// asks for. hits maps each conversation found by a message to its newest
// matching message; found lists every candidate conversation, by a
// message or by its contact, that passes f's other filters. Each index is
// read newest match first, until it has given f.Limit such conversations
// or searchHits matches: what a search costs follows the page it fills,
// not how many messages hold its words. The terms are quoted (they hold
// only letters and digits), so nothing typed is read as FTS syntax; the
// last is a prefix.
func searchCandidates(ctx context.Context, r reader, terms []string, f store.ConversationFilter) (hits map[int64]int64, found []int64, err error) {
	s, err := planSearch(ctx, r, terms)
	if err != nil || s == nil {
		return nil, nil, err
	}
	// Each shard runs the same statements (each connection keeps them
	// prepared: _stmt_cache_size).
	hits = map[int64]int64{}
	// Both lookups take the filters' arguments the same way (?5 on).
	textQuery, fargs := filteredHits(textHitsQuery, f)
	contactQuery, _ := filteredHits(contactHitsQuery, f)
	args := func(shard int64, limit int) []any {
		return append([]any{1, s.match, shard, limit}, fargs...)
	}
	err = s.eachShard(ctx, r, "message_search_shards", newestMessageQuery, func(shard int64, limit int) (int, bool, error) {
		rows, err := r.QueryContext(ctx, textQuery, args(shard, limit)...)
		if err != nil {
			return 0, false, err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var conv, msg int64
			var pass bool
			if err := rows.Scan(&conv, &msg, &pass); err != nil {
				return 0, false, err
			}
			n++
			if _, met := hits[conv]; met || !pass {
				continue // its newest match came first, or it is not listed
			}
			hits[conv] = msg
			if len(hits) >= f.Limit {
				return n, true, nil
			}
		}
		return n, false, rows.Err()
	})
	if err != nil {
		return nil, nil, err
	}
	found = make([]int64, 0, len(hits))
	for id := range hits {
		found = append(found, id)
	}
	// Contacts have no shard list (migration 0016): each of their shards
	// is looked into.
	byContact := map[int64]bool{}
	err = s.eachShard(ctx, r, "", newestContactQuery, func(shard int64, limit int) (int, bool, error) {
		rows, err := r.QueryContext(ctx, contactQuery, args(shard, limit)...)
		if err != nil {
			return 0, false, err
		}
		defer rows.Close()
		contacts := map[int64]bool{} // a contact's conversations are one match
		for rows.Next() {
			var contact, conv int64
			var pass bool
			if err := rows.Scan(&contact, &conv, &pass); err != nil {
				return 0, false, err
			}
			if !contacts[contact] && len(byContact) >= f.Limit {
				// A contact's conversations are taken together: the page
				// was made by the contacts before this one.
				return len(contacts), true, nil
			}
			contacts[contact] = true
			if !pass || byContact[conv] {
				continue
			}
			byContact[conv] = true
			if _, ok := hits[conv]; !ok {
				found = append(found, conv)
			}
		}
		return len(contacts), len(byContact) >= f.Limit, rows.Err()
	})
	if err != nil {
		return nil, nil, err
	}
	return hits, found, nil
}

// ftsSearch is a search as the full-text indexes run it: the FTS4 query,
// and the words that tell which shards may hold a match (a shard holds
// one only if its shard list names every one of them: whole words, and
// the start of a last word searched as a prefix, as "souz*").
type ftsSearch struct {
	match string
	words []string
}

// eachShard calls probe on the shards of an index that may hold a match,
// newest first, with how many matches are still wanted (of searchHits),
// until it has them all or probe reports it has enough; probe reports how
// many matches the shard gave. newest is the statement that gives the
// index's highest id; list, its shards' word list (migration 0016), if it
// has one.
func (s *ftsSearch) eachShard(ctx context.Context, r reader, list, newest string, probe func(shard int64, limit int) (int, bool, error)) error {
	var top int64
	if err := r.QueryRowContext(ctx, newest).Scan(&top); err != nil {
		return err
	}
	next := s.shardFinder(ctx, r, list)
	want := searchHits
	for shard := top >> searchShardBits; shard >= 0 && want > 0; shard-- {
		var ok bool
		var err error
		if shard, ok, err = next(shard); err != nil || !ok {
			return err
		}
		n, enough, err := probe(shard, want)
		if err != nil || enough {
			return err
		}
		want -= n
	}
	return nil
}

// shardFinder returns the function that gives the newest shard at or
// below from whose word list (list) names every word of s.words; ok is
// false when none does. Each word's newest shard at or below from is one
// seek in the list's primary key: the lowest of them is where the next
// shard can be at best, and the search leaps there until every word's is
// the same. Without words, or without a list, every shard may hold a
// match.
func (s *ftsSearch) shardFinder(ctx context.Context, r reader, list string) func(from int64) (int64, bool, error) {
	if len(s.words) == 0 || list == "" {
		return func(from int64) (int64, bool, error) { return from, true, nil }
	}
	q, words := s.shardQuery(list)
	return func(from int64) (int64, bool, error) {
		for {
			var n int
			var lo, hi int64
			if err := r.QueryRowContext(ctx, q, append([]any{from}, words...)...).Scan(&n, &lo, &hi); err != nil {
				return 0, false, fmt.Errorf("search: the shards of %s: %w", list, err)
			}
			switch {
			case n < len(words):
				return 0, false, nil // a word is in no shard at or below from
			case lo == hi:
				return lo, true, nil
			}
			from = lo
		}
	}
}

// shardQuery is shardFinder's statement: for each word, its newest shard
// at or below ?1; how many have one, and the lowest and highest of those.
// words are its arguments after ?1.
func (s *ftsSearch) shardQuery(list string) (q string, words []any) {
	parts := make([]string, len(s.words))
	for i, w := range s.words {
		words = append(words, w)
		parts[i] = fmt.Sprintf(`SELECT (SELECT max(shard) FROM %s WHERE word = ?%d AND shard <= ?1) AS s`, list, i+2)
	}
	return `SELECT count(s), coalesce(min(s), -1), coalesce(max(s), -1) FROM (` + strings.Join(parts, " UNION ALL ") + `)`, words
}

// ftsQuery is an FTS4 query for every term, the last as a prefix when it
// is long enough (fulltext.MinPrefix).
func ftsQuery(terms []string) string {
	quoted := make([]string, len(terms))
	for i, t := range terms {
		quoted[i] = `"` + t + `"`
	}
	if last := terms[len(terms)-1]; fulltext.Prefix(last) {
		quoted[len(quoted)-1] = `"` + last + `*"`
	}
	return strings.Join(quoted, " ")
}

// longestPrefixIndex is the longest prefix message_search and
// contact_search index (in bytes, as FTS4 measures them: migration 0012's
// prefix="3,4,5").
const longestPrefixIndex = 5

// longestShardStart is the longest start of a word the shard lists keep
// (in letters: migration 0016's triggers).
const longestShardStart = 5

// maxPrefixWords bounds the words a last word is searched as: the start
// of more words than that is searched as a prefix.
const maxPrefixWords = 64

// The statements that turn the words typed into the words indexed, and a
// last word into the words it starts (search_words, migration 0012).
const (
	// foldQuery is a search's words as message_search indexes them.
	foldQuery = `SELECT token FROM search_tokens WHERE input = ?`
	// prefixWordsQuery lists the indexed words from ?1 up to ?2 (?1 and
	// everything after it).
	prefixWordsQuery = `SELECT word FROM search_words WHERE word >= ? AND word < ? ORDER BY word LIMIT ?`
)

// planSearch is the search for terms: nil when nothing can match (no
// indexed word starts with the last one). The FTS4 query is ftsQuery's,
// with a last word of more bytes than the longest prefix index searched
// as the indexed words it starts (search_words lists those of both
// indexes) ("pedido" as "pedido" OR "pedidos"), which FTS4 reads from
// their newest ends and stops at the limit; as a prefix it would merge
// their whole doclists. The words, as the indexes fold them, choose the
// shards: the whole words, and the start of a last word searched as a
// prefix (its first letters, at most as many as the longest start the
// shard lists keep).
func planSearch(ctx context.Context, r reader, terms []string) (*ftsSearch, error) {
	s := &ftsSearch{match: ftsQuery(terms)}
	folded, err := collectStrings(r.QueryContext(ctx, foldQuery, strings.Join(terms, " ")))
	if err != nil {
		return nil, err
	}
	if len(folded) != len(terms) {
		// The index splits the words otherwise than the search does:
		// every shard may hold a match.
		return s, nil
	}
	if !fulltext.Prefix(terms[len(terms)-1]) {
		s.words = folded
		return s, nil
	}
	last := folded[len(folded)-1]
	s.words = folded[:len(folded)-1]
	if start := []rune(last); len(start) >= fulltext.MinPrefix {
		s.words = append(s.words, string(start[:min(len(start), longestShardStart)])+"*")
	}
	// Past every word that starts with last: a byte above any UTF-8
	// sequence.
	words, err := collectStrings(r.QueryContext(ctx, prefixWordsQuery, last, last+"\xff", maxPrefixWords+1))
	switch {
	case err != nil:
		return nil, err
	case len(words) == 0:
		return nil, nil
	case len(words) > maxPrefixWords || len(last) <= longestPrefixIndex:
		return s, nil
	}
	quoted := make([]string, 0, len(terms))
	for _, t := range terms[:len(terms)-1] {
		quoted = append(quoted, `"`+t+`"`)
	}
	alternatives := make([]string, len(words))
	for i, w := range words {
		alternatives[i] = `"` + w + `"`
	}
	// Parenthesised: OR binds looser than AND in the query syntax this
	// build of SQLite has.
	s.match = strings.Join(append(quoted, "("+strings.Join(alternatives, " OR ")+")"), " ")
	return s, nil
}

// matches sets the Match of the conversations found by a message (hits:
// conversation id -> message id).
func matches(ctx context.Context, r reader, convs []*model.Conversation, hits map[int64]int64, terms []string) error {
	var ids []any
	for _, c := range convs {
		if id, ok := hits[c.ID]; ok {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := r.QueryContext(ctx, `SELECT conversation_id, id, contents FROM messages WHERE id IN (`+placeholders(len(ids))+`)`, ids...)
	if err != nil {
		return err
	}
	defer rows.Close()
	byConv := map[int64]*model.SearchMatch{}
	for rows.Next() {
		var conv, id int64
		var raw string
		if err := rows.Scan(&conv, &id, &raw); err != nil {
			return err
		}
		m, err := fulltext.Match(id, raw, terms)
		if err != nil {
			return err
		}
		byConv[conv] = m
	}
	for _, c := range convs {
		c.Match = byConv[c.ID]
	}
	return rows.Err()
}

// Start lets the partial unique index conversations_open decide: of two
// writers starting a conversation for one contact, one inserts and the other
// gets the open one.
func (x conversations) Start(ctx context.Context, c *model.Conversation) (bool, error) {
	if !slices.Contains(model.ConversationMachine.Initial, c.State) {
		return false, &model.TransitionError{Machine: model.ConversationMachine.Name, From: "new", To: c.State}
	}
	var started bool
	err := x.write(ctx, func(t *txn) error {
		started = false
		row := *c
		if row.StartedAt.IsZero() {
			row.StartedAt = t.now
		}
		if row.LastActivityAt.IsZero() {
			row.LastActivityAt = row.StartedAt
		}
		var ended *time.Time
		if row.State == model.StateEnded {
			ended = &row.StartedAt
		}
		var id int64
		// Only the open conversation's index is a conflict to take; another
		// (an id a row holds) is an error.
		want, err := t.db.ids.insert(ctx, t.tx, &t.db.ids.conversation, c.ID, func(want int64) error {
			return t.tx.QueryRowContext(ctx, `INSERT INTO conversations (id, integration_id, contact_id, state, squad, agent,
				preferred_agent, origin, priority, session, started_at, last_activity_at, last_inbound_at, ended_at, end_reason)
				VALUES (?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (contact_id) WHERE state <> 'ended' DO NOTHING RETURNING id`,
				want, row.Integration, row.ContactID, row.State, row.Squad, row.PreferredAgent, row.Origin, row.Priority, row.Session,
				ms(row.StartedAt), ms(row.LastActivityAt), ms(row.LastInboundAt), msOrNull(ended), row.EndReason).Scan(&id)
		})
		switch {
		case err == sql.ErrNoRows:
			if c.ID == 0 {
				t.db.ids.giveBack(&t.db.ids.conversation, want)
			}
			cur, err := scanConversation(t.tx.QueryRowContext(ctx, conversationWithContact+` WHERE c.contact_id = ? AND c.state <> 'ended'`,
				row.ContactID))
			if err != nil {
				return fmt.Errorf("conversation for contact %d neither started nor open: %w", row.ContactID, err)
			}
			*c = *cur
			return nil
		case err != nil:
			return missingRow(err)
		}
		got, err := x.get(ctx, txReader{t.tx}, id)
		if err != nil {
			return err
		}
		*c, started = *got, true
		return nil
	})
	return started, err
}

func (x conversations) Touch(ctx context.Context, id int64, activity, inbound time.Time) error {
	return x.exec(ctx, `UPDATE conversations SET last_activity_at = max(last_activity_at, ?),
		last_inbound_at = max(last_inbound_at, ?) WHERE id = ?`, ms(activity), ms(inbound), id)
}

func (x conversations) SetSession(ctx context.Context, id int64, session []byte) error {
	return x.write(ctx, func(t *txn) error {
		res, err := t.tx.ExecContext(ctx, `UPDATE conversations SET session = ? WHERE id = ? AND state = 'bot'`, session, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var cur string
		if err := t.tx.QueryRowContext(ctx, `SELECT state FROM conversations WHERE id = ?`, id).Scan(&cur); err != nil {
			return notFound(err)
		}
		return &model.TransitionError{Machine: model.ConversationMachine.Name, ID: id, From: cur, To: model.StateBot}
	})
}

// move makes a guarded transition and returns the conversation after it.
// args gives the values of set, for a transaction at time now.
func (x conversations) move(ctx context.Context, id int64, to string, set string, args func(now int64) []any, guard string,
	gargs ...any) (*model.Conversation, error) {
	var c *model.Conversation
	err := x.write(ctx, func(t *txn) error {
		if err := transition(ctx, t.tx, model.ConversationMachine, "conversations", "state", id, to, nil, set, args(ms(t.now)),
			guard, gargs...); err != nil {
			return err
		}
		var err error
		c, err = x.get(ctx, txReader{t.tx}, id)
		return err
	})
	return c, err
}

func (x conversations) Queue(ctx context.Context, id int64, q store.Queueing) (*model.Conversation, error) {
	queued := "queued_at = ?"
	if q.KeepQueuedAt {
		queued = "queued_at = coalesce(queued_at, ?)"
	}
	return x.move(ctx, id, model.StateQueued, "squad = ?, priority = ?, preferred_agent = ?, agent = '', "+queued,
		func(now int64) []any { return []any{q.Squad, q.Priority, q.Agent, now} }, "")
}

// Assign checks the agent's capacity in the statement that assigns:
// whatever runs concurrently, the count and the write are one.
func (x conversations) Assign(ctx context.Context, id int64, agent string) (*model.Conversation, error) {
	var c *model.Conversation
	err := x.write(ctx, func(t *txn) error {
		err := transition(ctx, t.tx, model.ConversationMachine, "conversations", "state", id, model.StateAssigned,
			[]string{model.StateQueued}, "agent = ?, assigned_at = ?, agent_read_id = 0", []any{agent, ms(t.now)},
			`EXISTS (SELECT 1 FROM agents a WHERE a.id = ? AND a.status = 'available'
				AND (SELECT count(*) FROM conversations o WHERE o.agent = a.id AND o.state = 'assigned') < a.max_chats)`, agent)
		if te, ok := err.(*model.TransitionError); ok && te.From == model.StateQueued {
			return store.ErrNoCapacity
		}
		if err != nil {
			return err
		}
		if _, err := t.tx.ExecContext(ctx, `UPDATE agents SET last_assigned_at = ? WHERE id = ?`, ms(t.now), agent); err != nil {
			return err
		}
		c, err = x.get(ctx, txReader{t.tx}, id)
		return err
	})
	return c, err
}

func (x conversations) RequeueAgent(ctx context.Context, agent string) ([]*model.Conversation, error) {
	var out []*model.Conversation
	err := x.write(ctx, func(t *txn) error {
		out = nil
		ids, err := collectIDs(t.tx.QueryContext(ctx, `UPDATE conversations SET state = 'queued', agent = '',
			queued_at = coalesce(queued_at, started_at) WHERE agent = ? AND state = 'assigned' RETURNING id`, agent))
		if err != nil {
			return err
		}
		slices.Sort(ids)
		for _, id := range ids {
			c, err := x.get(ctx, txReader{t.tx}, id)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

func (x conversations) End(ctx context.Context, id int64, reason string) (*model.Conversation, error) {
	return x.move(ctx, id, model.StateEnded, "ended_at = ?, end_reason = ?",
		func(now int64) []any { return []any{now, reason} }, "")
}

func (x conversations) EndInactive(ctx context.Context, id int64, cutoff time.Time) (*model.Conversation, error) {
	return x.move(ctx, id, model.StateEnded, "ended_at = ?, end_reason = ?",
		func(now int64) []any { return []any{now, model.EndInactivity} },
		"last_inbound_at > 0 AND last_inbound_at < ?", ms(cutoff))
}

func (x conversations) Inactive(ctx context.Context, integration string, cutoff time.Time) ([]int64, error) {
	return collectIDs(x.q().QueryContext(ctx, inactiveQuery, integration, ms(cutoff)))
}

func (x conversations) Queued(ctx context.Context) ([]*model.Conversation, error) {
	return collectConversations(x.q().QueryContext(ctx, queuedQuery))
}

func (x conversations) MarkRead(ctx context.Context, id, messageID int64) error {
	if messageID > 0 {
		return x.exec(ctx, `UPDATE conversations SET agent_read_id = max(agent_read_id, ?) WHERE id = ?`, messageID, id)
	}
	return x.exec(ctx, `UPDATE conversations SET agent_read_id = max(agent_read_id,
		(SELECT coalesce(max(m.id), 0) FROM messages m WHERE m.conversation_id = ?)) WHERE id = ?`, id, id)
}

func (x conversations) Unread(ctx context.Context, ids []int64) (map[int64]int, error) {
	out := map[int64]int{}
	for _, id := range ids {
		var n int
		if err := x.q().QueryRowContext(ctx, unreadQuery, id).Scan(&n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, nil
}
