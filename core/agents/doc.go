// Package agents is the human side of Conversa: agent accounts and their
// sign-in sessions, presence (available, paused, offline), squads, capacity,
// and the assignment of queued conversations to agents.
package agents
