package rules

import (
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// tokens normalizes text into its words: compatibility decomposition (NFKD,
// so "ª", "①" and full-width digits read as plain letters and digits) with
// the combining marks dropped, lower case, and everything that is not a
// letter or a digit taken as a separator. "Opção 2!" and "opcao   2" both
// become [opcao 2].
func tokens(s string) []string {
	var b strings.Builder
	for _, r := range norm.NFKD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteByte(' ')
		}
	}
	return strings.Fields(b.String())
}

// Scores, so that any exact match beats any containment, which beats any
// overlap. Containment rises with the share of the message the example
// covers (a longer example is more specific); overlap with the Jaccard index.
const (
	scoreExact     = 1.0
	containBase    = 0.7
	containSpan    = 0.2
	overlapWeight  = 0.7 // Jaccard 1 (same words, other order) scores 0.7: below any containment
	overlapMinimum = 0.5
	noMatch        = 0.0
)

// score rates how well an example matches a message, both as words.
func score(example, text []string) float64 {
	if len(example) == 0 || len(text) == 0 {
		return noMatch
	}
	if len(example) == len(text) && contains(text, example) {
		return scoreExact
	}
	if len(example) < len(text) && contains(text, example) {
		return containBase + containSpan*float64(len(example))/float64(len(text))
	}
	if j := jaccard(example, text); j >= overlapMinimum {
		return overlapWeight * j
	}
	return noMatch
}

// contains reports whether words holds part as a run of whole words.
func contains(words, part []string) bool {
	for i := 0; i+len(part) <= len(words); i++ {
		match := true
		for j, p := range part {
			if words[i+j] != p {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// jaccard is |A∩B| / |A∪B| over the two sets of words.
func jaccard(a, b []string) float64 {
	set := make(map[string]uint8, len(a)+len(b))
	for _, w := range a {
		set[w] |= 1
	}
	for _, w := range b {
		set[w] |= 2
	}
	both := 0
	for _, in := range set {
		if in == 3 {
			both++
		}
	}
	return float64(both) / float64(len(set))
}

// match finds the intent whose best example scores highest for text; on a
// tie the intent written first wins, so the file's order is the tie-break
// an operator can see.
func (a *assistant) match(text string) (*intent, float64) {
	words := tokens(text)
	var best *intent
	bestScore := noMatch
	for i := range a.intents {
		in := &a.intents[i]
		for _, ex := range in.examples {
			if s := score(ex, words); s > bestScore {
				best, bestScore = in, s
			}
		}
	}
	return best, bestScore
}

// option is one choice the previous reply offered, remembered in the session.
type option struct {
	Title   string `json:"title"`
	Payload string `json:"payload"`
}

// numberPrefixes are the words a user may put before an option's number:
// "opção 2", "option 2", "número 2", "nº 2", "#2" (the "#" is dropped as
// punctuation).
var numberPrefixes = map[string]bool{
	"opcao": true, "option": true, "opc": true, "op": true, "alternativa": true,
	"numero": true, "number": true, "num": true, "no": true, "n": true, "item": true,
}

// pick resolves an answer to one of the offered options: by its number in
// the list (1-based, as the numbered text conversion shows them) or by its
// title, ignoring case, accents and punctuation.
func pick(offered []option, text string) (option, bool) {
	if len(offered) == 0 {
		return option{}, false
	}
	words := tokens(text)
	if len(words) == 0 {
		return option{}, false
	}
	if n, ok := optionNumber(words); ok {
		if n >= 1 && n <= len(offered) {
			return offered[n-1], true
		}
		return option{}, false
	}
	joined := strings.Join(words, " ")
	for _, o := range offered {
		if strings.Join(tokens(o.Title), " ") == joined {
			return o, true
		}
	}
	return option{}, false
}

// optionNumber reads "2", "2.", "opção 2" and the like.
func optionNumber(words []string) (int, bool) {
	last := words[len(words)-1]
	for _, w := range words[:len(words)-1] {
		if !numberPrefixes[w] {
			return 0, false
		}
	}
	n, err := strconv.Atoi(last)
	if err != nil || len(last) > 3 {
		return 0, false
	}
	return n, true
}
