// Package model is Conversa's conversation model: integrations, contacts,
// conversations, messages and their contents, and the normalized events
// channels report. Plain types with no I/O; every other package speaks them.
package model
