package store

import "time"

// ReportFilter selects the conversations a report counts: those started in
// [From, To), of Squad and of Agent when they are not empty.
type ReportFilter struct {
	From, To     time.Time
	Squad, Agent string
}

// ReportRow is one conversation as reports see it: the times its figures
// are computed from (core/reports does the arithmetic, the same for every
// store).
type ReportRow struct {
	ID    int64
	Squad string
	// Agent is who held the conversation last ("" when no one did, or it
	// went back to a queue).
	Agent     string
	StartedAt time.Time
	// QueuedAt is when the conversation was first handed to people; nil
	// when the assistant handled it alone.
	QueuedAt *time.Time
	// FirstAgentReplyAt is the first message an agent wrote to the contact
	// (private and system notes, status internal, never count); nil when
	// none did.
	FirstAgentReplyAt *time.Time
	EndedAt           *time.Time
}
