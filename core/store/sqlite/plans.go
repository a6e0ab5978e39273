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
}

// plannedQueries is the inventory: every query whose cost could grow with
// the messages, conversations, contacts, inbox, outbox and logs stored.
func plannedQueries() []plannedQuery {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	list := func(name string, f store.ConversationFilter, found []int64) plannedQuery {
		q, args := listQuery(f, found)
		// A search's candidates, and one contact's conversations, are
		// sorted: they are few.
		return plannedQuery{Name: name, SQL: q, Args: args, Sorts: found != nil || f.Contact != 0}
	}
	found := []int64{1, 2, 3}
	report, reportArgs := reportStatement(store.ReportFilter{From: now.Add(-24 * time.Hour), To: now})
	reportSquad, reportSquadArgs := reportStatement(store.ReportFilter{From: now.Add(-24 * time.Hour), To: now, Squad: "sales"})
	labels, labelArgs := labelCountsQuery("")
	agentLabels, agentLabelArgs := labelCountsQuery("ana")
	audit, auditArgs := auditQuery(store.AuditFilter{})
	deliveries, deliveryArgs := deliveriesQuery(store.DeliveryFilter{Integration: "ig", MessageID: "42", Outcome: "failed"})
	return []plannedQuery{
		// Ingest and the workers.
		{Name: "inbox add", SQL: inboxAddQuery, Args: []any{"ig", "mid.1", "ig:u1", "message", "{}", nil, 0}},
		{Name: "queue claim keys", SQL: claimKeysQuery, Args: []any{"inbox", 1, 8}},
		{Name: "queue next due", SQL: nextDueQuery, Args: []any{"outbox"}},
		{Name: "inbox head", SQL: inboxHeadQuery, Args: []any{"ig:u1"}},
		{Name: "inbox claim row", SQL: inboxClaimQuery, Args: []any{1}},
		{Name: "inbox done", SQL: inboxDoneQuery, Args: []any{1, "", 1}},
		{Name: "inbox backlog", SQL: inboxBacklogQuery},
		{Name: "inbox prune", SQL: inboxPruneScanQuery, Args: []any{0, 500}},
		{Name: "outbox head", SQL: outboxHeadQuery, Args: []any{"1"}},
		{Name: "outbox claim row", SQL: outboxClaimQuery, Args: []any{1}},
		{Name: "outbox backlog", SQL: outboxBacklogQuery},
		{Name: "outbox by message (echo)", SQL: outboxByMessageQuery, Args: []any{1}},
		{Name: "outbox in flight (echo)", SQL: inFlightQuery, Args: []any{1, model.AuthorBusiness, 0}, Sorts: true},
		{Name: "contact by user", SQL: contactByUserQuery, Args: []any{"ig", "u1"}},
		{Name: "conversation of contact", SQL: openConversationQuery, Args: []any{1}},
		{Name: "message by provider id", SQL: byProviderIDQuery, Args: []any{"ig", "mid.1"}},
		{Name: "conversation inactive", SQL: inactiveQuery, Args: []any{"ig", 1}, Sorts: true},
		// The console.
		{Name: "messages of a conversation", SQL: messagesOfQuery, Args: []any{1}},
		{Name: "reactions of a conversation", SQL: reactionsQuery(reactionsOfConversation), Args: []any{1}, Sorts: true},
		list("list: all", store.ConversationFilter{Limit: 100}, nil),
		list("list: state", store.ConversationFilter{State: model.StateQueued, Limit: 100}, nil),
		list("list: integration", store.ConversationFilter{Integration: "ig", Limit: 100}, nil),
		list("list: label", store.ConversationFilter{Label: "vip", Limit: 100}, nil),
		list("list: state and integration", store.ConversationFilter{State: model.StateEnded, Integration: "ig", Limit: 100}, nil),
		list("list: agent's inbox", store.ConversationFilter{Agent: "ana", State: model.StateAssigned, Limit: 500}, nil),
		list("list: agent's all", store.ConversationFilter{Agent: "ana", Limit: 100}, nil),
		list("list: contact panel", store.ConversationFilter{Contact: 1, Limit: 100}, nil),
		list("list: search", store.ConversationFilter{Limit: 50}, found),
		list("list: search with state and agent", store.ConversationFilter{State: model.StateAssigned, Agent: "ana", Limit: 50}, found),
		{Name: "search: message text", SQL: textHitsQuery, Args: []any{`"pedido*"`, searchHits}},
		{Name: "search: contacts", SQL: contactHitsQuery, Args: []any{`"souza*"`, searchHits}},
		{Name: "unread of one", SQL: unreadQuery, Args: []any{1}},
		{Name: "queued (assignment, /queues)", SQL: queuedQuery},
		{Name: "agents with open chats", SQL: agentsQuery,
			Scans: map[string]string{"agents": "people, not history"}},
		{Name: "label counts", SQL: labels, Args: labelArgs},
		// An agent's: over their own conversations, counted.
		{Name: "label counts of an agent", SQL: agentLabels, Args: agentLabelArgs, Sorts: true},
		{Name: "report: a day", SQL: report, Args: reportArgs},
		{Name: "report: a day of a squad", SQL: reportSquad, Args: reportSquadArgs},
		{Name: "audit log", SQL: audit, Args: auditArgs},
		{Name: "delivery log", SQL: deliveries, Args: deliveryArgs},
	}
}
