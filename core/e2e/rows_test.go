package e2e

import (
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
)

// one reads the first row of a query into dest, on a connection closed
// right after (polling loops would otherwise keep one open per poll). It
// reports false when the query has no row.
func (s *server) one(query string, args []any, dest ...any) bool {
	s.t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(s.dir, "data", "conversa.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	err = db.QueryRow(query, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return false
	}
	if err != nil {
		s.t.Fatalf("%s: %v", query, err)
	}
	return true
}

// str runs a query for one string ("" when there is no row).
func (s *server) str(query string, args ...any) string {
	s.t.Helper()
	var v sql.NullString
	s.one(query, args, &v)
	return v.String
}

// settle waits until the server has nothing left to do: every stored event
// processed and no send pending. Negative assertions ("nothing was sent")
// come after it.
func (s *server) settle() {
	s.t.Helper()
	eventually(s.t, "the inbox and the outbox to drain", s.drained)
}

// storedContent is a message content as the database keeps it.
type storedContent struct {
	Type    string `json:"type"`
	Text    string `json:"text"`
	URL     string `json:"url"`
	StoryID string `json:"story_id"`
}

// contentsOf decodes a messages.contents column.
func (s *server) contentsOf(query string, args ...any) []storedContent {
	s.t.Helper()
	raw := s.str(query, args...)
	var cs []storedContent
	if err := json.Unmarshal([]byte(raw), &cs); err != nil {
		s.t.Fatalf("%s: contents %q: %v", query, raw, err)
	}
	return cs
}

// note is the inbox note of the event stored under a dedupe key.
func (s *server) note(dedupeKey string) string {
	s.t.Helper()
	return s.str(`SELECT note FROM inbox WHERE dedupe_key = ?`, dedupeKey)
}
