package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// searchIDs are the conversations a search finds.
func searchIDs(t *testing.T, db *DB, q string) string {
	t.Helper()
	list, err := db.Conversations().List(context.Background(), store.ConversationFilter{Search: q})
	if err != nil {
		t.Fatalf("List(%q): %v", q, err)
	}
	ids := []int64{}
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	return fmt.Sprint(ids)
}

// openWithoutIndexer opens the store at path with its search index left
// to IndexSearch and the test's own passes, closed when t ends.
func openWithoutIndexer(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path, Options{noIndexer: true})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// indexHealthy fails t when the index holds a docid twice or a message
// that is not searchable (FTS4 would refuse the first; the second is stale
// text a search would find).
func indexHealthy(t *testing.T, db *DB) {
	t.Helper()
	var stale int
	if err := db.r.QueryRow(`SELECT count(*) FROM message_search s LEFT JOIN message_search_source m ON m.id = s.docid
		WHERE m.id IS NULL OR m.body IS NULL OR m.body <> s.body`).Scan(&stale); err != nil {
		t.Fatal(err)
	}
	if stale != 0 {
		t.Errorf("%d indexed messages are not as the messages table has them", stale)
	}
}

// A database at migration 0011 with its messages: 0012 starts with an
// empty index (start-up does not wait), and the back-fill makes the older
// messages searchable, in their state at the time, edits and unsends made
// before it reached them included.
func TestBackfillIndexesAnExistingDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old := oldSchema(t, path, 12)
	for _, q := range []string{
		`INSERT INTO integrations (id, name, channel, squad, inactivity_minutes, source, created_at, updated_at)
			VALUES ('ig', 'IG', 'meta', 'sales', 60, 'api', 0, 0)`,
		`INSERT INTO contacts (id, integration_id, channel_user_id, created_at) VALUES (1, 'ig', 'u1', 0), (2, 'ig', 'u2', 0),
			(3, 'ig', 'u3', 0)`,
		`INSERT INTO conversations (id, integration_id, contact_id, state, origin, started_at, last_activity_at)
			VALUES (7, 'ig', 1, 'bot', 'direct', 0, 3), (8, 'ig', 2, 'bot', 'direct', 0, 2), (9, 'ig', 3, 'bot', 'direct', 0, 1)`,
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// More messages than one back-fill batch, in three conversations.
	for i := 1; i <= 2*indexBatch+7; i++ {
		text := fmt.Sprintf("mensagem numero %d", i)
		switch i {
		case 1:
			text = "a primeira encomenda chegou"
		case 2:
			text = "texto antigo"
		case 3:
			text = "segredo apagado"
		}
		if _, err := old.Exec(`INSERT INTO messages (id, conversation_id, integration_id, direction, author, contents, status, created_at)
			VALUES (?, ?, 'ig', 'in', 'contact', json_array(json_object('type', 'text', 'text', ?)), 'received', 0)`,
			i, 7+i%3, text); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	db := openWithoutIndexer(t, path)
	var indexed int
	if err := db.r.QueryRow(`SELECT count(*) FROM message_search`).Scan(&indexed); err != nil || indexed != 0 {
		t.Errorf("index after the migration = %d messages, %v; want 0 (the back-fill indexes them)", indexed, err)
	}
	if got := searchIDs(t, db, "encomenda"); got != "[]" {
		t.Errorf("search before the back-fill = %s, want nothing yet", got)
	}
	// Before the back-fill reaches them: an edit, an unsend, and a new
	// message.
	if err := db.Messages().Edit(ctx, 2, []model.Content{{Type: model.Text, Text: "texto novo"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := db.Messages().MarkDeleted(ctx, 3, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := db.execWrite(`UPDATE contacts SET name = 'Zuleica Prado' WHERE id = 3`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Messages().Add(ctx, &model.Message{Conversation: 9, Integration: "ig", Direction: model.DirectionIn,
		Author: model.AuthorContact, Status: model.StatusReceived,
		Contents: []model.Content{{Type: model.Text, Text: "outra encomenda"}}}); err != nil {
		t.Fatal(err)
	}
	// One forward pass and one back-fill batch: the new message and the
	// newest old ones are found, the oldest not yet.
	if _, err := db.indexForward(ctx); err != nil {
		t.Fatal(err)
	}
	left, err := db.backfill(ctx)
	if err != nil || left != indexBatch+7+3 {
		t.Fatalf("first back-fill batch: %d left, %v; want %d messages and 3 contacts", left, err, indexBatch+7)
	}
	if got := searchIDs(t, db, "u2"); got != "[]" {
		t.Errorf("search by an old contact before its back-fill = %s, want nothing yet", got)
	}
	if got := searchIDs(t, db, "encomenda"); got != "[9]" {
		t.Errorf("search after one back-fill batch = %s, want [9] (the new message, not the oldest)", got)
	}
	if got := searchIDs(t, db, fmt.Sprint(2*indexBatch+7)); got != "[9]" {
		t.Errorf("search for the newest old message = %s, want [9]", got)
	}
	if err := db.IndexSearch(ctx); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]string{"encomenda": "[8 9]", "novo": "[9]", "antigo": "[]", "segredo": "[]", "numero 4": "[8]", "u2": "[8]",
		"zuleica": "[9]", "prad": "[9]"} {
		if got := searchIDs(t, db, q); got != want {
			t.Errorf("search %q after the back-fill = %s, want %s", q, got, want)
		}
	}
	var to, backfillTo, contactsTo, contactsIndexedTo int64
	if err := db.r.QueryRow(searchProgressQuery).Scan(&to, &backfillTo, &contactsTo, &contactsIndexedTo); err != nil ||
		to != 2*indexBatch+8 || backfillTo != 0 || contactsTo != 0 || contactsIndexedTo != 3 {
		t.Errorf("progress = indexed to %d, back-fill to %d, contacts back-filled to %d, contacts indexed to %d, %v; want %d, 0, 0 and 3",
			to, backfillTo, contactsTo, contactsIndexedTo, err, 2*indexBatch+8)
	}
	indexHealthy(t, db)
}

// Edits and unsends, of a message the indexer has not reached and of one
// it has: the index holds each message once, as it is now.
func TestIndexFollowsEditsAndUnsends(t *testing.T) {
	ctx := context.Background()
	db := openWithoutIndexer(t, filepath.Join(t.TempDir(), "c.db"))
	conv := seedConversation(t, db)
	add := func(text string) int64 {
		m := &model.Message{Conversation: conv, Integration: "ig", Direction: model.DirectionIn, Author: model.AuthorContact,
			Status: model.StatusReceived, Contents: []model.Content{{Type: model.Text, Text: text}}}
		if _, err := db.Messages().Add(ctx, m); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	edit := func(id int64, text string) {
		if err := db.Messages().Edit(ctx, id, []model.Content{{Type: model.Text, Text: text}}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	unsend := func(id int64) {
		if err := db.Messages().MarkDeleted(ctx, id, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	want := func(when string, cases map[string]bool) {
		t.Helper()
		for q, found := range cases {
			if got := searchIDs(t, db, q) == fmt.Sprintf("[%d]", conv); got != found {
				t.Errorf("%s: search %q found = %v, want %v", when, q, got, found)
			}
		}
		indexHealthy(t, db)
	}
	a, b := add("alfa original"), add("bravo apagar")
	edit(a, "alfa editada")
	unsend(b)
	want("before indexing", map[string]bool{"alfa": false, "editada": false})
	if err := db.IndexSearch(ctx); err != nil {
		t.Fatal(err)
	}
	want("edited and unsent before indexing", map[string]bool{"editada": true, "original": false, "bravo": false})
	c := add("charlie indexada")
	if err := db.IndexSearch(ctx); err != nil {
		t.Fatal(err)
	}
	edit(a, "alfa segunda")
	edit(c, "charlie corrigida")
	unsend(a)
	want("edited and unsent after indexing", map[string]bool{"alfa": false, "segunda": false, "editada": false,
		"corrigida": true, "indexada": false})
}

// The indexer indexes what is stored without being asked, moments later.
func TestIndexerIndexesNewMessages(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	conv := seedConversation(t, db)
	if _, err := db.Messages().Add(ctx, &model.Message{Conversation: conv, Integration: "ig", Direction: model.DirectionIn,
		Author: model.AuthorContact, Status: model.StatusReceived,
		Contents: []model.Content{{Type: model.Text, Text: "guarda-chuva amarelo"}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for searchIDs(t, db, "amarelo") != fmt.Sprintf("[%d]", conv) {
		if time.Now().After(deadline) {
			t.Fatal("the message is not searchable 10 s after it was stored")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A new contact is indexed by the indexer, not by the transaction that
// stores it, as it is when the indexer gets there: a name its profile
// brought before then is indexed once; a rename after then is indexed in
// the renaming transaction.
func TestIndexerIndexesNewContacts(t *testing.T) {
	ctx := context.Background()
	db := openWithoutIndexer(t, filepath.Join(t.TempDir(), "c.db"))
	seedConversation(t, db)
	contact := func(user, name string) int64 {
		t.Helper()
		c, err := db.Contacts().Upsert(ctx, "ig", user, store.ContactHints{Name: name}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := db.execWrite(fmt.Sprintf(`INSERT INTO conversations (id, integration_id, contact_id, state, origin, started_at,
			last_activity_at) VALUES (%d, 'ig', %d, 'bot', 'direct', 0, %d)`, c.ID, c.ID, c.ID)); err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	indexed := func() int {
		t.Helper()
		var n int
		if err := db.r.QueryRow(`SELECT count(*) FROM contact_search`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	olga := contact("u2", "Olga")
	if _, err := db.Contacts().Upsert(ctx, "ig", "u2", store.ContactHints{Name: "Olga Prates", Username: "olga.p", Profiled: true}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if n := indexed(); n != 0 {
		t.Fatalf("%d contacts in the index before the indexer ran, want 0 (the exchange does not index them)", n)
	}
	if got := searchIDs(t, db, "prates"); got != "[]" {
		t.Errorf("search before indexing = %s, want nothing yet", got)
	}
	if _, err := db.indexForward(ctx); err != nil {
		t.Fatal(err)
	}
	if n := indexed(); n != 2 {
		t.Errorf("%d contacts indexed, want 2 (u1 and Olga, each once)", n)
	}
	want := fmt.Sprintf("[%d]", olga)
	for q, w := range map[string]string{"prates": want, "olga prat": want, "@olga.p": want, "u2": want, "zuleica": "[]"} {
		if got := searchIDs(t, db, q); got != w {
			t.Errorf("search %q after indexing = %s, want %s", q, got, w)
		}
	}
	// Renamed once indexed: found by the new name at once, no longer by
	// the old one.
	if _, err := db.Contacts().Upsert(ctx, "ig", "u2", store.ContactHints{Name: "Olga Zuleica"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for q, w := range map[string]string{"zuleica": want, "prates": "[]", "@olga.p": want} {
		if got := searchIDs(t, db, q); got != w {
			t.Errorf("search %q after the rename = %s, want %s", q, got, w)
		}
	}
	// A contact stored after the pass waits for the next one.
	bento := contact("u3", "Bento Reis")
	if got := searchIDs(t, db, "bento"); got != "[]" {
		t.Errorf("search for a contact stored after the pass = %s, want nothing yet", got)
	}
	if err := db.IndexSearch(ctx); err != nil {
		t.Fatal(err)
	}
	if got := searchIDs(t, db, "bento"); got != fmt.Sprintf("[%d]", bento) {
		t.Errorf("search after the next pass = %s, want [%d]", got, bento)
	}
	var stale int
	if err := db.r.QueryRow(`SELECT count(*) FROM contact_search s JOIN contacts c ON c.id = s.docid
		WHERE s.name IS NOT c.name OR s.username IS NOT c.username`).Scan(&stale); err != nil || stale != 0 {
		t.Errorf("%d indexed contacts are not as the contacts table has them (%v)", stale, err)
	}
}

// An install at 0013 had its contacts indexed: after 0016 rebuilt the
// index in shards, the back-fill indexes them again (found once it has
// run), a rename of one it indexed is indexed at once, and newer contacts
// wait for the forward pass.
func TestContactsIndexedBeforeTheUpgradeAreFoundAgain(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	oldWithContact(t, path, 13)
	db := openWithoutIndexer(t, path)
	if got := searchIDs(t, db, "prates"); got != "[]" {
		t.Errorf("search for a contact before the back-fill = %s, want nothing: 0016 rebuilds the index", got)
	}
	for {
		left, err := db.backfill(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break
		}
	}
	if got := searchIDs(t, db, "prates"); got != "[1]" {
		t.Errorf("search for a contact indexed before the upgrade, after the back-fill = %s, want [1]", got)
	}
	if err := db.execWrite(`UPDATE contacts SET name = 'Olga Zuleica' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	if got := searchIDs(t, db, "zuleica"); got != "[1]" {
		t.Errorf("search after renaming it = %s, want [1] at once", got)
	}
	if got := searchIDs(t, db, "prates"); got != "[]" {
		t.Errorf("search for its old name = %s, want nothing", got)
	}
	// A contact stored after the upgrade waits for the indexer.
	c, err := db.Contacts().Upsert(ctx, "ig", "u2", store.ContactHints{Name: "Bento Reis"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.execWrite(fmt.Sprintf(`INSERT INTO conversations (id, integration_id, contact_id, state, origin, started_at,
		last_activity_at) VALUES (2, 'ig', %d, 'bot', 'direct', 0, 1)`, c.ID)); err != nil {
		t.Fatal(err)
	}
	if got := searchIDs(t, db, "bento"); got != "[]" {
		t.Errorf("search for a contact stored after the upgrade = %s, want nothing before the indexer's pass", got)
	}
	if err := db.IndexSearch(ctx); err != nil {
		t.Fatal(err)
	}
	if got := searchIDs(t, db, "bento"); got != "[2]" {
		t.Errorf("search for it after the pass = %s, want [2]", got)
	}
}

// A new contact wakes the indexer on its own (no message with it): it is
// searchable well before the indexer's once-a-minute look.
func TestIndexerIndexesANewContactWithoutAMessage(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	seedConversation(t, db)
	if err := db.IndexSearch(ctx); err != nil { // nothing left for it to find later
		t.Fatal(err)
	}
	c, err := db.Contacts().Upsert(ctx, "ig", "u2", store.ContactHints{Name: "Zuleica Prado"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.execWrite(fmt.Sprintf(`INSERT INTO conversations (id, integration_id, contact_id, state, origin, started_at,
		last_activity_at) VALUES (2, 'ig', %d, 'bot', 'direct', 0, 1)`, c.ID)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for searchIDs(t, db, "zuleica") != "[2]" {
		if time.Now().After(deadline) {
			t.Fatal("the contact is not searchable 10 s after it was stored")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// seedConversation stores an integration, a contact and a conversation.
func seedConversation(t *testing.T, db *DB) int64 {
	t.Helper()
	for _, q := range []string{
		`INSERT INTO integrations (id, name, channel, squad, inactivity_minutes, source, created_at, updated_at)
			VALUES ('ig', 'IG', 'meta', 'sales', 60, 'api', 0, 0)`,
		`INSERT INTO contacts (id, integration_id, channel_user_id, created_at) VALUES (1, 'ig', 'u1', 0)`,
		`INSERT INTO conversations (id, integration_id, contact_id, state, origin, started_at, last_activity_at)
			VALUES (1, 'ig', 1, 'bot', 'direct', 0, 0)`,
	} {
		if err := db.execWrite(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return 1
}

// A last word longer than the longest prefix index is searched as the
// indexed words it starts; one that starts none matches no message; one
// that starts too many is searched as a prefix.
func TestLongLastWordIsSearchedAsTheWordsItStarts(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	conv := seedConversation(t, db)
	texts := []string{"o pedido chegou", "meus pedidos", "pedidinho pequeno", "um pedaço"}
	for i := range maxPrefixWords + 1 {
		texts = append(texts, fmt.Sprintf("palavra%d", i))
	}
	for _, text := range texts {
		if _, err := db.Messages().Add(ctx, &model.Message{Conversation: conv, Integration: "ig", Direction: model.DirectionIn,
			Author: model.AuthorContact, Status: model.StatusReceived, Contents: []model.Content{{Type: model.Text, Text: text}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.IndexSearch(ctx); err != nil {
		t.Fatal(err)
	}
	r := poolReader{db.r}
	for _, c := range []struct {
		terms []string
		want  *ftsSearch // nil: nothing can match
	}{
		{[]string{"PEDIDO"}, &ftsSearch{match: `("pedido" OR "pedidos")`, words: []string{"pedid*"}}},
		// Five letters: the prefix index.
		{[]string{"meus", "Pedid"}, &ftsSearch{match: `"meus" "Pedid*"`, words: []string{"meus", "pedid*"}}},
		{[]string{"o", "pedidi"}, &ftsSearch{match: `"o" ("pedidinho")`, words: []string{"o", "pedid*"}}},
		{[]string{"pedidx"}, nil},
		{[]string{"ped"}, &ftsSearch{match: `"ped*"`, words: []string{"ped*"}}},
		// More words than maxPrefixWords: searched as a prefix.
		{[]string{"palavra"}, &ftsSearch{match: `"palavra*"`, words: []string{"palav*"}}},
		{[]string{"chegou", "O"}, &ftsSearch{match: `"chegou" "O"`, words: []string{"chegou", "o"}}},
	} {
		got, err := planSearch(ctx, r, c.terms)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("planSearch(%q) = %+v, %v; want %+v", c.terms, got, err, c.want)
		}
	}
	for q, want := range map[string]bool{"pedido": true, "pedidos": true, "pedidinh": true, "pedidx": false, "o pedidinho": false,
		"meus pedid": true, "palavra": true, "palavra64": true} {
		if got := searchIDs(t, db, q) == fmt.Sprintf("[%d]", conv); got != want {
			t.Errorf("search %q found = %v, want %v", q, got, want)
		}
	}
}

// The back-fill runs by itself once the store is open.
func TestBackfillRunsInTheBackground(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	old := oldSchema(t, path, 12)
	for _, q := range []string{
		`INSERT INTO contacts (id, integration_id, channel_user_id, name, created_at) VALUES (1, 'ig', 'u1', 'Olga Prates', 0)`,
		`INSERT INTO conversations (id, integration_id, contact_id, state, origin, started_at, last_activity_at)
			VALUES (1, 'ig', 1, 'bot', 'direct', 0, 0)`,
		`INSERT INTO messages (id, conversation_id, integration_id, direction, author, contents, status, created_at)
			VALUES (1, 1, 'ig', 'in', 'contact', '[{"type":"text","text":"a encomenda atrasou"}]', 'received', 0)`,
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old.Close()
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(10 * time.Second)
	for searchIDs(t, db, "atrasou") != "[1]" || searchIDs(t, db, "prates") != "[1]" {
		if time.Now().After(deadline) {
			t.Fatal("the older message and contact are not searchable 10 s after the upgrade")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The indexer's slices: a full transaction that held the writer longer
// than indexHold makes the next one smaller, a quicker one larger, within
// indexMinBatch and indexBatch; one that was not full, or not timed,
// changes nothing.
func TestIndexPaceFollowsTheWritersTime(t *testing.T) {
	db := &DB{}
	for _, c := range []struct {
		limit int
		full  bool
		held  time.Duration
		want  int64
	}{
		{400, true, 2 * indexHold, 300},        // twice too long: half fits, averaged
		{400, true, indexHold, 400},            // as long as it should be
		{100, true, indexHold / 2, 150},        // twice as many fit, averaged
		{400, true, indexHold / 4, indexBatch}, // never above the ceiling
		{40, true, 100 * indexHold, indexMinBatch},
		{400, false, 10 * indexHold, 123}, // not full: the rows it found were all there was
		{400, true, 0, 123},
	} {
		db.indexPace.Store(123)
		db.pace(c.limit, c.full, c.held)
		if got := db.indexPace.Load(); got != c.want {
			t.Errorf("pace(%d, %v, %v) = %d, want %d", c.limit, c.full, c.held, got, c.want)
		}
	}
}

// A slice smaller than what waits: the forward pass and the back-fill go
// on a transaction at a time until every message is indexed.
func TestIndexerInSlicesIndexesEverything(t *testing.T) {
	ctx := context.Background()
	db := openWithoutIndexer(t, filepath.Join(t.TempDir(), "c.db"))
	conv := seedConversation(t, db)
	const n = 3*indexMinBatch + 5
	for i := range n {
		if _, err := db.Messages().Add(ctx, &model.Message{Conversation: conv, Integration: "ig", Direction: model.DirectionIn,
			Author: model.AuthorContact, Status: model.StatusReceived,
			Contents: []model.Content{{Type: model.Text, Text: fmt.Sprintf("fatia%d", i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	db.indexPace.Store(indexMinBatch)
	if _, err := db.indexForwardSlice(ctx); err != nil {
		t.Fatal(err)
	}
	var to int64
	if err := db.r.QueryRow(`SELECT indexed_to FROM search_progress`).Scan(&to); err != nil || to != indexMinBatch {
		t.Errorf("after one slice of %d, indexed to %d, %v; want %d", indexMinBatch, to, err, indexMinBatch)
	}
	if got := searchIDs(t, db, fmt.Sprintf("fatia%d", indexMinBatch)); got != "[]" {
		t.Errorf("search beyond the first slice = %s, want nothing yet", got)
	}
	if err := db.IndexSearch(ctx); err != nil {
		t.Fatal(err)
	}
	var indexed int
	if err := db.r.QueryRow(`SELECT count(*) FROM message_search`).Scan(&indexed); err != nil || indexed != n {
		t.Errorf("indexed %d messages, %v; want %d", indexed, err, n)
	}
	for _, i := range []int{0, indexMinBatch, n - 1} {
		if got := searchIDs(t, db, fmt.Sprintf("fatia%d", i)); got != fmt.Sprint("[", conv, "]") {
			t.Errorf("search fatia%d = %s, want [%d]", i, got, conv)
		}
	}
	indexHealthy(t, db)
}

// Messages and contacts far apart in id land in different shards of the
// indexes (migration 0016): a search finds them in any shard, the newest
// first, looks only into the shards that hold its words, and edits,
// unsends and renames of rows in an older shard are indexed in theirs.
func TestSearchAcrossShards(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	conv := seedConversation(t, db)
	at := func(shard, n int64) int64 { return shard<<searchShardBits + n }
	add := func(id int64, text string) {
		t.Helper()
		contents := fmt.Sprintf(`[{"type":"text","text":%q}]`, text)
		if err := db.execWrite(`INSERT INTO messages (id, conversation_id, integration_id, direction, author, contents, status, created_at)
			VALUES (?, ?, 'ig', 'in', 'contact', ?, 'received', 0)`, id, conv, contents); err != nil {
			t.Fatal(err)
		}
	}
	add(at(0, 5), "alfa comum")
	add(at(1, 7), "beta comum")
	add(at(3, 1), "delta comum")
	// A contact in shard 2, with a conversation of its own.
	other := at(2, 9)
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO contacts (id, integration_id, channel_user_id, name, created_at) VALUES (%d, 'ig', 'u9', 'Ulisses Quintela', 0)`, other),
		fmt.Sprintf(`INSERT INTO conversations (id, integration_id, contact_id, state, origin, started_at, last_activity_at)
			VALUES (2, 'ig', %d, 'bot', 'direct', 0, 0)`, other),
	} {
		if err := db.execWrite(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.IndexSearch(ctx); err != nil {
		t.Fatal(err)
	}
	shardsOf := func(list, word string) string {
		t.Helper()
		got, err := collectIDs(db.r.Query(`SELECT shard FROM `+list+` WHERE word = ? ORDER BY shard`, word))
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(got)
	}
	for word, want := range map[string]string{"alfa": "[0]", "beta": "[1]", "delta": "[3]", "comum": "[0 1 3]", "quintela": "[]",
		"com*": "[0 1 3]", "comu*": "[0 1 3]", "comum*": "[0 1 3]", "alf*": "[0]", "quin*": "[]"} {
		if got := shardsOf("message_search_shards", word); got != want {
			t.Errorf("message shards of %q = %s, want %s", word, got, want)
		}
	}
	one := fmt.Sprintf("[%d]", conv)
	for q, want := range map[string]string{"alfa": one, "beta comum": one, "delt": one, "alfa beta": "[]", "quintela": "[2]",
		"ulisses quint": "[2]", "comum quintela": "[]"} {
		if got := searchIDs(t, db, q); got != want {
			t.Errorf("search %q = %s, want %s", q, got, want)
		}
	}
	list, err := db.Conversations().List(ctx, store.ConversationFilter{Search: "comum"})
	if err != nil || len(list) != 1 || list[0].Match == nil || list[0].Match.MessageID != at(3, 1) {
		t.Fatalf("search comum = %v, %v; want conversation %d with its newest match, message %d", list, err, conv, at(3, 1))
	}

	// The probes, newest first, each asked for what is still wanted, and
	// none into a shard without the words.
	probes := func(list, newest string, terms ...string) string {
		t.Helper()
		s, err := planSearch(ctx, poolReader{db.r}, terms)
		if err != nil || s == nil {
			t.Fatalf("planSearch(%q) = %v, %v", terms, s, err)
		}
		var probed []string
		if err := s.eachShard(ctx, poolReader{db.r}, list, newest, func(shard int64, limit int) (int, bool, error) {
			probed = append(probed, fmt.Sprintf("%d:%d", shard, limit))
			return searchHits / 2, false, nil
		}); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(probed)
	}
	for _, c := range []struct {
		terms []string
		want  string
	}{
		{[]string{"comum"}, fmt.Sprintf("[3:%d 1:%d]", searchHits, searchHits-searchHits/2)},
		{[]string{"bet"}, fmt.Sprintf("[1:%d]", searchHits)},
		{[]string{"comum", "alfa"}, fmt.Sprintf("[0:%d]", searchHits)},
		{[]string{"quintela"}, "[]"},
		{[]string{"quin"}, "[]"},
	} {
		if got := probes("message_search_shards", newestMessageQuery, c.terms...); got != c.want {
			t.Errorf("message shards probed for %q (shard:limit) = %s, want %s", c.terms, got, c.want)
		}
	}
	// Contacts have no shard list: every shard, newest first.
	if got, want := probes("", newestContactQuery, "quin"), fmt.Sprintf("[2:%d 1:%d]", searchHits, searchHits/2); got != want {
		t.Errorf("contact shards probed for quin = %s, want %s", got, want)
	}

	if err := db.Messages().Edit(ctx, at(3, 1), []model.Content{{Type: model.Text, Text: "épsilon"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := db.Messages().MarkDeleted(ctx, at(1, 7), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := db.execWrite(`UPDATE contacts SET name = 'Ulisses Ramalho' WHERE id = ?`, other); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]string{"epsilon": one, "delta": "[]", "beta": "[]", "alfa": one, "ramalho": "[2]", "quintela": "[]"} {
		if got := searchIDs(t, db, q); got != want {
			t.Errorf("after the edit, the unsend and the rename: search %q = %s, want %s", q, got, want)
		}
	}
	if got := shardsOf("message_search_shards", "epsilon"); got != "[3]" {
		t.Errorf("message shards of epsilon = %s, want [3]", got)
	}
	indexHealthy(t, db)
}

// An install at 0015 had every message and contact indexed in one shard:
// 0016 drops that index, and the back-fill indexes everything again, in
// shards, newest first.
func TestUpgradeTo0016IndexesEverythingAgain(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	oldWithContact(t, path, 16,
		`INSERT INTO messages (id, conversation_id, integration_id, direction, author, contents, status, created_at)
			VALUES (1, 1, 'ig', 'in', 'contact', '[{"type":"text","text":"a encomenda atrasou"}]', 'received', 0),
			(2, 1, 'ig', 'in', 'contact', '[{"type":"text","text":"texto antigo"}]', 'received', 0)`,
		// What 0015's indexer had done: everything indexed.
		`INSERT INTO message_search (docid, body) SELECT id, body FROM message_search_source`,
		`INSERT INTO contact_search (docid, name, username, channel_user_id) SELECT id, name, username, channel_user_id FROM contacts`,
		`INSERT OR IGNORE INTO search_words (word) SELECT t.token FROM message_search_source s, search_tokens t WHERE t.input = s.body`,
		`INSERT OR IGNORE INTO search_words (word) SELECT t.token FROM contacts c, search_tokens t
			WHERE t.input = c.name || ' ' || c.username || ' ' || c.channel_user_id`,
		`UPDATE search_progress SET indexed_to = 2, backfill_to = 0, contacts_indexed_to = 1, contacts_backfill_to = 0`,
	)
	db := openWithoutIndexer(t, path)
	var backfillTo, contactsTo int64
	if err := db.r.QueryRow(`SELECT backfill_to, contacts_backfill_to FROM search_progress`).Scan(&backfillTo, &contactsTo); err != nil ||
		backfillTo != 2 || contactsTo != 1 {
		t.Errorf("back-fill cursors after 0016 = %d, %d (%v); want 2 and 1: everything is indexed again", backfillTo, contactsTo, err)
	}
	for _, q := range []string{"encomenda", "prates"} {
		if got := searchIDs(t, db, q); got != "[]" {
			t.Errorf("search %q before the back-fill = %s, want nothing: the old index is gone", q, got)
		}
	}
	// Not indexed yet: an edit waits for the back-fill, which reads it as
	// it is then.
	if err := db.Messages().Edit(ctx, 2, []model.Content{{Type: model.Text, Text: "texto novo"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := db.IndexSearch(ctx); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]string{"encomenda": "[1]", "prates": "[1]", "novo": "[1]", "antigo": "[]"} {
		if got := searchIDs(t, db, q); got != want {
			t.Errorf("search %q after the back-fill = %s, want %s", q, got, want)
		}
	}
	var listed int
	if err := db.r.QueryRow(`SELECT count(*) FROM message_search_shards WHERE shard = 0 AND word IN ('encomenda', 'novo')`).
		Scan(&listed); err != nil || listed != 2 {
		t.Errorf("the shard list names %d of the 2 words, %v", listed, err)
	}
	indexHealthy(t, db)
}

// oldWithContact makes a database at path with the migrations before
// below applied, holding integration ig, contact 1 (Olga Prates) and its
// conversation 1, then runs more on it.
func oldWithContact(t *testing.T, path string, below int, more ...string) {
	t.Helper()
	old := oldSchema(t, path, below)
	defer old.Close()
	for _, q := range append([]string{
		`INSERT INTO integrations (id, name, channel, squad, inactivity_minutes, source, created_at, updated_at)
			VALUES ('ig', 'IG', 'meta', 'sales', 60, 'api', 0, 0)`,
		`INSERT INTO contacts (id, integration_id, channel_user_id, name, created_at) VALUES (1, 'ig', 'u1', 'Olga Prates', 0)`,
		`INSERT INTO conversations (id, integration_id, contact_id, state, origin, started_at, last_activity_at)
			VALUES (1, 'ig', 1, 'bot', 'direct', 0, 0)`,
	}, more...) {
		if _, err := old.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
