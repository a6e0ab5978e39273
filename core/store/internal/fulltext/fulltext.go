// Package fulltext is what the stores share to search the text of
// messages: which messages and which of their words are searchable, how
// what someone typed becomes the words searched for, and the snippet that
// shows a hit. Words are runs of letters and digits; case and diacritics
// do not count ("nao" finds "Não"), as with SQLite's unicode61 tokenizer
// with remove_diacritics, which the SQLite store indexes with.
package fulltext

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/conversa/conversa/core/model"
)

// MaxTerms bounds the words of one search: a pasted paragraph searches for
// its first words rather than making one enormous query.
const MaxTerms = 8

// MaxWord is the longest word (in bytes, folded) PostgreSQL indexes; longer
// ones are left out of its index (tsvector lexemes must stay under 2 KiB,
// and nobody types such a word into a search box).
const MaxWord = 200

// MinPrefix is the shortest last word a search also reads as the start of
// a word: "p" would name every word in p, which a full-text index reads
// whole, on a store of millions of messages for each keystroke. A shorter
// last word matches as a whole word.
const MinPrefix = 3

// Prefix reports whether the last term of a search is also a prefix.
func Prefix(term string) bool { return utf8.RuneCountInString(Fold(term)) >= MinPrefix }

// Searchable reports whether a message's text is searched: everything
// people wrote or read in the conversation (the contact, the assistant,
// agents, their private notes, the business's own app), but not the
// system's automatic notes, which would make every conversation match the
// name of an agent or the word "transferred", nor a message the contact
// deleted.
func Searchable(author string, deleted bool) bool {
	return author != model.AuthorSystem && !deleted
}

// Text is the searchable text of a message: the text and caption of each
// content (a story reply's text included), one per line. SQLite's triggers
// (migration 0005) index the same fields.
func Text(contents []model.Content) string {
	var parts []string
	for _, c := range contents {
		if c.Text != "" {
			parts = append(parts, c.Text)
		}
		if c.Caption != "" {
			parts = append(parts, c.Caption)
		}
	}
	return strings.Join(parts, "\n")
}

// Clean makes a search safe to hand to any database: valid UTF-8 (an
// invalid byte is dropped) without NUL characters, which PostgreSQL refuses
// in text.
func Clean(q string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(q, ""), "\x00", "")
}

// Terms are the words a search looks for, as typed (not folded), at most
// MaxTerms of them. Anything that is not a letter or a digit separates
// words, so quotes, operators, wildcards and emoji never reach a database's
// query syntax.
func Terms(q string) []string {
	var out []string
	forWords(q, func(_ int, w string) bool {
		if Fold(w) == "" {
			return true
		}
		out = append(out, w)
		return len(out) < MaxTerms
	})
	return out
}

// Fold is a word as it is indexed and compared: lower case, without
// diacritics.
func Fold(w string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(w) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return norm.NFC.String(b.String())
}

// Lexemes are the distinct folded words of text, each at most MaxWord
// bytes, in the order they first appear.
func Lexemes(text string) []string {
	seen := map[string]bool{}
	var out []string
	forWords(text, func(_ int, w string) bool {
		f := Fold(w)
		if f != "" && len(f) <= MaxWord && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
		return true
	})
	return out
}

// isWordRune: letters and digits make words; a combining mark belongs to
// the word it follows (a decomposed "não").
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Mn, r)
}

// forWords calls fn with each word of s and its byte offset, until fn
// returns false.
func forWords(s string, fn func(at int, w string) bool) {
	start := -1
	for i, r := range s {
		word := r != utf8.RuneError && isWordRune(r)
		switch {
		case word && start < 0:
			start = i
		case !word && start >= 0:
			if !fn(start, s[start:i]) {
				return
			}
			start = -1
		}
	}
	if start >= 0 {
		fn(start, s[start:])
	}
}

// matches reports whether word (folded) is one of the folded terms; the
// last term also matches as a prefix, the word still being typed.
func matches(word string, terms []string) bool {
	for i, t := range terms {
		if word == t || (i == len(terms)-1 && Prefix(t) && strings.HasPrefix(word, t)) {
			return true
		}
	}
	return false
}

// Snippet lengths, in characters: a snippet is at most snippetMax long and
// starts up to snippetBefore characters before the hit.
const (
	snippetMax    = 140
	snippetBefore = 40
)

// Snippet is the part of text around its first word that a search for
// terms (as Terms returns them) matches, on one line, at most about 140
// characters, with "…" where it was cut. A text without a hit gives its
// beginning.
func Snippet(text string, terms []string) string {
	folded := make([]string, 0, len(terms))
	for _, t := range terms {
		if f := Fold(t); f != "" {
			folded = append(folded, f)
		}
	}
	line := strings.Join(strings.Fields(text), " ")
	runes := []rune(line)
	if len(runes) <= snippetMax {
		return line
	}
	hit := -1
	forWords(line, func(at int, w string) bool {
		if len(folded) > 0 && matches(Fold(w), folded) {
			hit = utf8.RuneCountInString(line[:at])
			return false
		}
		return true
	})
	start := 0
	if hit > snippetBefore {
		start = hit - snippetBefore
		// Begin at a word: after the first space in the lead-in.
		for i := start; i < hit; i++ {
			if runes[i] == ' ' {
				start = i + 1
				break
			}
		}
	}
	end := min(len(runes), start+snippetMax)
	if end < len(runes) {
		// End at a word: before the last space of the window.
		for i := end; i > max(start, hit); i-- {
			if runes[i] == ' ' {
				end = i
				break
			}
		}
	}
	out := string(runes[start:end])
	if start > 0 {
		out = "…" + out
	}
	if end < len(runes) {
		out += "…"
	}
	return out
}

// Match is what a search for terms shows of message id, whose contents are
// stored as JSON in raw.
func Match(id int64, raw string, terms []string) (*model.SearchMatch, error) {
	var contents []model.Content
	if err := json.Unmarshal([]byte(raw), &contents); err != nil {
		return nil, fmt.Errorf("message %d contents: %w", id, err)
	}
	return &model.SearchMatch{MessageID: id, Text: Snippet(Text(contents), terms)}, nil
}
