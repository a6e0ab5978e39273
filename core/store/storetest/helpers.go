package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// Epoch is where every suite clock starts: whole seconds in UTC, so times
// survive a backend that stores milliseconds.
var Epoch = time.Date(2025, time.March, 14, 9, 0, 0, 0, time.UTC)

// Clock is a clock the suite moves by hand; its Now is what Open receives.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now is the clock's time; it moves only when told.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// fixture is one subtest's store and clock, with helpers that build rows
// through the interfaces and stop the test when they cannot.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	clock *Clock
	s     store.Store
	seq   *int
}

// setup opens a new store for t, closed when t ends.
func setup(t *testing.T, open Open) *fixture {
	t.Helper()
	c := NewClock(Epoch)
	s := open(t, c.Now)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return &fixture{t: t, ctx: context.Background(), clock: c, s: s, seq: new(int)}
}

// as is f reporting to t (a subtest sharing the parent's store).
func (f *fixture) as(t *testing.T) *fixture {
	g := *f
	g.t = t
	return &g
}

func (f *fixture) must(err error, format string, args ...any) {
	f.t.Helper()
	if err != nil {
		f.t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
}

// next returns a number unique within the fixture, for names.
func (f *fixture) next() int {
	*f.seq++
	return *f.seq
}

func (f *fixture) tx(fn func(store.Tx) error) {
	f.t.Helper()
	f.must(f.s.Tx(f.ctx, fn), "Tx")
}

func text(s string) []model.Content { return []model.Content{{Type: model.Text, Text: s}} }

func (f *fixture) integration(id string) *model.Integration {
	f.t.Helper()
	in := &model.Integration{
		ID: id, Name: "Integration " + id, Channel: "fake", Squad: model.DefaultSquad,
		InactivityMinutes: 30, Enabled: true, Source: model.SourceAPI,
	}
	f.must(f.s.Integrations().Put(f.ctx, in), "Integrations().Put(%s)", id)
	return in
}

func (f *fixture) contactAs(integration, user string, h store.ContactHints) *model.Contact {
	f.t.Helper()
	c, err := f.s.Contacts().Upsert(f.ctx, integration, user, h, f.clock.Now())
	f.must(err, "Contacts().Upsert(%s, %s)", integration, user)
	return c
}

// contact is a new user of integration.
func (f *fixture) contact(integration string) *model.Contact {
	f.t.Helper()
	return f.contactAs(integration, fmt.Sprintf("user-%d", f.next()), store.ContactHints{})
}

// conversationOf starts a conversation of contact in the bot state.
func (f *fixture) conversationOf(ct *model.Contact) *model.Conversation {
	f.t.Helper()
	c := &model.Conversation{Integration: ct.Integration, ContactID: ct.ID, State: model.StateBot, Origin: model.OriginDirect}
	if ct.Integration == "" {
		f.t.Fatalf("contact %d has no integration", ct.ID)
	}
	started, err := f.s.Conversations().Start(f.ctx, c)
	f.must(err, "Conversations().Start(contact %d)", ct.ID)
	if !started {
		f.t.Fatalf("Conversations().Start(contact %d) = started false, want a new conversation", ct.ID)
	}
	return c
}

// conversation is a new contact's conversation, with the assistant.
func (f *fixture) conversation(integration string) *model.Conversation {
	f.t.Helper()
	return f.conversationOf(f.contact(integration))
}

func (f *fixture) queue(id int64, q store.Queueing) *model.Conversation {
	f.t.Helper()
	c, err := f.s.Conversations().Queue(f.ctx, id, q)
	f.must(err, "Conversations().Queue(%d, %+v)", id, q)
	return c
}

// queued is a new conversation waiting in squad.
func (f *fixture) queued(integration, squad string, priority int) *model.Conversation {
	f.t.Helper()
	c := f.conversation(integration)
	return f.queue(c.ID, store.Queueing{Squad: squad, Priority: priority})
}

func (f *fixture) agent(id string, maxChats int, status string, squads ...string) *model.Agent {
	f.t.Helper()
	if len(squads) == 0 {
		squads = []string{model.DefaultSquad} // where the fixtures queue conversations
	}
	a := &model.Agent{ID: id, Login: id, Name: "Agent " + id, Role: model.RoleAgent, Squads: squads, MaxChats: maxChats}
	f.must(f.s.Agents().Create(f.ctx, a, "hash-"+id), "Agents().Create(%s)", id)
	f.must(f.s.Agents().SetStatus(f.ctx, id, status), "Agents().SetStatus(%s, %s)", id, status)
	return a
}

func (f *fixture) assign(id int64, agent string) *model.Conversation {
	f.t.Helper()
	c, err := f.s.Conversations().Assign(f.ctx, id, agent)
	f.must(err, "Conversations().Assign(%d, %s)", id, agent)
	return c
}

// assigned is a new conversation given to agent.
func (f *fixture) assigned(integration, agent string) *model.Conversation {
	f.t.Helper()
	c := f.queued(integration, model.DefaultSquad, 0)
	return f.assign(c.ID, agent)
}

func (f *fixture) getConversation(id int64) *model.Conversation {
	f.t.Helper()
	c, err := f.s.Conversations().Get(f.ctx, id)
	f.must(err, "Conversations().Get(%d)", id)
	return c
}

func (f *fixture) getMessage(id int64) *model.Message {
	f.t.Helper()
	m, err := f.s.Messages().Get(f.ctx, id)
	f.must(err, "Messages().Get(%d)", id)
	return m
}

func (f *fixture) getAgent(id string) *model.Agent {
	f.t.Helper()
	a, err := f.s.Agents().Get(f.ctx, id)
	f.must(err, "Agents().Get(%s)", id)
	return a
}

// inbound is the user's message in c under provider ids pids.
func (f *fixture) inbound(c *model.Conversation, body string, pids ...string) *model.Message {
	f.t.Helper()
	m := &model.Message{
		Conversation: c.ID, Integration: c.Integration, Direction: model.DirectionIn, Author: model.AuthorContact,
		Contents: text(body), Status: model.StatusReceived, CreatedAt: f.clock.Now(),
	}
	existing, err := f.s.Messages().Add(f.ctx, m, pids...)
	f.must(err, "Messages().Add(%q, %v)", body, pids)
	if existing {
		f.t.Fatalf("Messages().Add(%q, %v) = existing, want a new message", body, pids)
	}
	return m
}

func outbound(c *model.Conversation, body string) *model.Message {
	return &model.Message{
		Conversation: c.ID, Integration: c.Integration, Direction: model.DirectionOut, Author: model.AgentAuthor("ana"),
		Contents: text(body), Status: model.StatusPending,
	}
}

// enqueue puts an agent's message to c in the outbox.
func (f *fixture) enqueue(c *model.Conversation, body string) *model.Message {
	f.t.Helper()
	m := outbound(c, body)
	f.must(f.s.Outbox().Enqueue(f.ctx, m, fmt.Sprintf("idem-%d", f.next())), "Outbox().Enqueue(%q)", body)
	return m
}

// claimOnly claims for owner and expects exactly one key to be due: tests
// that use it arrange that, so no other key stays leased behind their back.
func (f *fixture) claimOnly(owner string) store.OutboxItem {
	f.t.Helper()
	items, err := f.s.Outbox().Claim(f.ctx, owner, 10, time.Minute)
	f.must(err, "Outbox().Claim(%s)", owner)
	if len(items) != 1 {
		f.t.Fatalf("Outbox().Claim(%s) = %d items, want the one due (%v)", owner, len(items), outboxIDs(items))
	}
	return items[0]
}

// send puts a message to c through the outbox until the provider accepted
// it (status sent, provider id "p-<message id>"). No other key may be due.
func (f *fixture) send(c *model.Conversation, body string) *model.Message {
	f.t.Helper()
	m := f.enqueue(c, body)
	it := f.claimOnly("fixture")
	if it.MessageID != m.ID {
		f.t.Fatalf("Outbox().Claim() = message %d, want %d", it.MessageID, m.ID)
	}
	f.must(f.s.Outbox().Begin(f.ctx, &it, false), "Outbox().Begin(%d)", m.ID)
	f.must(f.s.Outbox().Sent(f.ctx, &it, []string{fmt.Sprintf("p-%d", m.ID)}), "Outbox().Sent(%d)", m.ID)
	return f.getMessage(m.ID)
}

// failSend puts a message to c through the outbox until it failed.
func (f *fixture) failSend(c *model.Conversation, body string) *model.Message {
	f.t.Helper()
	m := f.enqueue(c, body)
	it := f.claimOnly("fixture")
	f.must(f.s.Outbox().Fail(f.ctx, &it, "rejected"), "Outbox().Fail(%d)", m.ID)
	return f.getMessage(m.ID)
}

// setStatus moves m through statuses, stopping the test on a refusal.
func (f *fixture) setStatus(id int64, statuses ...string) {
	f.t.Helper()
	for _, st := range statuses {
		f.must(f.s.Messages().SetStatus(f.ctx, id, st, ""), "Messages().SetStatus(%d, %s)", id, st)
	}
}

func outboxIDs(items []store.OutboxItem) []int64 {
	var ids []int64
	for _, it := range items {
		ids = append(ids, it.MessageID)
	}
	return ids
}

func messageIDs[M interface{ *model.Message | model.Message }](ms []M) []int64 {
	var ids []int64
	for _, m := range ms {
		switch m := any(m).(type) {
		case *model.Message:
			ids = append(ids, m.ID)
		case model.Message:
			ids = append(ids, m.ID)
		}
	}
	return ids
}

func conversationIDs(cs []*model.Conversation) []int64 {
	var ids []int64
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

// sameIDs compares two sets of ids, whatever their order.
func sameIDs(got, want []int64) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

// sameTime compares instants at the millisecond, the coarsest precision a
// backend may keep; the suite's times are whole seconds.
func sameTime(a, b time.Time) bool {
	return a.Truncate(time.Millisecond).Equal(b.Truncate(time.Millisecond))
}

func samePtrTime(a *time.Time, b time.Time) bool { return a != nil && sameTime(*a, b) }

func fmtPtrTime(p *time.Time) string {
	if p == nil {
		return "nil"
	}
	return p.UTC().Format(time.RFC3339Nano)
}

// wantIs reports unless errors.Is(err, target).
func wantIs(t *testing.T, call string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s = %v, want %v", call, err, target)
	}
}

// wantTransition reports unless err is a refused transition from -> to
// (an empty from or to is not checked).
func wantTransition(t *testing.T, call string, err error, from, to string) {
	t.Helper()
	if !errors.Is(err, store.ErrIllegalTransition) {
		t.Errorf("%s = %v, want %v", call, err, store.ErrIllegalTransition)
		return
	}
	var te *model.TransitionError
	if !errors.As(err, &te) {
		t.Errorf("%s = %v (%T), want a *model.TransitionError", call, err, err)
		return
	}
	if (from != "" && te.From != from) || (to != "" && te.To != to) {
		t.Errorf("%s = transition %s -> %s, want %s -> %s", call, te.From, te.To, from, to)
	}
}

// conversationDiff names the fields in which b differs from a ("" when
// none): what a refused change must leave alone.
func conversationDiff(a, b *model.Conversation) string {
	var d []string
	add := func(name string, x, y any) { d = append(d, fmt.Sprintf("%s %v -> %v", name, x, y)) }
	if a.State != b.State {
		add("state", a.State, b.State)
	}
	if a.Squad != b.Squad {
		add("squad", a.Squad, b.Squad)
	}
	if a.Agent != b.Agent {
		add("agent", a.Agent, b.Agent)
	}
	if a.Priority != b.Priority {
		add("priority", a.Priority, b.Priority)
	}
	if string(a.Session) != string(b.Session) {
		add("session", string(a.Session), string(b.Session))
	}
	if (a.QueuedAt == nil) != (b.QueuedAt == nil) || (a.QueuedAt != nil && !sameTime(*a.QueuedAt, *b.QueuedAt)) {
		add("queued_at", fmtPtrTime(a.QueuedAt), fmtPtrTime(b.QueuedAt))
	}
	if (a.EndedAt == nil) != (b.EndedAt == nil) || (a.EndedAt != nil && !sameTime(*a.EndedAt, *b.EndedAt)) {
		add("ended_at", fmtPtrTime(a.EndedAt), fmtPtrTime(b.EndedAt))
	}
	if a.EndReason != b.EndReason {
		add("end_reason", a.EndReason, b.EndReason)
	}
	if fmt.Sprint(d) == "[]" {
		return ""
	}
	return fmt.Sprint(d)
}
