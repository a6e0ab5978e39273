package pluginhost

import (
	"context"
	"time"

	"github.com/conversa/conversa/core/model"
)

// The plugin contract as the rest of Conversa sees it: Go types, with core
// model types where they fit. Protobuf stays inside this package (see
// convert.go), so a change of the wire format touches the adapter only, and
// the engine's tests fake these interfaces without building messages.

// Channel is a channel plugin (plugins/sdk.Channel and its optional
// parts, each answered as "no objection" when the plugin lacks it).
type Channel interface {
	Describe(ctx context.Context) (*ChannelInfo, error)
	HandleWebhook(ctx context.Context, req *WebhookRequest) (*WebhookResponse, error)
	Send(ctx context.Context, req *SendRequest) (*SendResponse, error)
	Profile(ctx context.Context, req *ProfileRequest) (*ProfileResponse, error)
	// CheckSend answers as Send would, without calling the provider; a
	// channel that cannot check raises no objection.
	CheckSend(ctx context.Context, req *SendRequest) (*SendResponse, error)
	// Action is Unsupported on a channel without actions.
	Action(ctx context.Context, req *ActionRequest) (*ActionResponse, error)
	// ValidateSettings lists what is wrong with an integration's settings
	// as they would be saved; a channel that cannot validate finds nothing.
	ValidateSettings(ctx context.Context, in *Integration) ([]SettingsProblem, error)
}

// Assistant is an assistant (NLU) plugin.
type Assistant interface {
	Describe(ctx context.Context) (*AssistantInfo, error)
	Converse(ctx context.Context, req *ConverseRequest) (*ConverseResponse, error)
}

// ChannelInfo is what a channel says of itself (see conversa.proto for
// each field's meaning).
type ChannelInfo struct {
	Name, Version      string
	InboundTypes       []string
	OutboundTypes      []string
	MaxQuickReplies    int
	MaxQuickReplyTitle int
	SecretSettings     []string
	GeneratedSettings  []string
	// WebhookHeaders and WebhookFields map what the operator sees (a
	// header name, a JSON name) to a setting.
	WebhookHeaders   map[string]string
	WebhookFields    map[string]string
	AccountSetting   string
	RequiredSettings []string
	EchoesSends      bool
	URLSettings      []string
	// Settings is the channel's form, in order; empty when it publishes
	// none.
	Settings []SettingField
}

// SettingField is one setting of a channel as a form shows it.
type SettingField struct {
	Name        string   `json:"name"`
	Label       string   `json:"label"`
	Type        string   `json:"type"` // string, secret, url, number, bool or select
	Required    bool     `json:"required,omitempty"`
	Help        string   `json:"help,omitempty"`
	Placeholder string   `json:"placeholder,omitempty"`
	Choices     []string `json:"choices,omitempty"`
	// ChoiceLabels is what the form shows for each choice (same order).
	ChoiceLabels []string `json:"choice_labels,omitempty"`
}

// SettingsProblem is one thing wrong with an integration's settings. Field
// is the setting's key; empty for the settings as a whole.
type SettingsProblem struct {
	Field   string
	Message string
}

// Integration is an integration as its channel receives it.
type Integration struct {
	ID string
	// SettingsJSON is the channel settings as a JSON object.
	SettingsJSON []byte
}

// Header is one HTTP header value.
type Header struct{ Name, Value string }

// WebhookRequest is a webhook for a channel to verify and parse.
type WebhookRequest struct {
	// The integration the URL names, first; then the other enabled
	// integrations of the channel.
	Integrations []*Integration
	Method       string
	Path         string
	Query        string // raw, without '?'
	Headers      []Header
	Body         []byte
}

// WebhookResponse is the channel's verdict on a webhook and its events.
type WebhookResponse struct {
	Authenticated bool
	Malformed     bool
	Status        int // 0 means 200
	Body          []byte
	ContentType   string
	Events        []*model.Event
	Error         string
}

// SendRequest is a message for a channel to send (or, for CheckSend, to
// judge).
type SendRequest struct {
	Integration    *Integration
	Contact        *model.Contact
	Contents       []model.Content
	AuthorKind     string // assistant, agent, system
	ReplyTo        string
	IdempotencyKey string
	Now            time.Time
}

// SendError is why a send failed (see conversa.proto).
type SendError struct {
	Code, Message  string
	Retryable      bool
	RetryAfter     time.Duration
	Reauthorize    bool
	UnknownOutcome bool
	Refused        bool
}

// SendResponse is the outcome of a send.
type SendResponse struct {
	MessageIDs []string
	Error      *SendError // nil: sent
	Exchanges  []HTTPExchange
}

// HTTPExchange is one HTTP call the plugin made to its provider, as it
// reported it (redacted by the plugin; the host redacts again).
type HTTPExchange struct {
	Method            string
	URL               string
	RequestHeaders    []Header
	RequestBody       []byte
	Status            int // 0: no answer came
	ResponseHeaders   []Header
	ResponseBody      []byte
	LatencyMS         int64
	Error             string
	RequestTruncated  bool
	ResponseTruncated bool
}

// ActionRequest asks a channel to show the contact an action (typing_on,
// typing_off, mark_seen).
type ActionRequest struct {
	Integration *Integration
	Contact     *model.Contact
	Action      string
	Now         time.Time
}

// ActionResponse is the outcome of an action.
type ActionResponse struct {
	Unsupported bool
	Error       *SendError
}

// ProfileRequest asks for a contact's profile.
type ProfileRequest struct {
	Integration *Integration
	ContactID   string
}

// ProfileResponse is a contact's profile, or why it could not be read.
type ProfileResponse struct {
	Username, Name, AvatarURL string
	ErrorCode, ErrorMessage   string
	Retryable                 bool
}

// AssistantInfo is what an assistant says of itself.
type AssistantInfo struct {
	Name, Version string
	// InboundTypes narrows the channel's; empty: whatever it serves.
	InboundTypes []string
}

// ConverseRequest is a turn for an assistant to answer.
type ConverseRequest struct {
	SettingsJSON   []byte
	AssistantID    string
	IntegrationID  string
	ConversationID string
	Contact        *model.Contact
	Session        []byte
	Contents       []model.Content
	Channel        string
}

// ConverseResponse is an assistant's answer.
type ConverseResponse struct {
	Replies    []model.Content
	Session    []byte
	Intent     string
	Confidence float64
	Handoff    bool
	End        bool
	Squad      string
}
