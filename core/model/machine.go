package model

import (
	"fmt"
	"slices"
)

// Machine is a state machine as one transition table: for every state, the
// states it may be entered from. The store refuses any transition the table
// does not hold (every state change is a guarded UPDATE ... WHERE state IN
// (Machine.From(to))), so no code path can move a thing backwards or out of a
// final state, whatever runs concurrently.
type Machine struct {
	Name string
	// Initial are the states a new thing may start in.
	Initial []string
	// from maps a state to the states allowed to move to it.
	from map[string][]string
	// explicit are transitions only a change that names its from state
	// takes (a person asking for it): From leaves them out, so a change
	// that goes wherever the machine allows never takes one.
	explicit map[string][]string
}

// From lists the states a thing may be in to move to state to; nil when no
// transition leads there. Explicit transitions are not in it.
func (m *Machine) From(to string) []string { return m.from[to] }

// Allowed reports whether a thing in state from may move to state to, by
// an ordinary or an explicit transition.
func (m *Machine) Allowed(from, to string) bool {
	return slices.Contains(m.from[to], from) || slices.Contains(m.explicit[to], from)
}

// Known reports whether s is a state of the machine.
func (m *Machine) Known(s string) bool {
	if slices.Contains(m.Initial, s) {
		return true
	}
	for _, table := range []map[string][]string{m.from, m.explicit} {
		for to, froms := range table {
			if to == s || slices.Contains(froms, s) {
				return true
			}
		}
	}
	return false
}

// Final reports whether nothing leaves state s, not even explicitly.
func (m *Machine) Final(s string) bool {
	for _, table := range []map[string][]string{m.from, m.explicit} {
		for _, froms := range table {
			if slices.Contains(froms, s) {
				return false
			}
		}
	}
	return true
}

// TransitionError is a state change the machine does not allow.
type TransitionError struct {
	Machine  string
	ID       int64
	From, To string
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("%s %d: cannot move from %s to %s", e.Machine, e.ID, e.From, e.To)
}

// ConversationMachine is the life of a conversation:
//
//	bot ──► queued ──► assigned ──► ended
//	 │        ▲ │         │ ▲
//	 │        └─┴─────────┘ │ (requeue, transfer; reassign)
//	 └──────────────────────┴─► ended (from any open state)
//
// A conversation starts with the assistant (bot); handing it to people
// queues it for a squad; assignment gives it to an agent; an agent going
// offline or a transfer puts it back in a queue. Ended is final: the user's
// next message starts a new conversation.
var ConversationMachine = &Machine{
	Name: "conversation",
	// A conversation that starts ended only records messages the business
	// sent to someone who has not written (echoes of the provider's own app).
	Initial: []string{StateBot, StateEnded},
	from: map[string][]string{
		StateQueued:   {StateBot, StateQueued, StateAssigned},
		StateAssigned: {StateQueued, StateAssigned},
		StateEnded:    {StateBot, StateQueued, StateAssigned},
	},
}

// Send states (an outbound message's delivery status) beyond those of
// model.Message: in flight means an attempt was committed and may have
// reached the provider.
const StatusInFlight = "in_flight"

// SendMachine is the life of one outbound message, the outbox row's state
// and the message's delivery status being one and the same:
//
//	pending ──► in_flight ──► sent ──► delivered ──► read
//	   ▲           │  ▲         │          │          │
//	   └───────────┘  └ (resend after an unknown outcome)
//	pending, in_flight, sent, delivered, read ──► failed
//	failed ··► pending (explicit: a person presses Retry)
//
// An attempt is committed (in_flight) before the channel is called, so a
// crash or a timeout leaves a row that is reconciled (the provider's echo)
// before it is ever sent again. A definite failure goes back to pending for
// its retry. Delivery reports only move forward; a rejection the provider
// reports after accepting a message (failed) is final for everything the
// engine and the providers do: only an agent or an admin sending it again
// (Outbox.Resend) takes it out of failed, and that transition is explicit so
// that no report or retry of the engine's own can.
var SendMachine = &Machine{
	Name:    "send",
	Initial: []string{StatusPending},
	from: map[string][]string{
		StatusPending:   {StatusInFlight},
		StatusInFlight:  {StatusPending, StatusInFlight},
		StatusSent:      {StatusInFlight},
		StatusDelivered: {StatusSent},
		StatusRead:      {StatusSent, StatusDelivered},
		StatusFailed:    {StatusPending, StatusInFlight, StatusSent, StatusDelivered, StatusRead},
	},
	explicit: map[string][]string{
		StatusPending: {StatusFailed},
	},
}

// OpenStates are the states of a conversation that has not ended.
var OpenStates = []string{StateBot, StateQueued, StateAssigned}
