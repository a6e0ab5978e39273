package storetest

import (
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// testContactSearch: a search finds a conversation by its contact's words
// (name, username, Instagram id) as it finds one by a message's: each
// word whatever its case and accents, the last also as a prefix from
// three letters, never a part of a word; every word of the search in the
// contact, in any field; every conversation of the contact found; the
// words follow the contact's changes.
func testContactSearch(t *testing.T, open Open) {
	f := setup(t, open)
	f.integration("ig1")

	// Maria's first conversation ended; she wrote again.
	silva := f.contactAs("ig1", "17841400000001", store.ContactHints{Name: "Maria da Silva", Username: "maria.silva"})
	silvaOld := f.conversationOf(silva)
	_, err := f.s.Conversations().End(f.ctx, silvaOld.ID, model.EndAgent)
	f.must(err, "End(%d)", silvaOld.ID)
	f.clock.Advance(time.Minute)
	silvaNew := f.conversationOf(silva)

	f.clock.Advance(time.Minute)
	joao := f.conversationOf(f.contactAs("ig1", "17841400000002", store.ContactHints{Name: "João Conceição", Username: "jconceicao"}))
	said := f.inbound(joao, "o pedido do João chegou")

	// Known by its Instagram id alone.
	f.clock.Advance(time.Minute)
	nameless := f.conversationOf(f.contactAs("ig1", "17841499999999", store.ContactHints{}))

	// Renamed by a later message's hints (the username kept), then by a
	// profile lookup; a failed lookup (no hints) keeps what is known.
	f.clock.Advance(time.Minute)
	rosaContact := f.contactAs("ig1", "17841411111111", store.ContactHints{Name: "Rosa Amarela", Username: "rosinha"})
	rosa := f.conversationOf(rosaContact)
	f.contactAs("ig1", "17841411111111", store.ContactHints{Name: "Rosa Vermelha"})
	f.clock.Advance(time.Minute)
	anaContact := f.contactAs("ig1", "17841422222222", store.ContactHints{Name: "Ana"})
	ana := f.conversationOf(anaContact)
	f.contactAs("ig1", "17841422222222", store.ContactHints{Name: "Ana Beatriz", Username: "ana_b2", Profiled: true})
	f.contactAs("ig1", "17841411111111", store.ContactHints{Profiled: true, ProfileError: "lookup failed"})
	f.searchable()

	cases := []struct {
		name   string
		filter store.ConversationFilter
		want   []int64 // newest activity first
	}{
		{"a word of the name", store.ConversationFilter{Search: "Silva"}, []int64{silvaNew.ID, silvaOld.ID}},
		{"in any case", store.ConversationFilter{Search: "SILVA"}, []int64{silvaNew.ID, silvaOld.ID}},
		{"the name's words in any order", store.ConversationFilter{Search: "silva maria"}, []int64{silvaNew.ID, silvaOld.ID}},
		{"a prefix", store.ConversationFilter{Search: "Sil"}, []int64{silvaNew.ID, silvaOld.ID}},
		{"a short prefix is a whole word", store.ConversationFilter{Search: "Si"}, nil},
		{"not a part of a word", store.ConversationFilter{Search: "ilva"}, nil},
		{"only the last word as a prefix", store.ConversationFilter{Search: "Mar silva"}, nil},
		{"every word in the contact", store.ConversationFilter{Search: "maria joao"}, nil},
		{"without the accents", store.ConversationFilter{Search: "joao conceicao"}, []int64{joao.ID}},
		{"in capitals with accents", store.ConversationFilter{Search: "JOÃO"}, []int64{joao.ID}},
		{"accents the name lacks", store.ConversationFilter{Search: "mária"}, []int64{silvaNew.ID, silvaOld.ID}},
		{"an accented prefix", store.ConversationFilter{Search: "concei"}, []int64{joao.ID}},
		{"an Instagram id", store.ConversationFilter{Search: "17841400000002"}, []int64{joao.ID}},
		{"an Instagram id alone", store.ConversationFilter{Search: "17841499999999"}, []int64{nameless.ID}},
		{"the start of Instagram ids", store.ConversationFilter{Search: "1784140000000"}, []int64{joao.ID, silvaNew.ID, silvaOld.ID}},
		{"an @username", store.ConversationFilter{Search: "@maria.silva"}, []int64{silvaNew.ID, silvaOld.ID}},
		{"an @username's start", store.ConversationFilter{Search: "@jconc"}, []int64{joao.ID}},
		{"words of two fields", store.ConversationFilter{Search: "maria 17841400000001"}, []int64{silvaNew.ID, silvaOld.ID}},
		{"with a state", store.ConversationFilter{Search: "silva", State: model.StateEnded}, []int64{silvaOld.ID}},
		{"the new name", store.ConversationFilter{Search: "vermelha"}, []int64{rosa.ID}},
		{"not the old name", store.ConversationFilter{Search: "amarela"}, nil},
		{"the username kept", store.ConversationFilter{Search: "rosinha"}, []int64{rosa.ID}},
		{"a profile's name", store.ConversationFilter{Search: "beatriz"}, []int64{ana.ID}},
		{"a profile's username", store.ConversationFilter{Search: "ana_b2"}, []int64{ana.ID}},
		{"a name no one has", store.ConversationFilter{Search: "Zebedeu"}, nil},
	}
	for _, c := range cases {
		list, err := f.s.Conversations().List(f.ctx, c.filter)
		f.must(err, "List(%s: %+v)", c.name, c.filter)
		ids := conversationIDs(list)
		if len(ids) != len(c.want) || !sameIDs(ids, c.want) {
			t.Errorf("List(%s: %q) = %v, want %v", c.name, c.filter.Search, ids, c.want)
			continue
		}
		for i := range ids {
			if ids[i] != c.want[i] {
				t.Errorf("List(%s: %q) = %v, want %v (newest activity first)", c.name, c.filter.Search, ids, c.want)
				break
			}
		}
		for _, cv := range list {
			if cv.Match != nil && cv.ID != joao.ID {
				t.Errorf("List(%s: %q): conversation %d has Match %+v, want none: found by its contact", c.name, c.filter.Search,
					cv.ID, *cv.Match)
			}
		}
	}
	// Found by its contact and by a message, a conversation shows the
	// message.
	list, err := f.s.Conversations().List(f.ctx, store.ConversationFilter{Search: "joão"})
	f.must(err, "List(joão)")
	if len(list) != 1 || list[0].Match == nil || list[0].Match.MessageID != said.ID {
		t.Errorf("List(joão) = %+v, want conversation %d with Match message %d", list, joao.ID, said.ID)
	}
}
