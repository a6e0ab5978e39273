package model

import (
	"encoding/json"
	"time"
)

// Integration connects one Instagram account, through one channel, to one
// assistant (or straight to humans).
type Integration struct {
	ID                       string         `json:"id"`
	Name                     string         `json:"name"`
	Channel                  string         `json:"channel"`
	Assistant                string         `json:"assistant"`
	Squad                    string         `json:"squad"`
	InactivityMinutes        int            `json:"inactivity_minutes"`
	UnsupportedMediaMessages []string       `json:"unsupported_media_messages"`
	HomologationUsers        []string       `json:"homologation_users"`
	Settings                 map[string]any `json:"settings"`
	Enabled                  bool           `json:"enabled"`
	Source                   string         `json:"source"` // config or api
	NeedsReauth              string         `json:"needs_reauthorization,omitempty"`
	CreatedAt                time.Time      `json:"created_at"`
	UpdatedAt                time.Time      `json:"updated_at"`
}

// Integration sources.
const (
	SourceConfig = "config"
	SourceAPI    = "api"
	// SourcePlayground: built in, for the test phone (core/playground);
	// never editable, hidden while the playground is off.
	SourcePlayground = "playground"
)

// DefaultSquad receives conversations when an integration names none.
const DefaultSquad = "geral"

// Setting returns a channel setting as a string ("" when absent).
func (i *Integration) Setting(key string) string {
	switch v := i.Settings[key].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// Contact is a user on the other side of an integration.
type Contact struct {
	ID            int64     `json:"id"`
	Integration   string    `json:"-"`
	ChannelUserID string    `json:"channel_user_id"`
	Username      string    `json:"username"`
	Name          string    `json:"name"`
	AvatarURL     string    `json:"avatar_url"`
	LastInboundAt time.Time `json:"-"`
	ProfileAt     time.Time `json:"-"`
}

// DisplayName is what an agent sees: the name, else the username, else the id.
func (c *Contact) DisplayName() string {
	switch {
	case c.Name != "":
		return c.Name
	case c.Username != "":
		return "@" + c.Username
	default:
		return c.ChannelUserID
	}
}

// Conversation states.
const (
	StateBot      = "bot"
	StateQueued   = "queued"
	StateAssigned = "assigned"
	StateEnded    = "ended"
)

// Conversation origins.
const (
	OriginDirect       = "direct"
	OriginStoryMention = "story_mention"
	OriginStoryReply   = "story_reply"
)

// End reasons.
const (
	EndAgent      = "agent"
	EndInactivity = "inactivity"
	EndAssistant  = "assistant"
	EndAdmin      = "admin"
)

// Conversation is one service of a contact, from their first message until
// it ends.
type Conversation struct {
	ID             int64      `json:"id"`
	Integration    string     `json:"integration"`
	ContactID      int64      `json:"-"`
	Contact        *Contact   `json:"contact,omitempty"`
	State          string     `json:"state"`
	Squad          string     `json:"squad"`
	Agent          string     `json:"agent"`
	PreferredAgent string     `json:"-"`
	Origin         string     `json:"origin"`
	Priority       int        `json:"priority"`
	Session        []byte     `json:"-"`
	StartedAt      time.Time  `json:"started_at"`
	LastActivityAt time.Time  `json:"last_activity_at"`
	LastInboundAt  time.Time  `json:"-"`
	QueuedAt       *time.Time `json:"queued_at,omitempty"`
	EndedAt        *time.Time `json:"ended_at"`
	EndReason      string     `json:"end_reason"`
	Unread         int        `json:"unread,omitempty"`
	// Labels agents put on the conversation, sorted.
	Labels   []string  `json:"labels"`
	Messages []Message `json:"messages,omitempty"`
	// Match is the message a search found the conversation by, when its
	// text matched (a search by name alone has none).
	Match *SearchMatch `json:"match,omitempty"`
}

// SearchMatch is the newest message of a conversation whose text a search
// matched, with the text around the hit for the console to show.
type SearchMatch struct {
	MessageID int64  `json:"message_id"`
	Text      string `json:"text"`
}

// Message directions and statuses.
const (
	DirectionIn  = "in"
	DirectionOut = "out"

	StatusReceived  = "received"
	StatusPending   = "pending"
	StatusSent      = "sent"
	StatusDelivered = "delivered"
	StatusRead      = "read"
	StatusFailed    = "failed"
	// An internal note for agents (author system): never sent.
	StatusInternal = "internal"
)

// Authors of messages other than agents ("agent:<login>").
const (
	AuthorContact   = "contact"
	AuthorAssistant = "assistant"
	AuthorSystem    = "system"
	// Typed by the business in the provider's own app (an echo we did not send).
	AuthorBusiness = "business"
)

// AgentAuthor is the author string of an agent's message.
func AgentAuthor(login string) string { return "agent:" + login }

// Reaction is an emoji a participant put on a message.
type Reaction struct {
	Emoji string    `json:"emoji"`
	By    string    `json:"by"`
	At    time.Time `json:"at"`
}

// Message is one message of a conversation in either direction.
type Message struct {
	ID                int64      `json:"id"`
	Conversation      int64      `json:"conversation"`
	Integration       string     `json:"-"`
	Direction         string     `json:"direction"`
	Author            string     `json:"author"`
	Contents          []Content  `json:"contents"`
	Status            string     `json:"status"`
	Error             string     `json:"error,omitempty"`
	Deleted           bool       `json:"deleted"`
	DeletedAt         *time.Time `json:"deleted_at,omitempty"`
	EditedAt          *time.Time `json:"edited_at,omitempty"`
	ProviderMessageID string     `json:"provider_message_id"`
	ReplyTo           string     `json:"reply_to,omitempty"`
	Reactions         []Reaction `json:"reactions,omitempty"`
	// PossibleDuplicate: an attempt to send it was cut short (a crash, a
	// timeout) on a channel that cannot confirm what went out, so it was
	// sent again and the user may have received it twice.
	PossibleDuplicate bool `json:"possible_duplicate,omitempty"`
	// Private: a note an agent wrote for the other agents (status
	// internal); it is never sent to the contact.
	Private   bool      `json:"private"`
	CreatedAt time.Time `json:"created_at"`
	// Handled: an inbound message that has been routed and answered.
	Handled bool `json:"-"`
}

// Content types.
const (
	Text         = "text"
	Image        = "image"
	Audio        = "audio"
	Video        = "video"
	File         = "file"
	StoryMention = "story_mention"
	StoryReply   = "story_reply"
	Share        = "share"
	ReactionType = "reaction"
	QuickReplies = "quick_replies"
	Select       = "select"
	OptionList   = "option_list"
	Unsupported  = "unsupported"
)

// Option is one choice of a quick-replies, select or option-list component.
type Option struct {
	Title   string `json:"title"`
	Payload string `json:"payload,omitempty"`
}

// Content is one piece of a message: a tagged union on Type.
type Content struct {
	Type         string          `json:"type"`
	Text         string          `json:"text,omitempty"`
	URL          string          `json:"url,omitempty"`
	MimeType     string          `json:"mime_type,omitempty"`
	Name         string          `json:"name,omitempty"`
	Caption      string          `json:"caption,omitempty"`
	Title        string          `json:"title,omitempty"`
	Payload      string          `json:"payload,omitempty"`
	StoryID      string          `json:"story_id,omitempty"`
	Emoji        string          `json:"emoji,omitempty"`
	Mid          string          `json:"mid,omitempty"`
	Options      []Option        `json:"options,omitempty"`
	OriginalType string          `json:"original_type,omitempty"`
	Raw          json.RawMessage `json:"raw,omitempty"`
}

// IsComponent reports whether c is an interactive reply component (quick
// replies, select, option list) that some channels must receive as text.
func (c *Content) IsComponent() bool {
	return c.Type == QuickReplies || c.Type == Select || c.Type == OptionList
}

// Event kinds reported by channels (see plugins/sdk for their meaning).
const (
	EventMessage    = "message"
	EventEcho       = "echo"
	EventUnsend     = "unsend"
	EventEdit       = "edit"
	EventReaction   = "reaction"
	EventUnreaction = "unreaction"
	EventStatus     = "status"
	EventRead       = "read"
	EventReferral   = "referral"
	EventIgnored    = "ignored"
)

// Event is a normalized webhook event, as stored in the inbox.
type Event struct {
	Kind             string          `json:"kind"`
	DedupeKey        string          `json:"dedupe_key"`
	Integration      string          `json:"integration"`
	ContactID        string          `json:"contact_id,omitempty"`
	ContactUsername  string          `json:"contact_username,omitempty"`
	ContactName      string          `json:"contact_name,omitempty"`
	ContactAvatarURL string          `json:"contact_avatar_url,omitempty"`
	MessageID        string          `json:"message_id,omitempty"`
	Timestamp        time.Time       `json:"timestamp"`
	Contents         []Content       `json:"contents,omitempty"`
	ReplyTo          string          `json:"reply_to,omitempty"`
	Status           string          `json:"status,omitempty"`
	ErrorCode        string          `json:"error_code,omitempty"`
	ErrorMessage     string          `json:"error_message,omitempty"`
	AccountID        string          `json:"account_id,omitempty"`
	Note             string          `json:"note,omitempty"`
	Passive          bool            `json:"passive,omitempty"` // record only: neither route nor answer
	Raw              json.RawMessage `json:"-"`
}

// Agent roles and statuses.
const (
	RoleAdmin = "admin"
	RoleAgent = "agent"

	AgentAvailable = "available"
	AgentPaused    = "paused"
	AgentOffline   = "offline"
)

// DefaultMaxChats is how many conversations an agent handles at once unless
// told otherwise.
const DefaultMaxChats = 8

// Agent is a person who logs in to the console: an operator (admin) or an
// agent who answers conversations.
type Agent struct {
	ID             string    `json:"id"`
	Login          string    `json:"login"`
	Name           string    `json:"name"`
	Role           string    `json:"role"`
	Squads         []string  `json:"squads"`
	MaxChats       int       `json:"max_chats"`
	Status         string    `json:"status"`
	StatusAt       time.Time `json:"status_at"`
	LastAssignedAt time.Time `json:"-"`
	OpenChats      int       `json:"open_chats"`
	// Active is false once an admin deactivated the agent: they cannot
	// sign in, and no conversation reaches them.
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
}

// CannedResponse is a reply agents insert by its shortcut ("/hours").
type CannedResponse struct {
	ID       int64  `json:"id"`
	Shortcut string `json:"shortcut"`
	Text     string `json:"text"`
	// Squad is the squad whose agents see it; empty: everyone.
	Squad     string    `json:"squad"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SystemNote is a line of the transcript agents read (the conversation was
// handed off, assigned, transferred, ended); it is never sent.
func SystemNote(c *Conversation, text string) *Message {
	return &Message{Conversation: c.ID, Integration: c.Integration, Direction: DirectionOut, Author: AuthorSystem,
		Status: StatusInternal, Contents: []Content{{Type: Text, Text: text}}}
}

// AgentName is how the transcript names an agent: the name, else the login.
func AgentName(a *Agent) string {
	if a.Name != "" {
		return a.Name
	}
	return a.ID
}
