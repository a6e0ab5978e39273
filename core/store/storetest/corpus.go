package storetest

import (
	"math/rand/v2"
	"strings"
)

// SearchCorpus makes the messages search benchmarks run over: made-up
// words drawn with a Zipf distribution, as natural language uses words (a
// few very common, most rare), the same on every run.
type SearchCorpus struct {
	Vocabulary []string
	r          *rand.Rand
	zipf       *rand.Zipf
}

// NewSearchCorpus has a vocabulary of 20,000 words.
func NewSearchCorpus() *SearchCorpus {
	r := rand.New(rand.NewPCG(1, 2))
	syllables := strings.Fields("ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo ga go la le li lo lu ma me mi mo mu " +
		"na ne ni no nu pa pe pi po pu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo ção são nhã lhe")
	seen := map[string]bool{}
	c := &SearchCorpus{r: r}
	for len(c.Vocabulary) < 20_000 {
		var w strings.Builder
		for range 2 + r.IntN(3) {
			w.WriteString(syllables[r.IntN(len(syllables))])
		}
		if !seen[w.String()] {
			seen[w.String()] = true
			c.Vocabulary = append(c.Vocabulary, w.String())
		}
	}
	c.zipf = rand.NewZipf(r, 1.1, 1, uint64(len(c.Vocabulary)-1))
	return c
}

// Message is the text of a message: 8 to 15 words.
func (c *SearchCorpus) Message() string {
	words := make([]string, 8+c.r.IntN(8))
	for i := range words {
		words[i] = c.Vocabulary[c.zipf.Uint64()]
	}
	return strings.Join(words, " ")
}

// SearchQuery is one search a benchmark runs.
type SearchQuery struct{ Name, Text string }

// Queries: the most common word, one of middling frequency, a rare one, a
// prefix being typed, and a word no message holds.
func (c *SearchCorpus) Queries() []SearchQuery {
	v := c.Vocabulary
	return []SearchQuery{
		{"common", v[0]},
		{"middling", v[300]},
		{"rare", v[15000]},
		{"prefix", v[300][:3]},
		{"absent", "zzzqqq"},
	}
}
