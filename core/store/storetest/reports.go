package storetest

import (
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

func testReports(t *testing.T, open Open) {
	t.Run("Range", func(t *testing.T) { testReportRange(t, open) })
	t.Run("Times", func(t *testing.T) { testReportTimes(t, open) })
	t.Run("Filters", func(t *testing.T) { testReportFilters(t, open) })
}

func (f *fixture) report(rf store.ReportFilter) []store.ReportRow {
	f.t.Helper()
	rows, err := f.s.Conversations().Report(f.ctx, rf)
	f.must(err, "Conversations().Report(%+v)", rf)
	return rows
}

func reportIDs(rows []store.ReportRow) []int64 {
	var ids []int64
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	return ids
}

// A report counts the conversations started in [From, To): From included,
// To not, oldest first.
func testReportRange(t *testing.T, open Open) {
	f := setup(t, open)
	f.integration("ig1")
	from := Epoch.Add(time.Hour)
	to := from.Add(24 * time.Hour)
	before := f.conversation("ig1") // at Epoch
	f.clock.Advance(time.Hour)
	atFrom := f.conversation("ig1")
	f.clock.Advance(24*time.Hour - time.Second)
	lastSecond := f.conversation("ig1")
	f.clock.Advance(time.Second)
	atTo := f.conversation("ig1")
	// Started inside the range but listed after: an older conversation
	// that ended long after does not move.
	_, err := f.s.Conversations().End(f.ctx, atFrom.ID, model.EndAgent)
	f.must(err, "End")

	rows := f.report(store.ReportFilter{From: from, To: to})
	if want := []int64{atFrom.ID, lastSecond.ID}; !equalIDs(reportIDs(rows), want) {
		t.Errorf("Report([%v, %v)) = conversations %v, want %v (not %d started before, nor %d started at To)",
			from, to, reportIDs(rows), want, before.ID, atTo.ID)
	}
	if rows := f.report(store.ReportFilter{From: to, To: to.Add(time.Hour)}); !equalIDs(reportIDs(rows), []int64{atTo.ID}) {
		t.Errorf("Report(from To) = %v, want [%d]", reportIDs(rows), atTo.ID)
	}
	if rows := f.report(store.ReportFilter{From: Epoch.Add(-48 * time.Hour), To: Epoch}); len(rows) != 0 {
		t.Errorf("Report(before anything started) = %v, want none", reportIDs(rows))
	}

	// A transaction's report sees what it wrote.
	var inTx []int64
	f.tx(func(tx store.Tx) error {
		ct, err := tx.Contacts().Upsert(f.ctx, "ig1", "in-tx", store.ContactHints{}, tx.Now())
		if err != nil {
			return err
		}
		c := &model.Conversation{Integration: "ig1", ContactID: ct.ID, State: model.StateBot, Origin: model.OriginDirect}
		if _, err := tx.Conversations().Start(f.ctx, c); err != nil {
			return err
		}
		rows, err := tx.Conversations().Report(f.ctx, store.ReportFilter{From: to, To: to.Add(time.Hour)})
		inTx = reportIDs(rows)
		return err
	})
	if len(inTx) != 2 {
		t.Errorf("Tx Report after starting a conversation = %v, want 2 conversations", inTx)
	}
}

// Each row carries the times the figures come from: the first hand-off
// (kept through assignment and transfer), the first message an agent wrote
// to the contact (notes never count), the end, and who held it last.
func testReportTimes(t *testing.T, open Open) {
	f := setup(t, open)
	f.integration("ig1")
	f.agent("ana", 4, model.AgentAvailable)
	f.agent("bia", 4, model.AgentAvailable, model.DefaultSquad, "vendas")

	bot := f.conversation("ig1") // the assistant alone, still open
	f.inbound(bot, "hi")
	// The assistant's reply is not an agent's.
	f.must(f.s.Outbox().Enqueue(f.ctx, &model.Message{Conversation: bot.ID, Integration: "ig1", Author: model.AuthorAssistant,
		Contents: text("hello")}, "idem-bot"), "Enqueue(assistant)")

	started := f.clock.Advance(time.Minute)
	c := f.conversation("ig1")
	queued := f.clock.Advance(time.Minute)
	f.queue(c.ID, store.Queueing{Squad: model.DefaultSquad})
	f.clock.Advance(time.Minute)
	f.assign(c.ID, "ana")
	f.clock.Advance(time.Minute)
	note := func(author, body string) {
		m := &model.Message{Conversation: c.ID, Integration: "ig1", Direction: model.DirectionOut, Author: author,
			Contents: text(body), Status: model.StatusInternal}
		_, err := f.s.Messages().Add(f.ctx, m)
		f.must(err, "Messages().Add(%s note)", author)
	}
	note(model.AgentAuthor("ana"), "a private note is no reply")
	note(model.AuthorSystem, "Assigned to ana")
	replied := f.clock.Advance(time.Minute)
	f.must(f.s.Outbox().Enqueue(f.ctx, outbound(c, "how can I help?"), "idem-1"), "Enqueue(reply)")
	f.clock.Advance(time.Minute)
	f.must(f.s.Outbox().Enqueue(f.ctx, outbound(c, "anything else?"), "idem-2"), "Enqueue(second reply)")
	// A transfer keeps the first hand-off; the last holder is bia.
	f.clock.Advance(time.Minute)
	f.queue(c.ID, store.Queueing{Squad: "vendas", KeepQueuedAt: true})
	f.assign(c.ID, "bia")
	ended := f.clock.Advance(time.Minute)
	_, err := f.s.Conversations().End(f.ctx, c.ID, model.EndAgent)
	f.must(err, "End")

	// Handed off, answered only with notes.
	f.clock.Advance(time.Minute)
	noted := f.queued("ig1", model.DefaultSquad, 0)
	f.assign(noted.ID, "ana")
	m := &model.Message{Conversation: noted.ID, Integration: "ig1", Direction: model.DirectionOut, Author: model.AgentAuthor("ana"),
		Contents: text("note"), Status: model.StatusInternal}
	_, err = f.s.Messages().Add(f.ctx, m)
	f.must(err, "Messages().Add(note)")

	rows := f.report(store.ReportFilter{From: Epoch, To: Epoch.Add(time.Hour)})
	if want := []int64{bot.ID, c.ID, noted.ID}; !equalIDs(reportIDs(rows), want) {
		t.Fatalf("Report() = %v, want %v", reportIDs(rows), want)
	}
	check := func(r store.ReportRow, squad, agent string, started time.Time, queued, replied, ended *time.Time) {
		t.Helper()
		if r.Squad != squad || r.Agent != agent || !sameTime(r.StartedAt, started) || !samePtr(r.QueuedAt, queued) ||
			!samePtr(r.FirstAgentReplyAt, replied) || !samePtr(r.EndedAt, ended) {
			t.Errorf("Report() row %d = squad %q agent %q started %v queued %s replied %s ended %s,\n"+
				"want squad %q agent %q started %v queued %s replied %s ended %s", r.ID,
				r.Squad, r.Agent, r.StartedAt, fmtPtrTime(r.QueuedAt), fmtPtrTime(r.FirstAgentReplyAt), fmtPtrTime(r.EndedAt),
				squad, agent, started, fmtPtrTime(queued), fmtPtrTime(replied), fmtPtrTime(ended))
		}
	}
	check(rows[0], "", "", Epoch, nil, nil, nil)
	check(rows[1], "vendas", "bia", started, &queued, &replied, &ended)
	check(rows[2], model.DefaultSquad, "ana", noted.StartedAt, noted.QueuedAt, nil, nil)
}

// Squad and Agent narrow a report to the conversations they held last.
func testReportFilters(t *testing.T, open Open) {
	f := setup(t, open)
	f.integration("ig1")
	f.agent("ana", 4, model.AgentAvailable, model.DefaultSquad, "vendas")
	f.agent("bia", 4, model.AgentAvailable, model.DefaultSquad, "vendas")
	byAna := f.assigned("ig1", "ana")
	byBia := f.assigned("ig1", "bia")
	sales := f.queued("ig1", "vendas", 0)
	salesAna := f.assign(f.queued("ig1", "vendas", 0).ID, "ana")
	f.conversation("ig1") // the assistant's

	all := store.ReportFilter{From: Epoch, To: Epoch.Add(time.Hour)}
	cases := []struct {
		squad, agent string
		want         []int64
	}{
		{"", "", nil}, // every one: checked by count below
		{model.DefaultSquad, "", []int64{byAna.ID, byBia.ID}},
		{"vendas", "", []int64{sales.ID, salesAna.ID}},
		{"", "ana", []int64{byAna.ID, salesAna.ID}},
		{"vendas", "ana", []int64{salesAna.ID}},
		{"vendas", "bia", nil},
		{"nobody's", "", nil},
	}
	for _, c := range cases {
		rf := all
		rf.Squad, rf.Agent = c.squad, c.agent
		got := reportIDs(f.report(rf))
		if c.squad == "" && c.agent == "" {
			if len(got) != 5 {
				t.Errorf("Report(no filter) = %v, want all 5", got)
			}
			continue
		}
		if !equalIDs(got, c.want) {
			t.Errorf("Report(squad %q, agent %q) = %v, want %v", c.squad, c.agent, got, c.want)
		}
	}
}

func samePtr(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return sameTime(*a, *b)
}
