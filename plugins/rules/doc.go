// Package rules is the built-in assistant that answers from a TOML file of
// intents (CONTRACT §6): each intent has examples of what users type and the
// replies to send, and may hand the conversation to people (handoff = true)
// or end it (end = true).
//
// Settings: {"file": "assistants/shop.toml"}, relative to the working
// directory. Without a file the embedded demo.toml answers, so a fresh
// install has a bot to talk to.
//
// The file is parsed strictly (unknown keys are errors) and validated; every
// problem is reported with the file, line and key. Parsed files are cached
// by path and parsed again when their modification time or size changes. A
// broken file makes Converse fail with a gRPC error naming the problem; the
// host retries and then hands the conversation to people.
//
// Matching works on words: case, accents, punctuation and extra spaces are
// ignored. A message equal to an example scores 1; one containing an example
// as whole words scores between 0.7 and 0.9 (more for a longer example); one
// sharing at least half the words (Jaccard) scores up to 0.7. The best
// intent wins, the first in the file on a tie; nothing matching gives the
// fallback texts, intent "fallback", confidence 0.
//
// The session (opaque to the host) remembers the options of the last reply
// that offered any (quick replies, select, option list), so "2", "opção 2"
// or the option's title is read as that option, whose payload is then
// matched like a message. A fallback keeps the options offered before.
// A tapped quick reply arrives with its payload, which is tried before the
// text.
package rules
