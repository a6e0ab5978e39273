// Package dbutil is what the SQL implementations of the store share: the
// stored form of times and the bookkeeping of embedded migrations (the
// statements themselves are each dialect's own).
package dbutil

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// MS converts a time to the stored form: Unix milliseconds, 0 for zero.
func MS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// FromMS is the inverse of MS.
func FromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// MSOrNull is a nullable time column's value: nil for none.
func MSOrNull(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// ProfileAt is what a contact's upsert stores as its profile time: now
// when its hints are a profile lookup's (store.ContactHints.Profiled),
// else 0, which keeps what is stored.
func ProfileAt(profiled bool, now time.Time) int64 {
	if !profiled {
		return 0
	}
	return MS(now)
}

// NonNil is s, or an empty list for nil (stored as [] rather than null).
func NonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Migration is one embedded schema change, NNNN_name.sql.
type Migration struct {
	Version  int
	Name     string
	SQL      string
	Checksum string
}

// Migrations reads the *.sql files of dir in fsys, in order of their number.
func Migrations(fsys fs.FS, dir string) ([]Migration, error) {
	names, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var ms []Migration
	for _, n := range names {
		base := strings.TrimPrefix(n, dir+"/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its number", base)
		}
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		ms = append(ms, Migration{Version: v, Name: base, SQL: string(b), Checksum: hex.EncodeToString(sum[:])})
	}
	return ms, nil
}

// Pending returns the migrations of all not yet in applied (version →
// checksum, as recorded in the database). It refuses a database changed by
// a newer binary, or one whose applied migrations no longer match the
// embedded files: migrations are forward-only and never edited.
func Pending(all []Migration, applied map[int]string) ([]Migration, error) {
	known := map[int]bool{}
	var pending []Migration
	for _, m := range all {
		known[m.Version] = true
		sum, ok := applied[m.Version]
		switch {
		case !ok:
			pending = append(pending, m)
		case sum != m.Checksum:
			return nil, fmt.Errorf("migration %s was changed after it was applied; refusing to start", m.Name)
		}
	}
	for v := range applied {
		if !known[v] {
			return nil, fmt.Errorf("database schema version %d is newer than this binary knows; upgrade conversa", v)
		}
	}
	return pending, nil
}

// JoinIDs is the stored form of a delivery's message ids: each between
// spaces (" a b "), so that one is found as " a " in the text; an id
// holding whitespace (no provider makes one) is left out.
func JoinIDs(ids []string) string {
	var b strings.Builder
	for _, id := range ids {
		if id == "" || strings.ContainsFunc(id, unicode.IsSpace) {
			continue
		}
		if b.Len() == 0 {
			b.WriteByte(' ')
		}
		b.WriteString(id)
		b.WriteByte(' ')
	}
	return b.String()
}

// SplitIDs reads what JoinIDs stored.
func SplitIDs(s string) []string { return strings.Fields(s) }
