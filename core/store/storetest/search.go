package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// testSearch: ConversationFilter.Search finds conversations by the
// contact's name, username and channel id, and by the words of their
// messages, whatever the case and accents, the last word as it is being
// typed; a conversation found by a message carries it (Match).
func testSearch(t *testing.T, open Open) {
	f := setup(t, open)
	f.integration("ig1")
	f.agent("ana", 10, model.AgentAvailable)
	f.agent("bia", 10, model.AgentAvailable)

	// Ana's conversation with Ana Souza.
	souza := f.assignedTo(f.contactAs("ig1", "1784001", store.ContactHints{Name: "Ana Souza", Username: "ana.souza"}), "ana")
	asked := f.inbound(souza, "Olá! Não recebi o pedido 4711, podem verificar?")
	f.clock.Advance(time.Minute)
	answered := f.enqueue(souza, "Vou verificar o pedido agora mesmo")
	f.add(souza, model.AgentAuthor("ana"), model.StatusInternal, text("cliente VIP, tratar com prioridade"))
	f.add(souza, model.AuthorSystem, model.StatusInternal, text("transferencia automatica para vendas"))

	// Bia's conversation with Bruno: a photo with a caption, a story reply.
	f.clock.Advance(time.Minute)
	bruno := f.assignedTo(f.contactAs("ig1", "1784002", store.ContactHints{Name: "Bruno", Username: "bruno_b"}), "bia")
	f.inbound(bruno, "Quero trocar o tamanho da camisa")
	photo := f.add(bruno, model.AuthorContact, model.StatusReceived,
		[]model.Content{{Type: model.Image, URL: "https://cdn.example/p.jpg", Caption: "foto do defeito"}})
	story := f.add(bruno, model.AuthorContact, model.StatusReceived,
		[]model.Content{{Type: model.StoryReply, URL: "https://cdn.example/s.jpg", Text: "Adorei a promoção!"}})

	// A conversation with the assistant: a message unsent, another edited.
	f.clock.Advance(time.Minute)
	carla := f.conversationOf(f.contactAs("ig1", "1784003", store.ContactHints{Name: "Carla"}))
	unsent := f.inbound(carla, "mensagem secreta apagada")
	f.must(f.s.Messages().MarkDeleted(f.ctx, unsent.ID, f.clock.Now()), "MarkDeleted(%d)", unsent.ID)
	edited := f.inbound(carla, "texto antigo")
	f.must(f.s.Messages().Edit(f.ctx, edited.ID, text("texto novo corrigido"), f.clock.Now()), "Edit(%d)", edited.ID)

	type match struct {
		message int64
		text    string // the snippet holds it
	}
	cases := []struct {
		name   string
		filter store.ConversationFilter
		want   []int64
		// matches are the Match each found conversation must carry (none:
		// found by its contact only).
		matches map[int64]match
	}{
		{"name", store.ConversationFilter{Search: "Souza"}, []int64{souza.ID}, nil},
		{"username", store.ConversationFilter{Search: "ana.souza"}, []int64{souza.ID}, nil},
		{"part of a username", store.ConversationFilter{Search: "bruno_"}, []int64{bruno.ID}, nil},
		{"channel id", store.ConversationFilter{Search: "1784003"}, []int64{carla.ID}, nil},
		{"a word of a message, its newest match", store.ConversationFilter{Search: "pedido"}, []int64{souza.ID},
			map[int64]match{souza.ID: {answered.ID, "Vou verificar o pedido agora mesmo"}}},
		{"words in any order", store.ConversationFilter{Search: "4711 pedido"}, []int64{souza.ID},
			map[int64]match{souza.ID: {asked.ID, "pedido 4711"}}},
		{"without accents", store.ConversationFilter{Search: "nao recebi"}, []int64{souza.ID},
			map[int64]match{souza.ID: {asked.ID, "Não recebi"}}},
		{"in capitals with accents", store.ConversationFilter{Search: "NÃO RECEBI"}, []int64{souza.ID},
			map[int64]match{souza.ID: {asked.ID, "Não recebi"}}},
		{"accents the text lacks", store.ConversationFilter{Search: "prómoção"}, []int64{bruno.ID},
			map[int64]match{bruno.ID: {story.ID, "Adorei a promoção!"}}},
		{"the last word as a prefix", store.ConversationFilter{Search: "recebi o ped"}, []int64{souza.ID},
			map[int64]match{souza.ID: {asked.ID, "pedido"}}},
		{"only the last word as a prefix", store.ConversationFilter{Search: "ped 4711"}, nil, nil},
		// Two letters would name too many words: a whole word only.
		{"a short last word is a whole word", store.ConversationFilter{Search: "pe"}, nil, nil},
		{"a short whole word", store.ConversationFilter{Search: "recebi o"}, []int64{souza.ID},
			map[int64]match{souza.ID: {asked.ID, "recebi o pedido"}}},
		{"every word in one message", store.ConversationFilter{Search: "trocar pedido"}, nil, nil},
		{"a caption", store.ConversationFilter{Search: "defeito"}, []int64{bruno.ID},
			map[int64]match{bruno.ID: {photo.ID, "foto do defeito"}}},
		{"a story reply", store.ConversationFilter{Search: "adorei"}, []int64{bruno.ID},
			map[int64]match{bruno.ID: {story.ID, "Adorei a promoção!"}}},
		{"an agent's private note", store.ConversationFilter{Search: "vip"}, []int64{souza.ID}, nil},
		{"not the system's notes", store.ConversationFilter{Search: "transferencia"}, nil, nil},
		{"not an unsent message", store.ConversationFilter{Search: "secreta"}, nil, nil},
		{"an edited message by its new text", store.ConversationFilter{Search: "corrigido"}, []int64{carla.ID},
			map[int64]match{carla.ID: {edited.ID, "texto novo corrigido"}}},
		{"not an edited message by its old text", store.ConversationFilter{Search: "antigo"}, nil, nil},
		{"the agent's own conversations only", store.ConversationFilter{Search: "trocar", Agent: "ana"}, nil, nil},
		{"the other agent's", store.ConversationFilter{Search: "trocar", Agent: "bia"}, []int64{bruno.ID}, nil},
		{"with a state", store.ConversationFilter{Search: "texto", State: model.StateBot}, []int64{carla.ID}, nil},
		{"with another state", store.ConversationFilter{Search: "texto", State: model.StateAssigned}, nil, nil},
		{"no match", store.ConversationFilter{Search: "Zebedee"}, nil, nil},
	}
	f.searchable()
	for _, c := range cases {
		list, err := f.s.Conversations().List(f.ctx, c.filter)
		f.must(err, "List(%s: %+v)", c.name, c.filter)
		if ids := conversationIDs(list); !sameIDs(ids, c.want) {
			t.Errorf("List(%s: %q) = %v, want %v", c.name, c.filter.Search, ids, c.want)
			continue
		}
		if c.matches == nil {
			continue
		}
		for _, cv := range list {
			want := c.matches[cv.ID]
			switch {
			case cv.Match == nil:
				t.Errorf("List(%s: %q): conversation %d has no Match, want message %d", c.name, c.filter.Search, cv.ID, want.message)
			case cv.Match.MessageID != want.message || !strings.Contains(cv.Match.Text, want.text):
				t.Errorf("List(%s: %q): conversation %d Match = %+v, want message %d with %q", c.name, c.filter.Search,
					cv.ID, *cv.Match, want.message, want.text)
			}
		}
	}
	// Found by its contact alone, a conversation carries no Match.
	list, err := f.s.Conversations().List(f.ctx, store.ConversationFilter{Search: "Carla"})
	f.must(err, "List(Carla)")
	if len(list) == 1 && list[0].Match != nil {
		t.Errorf("List(Carla) = Match %+v, want none: no message says Carla", *list[0].Match)
	}

	t.Run("HostileQueries", func(t *testing.T) {
		f := f.as(t)
		// FTS and tsquery syntax, LIKE wildcards, SQL quotes, emoji,
		// invalid UTF-8 and NUL: never an error, and what is left of the
		// words still searches.
		cases := []struct {
			q    string
			want []int64
		}{
			{`"`, nil}, {`""`, nil}, {`*`, nil}, {`(`, nil}, {`)`, nil}, {`AND`, nil}, {`OR`, nil}, {`NOT`, nil},
			{`NEAR`, nil}, {`^`, nil}, {`:*`, nil}, {`!`, nil}, {`&`, nil}, {`|`, nil}, {`<->`, nil}, {`%`, nil},
			// No word, no match: a contact is found by the words of its
			// name, username and id, not by any substring ("bruno_b").
			{`_`, nil}, {`\`, nil}, {`'`, nil}, {`';--`, nil}, {`🎉`, nil}, {"\xff\xfe", nil}, {"\x00", nil},
			{`"pedido`, []int64{souza.ID}}, {`pedido"`, []int64{souza.ID}}, {`(pedido)`, []int64{souza.ID}},
			{`pedido*`, []int64{souza.ID}}, {`-pedido`, []int64{souza.ID}}, {`body:pedido`, nil},
			{`pedido AND`, nil}, {`pedido & 4711`, []int64{souza.ID}}, {`pedido:*`, []int64{souza.ID}},
			{`'pedido'`, []int64{souza.ID}}, {"ped\xffido", []int64{souza.ID}}, {"\x00pedido", []int64{souza.ID}},
			{"pedido 🎉", []int64{souza.ID}}, {strings.Repeat("pedido ", 200), []int64{souza.ID}},
			{strings.Repeat("x", 5000), nil},
		}
		for _, c := range cases {
			list, err := f.s.Conversations().List(f.ctx, store.ConversationFilter{Search: c.q})
			if err != nil {
				t.Errorf("List(%q) = %v, want no error", c.q, err)
				continue
			}
			if ids := conversationIDs(list); !sameIDs(ids, c.want) {
				t.Errorf("List(%q) = %v, want %v", c.q, ids, c.want)
			}
		}
	})

	// Edited and unsent once searchable: the index follows.
	t.Run("EditsAndUnsendsOfIndexedMessages", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		c := f.conversationOf(f.contactAs("ig1", "u1", store.ContactHints{Name: "Cliente"}))
		kept := f.inbound(c, "quero um guarda-chuva azul")
		gone := f.inbound(c, "meu telefone novo")
		f.searchable()
		f.must(f.s.Messages().Edit(f.ctx, kept.ID, text("quero um guarda-chuva vermelho"), f.clock.Now()), "Edit(%d)", kept.ID)
		f.must(f.s.Messages().MarkDeleted(f.ctx, gone.ID, f.clock.Now()), "MarkDeleted(%d)", gone.ID)
		f.searchable()
		for q, want := range map[string][]int64{"vermelho": {c.ID}, "azul": nil, "telefone": nil, "guarda": {c.ID}} {
			list, err := f.s.Conversations().List(f.ctx, store.ConversationFilter{Search: q})
			f.must(err, "List(%s)", q)
			if ids := conversationIDs(list); !sameIDs(ids, want) {
				t.Errorf("List(%q) after the edit and the unsend = %v, want %v", q, ids, want)
			}
		}
	})

	t.Run("NewestActivityFirstAndLimit", func(t *testing.T) {
		f := setup(t, open)
		f.integration("ig1")
		var convs []*model.Conversation // oldest first
		var contacts []*model.Contact
		for i := range 4 {
			contacts = append(contacts, f.contactAs("ig1", fmt.Sprintf("u%d", i), store.ContactHints{Name: fmt.Sprintf("Cliente %d", i)}))
			c := f.conversationOf(contacts[i])
			f.inbound(c, "quero o mesmo modelo")
			convs = append(convs, c)
			f.clock.Advance(time.Minute)
		}
		id := func(i int) int64 { return convs[i].ID }
		// The oldest conversation writes again: it comes first.
		f.must(f.s.Conversations().Touch(f.ctx, id(0), f.clock.Now(), f.clock.Now()), "Touch(%d)", id(0))
		f.searchable()
		search := func(filter store.ConversationFilter, want ...int64) {
			t.Helper()
			list, err := f.s.Conversations().List(f.ctx, filter)
			f.must(err, "List(%+v)", filter)
			if ids := conversationIDs(list); fmt.Sprint(ids) != fmt.Sprint(want) {
				t.Errorf("List(%+v) = %v, want %v", filter, ids, want)
			}
		}
		search(store.ConversationFilter{Search: "modelo"}, id(0), id(3), id(2), id(1))
		// More conversations match than the page holds: it is made of
		// those with the newest matches, of messages and of contacts alike,
		// newest activity first.
		f.clock.Advance(time.Minute)
		f.must(f.s.Conversations().Touch(f.ctx, id(2), f.clock.Now(), f.clock.Now()), "Touch(%d)", id(2))
		search(store.ConversationFilter{Search: "modelo", Limit: 2}, id(2), id(3))
		search(store.ConversationFilter{Search: "modelo", Limit: 3}, id(2), id(3), id(1))
		search(store.ConversationFilter{Search: "cliente", Limit: 2}, id(2), id(3))
		// The page is made of the conversations the other filters keep: an
		// ended one with a newer match does not take a place.
		_, err := f.s.Conversations().End(f.ctx, id(3), "resolved")
		f.must(err, "End(%d)", id(3))
		search(store.ConversationFilter{Search: "modelo", State: model.StateBot, Limit: 2}, id(2), id(1))
		search(store.ConversationFilter{Search: "cliente", State: model.StateBot, Limit: 2}, id(2), id(1))
		search(store.ConversationFilter{Search: "modelo", State: model.StateEnded, Limit: 2}, id(3))
		// The newest contact writes again, in a new conversation: a
		// contact's conversations are candidates together, so the page of
		// one shows the newest activity of both.
		f.clock.Advance(time.Minute)
		again := f.conversationOf(contacts[3])
		search(store.ConversationFilter{Search: "cliente", Limit: 1}, again.ID)
		search(store.ConversationFilter{Search: "cliente", State: model.StateBot, Limit: 2}, again.ID, id(2))
	})
}

// searchIndexer is a store whose search index trails its writes (SQLite's
// is kept in the background): IndexSearch returns once every message
// stored before the call is searchable.
type searchIndexer interface {
	IndexSearch(ctx context.Context) error
}

// searchable waits until what was stored can be found, where the store's
// index trails its writes.
func (f *fixture) searchable() {
	f.t.Helper()
	if ix, ok := f.s.(searchIndexer); ok {
		f.must(ix.IndexSearch(f.ctx), "IndexSearch")
	}
}

// assignedTo starts a conversation of ct and gives it to agent.
func (f *fixture) assignedTo(ct *model.Contact, agent string) *model.Conversation {
	f.t.Helper()
	c := f.conversationOf(ct)
	f.queue(c.ID, store.Queueing{Squad: model.DefaultSquad})
	return f.assign(c.ID, agent)
}

// add stores a message by author in c.
func (f *fixture) add(c *model.Conversation, author, status string, contents []model.Content) *model.Message {
	f.t.Helper()
	dir := model.DirectionOut
	if author == model.AuthorContact {
		dir = model.DirectionIn
	}
	m := &model.Message{Conversation: c.ID, Integration: c.Integration, Direction: dir, Author: author,
		Contents: contents, Status: status, CreatedAt: f.clock.Now()}
	_, err := f.s.Messages().Add(f.ctx, m)
	f.must(err, "Messages().Add(%s, %+v)", author, contents)
	return m
}
