package sqlite

import (
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// plannedQuery is one query of the hot path or of a list the console opens,
// with arguments of the kind it runs with, for TestQueryPlans to ask SQLite
// how it runs it. The texts are the ones the code runs (the constants and
// statement builders it uses), not copies.
type plannedQuery struct {
	Name string
	SQL  string
	Args []any
	// Sorts: a temporary B-tree for ORDER BY is expected, over rows the
	// query has already bounded (one conversation's, a search's
	// candidates, the queue).
	Sorts bool
	// Scans names a growing table the query may read whole, and why that
	// stays bounded (nothing else may be scanned).
	Scans map[string]string
	// Uses are indexes the plan must use: an equality on an unselective
	// column (an integration, a state) would otherwise pass for a search.
	Uses []string
}

// plannedQueries is the inventory: every query whose cost could grow with
// the messages, conversations, contacts, inbox, outbox and logs stored.
func plannedQueries() []plannedQuery {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	list := func(name string, f store.ConversationFilter, found []int64, uses ...string) plannedQuery {
		q, args := listQuery(f, found)
		// A search's candidates, and one contact's conversations, are
		// sorted: they are few.
		return plannedQuery{Name: name, SQL: q, Args: args, Sorts: found != nil || f.Contact != 0, Uses: uses}
	}
	found := []int64{1, 2, 3}
	// A search's lookups with the list's filters on each match's
	// conversation.
	agentsLabelled := store.ConversationFilter{State: model.StateAssigned, Agent: "ana", Label: "vip", Limit: 50}
	filtered := func(name, q, match string, f store.ConversationFilter) plannedQuery {
		q, fargs := filteredHits(q, f)
		return plannedQuery{Name: name, SQL: q, Args: append([]any{1, match, 3, searchHits}, fargs...)}
	}
	report, reportArgs := reportStatement(store.ReportFilter{From: now.Add(-24 * time.Hour), To: now})
	reportSquad, reportSquadArgs := reportStatement(store.ReportFilter{From: now.Add(-24 * time.Hour), To: now, Squad: "sales"})
	labels, labelArgs := labelCountsQuery("")
	agentLabels, agentLabelArgs := labelCountsQuery("ana")
	audit, auditArgs := auditQuery(store.AuditFilter{})
	searched := &ftsSearch{words: []string{"meu", "pedido", "cheg*"}}
	shards, shardArgs := searched.shardQuery("message_search_shards")
	deliveries, deliveryArgs := deliveriesQuery(store.DeliveryFilter{Integration: "ig", MessageID: "42", Outcome: "failed"})
	return []plannedQuery{
		// Ingest and the workers.
		{Name: "inbox add", SQL: inboxAddQuery, Args: []any{"ig", "mid.1", "ig:u1", "message", "{}", nil, 0}},
		{Name: "queue claim keys", SQL: claimKeysQuery, Args: []any{"inbox", 1, 8}, Uses: []string{"queue_keys_due"}},
		{Name: "queue next due", SQL: nextDueQuery, Args: []any{"outbox"}},
		{Name: "inbox head", SQL: inboxHeadQuery, Args: []any{"ig:u1"}, Uses: []string{"inbox_open"}},
		{Name: "inbox claim row", SQL: inboxClaimQuery, Args: []any{1}},
		{Name: "inbox done", SQL: inboxDoneQuery, Args: []any{1, "", 1}},
		{Name: "inbox backlog", SQL: inboxBacklogQuery},
		{Name: "inbox prune", SQL: inboxPruneScanQuery, Args: []any{0, 500}},
		{Name: "outbox head", SQL: outboxHeadQuery, Args: []any{"1"}, Uses: []string{"outbox_open"}},
		{Name: "outbox claim row", SQL: outboxClaimQuery, Args: []any{1}},
		{Name: "outbox backlog", SQL: outboxBacklogQuery},
		{Name: "outbox by message (echo)", SQL: outboxByMessageQuery, Args: []any{1}, Uses: []string{"outbox_message"}},
		{Name: "outbox in flight (echo)", SQL: inFlightQuery, Args: []any{1, model.AuthorBusiness, 0}, Sorts: true},
		{Name: "contact by user", SQL: contactByUserQuery, Args: []any{"ig", "u1"}},
		{Name: "conversation of contact", SQL: openConversationQuery, Args: []any{1}, Uses: []string{"conversations_open"}},
		{Name: "message by provider id", SQL: byProviderIDQuery, Args: []any{"ig", "mid.1"}},
		{Name: "conversation inactive", SQL: inactiveQuery, Args: []any{"ig", 1}, Sorts: true, Uses: []string{"conversations_inactivity"}},
		// The console.
		{Name: "messages of a conversation", SQL: messagesOfQuery, Args: []any{1}, Uses: []string{"messages_conversation"}},
		{Name: "reactions of a conversation", SQL: reactionsQuery(reactionsOfConversation), Args: []any{1}, Sorts: true},
		list("list: all", store.ConversationFilter{Limit: 100}, nil, "conversations_activity"),
		list("list: state", store.ConversationFilter{State: model.StateQueued, Limit: 100}, nil, "conversations_state_activity"),
		list("list: integration", store.ConversationFilter{Integration: "ig", Limit: 100}, nil, "conversations_integration_activity"),
		list("list: label", store.ConversationFilter{Label: "vip", Limit: 100}, nil, "conversations_activity"),
		list("list: state and integration", store.ConversationFilter{State: model.StateEnded, Integration: "ig", Limit: 100}, nil, "conversations_state_integration_activity"),
		list("list: agent's inbox", store.ConversationFilter{Agent: "ana", State: model.StateAssigned, Limit: 500}, nil, "conversations_agent"),
		list("list: agent's all", store.ConversationFilter{Agent: "ana", Limit: 100}, nil, "conversations_agent_activity"),
		list("list: contact panel", store.ConversationFilter{Contact: 1, Limit: 100}, nil, "conversations_contact"),
		list("list: search", store.ConversationFilter{Limit: 50}, found),
		list("list: search with state and agent", store.ConversationFilter{State: model.StateAssigned, Agent: "ana", Limit: 50}, found),
		{Name: "search: message text", SQL: textHitsQuery, Args: []any{1, `"pedido*"`, 3, searchHits}},
		{Name: "search: contacts", SQL: contactHitsQuery, Args: []any{1, `"souza*"`, 3, searchHits}},
		filtered("search: message text, an agent's", textHitsQuery, `"pedido*"`, agentsLabelled),
		filtered("search: contacts, an agent's", contactHitsQuery, `"souza*"`, agentsLabelled),
		{Name: "search: the shards of messages", SQL: shards, Args: append([]any{3}, shardArgs...)},
		{Name: "search: the newest message", SQL: newestMessageQuery},
		{Name: "search: the newest contact", SQL: newestContactQuery},
		// A long last word, as the words it starts.
		{Name: "search: fold a word", SQL: foldQuery, Args: []any{"Pedido"}},
		{Name: "search: the words a long prefix starts", SQL: prefixWordsQuery, Args: []any{"pedido", "pedido\xff", maxPrefixWords + 1}},
		// The search indexer's passes: a range of messages by id.
		{Name: "search index: progress", SQL: searchProgressQuery},
		{Name: "search index: next new messages", SQL: forwardRangeQuery["messages"], Args: []any{1000, indexBatch}},
		{Name: "search index: next new contacts", SQL: forwardRangeQuery["contacts"], Args: []any{1000, indexBatch}},
		{Name: "search index: next old messages", SQL: backfillRangeQuery["messages"], Args: []any{1000, indexBatch}},
		{Name: "search index: next old contacts", SQL: backfillRangeQuery["contacts"], Args: []any{1000, indexBatch}},
		{Name: "search index: a range of contacts", SQL: contactsRangeQuery, Args: []any{1000, 1500}},
		{Name: "search index: the words of a range of contacts", SQL: contactWordsRangeQuery, Args: []any{1000, 1500}},
		// Sorted: the texts of one message's contents, in their order.
		{Name: "search index: a range", SQL: indexRangeQuery, Args: []any{1000, 1500}, Sorts: true},
		{Name: "search index: the words of a range", SQL: wordsRangeQuery, Args: []any{1000, 1500}, Sorts: true},
		{Name: "unread of one", SQL: unreadQuery, Args: []any{1}},
		{Name: "queued (assignment, /queues)", SQL: queuedQuery, Uses: []string{"conversations_queued"}},
		{Name: "agents with open chats", SQL: agentsQuery,
			Scans: map[string]string{"agents": "people, not history"}},
		{Name: "label counts", SQL: labels, Args: labelArgs},
		// An agent's: over their own conversations, counted.
		{Name: "label counts of an agent", SQL: agentLabels, Args: agentLabelArgs, Sorts: true},
		{Name: "report: a day", SQL: report, Args: reportArgs, Uses: []string{"conversations_started"}},
		{Name: "report: a day of a squad", SQL: reportSquad, Args: reportSquadArgs, Uses: []string{"conversations_started"}},
		{Name: "audit log", SQL: audit, Args: auditArgs, Uses: []string{"audit_log_at"}},
		{Name: "delivery log", SQL: deliveries, Args: deliveryArgs, Uses: []string{"deliveries_integration_at"}},
	}
}
