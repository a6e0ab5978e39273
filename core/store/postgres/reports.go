package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/conversa/conversa/core/store"
)

// reportQuery is the same statement in both stores: the first agent reply
// comes from messages_conversation, one conversation at a time.
const reportQuery = `SELECT c.id, c.squad, c.agent, c.started_at, c.queued_at, c.ended_at,
	(SELECT min(m.created_at) FROM messages m WHERE m.conversation_id = c.id
		AND m.author LIKE 'agent:%' AND m.status <> 'internal')
	FROM conversations c WHERE c.started_at >= $1 AND c.started_at < $2`

var collectReportRows = collect(func(r pgx.Row) (store.ReportRow, error) {
	var row store.ReportRow
	var started int64
	var queued, ended, replied *int64
	if err := r.Scan(&row.ID, &row.Squad, &row.Agent, &started, &queued, &ended, &replied); err != nil {
		return row, err
	}
	row.StartedAt = fromMS(started)
	row.QueuedAt, row.EndedAt, row.FirstAgentReplyAt = nullMS(queued), nullMS(ended), nullMS(replied)
	return row, nil
})

func (x conversations) Report(ctx context.Context, f store.ReportFilter) ([]store.ReportRow, error) {
	a := args{ms(f.From), ms(f.To)}
	q := reportQuery
	if f.Squad != "" {
		q += " AND c.squad = " + a.add(f.Squad)
	}
	if f.Agent != "" {
		q += " AND c.agent = " + a.add(f.Agent)
	}
	return collectReportRows(x.h.q().Query(ctx, q+" ORDER BY c.started_at, c.id", a...))
}
