package store

import (
	"context"
	"time"
)

// AuditEntry is one change a person made (CONTRACT §5 audit): who, what,
// to which thing, from where. Detail names what changed, never the value
// of a secret ("settings changed: access_token").
type AuditEntry struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	IP     string    `json:"ip"`
	Detail string    `json:"detail,omitempty"`
}

// AuditFilter selects audit entries; zero fields match everything.
type AuditFilter struct {
	Actor string
	// Action matches that action, or every action under it: "agent"
	// matches "agent.create" and "agent.password".
	Action string
	// Limit bounds the answer: 0 is 100, and at most 1000 come back.
	Limit int
}

// Audit is the record of changes people made. Write an entry in the
// transaction of the change it records, so both commit or neither does.
type Audit interface {
	// Add records e at the transaction's time; e.ID and e.At are set.
	Add(ctx context.Context, e *AuditEntry) error
	// List returns the entries f selects, newest first.
	List(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)
}

// Directions of a delivery.
const (
	DeliveryIn  = "in"
	DeliveryOut = "out"
)

// Delivery is one webhook an integration received, or one attempt to send
// a message through it: what answers "why did this message not arrive?".
type Delivery struct {
	ID          int64
	Integration string
	// At is when it happened (zero: the time of the transaction).
	At        time.Time
	Direction string
	// MessageID is what the delivery is about: the provider's id of the
	// first message a webhook carried, or the id of the message sent.
	MessageID string
	// ProviderMessageIDs are the provider's ids of every message a webhook
	// carried, or of the parts a send delivered.
	ProviderMessageIDs []string
	Outcome            string
	HTTPStatus         int
	LatencyMS          int64
	Error              string
	// Detail is the request and response with secrets redacted, as JSON:
	// what the API shows. The store keeps it as it is.
	Detail []byte
}

// DeliveryFilter selects one integration's deliveries.
type DeliveryFilter struct {
	Integration string
	// MessageID matches a delivery's MessageID or any of its
	// ProviderMessageIDs.
	MessageID string
	Outcome   string
	Direction string
	// Limit bounds the answer as AuditFilter's does.
	Limit int
}

// LogLimit is the number of rows a filter's Limit asks for, bounded.
func LogLimit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 1000:
		return 1000
	}
	return n
}

// Deliveries is the per-integration delivery log. It is kept for a
// configured time: Prune forgets what is older.
type Deliveries interface {
	// Add records deliveries; each ID is set.
	Add(ctx context.Context, ds ...*Delivery) error
	// List returns the deliveries f selects, newest first.
	List(ctx context.Context, f DeliveryFilter) ([]*Delivery, error)
	// Prune looks at the max deliveries logged first, removes those from
	// before cutoff and reports how many: a caller loops while it gets
	// max, so that no transaction holds the database long. (Deliveries are
	// logged in about the order of their times: one a little out of order
	// waits for the next prune.)
	Prune(ctx context.Context, cutoff time.Time, max int) (int64, error)
}

// Actor is the person making a change, and from where, for the audit log.
type Actor struct {
	Login string
	IP    string
}

// Entry is an audit entry of a change by a.
func (a *Actor) Entry(action, target, detail string) *AuditEntry {
	return &AuditEntry{Actor: a.Login, IP: a.IP, Action: action, Target: target, Detail: detail}
}
