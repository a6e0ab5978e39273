package store

import (
	"context"
	"errors"
	"time"

	"github.com/conversa/conversa/core/model"
)

// Errors every implementation returns, recognised with errors.Is. The HTTP
// layer maps them to answers in one place.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique key is already taken (a login, an idempotency
	// key). Implementations recognise it by the driver's error code, never
	// by the text of the error.
	ErrConflict = errors.New("conflict")
	// ErrIllegalTransition: the state machine (core/model) does not allow
	// the change from the state the row is in. The error is a
	// *model.TransitionError naming both states.
	ErrIllegalTransition = model.ErrIllegalTransition
	// ErrLeaseLost: the queue key's lease expired and was taken by another
	// worker; the transaction must not commit what this worker did.
	ErrLeaseLost = errors.New("queue lease lost")
	// ErrNoCapacity: the agent is not available or has no free slot.
	ErrNoCapacity = errors.New("the agent cannot take another conversation")
	ErrClosed     = errors.New("store closed")
	// ErrUnavailable: the database cannot be reached now (down, restarting,
	// out of connections). Nothing was written; trying again later may work.
	ErrUnavailable = errors.New("database unavailable")
)

// Store is one Conversa database. Each aggregate's methods called on the
// Store run in their own transaction; Tx runs several, across aggregates,
// in one.
type Store interface {
	Aggregates
	// Tx runs fn in one transaction and returns once it is committed, or
	// rolled back when fn fails. fn may run more than once (an
	// implementation retries a transaction that lost a serialization race),
	// so it must have no effect outside tx and must reset what it captures.
	// Do not call a plugin or a Lua hook inside fn: gather inputs first.
	Tx(ctx context.Context, fn func(Tx) error) error
	// Now is the store's clock, which stamps every row.
	Now() time.Time
	Close() error
}

// Tx is a transaction: the same aggregates, bound to it.
type Tx interface {
	Aggregates
	// Now is the time of the transaction, the same for every row it writes.
	Now() time.Time
}

// Aggregates are the narrow interfaces the engine, agents and server depend
// on, one per aggregate.
type Aggregates interface {
	Inbox() Inbox
	Outbox() Outbox
	Conversations() Conversations
	Messages() Messages
	Contacts() Contacts
	Agents() Agents
	Sessions() Sessions
	Integrations() Integrations
	Labels() Labels
	CannedResponses() CannedResponses
	Audit() Audit
	Deliveries() Deliveries
	PluginTrust() PluginTrust
}

// Lease is a worker's hold on one queue key: while it lasts, no other worker
// is given that key's rows. Token changes at every claim, so a worker whose
// lease expired and was claimed again cannot complete the row.
type Lease struct {
	Owner string
	Token int64
}

// Queue is the leased, fair dispatch both queues share. Rows are grouped by
// key (a contact's events, a conversation's sends) and run one at a time in
// order within a key; across keys, workers are served round-robin: a key
// goes to the back of the line each time one of its rows is done, so a key
// with a large backlog delays another key by at most one row.
type Queue[T any] interface {
	// Claim leases up to n keys whose head row is due and returns those
	// rows, the key waiting longest first. A claimed key is due again when
	// its lease expires, unless the row is completed, retried or the lease
	// renewed first.
	Claim(ctx context.Context, owner string, n int, lease time.Duration) ([]T, error)
	// Renew extends every lease owner holds (a worker busy with a long
	// row); it reports how many.
	Renew(ctx context.Context, owner string, lease time.Duration) (int, error)
	// Release gives back every key owner holds, due at once (a clean stop).
	Release(ctx context.Context, owner string) error
	// NextDue is when the earliest key becomes due (zero: nothing queued).
	NextDue(ctx context.Context) (time.Time, error)
	// Backlog counts the rows not yet done.
	Backlog(ctx context.Context) (int, error)
}

// InboxItem is a received event waiting to be processed.
type InboxItem struct {
	ID         int64
	Partition  string
	Attempts   int
	ReceivedAt time.Time
	Event      model.Event
	Lease      Lease
}

// Inbox holds received events, committed before the source is
// acknowledged, and processed in order per contact.
type Inbox interface {
	Queue[InboxItem]
	// Add stores an event unless one with the same dedupe key was stored
	// for its integration; it reports whether the event is new.
	Add(ctx context.Context, ev *model.Event, partition string) (bool, error)
	// Done marks the claimed event processed (note says what was done with
	// it, when worth recording) and hands its key to the next event. Run it
	// in the transaction that records the event's effects: ErrLeaseLost
	// rolls them back.
	Done(ctx context.Context, it *InboxItem, note string) error
	// Retry records a failed attempt; the key (the contact's later events
	// too) is due again at at.
	Retry(ctx context.Context, it *InboxItem, at time.Time, note string) error
	// Defer puts the event off until at without counting an attempt (it
	// waits for a plugin that is down); the contact's later events wait too.
	Defer(ctx context.Context, it *InboxItem, at time.Time, note string) error
	// Prune forgets processed events, oldest first: of the next max events
	// after the id after (0: from the oldest), it removes those processed
	// before cutoff, in one transaction, and returns how many it removed
	// and the last id it looked at. next is 0 once it reached an event
	// received at or after cutoff, or the newest: nothing older is left.
	// An event not processed is never removed.
	Prune(ctx context.Context, cutoff time.Time, after int64, max int) (removed int64, next int64, err error)
}

// OutboxItem is a message to send: its outbox row and its send state.
type OutboxItem struct {
	ID             int64
	MessageID      int64
	Integration    string
	Conversation   int64
	IdempotencyKey string
	// State is the message's send state: pending, or in_flight when an
	// attempt was committed and may have reached the provider.
	State    string
	Attempts int
	// AttemptAt is when the last attempt was committed.
	AttemptAt time.Time
	CreatedAt time.Time
	Lease     Lease
}

// Outbox holds the messages to send, committed before any attempt, sent in
// order per conversation. Every change of a send's state follows
// model.SendMachine.
type Outbox interface {
	Queue[OutboxItem]
	// Enqueue stores an outbound message (status pending) and its outbox
	// row; m.ID is set. ErrConflict when the idempotency key was used.
	Enqueue(ctx context.Context, m *model.Message, idempotencyKey string) error
	// Begin commits an attempt (in_flight since now, attempts + 1) before
	// the channel is called. possibleDuplicate marks the message when an
	// earlier attempt's outcome is unknown and the channel cannot confirm
	// it: the user may receive it twice, and agents see that.
	Begin(ctx context.Context, it *OutboxItem, possibleDuplicate bool) error
	// Sent records that the provider accepted the message under ids; the
	// conversation's next message may go. A send an echo already confirmed
	// only gains the ids. Unlike every other outcome it is recorded even
	// when the lease was lost meanwhile (the provider has the message
	// whatever happened to the lease); only handing the key on needs it,
	// and the worker holding the key then finds the row done.
	Sent(ctx context.Context, it *OutboxItem, providerIDs []string) error
	// Retry records a definite failure (nothing reached the user): pending
	// again, due at at.
	Retry(ctx context.Context, it *OutboxItem, at time.Time, errText string) error
	// Defer leaves the send as it is (in flight: its outcome unknown) and
	// holds the conversation's sends until at, when the engine looks again
	// (time for an echo to arrive).
	Defer(ctx context.Context, it *OutboxItem, at time.Time, errText string) error
	// Fail gives up: the message is failed with the reason agents see, and
	// the conversation's next message may go.
	Fail(ctx context.Context, it *OutboxItem, errText string) error
	// Resend sends a failed message again because a person asked (Retry):
	// it is pending again, its error cleared, under a new outbox row keyed
	// idempotencyKey with no attempts, behind the conversation's sends
	// already queued. A *model.TransitionError when the message is not
	// failed (or an attempt of it is still open); ErrNotFound when there is
	// no such message; ErrConflict when the key was used.
	Resend(ctx context.Context, messageID int64, idempotencyKey string) error
	// InFlight lists a conversation's sends whose outcome is unknown
	// (in_flight), and its sends confirmed since since (whose later parts
	// may still echo), oldest first: what an echo is matched against.
	InFlight(ctx context.Context, conversation int64, since time.Time) ([]*model.Message, error)
	// Confirm records that an in-flight send did go out (its echo came,
	// with providerID): it is sent, and the conversation's next message may
	// go. For a message already sent it only records providerID.
	Confirm(ctx context.Context, messageID int64, providerID string) error
}

// Messages are the messages of conversations, in both directions.
type Messages interface {
	// Add stores a message under every provider id given. When one of them
	// is already known (a provider's redelivery, an echo of our own send),
	// nothing is stored: m becomes the stored message and existing is true.
	Add(ctx context.Context, m *model.Message, providerIDs ...string) (existing bool, err error)
	// AddProviderIDs records more ids for a message; the first becomes its
	// provider id if it has none.
	AddProviderIDs(ctx context.Context, integration string, messageID int64, ids ...string) error
	// Get returns one message, with its reactions.
	Get(ctx context.Context, id int64) (*model.Message, error)
	ByProviderID(ctx context.Context, integration, providerID string) (*model.Message, error)
	// List returns a conversation's messages, oldest first, with reactions.
	List(ctx context.Context, conversation int64) ([]model.Message, error)
	// SetStatus moves an outbound message's delivery status as
	// model.SendMachine allows (a late "delivered" never undoes "read"); a
	// *model.TransitionError otherwise.
	SetStatus(ctx context.Context, id int64, status, errText string) error
	// MarkReadUpTo marks the conversation's sent or delivered messages up
	// to and including id read, and reports how many.
	MarkReadUpTo(ctx context.Context, conversation, id int64) (int64, error)
	// MarkHandled records that an inbound message was routed and answered.
	MarkHandled(ctx context.Context, id int64) error
	MarkDeleted(ctx context.Context, id int64, at time.Time) error
	Edit(ctx context.Context, id int64, contents []model.Content, at time.Time) error
	// SetReaction puts or replaces by's reaction; an empty emoji removes it.
	SetReaction(ctx context.Context, messageID int64, by, emoji string, at time.Time) error
}

// SearchHits is how many matching messages, and how many matching
// contacts, a search reads at most: the newest.
const SearchHits = 1000

// ConversationFilter selects conversations; zero fields match everything.
type ConversationFilter struct {
	State       string
	Integration string
	Agent       string
	// Search matches the contact's name, username or channel id, or the
	// text of the conversation's messages: each word, ignoring case and
	// accents, the last one also as a prefix from fulltext.MinPrefix
	// letters (the words of a contact may
	// be spread over its name, username and id). What counts as a
	// message's text is fulltext.Searchable and fulltext.Text. A
	// conversation found by a message carries it in Match. A search looks
	// at the newest matches only, of each kind (messages by id, contacts
	// by id), until it has Limit conversations that pass the other
	// filters, or has read SearchHits matches of that kind: of the
	// messages, the conversations with the newest matches; of the
	// contacts, the conversations of the newest (a contact's all
	// together). Those are listed in the list's order (newest activity
	// first), at most Limit: what a search costs follows the page it
	// fills, not how many messages hold its words.
	Search string
	// Label: only conversations carrying it.
	Label string
	// Contact: only this contact's conversations.
	Contact int64
	// Limit is how many conversations the list holds at most (Page).
	Limit int
}

// MaxPage is the most conversations one list holds.
const MaxPage = 500

// Page is the list's size: Limit, or MaxPage when Limit is unset or above
// it.
func (f ConversationFilter) Page() int {
	if f.Limit <= 0 || f.Limit > MaxPage {
		return MaxPage
	}
	return f.Limit
}

// Queueing is where a conversation goes when it is handed to people.
type Queueing struct {
	Squad    string
	Priority int
	// Agent is who routing named: they get it when they can.
	Agent string
	// KeepQueuedAt keeps the time the conversation first waited (a requeue
	// goes ahead of newer arrivals); otherwise it waits from now.
	KeepQueuedAt bool
}

// Conversations are the services of contacts. Every change of state
// follows model.ConversationMachine and is refused otherwise with a
// *model.TransitionError; nothing saves a whole conversation blindly.
type Conversations interface {
	Get(ctx context.Context, id int64) (*model.Conversation, error)
	// Open returns the contact's conversation that has not ended.
	Open(ctx context.Context, contactID int64) (*model.Conversation, error)
	// Latest returns the contact's most recent conversation, open or not.
	Latest(ctx context.Context, contactID int64) (*model.Conversation, error)
	// List lists the conversations f selects, newest activity first, each
	// with its Unread count.
	List(ctx context.Context, f ConversationFilter) ([]*model.Conversation, error)
	// Start opens a conversation for c.ContactID in c.State (an initial
	// state). A contact has at most one open conversation: when it has one
	// already, c becomes that one and started is false. c.ID, when not
	// zero, is the id a new conversation gets: one an IDReserver reserved.
	Start(ctx context.Context, c *model.Conversation) (started bool, err error)
	// Touch moves the last activity and last inbound times forward (zero
	// times are left alone).
	Touch(ctx context.Context, id int64, activity, inbound time.Time) error
	// SetSession stores the assistant's session of a conversation the
	// assistant still has (bot).
	SetSession(ctx context.Context, id int64, session []byte) error
	// Queue hands a conversation to a squad's queue.
	Queue(ctx context.Context, id int64, q Queueing) (*model.Conversation, error)
	// Assign gives a queued conversation to agent, only while the agent is
	// available with fewer open conversations than their maximum
	// (ErrNoCapacity): concurrent assignments never exceed max_chats.
	Assign(ctx context.Context, id int64, agent string) (*model.Conversation, error)
	// RequeueAgent puts an agent's open conversations back in their queues,
	// ahead of newer arrivals, and returns them.
	RequeueAgent(ctx context.Context, agent string) ([]*model.Conversation, error)
	// End ends an open conversation.
	End(ctx context.Context, id int64, reason string) (*model.Conversation, error)
	// EndInactive ends a conversation for inactivity only if its user has
	// still been silent since before cutoff (ErrIllegalTransition when the
	// user wrote meanwhile or it ended).
	EndInactive(ctx context.Context, id int64, cutoff time.Time) (*model.Conversation, error)
	// Inactive lists an integration's open conversations whose user has
	// been silent since before cutoff.
	Inactive(ctx context.Context, integration string, cutoff time.Time) ([]int64, error)
	// Queued lists queued conversations in serving order: higher priority
	// first, then who has waited longest.
	Queued(ctx context.Context) ([]*model.Conversation, error)
	// Report lists the conversations f selects, oldest first, with the
	// times a report needs.
	Report(ctx context.Context, f ReportFilter) ([]ReportRow, error)
	// MarkRead records the last message the assigned agent has seen;
	// messageID 0 means every message the conversation has now (later
	// ones stay unread).
	MarkRead(ctx context.Context, id, messageID int64) error
	// Unread counts, per conversation, the user's messages the agent has
	// not seen.
	Unread(ctx context.Context, ids []int64) (map[int64]int, error)
}

// ContactHints are what an event says about its user; empty fields keep
// what is stored.
type ContactHints struct {
	Username, Name, AvatarURL string
	// NewID, when not zero, is the id the contact gets when the upsert
	// creates it: one an IDReserver reserved. An existing contact keeps
	// its own.
	NewID int64
	// Profiled says the hints are a profile lookup's, made for this
	// upsert: the lookup's time (the transaction's) and ProfileError are
	// stored with them, in the one write.
	Profiled     bool
	ProfileError string
}

// Contacts are the users on the other side of integrations.
type Contacts interface {
	// Upsert finds or creates an integration's user, refreshing it with
	// the hints and moving its last inbound time forward to inbound (when
	// not zero). Empty hints keep what is stored; hints that are a
	// profile lookup's (Profiled) store the lookup's time and error too.
	Upsert(ctx context.Context, integration, userID string, h ContactHints, inbound time.Time) (*model.Contact, error)
	Get(ctx context.Context, id int64) (*model.Contact, error)
	ByUser(ctx context.Context, integration, userID string) (*model.Contact, error)
}

// Agents are the people who sign in.
type Agents interface {
	// Create adds an agent; ErrConflict when the login is taken.
	Create(ctx context.Context, a *model.Agent, passwordHash string) error
	// Update writes the editable fields; the password only when hash is
	// not empty.
	Update(ctx context.Context, a *model.Agent, passwordHash string) error
	Get(ctx context.Context, id string) (*model.Agent, error)
	List(ctx context.Context) ([]*model.Agent, error)
	// Available lists the agents who may receive conversations now, with
	// their open chats (never a deactivated one).
	Available(ctx context.Context) ([]*model.Agent, error)
	SetStatus(ctx context.Context, id, status string) error
	// SetActive deactivates an agent (they may no longer sign in) or
	// activates them again. Agents are created active.
	SetActive(ctx context.Context, id string, active bool) error
	PasswordHash(ctx context.Context, id string) (string, error)
	// CreateFirst adds the first agent: ErrConflict when any agent exists,
	// decided atomically (two at once create one). It also forgets every
	// setup token.
	CreateFirst(ctx context.Context, a *model.Agent, passwordHash string) error
	// AddSetupToken records the digest of a setup token a node printed at
	// start; SetupTokens lists them (CONTRACT §9: any node's token works).
	AddSetupToken(ctx context.Context, digest string) error
	SetupTokens(ctx context.Context) ([]string, error)
}

// Session is a signed-in agent's session (bearer token or console cookie).
type Session struct {
	TokenHash  string
	AgentID    string
	CSRFToken  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// Sessions are sign-in sessions.
type Sessions interface {
	Create(ctx context.Context, s *Session) error
	Get(ctx context.Context, tokenHash string) (*Session, error)
	// Touch records activity and extends the expiry (never shortens it).
	Touch(ctx context.Context, tokenHash string, expires time.Time) error
	Delete(ctx context.Context, tokenHash string) error
	// DeleteAgent ends every session of an agent except the one whose
	// token hash is keep ("" keeps none), and reports how many ended.
	DeleteAgent(ctx context.Context, agentID, keep string) (int64, error)
	DeleteExpired(ctx context.Context) (int64, error)
	// LastSeen is when an agent last used any session (zero: never).
	LastSeen(ctx context.Context, agentID string) (time.Time, error)
}

// Integrations are the configured Instagram accounts.
type Integrations interface {
	List(ctx context.Context) ([]*model.Integration, error)
	Get(ctx context.Context, id string) (*model.Integration, error)
	// Put creates or replaces an integration, keeping the creation time of
	// an existing one.
	Put(ctx context.Context, in *model.Integration) error
	Delete(ctx context.Context, id string) error
	// SetNeedsReauth records why the credentials stopped working ("" clears).
	SetNeedsReauth(ctx context.Context, id, reason string) error
}

// LabelCount is a label in use and how many conversations carry it.
type LabelCount struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// Labels are the names agents put on conversations. Get and List of
// Conversations return each conversation with its labels.
type Labels interface {
	// Set replaces a conversation's labels (already normalised by the
	// caller; duplicates are stored once).
	Set(ctx context.Context, conversation int64, labels []string) error
	// Counts lists the labels in use, by name, with how many conversations
	// carry each; agent, when not empty, counts only the conversations
	// assigned to that agent.
	Counts(ctx context.Context, agent string) ([]LabelCount, error)
}

// CannedResponses are the replies agents insert by shortcut.
type CannedResponses interface {
	// List returns those of the given squads and those for everyone
	// (squad ""), by shortcut; all: every canned response.
	List(ctx context.Context, squads []string, all bool) ([]*model.CannedResponse, error)
	Get(ctx context.Context, id int64) (*model.CannedResponse, error)
	// Create stores a new one (r.ID is set); ErrConflict when its squad
	// has that shortcut already.
	Create(ctx context.Context, r *model.CannedResponse) error
	// Update replaces shortcut, text and squad; ErrConflict as Create.
	Update(ctx context.Context, r *model.CannedResponse) error
	Delete(ctx context.Context, id int64) error
}

// PluginPin is the SHA-256 an operator trusted for a third-party plugin
// executable (conversa-plugin-NAME), by plugin name.
type PluginPin struct {
	Name string
	// SHA256 is the executable's digest, lowercase hex.
	SHA256    string
	TrustedAt time.Time
}

// PluginTrust holds the pins of third-party plugins (`conversa plugins
// trust`). They live in the database so that every node sharing it starts
// the same executables: a plugin whose executable does not match its pin is
// not started.
type PluginTrust interface {
	// Trust records (or replaces) the pin of a plugin.
	Trust(ctx context.Context, name, sha256 string) error
	// Untrust removes a pin; ErrNotFound when there is none.
	Untrust(ctx context.Context, name string) error
	// Pin returns one plugin's pin; ErrNotFound when it has none.
	Pin(ctx context.Context, name string) (*PluginPin, error)
	// Pins lists every pin, by name.
	Pins(ctx context.Context) ([]*PluginPin, error)
}
