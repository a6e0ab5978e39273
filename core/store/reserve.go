package store

import "context"

// IDReserver hands out the ids a new contact and its first conversation
// will be stored with, before the transaction that stores them: the engine
// runs the routing script and the assistant for a new user's first message
// (both are given the contact's and the conversation's ids) and then
// records the user, the conversation, the message and the assistant's turn
// in one commit, rather than committing the user first to learn the ids.
//
// ReserveIDs reserves a conversation's id, and a contact's as well when
// contact is true (NewIDs.Contact is 0 otherwise: a stored user's new
// conversation needs none).
//
// A reserved id is never given to another row, whether or not it is used:
// an id reserved and left unused is a gap. Pass the contact's as
// ContactHints.NewID to Contacts.Upsert (it applies only when the upsert
// creates the contact) and the conversation's as Conversation.ID to
// Conversations.Start (it applies only when Start opens a new one).
type IDReserver interface {
	ReserveIDs(ctx context.Context, contact bool) (NewIDs, error)
}

// NewIDs are ids reserved for a new contact and its first conversation.
type NewIDs struct {
	Contact, Conversation int64
}
