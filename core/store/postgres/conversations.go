package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/internal/fulltext"
)

type conversations struct{ h h }

const conversationCols = `c.id, c.integration_id, c.contact_id, c.state, c.squad, c.agent, c.preferred_agent, c.origin, c.priority,
	c.session, c.started_at, c.last_activity_at, c.last_inbound_at, c.queued_at, c.ended_at, c.end_reason,
	ARRAY(SELECT label FROM conversation_labels WHERE conversation_id = c.id ORDER BY label)`

// scanConversation reads a conversation with its contact, and then the
// row's extra columns into extra.
func scanConversation(r pgx.Row, extra ...any) (*model.Conversation, error) {
	var c model.Conversation
	var started, activity, inbound int64
	var queued, ended *int64
	var ct model.Contact
	var ctInbound, ctProfile int64
	dest := append([]any{&c.ID, &c.Integration, &c.ContactID, &c.State, &c.Squad, &c.Agent, &c.PreferredAgent, &c.Origin,
		&c.Priority, &c.Session, &started, &activity, &inbound, &queued, &ended, &c.EndReason, &c.Labels,
		&ct.ID, &ct.Integration, &ct.ChannelUserID, &ct.Username, &ct.Name, &ct.AvatarURL, &ctInbound, &ctProfile}, extra...)
	if err := r.Scan(dest...); err != nil {
		return nil, notFound(err)
	}
	c.StartedAt, c.LastActivityAt, c.LastInboundAt = fromMS(started), fromMS(activity), fromMS(inbound)
	c.QueuedAt, c.EndedAt = nullMS(queued), nullMS(ended)
	ct.LastInboundAt, ct.ProfileAt = fromMS(ctInbound), fromMS(ctProfile)
	c.Contact = &ct
	if c.Labels == nil {
		c.Labels = []string{}
	}
	return &c, nil
}

var collectConversations = collect(func(r pgx.Row) (*model.Conversation, error) { return scanConversation(r) })

const conversationWithContact = `SELECT ` + conversationCols + `, ct.id, ct.integration_id, ct.channel_user_id,
	ct.username, ct.name, ct.avatar_url, ct.last_inbound_at, ct.profile_at
	FROM conversations c JOIN contacts ct ON ct.id = c.contact_id`

func (x conversations) get(ctx context.Context, q querier, id int64) (*model.Conversation, error) {
	return scanConversation(q.QueryRow(ctx, conversationWithContact+` WHERE c.id = $1`, id))
}

func (x conversations) open(ctx context.Context, q querier, contactID int64) (*model.Conversation, error) {
	return scanConversation(q.QueryRow(ctx, conversationWithContact+` WHERE c.contact_id = $1 AND c.state <> 'ended'`, contactID))
}

func (x conversations) Get(ctx context.Context, id int64) (*model.Conversation, error) {
	return x.get(ctx, x.h.q(), id)
}

func (x conversations) Open(ctx context.Context, contactID int64) (*model.Conversation, error) {
	return x.open(ctx, x.h.q(), contactID)
}

func (x conversations) Latest(ctx context.Context, contactID int64) (*model.Conversation, error) {
	return scanConversation(x.h.q().QueryRow(ctx, conversationWithContact+` WHERE c.contact_id = $1 ORDER BY c.id DESC LIMIT 1`,
		contactID))
}

func (x conversations) List(ctx context.Context, f store.ConversationFilter) ([]*model.Conversation, error) {
	search := fulltext.Clean(f.Search)
	terms := fulltext.Terms(search)
	if f.Search != "" && len(terms) == 0 {
		return nil, nil // nothing searchable was typed: nothing matches
	}
	tsq, ok := tsQuery(terms)
	if len(terms) > 0 && !ok {
		return nil, nil // a word longer than any indexed: nothing matches
	}
	q, a := listQuery(f, tsq)
	if tsq != "" {
		// Planned for this search's words (an unnamed statement), never
		// a plan cached for no words in particular: how many rows the
		// planner expects them to match shapes how it joins the rest.
		a = append(args{pgx.QueryExecModeExec}, a...)
	}
	r := x.h.q()
	hits := map[int64]int64{} // message -> conversation
	convs, err := collect(func(row pgx.Row) (*model.Conversation, error) {
		var hit *int64
		var unread int
		c, err := scanConversation(row, &hit, &unread)
		if err == nil && hit != nil {
			hits[*hit] = c.ID
		}
		if c != nil {
			c.Unread = unread
		}
		return c, err
	})(r.Query(ctx, q, a...))
	if err != nil || len(hits) == 0 {
		return convs, err
	}
	return convs, matches(ctx, r, convs, hits, terms)
}

// listQuery is the statement of List: the conversations f selects, newest
// activity first, read from the index that serves the filter in that order
// (0009_growth.sql) so it stops at the limit.
//
// A search (tsq, a tsQuery; "" for none) reads its candidates first, as
// SQLite's store does, and the list is then made of those only, sorted.
// Of the newest store.SearchHits messages the words match, the
// conversations with the newest matches, at most the limit of those that
// pass f's other filters (the newest match of each is the Match shown);
// of the newest store.SearchHits contacts they match by name, username or
// channel id, the conversations of the newest contacts until they make the
// limit (a contact's conversations are taken together). Each kind is
// looked for among the newest searchWalk rows first, which is where words
// many rows have are found soonest (a common name costs the same among a
// thousand contacts or a million); words fewer have are read from the
// full-text index (messages_matching and contacts_matching, migration
// 0010), which costs what they match. The candidates are then read by id
// (OFFSET 0 keeps the planner from hashing every conversation instead).
func listQuery(f store.ConversationFilter, tsq string) (string, args) {
	var a args
	f.Limit = f.Page()
	hit, from := "NULL::bigint", ` FROM conversations c JOIN contacts ct ON ct.id = c.contact_id`
	with := ""
	var where []string
	var pass string // where, as one condition on c; "true" for none
	filters := func() {
		if f.State != "" {
			where = append(where, "c.state = "+a.add(f.State))
		}
		if f.Integration != "" {
			where = append(where, "c.integration_id = "+a.add(f.Integration))
		}
		if f.Agent != "" {
			where = append(where, "c.agent = "+a.add(f.Agent))
		}
		if f.Label != "" {
			// Checked on each conversation met in activity order: what it costs
			// follows how common the label is, not how many carry it.
			where = append(where, "EXISTS (SELECT 1 FROM conversation_labels cl WHERE cl.conversation_id = c.id AND cl.label = "+
				a.add(f.Label)+")")
		}
		if f.Contact != 0 {
			where = append(where, "c.contact_id = "+a.add(f.Contact))
		}
		pass = "true"
		if len(where) > 0 {
			pass = strings.Join(where, " AND ")
		}
	}
	if tsq != "" {
		// The bounds are the query's own constants, not parameters: the
		// planner plans each read for the rows it stops at.
		words, hits, walk, page := a.add(tsq)+"::tsquery", strconv.Itoa(store.SearchHits), strconv.Itoa(searchWalk), strconv.Itoa(f.Limit)
		filters()
		// A match's conversation is read only to check the filters.
		passing := ""
		if len(where) > 0 {
			passing = `CROSS JOIN LATERAL (SELECT * FROM conversations WHERE id = s.conversation_id OFFSET 0) c WHERE ` + pass
		}
		with = `WITH mwalk AS MATERIALIZED (SELECT conversation_id, id FROM (SELECT id, conversation_id, search FROM messages
				ORDER BY id DESC LIMIT ` + walk + `) r WHERE search @@ ` + words + ` ORDER BY id DESC LIMIT ` + hits + `),
			hit AS (SELECT s.conversation_id, max(s.id) AS message FROM (SELECT conversation_id, id FROM mwalk
				UNION SELECT * FROM messages_matching(` + words + `, ` + hits + `) WHERE (SELECT count(*) FROM mwalk) < ` + hits + `) s
				` + passing + ` GROUP BY s.conversation_id ORDER BY message DESC LIMIT ` + page + `),
			cwalk AS MATERIALIZED (SELECT id FROM (SELECT id, search FROM contacts ORDER BY id DESC LIMIT ` + walk + `) r
				WHERE search @@ ` + words + ` ORDER BY id DESC LIMIT ` + hits + `),
			who AS (SELECT id FROM cwalk
				UNION SELECT * FROM contacts_matching(` + words + `, ` + hits + `) WHERE (SELECT count(*) FROM cwalk) < ` + hits + `),
			whose AS (SELECT who.id AS contact, c.id, count(*) OVER (PARTITION BY who.id) AS n FROM who
				CROSS JOIN LATERAL (SELECT * FROM conversations WHERE contact_id = who.id OFFSET 0) c WHERE ` + pass + `),
			byname AS (SELECT id FROM (SELECT id, sum(n) FILTER (WHERE first) OVER (ORDER BY contact DESC) - n AS before
				FROM (SELECT contact, id, n, row_number() OVER (PARTITION BY contact) = 1 AS first FROM whose) w) r
				WHERE before < ` + page + `),
			found AS (SELECT id, max(message) AS message FROM (SELECT conversation_id AS id, message FROM hit
				UNION ALL SELECT id, NULL FROM byname) u GROUP BY id)
			`
		hit = "k.message"
		from = ` FROM found k CROSS JOIN LATERAL (SELECT * FROM conversations WHERE id = k.id OFFSET 0) c
			JOIN contacts ct ON ct.id = c.contact_id`
	}
	// The unread count of each listed conversation, in this query.
	q := with + `SELECT ` + conversationCols + `, ct.id, ct.integration_id, ct.channel_user_id,
	ct.username, ct.name, ct.avatar_url, ct.last_inbound_at, ct.profile_at, ` + hit + `,
	(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.id > c.agent_read_id AND m.direction = 'in')` + from
	if tsq == "" {
		filters()
	}
	if len(where) > 0 {
		q += " WHERE " + pass
	}
	q += " ORDER BY c.last_activity_at DESC, c.id DESC LIMIT " + a.add(f.Limit)
	return q, a
}

// searchWalk is how many of the newest messages and contacts a search
// reads before it reads its words' matches from the full-text index: a
// word that one row in ten has fills store.SearchHits among them.
const searchWalk = 10 * store.SearchHits

// startAttempts bounds how often Start tries again when the open
// conversation it collided with ended before it could be read.
const startAttempts = 3

// Start lets the partial unique index conversations_open decide: of two
// writers (on any node) starting a conversation for one contact, one
// inserts and the other, having waited for it on the index, gets the open
// one. ON CONFLICT DO NOTHING keeps the loser's transaction usable, where a
// unique violation would abort it.
func (x conversations) Start(ctx context.Context, c *model.Conversation) (bool, error) {
	if !slices.Contains(model.ConversationMachine.Initial, c.State) {
		return false, &model.TransitionError{Machine: model.ConversationMachine.Name, From: "new", To: c.State}
	}
	// What the caller asked for, whatever an attempt the store runs again
	// made of c.
	in := *c
	var started bool
	err := x.h.write(ctx, func(t *txn) error {
		started = false
		row := in
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
		for range startAttempts {
			var id int64
			err := t.tx.QueryRow(ctx, `INSERT INTO conversations (id, integration_id, contact_id, state, squad, agent,
				preferred_agent, origin, priority, session, started_at, last_activity_at, last_inbound_at, ended_at, end_reason)
				VALUES (coalesce($14, nextval(pg_get_serial_sequence('conversations', 'id'))),
					$1, $2, $3, $4, '', $5, $6, $7, $8, $9, $10, $11, $12, $13)
				ON CONFLICT (contact_id) WHERE state <> 'ended' DO NOTHING RETURNING id`,
				row.Integration, row.ContactID, row.State, row.Squad, row.PreferredAgent, row.Origin, row.Priority, row.Session,
				ms(row.StartedAt), ms(row.LastActivityAt), ms(row.LastInboundAt), msOrNull(ended), row.EndReason,
				nullID(in.ID)).Scan(&id)
			if err == nil {
				got, err := x.get(ctx, t.tx, id)
				if err != nil {
					return err
				}
				*c, started = *got, true
				return nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return missingRow(err)
			}
			// The contact has an open conversation, committed: this
			// statement's snapshot sees it, unless it ended meanwhile (then
			// the contact may have a new one).
			cur, err := x.open(ctx, t.tx, row.ContactID)
			if err == nil {
				*c = *cur
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return fmt.Errorf("conversation for contact %d neither started nor open after %d attempts", row.ContactID, startAttempts)
	})
	return started, err
}

// nullID is a reserved id (store.IDReserver) as a statement's argument:
// NULL when there is none, for the identity to pick one.
func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

func (x conversations) Touch(ctx context.Context, id int64, activity, inbound time.Time) error {
	return x.h.write(ctx, func(t *txn) error {
		return updateOne(ctx, t, `UPDATE conversations SET last_activity_at = greatest(last_activity_at, $1),
			last_inbound_at = greatest(last_inbound_at, $2) WHERE id = $3`, ms(activity), ms(inbound), id)
	})
}

// SetSession is guarded like a transition: only a conversation the
// assistant still has keeps its session.
func (x conversations) SetSession(ctx context.Context, id int64, session []byte) error {
	return x.h.write(ctx, func(t *txn) error {
		tag, err := t.tx.Exec(ctx, `UPDATE conversations SET session = $1 WHERE id = $2 AND state = 'bot'`, session, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		var cur string
		if err := t.tx.QueryRow(ctx, `SELECT state FROM conversations WHERE id = $1`, id).Scan(&cur); err != nil {
			return notFound(err)
		}
		return &model.TransitionError{Machine: model.ConversationMachine.Name, ID: id, From: cur, To: model.StateBot}
	})
}

// move makes a guarded transition and returns the conversation after it.
// set and guard are transition's, given the transaction's time now.
func (x conversations) move(ctx context.Context, id int64, to string, set func(a *args, now int64) string,
	guard func(a *args) string) (*model.Conversation, error) {
	var c *model.Conversation
	err := x.h.write(ctx, func(t *txn) error {
		now := ms(t.now)
		if err := transition(ctx, t.tx, model.ConversationMachine, "conversations", "state", id, to, nil,
			func(a *args) string { return set(a, now) }, guard); err != nil {
			return err
		}
		var err error
		c, err = x.get(ctx, t.tx, id)
		return err
	})
	return c, err
}

func (x conversations) Queue(ctx context.Context, id int64, q store.Queueing) (*model.Conversation, error) {
	return x.move(ctx, id, model.StateQueued, func(a *args, now int64) string {
		queued := a.add(now)
		if q.KeepQueuedAt {
			// A requeue goes ahead of newer arrivals.
			queued = "coalesce(queued_at, " + queued + ")"
		}
		return "squad = " + a.add(q.Squad) + ", priority = " + a.add(q.Priority) + ", preferred_agent = " + a.add(q.Agent) +
			", agent = '', queued_at = " + queued
	}, nil)
}

// lockAgent takes the agent's row lock until t ends and returns the row as
// its newest committed version has it (ok false: no such agent). Every
// assignment to the agent holds this lock from before it counts the agent's
// conversations until it commits, so assignments to one agent run one at a
// time, on any node.
func (x conversations) lockAgent(ctx context.Context, t *txn, agent string) (status string, maxChats int, ok bool, err error) {
	err = t.tx.QueryRow(ctx, `SELECT status, max_chats FROM agents WHERE id = $1 FOR UPDATE`, agent).Scan(&status, &maxChats)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, false, nil
	}
	return status, maxChats, err == nil, err
}

// Assign never gives an agent more than max_chats, whichever nodes assign at
// once. Under READ COMMITTED a count in the assigning statement is not
// enough: two transactions would each count the other's assignment out (a
// statement's subqueries keep its snapshot, even after waiting for a lock).
// So Assign first locks the agent's row, then counts in a new statement,
// whose snapshot has every assignment committed before the lock was granted
// (and no other is in progress: they wait for the lock), then assigns.
// SetStatus and Agents.Update write the same row, so they are ordered with
// the assignments too: an agent who went offline or whose maximum was
// lowered is seen so by every assignment after.
func (x conversations) Assign(ctx context.Context, id int64, agent string) (*model.Conversation, error) {
	var c *model.Conversation
	err := x.h.write(ctx, func(t *txn) error {
		status, maxChats, exists, err := x.lockAgent(ctx, t, agent)
		if err != nil {
			return err
		}
		free := false
		if exists && status == model.AgentAvailable {
			var open int
			if err := t.tx.QueryRow(ctx, `SELECT count(*) FROM conversations WHERE agent = $1 AND state = 'assigned'`,
				agent).Scan(&open); err != nil {
				return err
			}
			free = open < maxChats
		}
		// The verdict is the update's guard, so a refusal is told apart as
		// for any transition: a queued conversation the agent cannot take
		// is ErrNoCapacity, one that is not queued (another node assigned
		// it first) a TransitionError, a missing one ErrNotFound.
		err = transition(ctx, t.tx, model.ConversationMachine, "conversations", "state", id, model.StateAssigned,
			[]string{model.StateQueued},
			func(a *args) string {
				return "agent = " + a.add(agent) + ", assigned_at = " + a.add(ms(t.now)) + ", agent_read_id = 0"
			},
			func(a *args) string { return a.add(free) + "::boolean" })
		var te *model.TransitionError
		if errors.As(err, &te) && te.From == model.StateQueued {
			return store.ErrNoCapacity
		}
		if err != nil {
			return err
		}
		if _, err := t.tx.Exec(ctx, `UPDATE agents SET last_assigned_at = $1 WHERE id = $2`, ms(t.now), agent); err != nil {
			return err
		}
		c, err = x.get(ctx, t.tx, id)
		return err
	})
	return c, err
}

// RequeueAgent takes the agent's lock as Assign does: it waits for the
// assignments to the agent in progress and so requeues them too, instead of
// missing a conversation assigned by a transaction its snapshot did not
// see. assigned -> queued is a transition ConversationMachine allows; the
// WHERE is its guard, re-checked by PostgreSQL on each row a concurrent
// writer changed first (a conversation ended meanwhile stays ended).
func (x conversations) RequeueAgent(ctx context.Context, agent string) ([]*model.Conversation, error) {
	var out []*model.Conversation
	err := x.h.write(ctx, func(t *txn) error {
		out = nil
		if _, _, _, err := x.lockAgent(ctx, t, agent); err != nil {
			return err
		}
		ids, err := collectIDs(t.tx.Query(ctx, `UPDATE conversations SET state = 'queued', agent = '',
			queued_at = coalesce(queued_at, started_at) WHERE agent = $1 AND state = 'assigned' RETURNING id`, agent))
		if err != nil || len(ids) == 0 {
			return err
		}
		out, err = collectConversations(t.tx.Query(ctx, conversationWithContact+` WHERE c.id = ANY($1) ORDER BY c.id`, ids))
		return err
	})
	return out, err
}

func (x conversations) End(ctx context.Context, id int64, reason string) (*model.Conversation, error) {
	return x.move(ctx, id, model.StateEnded, func(a *args, now int64) string {
		return "ended_at = " + a.add(now) + ", end_reason = " + a.add(reason)
	}, nil)
}

// EndInactive's guard is checked against the newest row: a Touch committed
// while it waited for the row makes it refuse.
func (x conversations) EndInactive(ctx context.Context, id int64, cutoff time.Time) (*model.Conversation, error) {
	return x.move(ctx, id, model.StateEnded, func(a *args, now int64) string {
		return "ended_at = " + a.add(now) + ", end_reason = " + a.add(model.EndInactivity)
	}, func(a *args) string {
		return "last_inbound_at > 0 AND last_inbound_at < " + a.add(ms(cutoff))
	})
}

func (x conversations) Inactive(ctx context.Context, integration string, cutoff time.Time) ([]int64, error) {
	return collectIDs(x.h.q().Query(ctx, `SELECT id FROM conversations WHERE integration_id = $1 AND state <> 'ended'
		AND last_inbound_at > 0 AND last_inbound_at < $2 ORDER BY id`, integration, ms(cutoff)))
}

// queuedQuery reads conversations_queued in serving order.
const queuedQuery = conversationWithContact + ` WHERE c.state = 'queued' ORDER BY c.priority DESC, c.queued_at, c.id`

func (x conversations) Queued(ctx context.Context) ([]*model.Conversation, error) {
	return collectConversations(x.h.q().Query(ctx, queuedQuery))
}

func (x conversations) MarkRead(ctx context.Context, id, messageID int64) error {
	return x.h.write(ctx, func(t *txn) error {
		return updateOne(ctx, t, `UPDATE conversations SET agent_read_id = greatest(agent_read_id,
			CASE WHEN $1::bigint > 0 THEN $1::bigint ELSE (SELECT coalesce(max(m.id), 0) FROM messages m WHERE m.conversation_id = $2) END)
			WHERE id = $2`, messageID, id)
	})
}

const unreadQuery = `SELECT c.id, count(m.id) FROM conversations c
		LEFT JOIN messages m ON m.conversation_id = c.id AND m.direction = 'in' AND m.id > c.agent_read_id
		WHERE c.id = ANY($1) GROUP BY c.id`

// Unread counts for every conversation asked about in one statement; one
// that does not exist counts 0.
func (x conversations) Unread(ctx context.Context, ids []int64) (map[int64]int, error) {
	out := make(map[int64]int, len(ids))
	for _, id := range ids {
		out[id] = 0
	}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := x.h.q().Query(ctx, unreadQuery, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}
