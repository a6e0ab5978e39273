package sqlite

import (
	"context"
	"database/sql"

	"github.com/conversa/conversa/core/store"
)

// reportQuery is the same statement in both stores: the first agent reply
// comes from messages_conversation, one conversation at a time.
const reportQuery = `SELECT c.id, c.squad, c.agent, c.started_at, c.queued_at, c.ended_at,
	(SELECT min(m.created_at) FROM messages m WHERE m.conversation_id = c.id
		AND m.author LIKE 'agent:%' AND m.status <> 'internal')
	FROM conversations c WHERE c.started_at >= ? AND c.started_at < ?`

var collectReportRows = collect(func(r scanner) (store.ReportRow, error) {
	var row store.ReportRow
	var started int64
	var queued, ended, replied sql.NullInt64
	if err := r.Scan(&row.ID, &row.Squad, &row.Agent, &started, &queued, &ended, &replied); err != nil {
		return row, err
	}
	row.StartedAt = fromMS(started)
	row.QueuedAt, row.EndedAt, row.FirstAgentReplyAt = nullMS(queued), nullMS(ended), nullMS(replied)
	return row, nil
})

func (x conversations) Report(ctx context.Context, f store.ReportFilter) ([]store.ReportRow, error) {
	q, args := reportStatement(f)
	return collectReportRows(x.q().QueryContext(ctx, q, args...))
}

// reportStatement is Report's statement for f: conversations_started
// selects the period.
func reportStatement(f store.ReportFilter) (string, []any) {
	q := reportQuery
	args := []any{ms(f.From), ms(f.To)}
	if f.Squad != "" {
		q, args = q+" AND c.squad = ?", append(args, f.Squad)
	}
	if f.Agent != "" {
		q, args = q+" AND c.agent = ?", append(args, f.Agent)
	}
	return q + " ORDER BY c.started_at, c.id", args
}
