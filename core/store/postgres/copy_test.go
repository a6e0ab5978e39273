package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
	"github.com/conversa/conversa/core/store/sqlite"
	"github.com/conversa/conversa/core/store/storetest"
)

// install is what fillSQLite wrote, by id: what to read back on both sides.
type install struct {
	contacts      []int64
	conversations []int64
	providerIDs   []string
	sessions      []string
}

// fillSQLite writes a small but complete install through the store API:
// every table gets rows, with the values whose types differ between the two
// databases (booleans both ways, blobs, NULL and non-NULL times).
func fillSQLite(t *testing.T, ctx context.Context, s store.Store, clock *storetest.Clock) install {
	t.Helper()
	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	var in install
	must(s.Integrations().Put(ctx, &model.Integration{ID: "ig-a", Name: "Loja A", Channel: "meta", Assistant: "demo",
		Squad: model.DefaultSquad, InactivityMinutes: 30, UnsupportedMediaMessages: []string{"Só texto, por favor"},
		HomologationUsers: []string{}, Settings: map[string]any{"account_id": "1784"}, Enabled: true,
		Source: model.SourceConfig}), "Put(ig-a)")
	must(s.Integrations().Put(ctx, &model.Integration{ID: "ig-b", Name: "Loja B", Channel: "zenvia", Squad: "vendas",
		InactivityMinutes: 0, UnsupportedMediaMessages: []string{}, HomologationUsers: []string{"tester"},
		Settings: map[string]any{"api_token": "t0k3n", "nested": map[string]any{"n": 1.5}}, Enabled: false,
		Source: model.SourceAPI}), "Put(ig-b)")
	must(s.Integrations().SetNeedsReauth(ctx, "ig-b", "token expired"), "SetNeedsReauth")

	must(s.Agents().Create(ctx, &model.Agent{ID: "ana", Login: "ana", Name: "Ana Lima", Role: model.RoleAgent,
		Squads: []string{model.DefaultSquad, "vendas"}, MaxChats: 3}, "hash-ana"), "Create(ana)")
	must(s.Agents().Create(ctx, &model.Agent{ID: "boss", Login: "boss", Name: "Boss", Role: model.RoleAdmin,
		Squads: []string{}, MaxChats: model.DefaultMaxChats}, "hash-boss"), "Create(boss)")
	clock.Advance(time.Second)
	must(s.Agents().SetStatus(ctx, "ana", model.AgentAvailable), "SetStatus(ana)")
	sess := &store.Session{TokenHash: "sha-ana", AgentID: "ana", CSRFToken: "csrf-ana",
		CreatedAt: clock.Now(), LastSeenAt: clock.Now(), ExpiresAt: clock.Now().Add(24 * time.Hour)}
	must(s.Sessions().Create(ctx, sess), "Sessions().Create")
	in.sessions = append(in.sessions, sess.TokenHash)

	// Conversation 1: the user wrote, the assistant kept a session, an
	// agent has it now; two sends, one confirmed, one in flight.
	u1, err := s.Contacts().Upsert(ctx, "ig-a", "u1", store.ContactHints{Username: "joana", Name: "Joana"}, clock.Now())
	must(err, "Upsert(u1)")
	_, err = s.Contacts().Upsert(ctx, "ig-a", "u1", store.ContactHints{AvatarURL: "https://cdn.example/u1.jpg", Profiled: true}, time.Time{})
	must(err, "Upsert(u1, profiled)")
	c1 := &model.Conversation{Integration: "ig-a", ContactID: u1.ID, State: model.StateBot, Origin: model.OriginDirect}
	_, err = s.Conversations().Start(ctx, c1)
	must(err, "Start(c1)")
	must(s.Conversations().SetSession(ctx, c1.ID, []byte{0, 1, 2, 0xff, 'x'}), "SetSession")
	m1 := &model.Message{Conversation: c1.ID, Integration: "ig-a", Direction: model.DirectionIn, Author: model.AuthorContact,
		Contents: []model.Content{{Type: model.Text, Text: "Olá! Quero falar com alguém 😊"}}, Status: model.StatusReceived,
		ReplyTo: "mid.0", CreatedAt: clock.Now()}
	_, err = s.Messages().Add(ctx, m1, "mid.1")
	must(err, "Add(m1)")
	must(s.Messages().AddProviderIDs(ctx, "ig-a", m1.ID, "mid.1-alias"), "AddProviderIDs")
	must(s.Messages().MarkHandled(ctx, m1.ID), "MarkHandled")
	must(s.Messages().SetReaction(ctx, m1.ID, "business", "❤️", clock.Now()), "SetReaction")
	in.providerIDs = append(in.providerIDs, "mid.1", "mid.1-alias")
	must(s.Labels().Set(ctx, c1.ID, []string{"vip", "reembolso"}), "Labels().Set")
	note := &model.Message{Conversation: c1.ID, Integration: "ig-a", Direction: model.DirectionOut,
		Author: model.AgentAuthor("ana"), Status: model.StatusInternal, Private: true,
		Contents: []model.Content{{Type: model.Text, Text: "cliente pediu reembolso"}}}
	_, err = s.Messages().Add(ctx, note)
	must(err, "Add(note)")
	must(s.CannedResponses().Create(ctx, &model.CannedResponse{Shortcut: "horario", Text: "Abrimos às 9h.", Squad: "geral"}),
		"CannedResponses().Create")
	must(s.Audit().Add(ctx, &store.AuditEntry{Actor: "boss", Action: "canned_response.create", Target: "1", IP: "192.0.2.1",
		Detail: "shortcut horario"}), "Audit().Add")
	must(s.Deliveries().Add(ctx,
		&store.Delivery{Integration: "ig-a", Direction: store.DeliveryIn, MessageID: "mid.1", ProviderMessageIDs: []string{"mid.1"},
			Outcome: "stored", HTTPStatus: 200, LatencyMS: 3, Detail: []byte(`{"request":{"body":"olá"}}`)},
		&store.Delivery{Integration: "ig-a", Direction: store.DeliveryOut, MessageID: "2", Outcome: "retry", HTTPStatus: 503,
			Error: "Meta answered 503"}), "Deliveries().Add")
	must(s.PluginTrust().Trust(ctx, "echo", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"), "PluginTrust().Trust")

	m2 := &model.Message{Conversation: c1.ID, Integration: "ig-a", Direction: model.DirectionOut,
		Author: model.AuthorAssistant, Contents: []model.Content{{Type: model.Text, Text: "Claro, um momento."}},
		Status: model.StatusPending}
	must(s.Outbox().Enqueue(ctx, m2, "idem-m2"), "Enqueue(m2)")
	m3 := &model.Message{Conversation: c1.ID, Integration: "ig-a", Direction: model.DirectionOut,
		Author: model.AuthorAssistant, Contents: []model.Content{{Type: model.QuickReplies, Text: "Escolha:",
			Options: []model.Option{{Title: "Sim", Payload: "yes"}}}}, Status: model.StatusPending}
	must(s.Outbox().Enqueue(ctx, m3, "idem-m3"), "Enqueue(m3)")
	items, err := s.Outbox().Claim(ctx, "filler", 10, time.Minute)
	must(err, "Outbox().Claim")
	if len(items) != 1 || items[0].MessageID != m2.ID {
		t.Fatalf("Outbox().Claim = %+v, want m2", items)
	}
	must(s.Outbox().Begin(ctx, &items[0], false), "Begin(m2)")
	must(s.Outbox().Sent(ctx, &items[0], []string{"p-2a", "p-2b"}), "Sent(m2)")
	in.providerIDs = append(in.providerIDs, "p-2a", "p-2b")
	items, err = s.Outbox().Claim(ctx, "filler", 10, time.Minute)
	must(err, "Outbox().Claim")
	if len(items) != 1 || items[0].MessageID != m3.ID {
		t.Fatalf("Outbox().Claim = %+v, want m3", items)
	}
	// m3 may have gone out: it is marked a possible duplicate, in flight.
	must(s.Outbox().Begin(ctx, &items[0], true), "Begin(m3)")
	must(s.Outbox().Release(ctx, "filler"), "Outbox().Release")

	clock.Advance(time.Minute)
	_, err = s.Conversations().Queue(ctx, c1.ID, store.Queueing{Squad: model.DefaultSquad, Priority: 2, Agent: "ana"})
	must(err, "Queue(c1)")
	_, err = s.Conversations().Assign(ctx, c1.ID, "ana")
	must(err, "Assign(c1)")
	must(s.Conversations().MarkRead(ctx, c1.ID, m1.ID), "MarkRead")

	// Conversation 2, ended: an edited and a deleted message.
	u2, err := s.Contacts().Upsert(ctx, "ig-b", "u2", store.ContactHints{}, clock.Now())
	must(err, "Upsert(u2)")
	c2 := &model.Conversation{Integration: "ig-b", ContactID: u2.ID, State: model.StateBot, Origin: model.OriginStoryMention}
	_, err = s.Conversations().Start(ctx, c2)
	must(err, "Start(c2)")
	m4 := &model.Message{Conversation: c2.ID, Integration: "ig-b", Direction: model.DirectionIn, Author: model.AuthorContact,
		Contents: []model.Content{{Type: model.StoryMention, URL: "https://cdn.example/story.mp4", StoryID: "st-1"}},
		Status:   model.StatusReceived, CreatedAt: clock.Now()}
	_, err = s.Messages().Add(ctx, m4, "z-4")
	must(err, "Add(m4)")
	m5 := &model.Message{Conversation: c2.ID, Integration: "ig-b", Direction: model.DirectionIn, Author: model.AuthorContact,
		Contents: []model.Content{{Type: model.Text, Text: "first"}}, Status: model.StatusReceived, CreatedAt: clock.Now()}
	_, err = s.Messages().Add(ctx, m5, "z-5")
	must(err, "Add(m5)")
	in.providerIDs = append(in.providerIDs, "z-4", "z-5")
	clock.Advance(time.Second)
	must(s.Messages().Edit(ctx, m5.ID, []model.Content{{Type: model.Text, Text: "second"}}, clock.Now()), "Edit(m5)")
	must(s.Messages().MarkDeleted(ctx, m4.ID, clock.Now()), "MarkDeleted(m4)")
	_, err = s.Conversations().End(ctx, c2.ID, model.EndAgent)
	must(err, "End(c2)")

	// The inbox: one event processed, one waiting for each of two users.
	for i, ev := range []*model.Event{
		{Kind: model.EventMessage, DedupeKey: "evt-1", Integration: "ig-a", ContactID: "u1", MessageID: "mid.1",
			Timestamp: clock.Now(), Contents: []model.Content{{Type: model.Text, Text: "oi"}}, Raw: []byte(`{"mid":"mid.1"}`)},
		{Kind: model.EventReaction, DedupeKey: "evt-2", Integration: "ig-a", ContactID: "u1", MessageID: "mid.1",
			Timestamp: clock.Now(), Raw: []byte(`{"reaction":"love"}`)},
		{Kind: model.EventMessage, DedupeKey: "evt-3", Integration: "ig-b", ContactID: "u2", Timestamp: clock.Now()},
	} {
		partition := ev.Integration + "\x00" + ev.ContactID // as the engine keys a contact's events
		if added, err := s.Inbox().Add(ctx, ev, partition); err != nil || !added {
			t.Fatalf("Inbox().Add(%d) = %v, %v", i, added, err)
		}
	}
	evs, err := s.Inbox().Claim(ctx, "filler", 10, time.Minute)
	must(err, "Inbox().Claim")
	for _, it := range evs {
		if it.Event.DedupeKey == "evt-1" {
			must(s.Inbox().Done(ctx, &it, "answered"), "Done(evt-1)")
		}
	}
	must(s.Inbox().Release(ctx, "filler"), "Inbox().Release")

	in.contacts = []int64{u1.ID, u2.ID}
	in.conversations = []int64{c1.ID, c2.ID}
	return in
}

// snapshot is an install as a store's API shows it.
type snapshot struct {
	Integrations  []*model.Integration
	Agents        []*model.Agent
	Contacts      []*model.Contact
	Conversations []*model.Conversation
	Messages      [][]model.Message
	ByProviderID  map[string]int64
	Unread        map[int64]int
	Sessions      []*store.Session
	Inbox         []store.InboxItem
	Outbox        []store.OutboxItem
	Backlogs      [2]int
	Canned        []*model.CannedResponse
	Audit         []*store.AuditEntry
	Deliveries    []*store.Delivery
	Pins          []*store.PluginPin
	// Search is what a search by a message's words finds, SearchContact
	// what one by a contact's name does.
	Search, SearchContact []*model.Conversation
}

// read takes a snapshot. Reading the queues claims their due rows, then
// gives the keys back, due at once: the rows stay as they were but for the
// leases, so a snapshot can be read before the copy too.
func read(t *testing.T, ctx context.Context, s store.Store, in install) snapshot {
	t.Helper()
	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	var sn snapshot
	var err error
	sn.Integrations, err = s.Integrations().List(ctx)
	must(err, "Integrations().List")
	sn.Agents, err = s.Agents().List(ctx)
	must(err, "Agents().List")
	for _, id := range in.contacts {
		c, err := s.Contacts().Get(ctx, id)
		must(err, fmt.Sprintf("Contacts().Get(%d)", id))
		sn.Contacts = append(sn.Contacts, c)
	}
	for _, id := range in.conversations {
		c, err := s.Conversations().Get(ctx, id)
		must(err, fmt.Sprintf("Conversations().Get(%d)", id))
		sn.Conversations = append(sn.Conversations, c)
		ms, err := s.Messages().List(ctx, id)
		must(err, fmt.Sprintf("Messages().List(%d)", id))
		sn.Messages = append(sn.Messages, ms)
	}
	sn.Unread, err = s.Conversations().Unread(ctx, in.conversations)
	must(err, "Unread")
	sn.Search, err = s.Conversations().List(ctx, store.ConversationFilter{Search: "alguem"})
	must(err, "List(search alguem)")
	sn.SearchContact, err = s.Conversations().List(ctx, store.ConversationFilter{Search: "joana"})
	must(err, "List(search joana)")
	sn.ByProviderID = map[string]int64{}
	for _, pid := range in.providerIDs {
		integration := "ig-a"
		if strings.HasPrefix(pid, "z-") {
			integration = "ig-b"
		}
		m, err := s.Messages().ByProviderID(ctx, integration, pid)
		must(err, "ByProviderID("+pid+")")
		sn.ByProviderID[pid] = m.ID
	}
	for _, h := range in.sessions {
		ss, err := s.Sessions().Get(ctx, h)
		must(err, "Sessions().Get("+h+")")
		sn.Sessions = append(sn.Sessions, ss)
	}
	sn.Canned, err = s.CannedResponses().List(ctx, nil, true)
	must(err, "CannedResponses().List")
	sn.Audit, err = s.Audit().List(ctx, store.AuditFilter{})
	must(err, "Audit().List")
	sn.Deliveries, err = s.Deliveries().List(ctx, store.DeliveryFilter{Integration: "ig-a"})
	must(err, "Deliveries().List")
	sn.Pins, err = s.PluginTrust().Pins(ctx)
	must(err, "PluginTrust().Pins")
	sn.Backlogs[0], err = s.Inbox().Backlog(ctx)
	must(err, "Inbox().Backlog")
	sn.Backlogs[1], err = s.Outbox().Backlog(ctx)
	must(err, "Outbox().Backlog")
	sn.Inbox, err = s.Inbox().Claim(ctx, "reader", 10, time.Minute)
	must(err, "Inbox().Claim")
	must(s.Inbox().Release(ctx, "reader"), "Inbox().Release")
	sn.Outbox, err = s.Outbox().Claim(ctx, "reader", 10, time.Minute)
	must(err, "Outbox().Claim")
	must(s.Outbox().Release(ctx, "reader"), "Outbox().Release")
	// Leases differ by nature; the order of keys due at the same time is
	// the implementation's.
	for i := range sn.Inbox {
		sn.Inbox[i].Lease = store.Lease{}
		// PostgreSQL text cannot hold the NUL of the engine's keys: the
		// store writes U+FFFD for it, on every statement alike.
		sn.Inbox[i].Partition = strings.ReplaceAll(sn.Inbox[i].Partition, "\x00", "\uFFFD")
	}
	for i := range sn.Outbox {
		sn.Outbox[i].Lease = store.Lease{}
	}
	slices.SortFunc(sn.Inbox, func(a, b store.InboxItem) int { return int(a.ID - b.ID) })
	slices.SortFunc(sn.Outbox, func(a, b store.OutboxItem) int { return int(a.ID - b.ID) })
	return sn
}

// compare reports every part of the snapshots that differs.
func compare(t *testing.T, got, want snapshot) {
	t.Helper()
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range gv.NumField() {
		if g, w := gv.Field(i).Interface(), wv.Field(i).Interface(); !reflect.DeepEqual(g, w) {
			t.Errorf("%s after the copy differs:\n got  %s\n want %s", gv.Type().Field(i).Name, dump(g), dump(w))
		}
	}
}

// dump shows pointers' contents, not their addresses.
func dump(v any) string {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice {
		parts := make([]string, rv.Len())
		for i := range parts {
			e := rv.Index(i)
			if e.Kind() == reflect.Pointer && !e.IsNil() {
				e = e.Elem()
			}
			parts[i] = fmt.Sprintf("%+v", e.Interface())
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprintf("%+v", v)
}

// openSQLite opens a new SQLite store in a temporary directory.
func openSQLite(t *testing.T, clock *storetest.Clock) (*sqlite.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "conversa.db")
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return db, path
}

// exportSQLite opens path as conversa migrate does, closed when t ends.
func exportSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	src, err := sqlite.OpenForExport(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func TestCopyFromSQLite(t *testing.T) {
	url := testURL(t)
	ctx := context.Background()
	clock := storetest.NewClock(storetest.Epoch)
	lite, path := openSQLite(t, clock)
	in := fillSQLite(t, ctx, lite, clock)
	// SQLite's search index trails its writes: what is compared is the
	// install at rest.
	if err := lite.IndexSearch(ctx); err != nil {
		t.Fatal(err)
	}
	want := read(t, ctx, lite, in)
	if len(want.Search) != 1 || want.Search[0].Match == nil {
		t.Fatalf("search before the copy = %s, want the conversation with its matching message", dump(want.Search))
	}
	if len(want.SearchContact) == 0 {
		t.Fatalf("search by the contact's name before the copy = %s, want its conversations", dump(want.SearchContact))
	}
	if err := lite.Close(); err != nil {
		t.Fatal(err)
	}
	src := exportSQLite(t, path)

	counts, err := CopyFromSQLite(ctx, src, url, Options{})
	if err != nil {
		t.Fatalf("CopyFromSQLite = %v", err)
	}
	got := map[string]int64{}
	var order []string
	for _, c := range counts {
		got[c.Table] = c.Rows
		order = append(order, c.Table)
	}
	wantCounts := map[string]int64{"integrations": 2, "agents": 2, "auth_sessions": 1, "contacts": 2,
		"conversations": 2, "messages": 6, "provider_ids": 6, "reactions": 1, "inbox": 3, "outbox": 2, "queue_keys": 3,
		"conversation_labels": 2, "canned_responses": 1, "setup_tokens": 0, "audit_log": 1, "deliveries": 2,
		"plugin_trust": 1}
	if !reflect.DeepEqual(got, wantCounts) {
		t.Errorf("copied rows = %v, want %v", got, wantCounts)
	}
	before := func(a, b string) {
		if slices.Index(order, a) > slices.Index(order, b) {
			t.Errorf("copy order %v: %s after %s, which refers to it", order, a, b)
		}
	}
	before("contacts", "conversations")
	before("conversations", "messages")
	before("messages", "provider_ids")
	before("messages", "reactions")
	before("messages", "outbox")
	before("agents", "auth_sessions")

	pg, err := Open(ctx, url, Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	compare(t, read(t, ctx, pg, in), want)

	// New rows number on from the copied ones: the sequences moved.
	maxID := func(ids ...int64) int64 { return slices.Max(ids) }
	u3, err := pg.Contacts().Upsert(ctx, "ig-a", "u3", store.ContactHints{}, clock.Now())
	if err != nil {
		t.Fatalf("new contact after the copy: %v (were the sequences moved?)", err)
	}
	if u3.ID <= maxID(in.contacts...) {
		t.Errorf("new contact = %d, want an id above the copied ones %v", u3.ID, in.contacts)
	}
	c3 := &model.Conversation{Integration: "ig-a", ContactID: u3.ID, State: model.StateBot, Origin: model.OriginDirect}
	if _, err := pg.Conversations().Start(ctx, c3); err != nil || c3.ID <= maxID(in.conversations...) {
		t.Errorf("new conversation = %d, %v; want an id above the copied ones %v", c3.ID, err, in.conversations)
	}
	var messageIDs []int64
	for _, ms := range want.Messages {
		for _, m := range ms {
			messageIDs = append(messageIDs, m.ID)
		}
	}
	m6 := &model.Message{Conversation: c3.ID, Integration: "ig-a", Direction: model.DirectionOut, Author: model.AuthorAssistant,
		Contents: []model.Content{{Type: model.Text, Text: "after"}}, Status: model.StatusPending}
	if err := pg.Outbox().Enqueue(ctx, m6, "idem-m6"); err != nil || m6.ID <= maxID(messageIDs...) {
		t.Errorf("new message = %d, %v; want an id above the copied ones %v", m6.ID, err, messageIDs)
	}
	// A new event of u1 waits behind u1's copied one (the copied key is
	// the key the store computes); u3's is a key of its own.
	for _, ev := range []*model.Event{
		{Kind: model.EventMessage, DedupeKey: "evt-4", Integration: "ig-a", ContactID: "u1", Timestamp: clock.Now()},
		{Kind: model.EventMessage, DedupeKey: "evt-5", Integration: "ig-a", ContactID: "u3", Timestamp: clock.Now()},
	} {
		if added, err := pg.Inbox().Add(ctx, ev, ev.Integration+"\x00"+ev.ContactID); err != nil || !added {
			t.Errorf("Inbox().Add(%s) after the copy = %v, %v", ev.DedupeKey, added, err)
		}
	}
	newIDs := func(ids []int64, copied int64) (fresh []int64) {
		for _, id := range ids {
			if id > copied {
				fresh = append(fresh, id)
			}
		}
		return fresh
	}
	inboxItems, err := pg.Inbox().Claim(ctx, "after", 10, time.Minute)
	var heads []string
	for _, it := range inboxItems {
		heads = append(heads, it.Event.DedupeKey)
	}
	slices.Sort(heads)
	if err != nil || !slices.Equal(heads, []string{"evt-2", "evt-3", "evt-5"}) {
		t.Errorf("inbox heads after the copy = %v, %v; want evt-2 (u1's copied event, ahead of evt-4), evt-3 and evt-5", heads, err)
	}
	for _, it := range inboxItems {
		if it.Event.DedupeKey == "evt-5" && it.ID <= 3 {
			t.Errorf("new event's id = %d, want above the copied 1-3", it.ID)
		}
	}
	outboxItems, err := pg.Outbox().Claim(ctx, "after", 10, time.Minute)
	var outboxIDs []int64
	for _, it := range outboxItems {
		outboxIDs = append(outboxIDs, it.ID)
	}
	if err != nil || len(newIDs(outboxIDs, 2)) != 1 {
		t.Errorf("outbox ids after the copy = %v, %v; want the new send's above the copied 1-2", outboxIDs, err)
	}

	// A second copy into the database, now holding data, is refused.
	_, err = CopyFromSQLite(ctx, src, url, Options{})
	if !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), "table ") {
		t.Errorf("second CopyFromSQLite = %v, want ErrNotEmpty naming a table", err)
	}
}

// A copy that fails part-way leaves the target empty: the operator fixes the
// cause and runs it again.
func TestCopyFromSQLiteIsAllOrNothing(t *testing.T) {
	url := testURL(t)
	ctx := context.Background()
	clock := storetest.NewClock(storetest.Epoch)
	lite, path := openSQLite(t, clock)
	fillSQLite(t, ctx, lite, clock)
	lite.Close()
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// Not a boolean: found while copying messages, after the tables
	// messages refer to were copied.
	if _, err := raw.Exec(`UPDATE messages SET possible_duplicate = 2 WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	src := exportSQLite(t, path)
	_, err = CopyFromSQLite(ctx, src, url, Options{})
	if err == nil || !strings.Contains(err.Error(), "messages.possible_duplicate, id 2") {
		t.Fatalf("CopyFromSQLite with a bad boolean = %v, want an error naming messages.possible_duplicate, id 2", err)
	}
	pg, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if ins, err := pg.Integrations().List(ctx); err != nil || len(ins) != 0 {
		t.Errorf("integrations after a failed copy = %d, %v; want none (rolled back)", len(ins), err)
	}
	if _, err := raw.Exec(`UPDATE messages SET possible_duplicate = 0 WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	if _, err := CopyFromSQLite(ctx, src, url, Options{}); err != nil {
		t.Errorf("CopyFromSQLite after fixing the row = %v", err)
	}
}

// A table or column only SQLite has (a migration added on one side only) is
// refused before anything is copied, naming it.
func TestCopyFromSQLiteRefusesSchemaDrift(t *testing.T) {
	for _, tc := range []struct{ name, ddl, want string }{
		{"Column", `ALTER TABLE contacts ADD COLUMN nickname TEXT NOT NULL DEFAULT 'x'`, "column contacts.nickname"},
		{"Table", `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`, "table notes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := testURL(t)
			ctx := context.Background()
			clock := storetest.NewClock(storetest.Epoch)
			lite, path := openSQLite(t, clock)
			fillSQLite(t, ctx, lite, clock)
			lite.Close()
			raw, err := sql.Open("sqlite3", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Exec(tc.ddl); err != nil {
				t.Fatal(err)
			}
			raw.Close()
			_, err = CopyFromSQLite(ctx, exportSQLite(t, path), url, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing was copied") {
				t.Errorf("CopyFromSQLite = %v, want a refusal naming %s", err, tc.want)
			}
		})
	}
}

func TestCopyConverters(t *testing.T) {
	for _, tc := range []struct {
		dataType string
		in       any
		want     any
		err      string // a part of the error, "" for none
	}{
		{"bigint", int64(1741942800000), int64(1741942800000), ""},
		{"bigint", int64(math.MinInt64), int64(math.MinInt64), ""},
		{"bigint", nil, nil, ""},
		{"bigint", "12", nil, "not an integer"},
		{"bigint", 1.5, nil, "not an integer"},
		{"integer", int64(8), int64(8), ""},
		{"integer", int64(math.MaxInt32 + 1), nil, "out of range"},
		{"smallint", int64(-math.MaxInt16 - 2), nil, "out of range"},
		{"boolean", int64(0), false, ""},
		{"boolean", int64(1), true, ""},
		{"boolean", true, true, ""},
		{"boolean", nil, nil, ""},
		{"boolean", int64(2), nil, "not a boolean"},
		{"boolean", "1", nil, "not a boolean"},
		{"text", "olá 😊", "olá 😊", ""},
		{"text", []byte("[]"), "[]", ""},
		{"text", nil, nil, ""},
		{"text", []byte{0xff, 0xfe}, nil, "not UTF-8"},
		{"text", "ig-meta\x00u1", "ig-meta\uFFFDu1", ""}, // as the store cleans every argument
		{"text", int64(3), nil, "not text"},
		{"character varying", "x", "x", ""},
		{"bytea", []byte{0, 1, 0xff}, []byte{0, 1, 0xff}, ""},
		{"bytea", `{"raw":1}`, []byte(`{"raw":1}`), ""},
		{"bytea", nil, nil, ""},
		{"bytea", int64(1), nil, "not a blob"},
	} {
		conv, err := converterFor(tc.dataType)
		if err != nil {
			t.Fatalf("converterFor(%s) = %v", tc.dataType, err)
		}
		got, err := conv(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s from %#v = %#v, %v; want an error about %q", tc.dataType, tc.in, got, err, tc.err)
		case tc.err == "" && (err != nil || !reflect.DeepEqual(got, tc.want)):
			t.Errorf("%s from %#v = %#v, %v; want %#v", tc.dataType, tc.in, got, err, tc.want)
		}
	}
	for _, typ := range []string{"jsonb", "timestamp with time zone", "numeric"} {
		if _, err := converterFor(typ); err == nil {
			t.Errorf("converterFor(%s) = nil error, want a refusal: no conversion was decided for it", typ)
		}
	}
	// A refused value is described, never shown: it may be private.
	if _, err := toInteger(0, 10)("secret-hash"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("error = %v, want the value described without its contents", err)
	}
}

func TestPlanCopyOrdersByForeignKeys(t *testing.T) {
	col := func(name, typ string) pgColumn { return pgColumn{name: name, dataType: typ} }
	to := map[string]*pgTable{
		"contacts":      {name: "contacts", columns: []pgColumn{{name: "id", dataType: "bigint", sequence: "s.contacts_id_seq"}, col("name", "text")}},
		"conversations": {name: "conversations", columns: []pgColumn{col("id", "bigint"), col("contact_id", "bigint")}, refs: []string{"contacts"}},
		"messages":      {name: "messages", columns: []pgColumn{col("id", "bigint"), col("conversation_id", "bigint"), {name: "flag", dataType: "boolean", optional: true}}, refs: []string{"conversations", "elsewhere"}},
		"events":        {name: "events", columns: []pgColumn{col("id", "bigint")}},
	}
	// SQLite lists them in the opposite order; PostgreSQL-only tables are
	// not copied, an optional column only PostgreSQL has is left out.
	from := []srcTable{
		{"messages", []string{"id", "conversation_id"}},
		{"conversations", []string{"id", "contact_id"}},
		{"contacts", []string{"id", "name"}},
	}
	plans, err := planCopy(from, to)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, p := range plans {
		order = append(order, p.table)
	}
	if want := []string{"contacts", "conversations", "messages"}; !slices.Equal(order, want) {
		t.Errorf("order = %v, want %v", order, want)
	}
	if p := plans[0]; p.key != 0 || len(p.sequences) != 1 || p.sequences[0].sequence != "s.contacts_id_seq" {
		t.Errorf("contacts plan = %+v, want key 0 and its id sequence", p)
	}

	// A required column only PostgreSQL has cannot be filled.
	to["contacts"].columns = append(to["contacts"].columns, col("must", "text"))
	if _, err := planCopy(from, to); err == nil || !strings.Contains(err.Error(), "contacts.must") {
		t.Errorf("planCopy with a required PostgreSQL-only column = %v, want it named", err)
	}
}
