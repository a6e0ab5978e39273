package sdk

import (
	"context"

	"github.com/hashicorp/go-plugin"

	"github.com/conversa/conversa/plugins/proto"
)

// ProtocolVersion is the major version of the plugin wire contract. It changes
// only when plugins/proto changes incompatibly.
const ProtocolVersion = 1

// Handshake is shared by the host and every plugin. The cookie is a guard
// against running a plugin binary by hand, not a security measure; never
// change it, or every existing plugin stops loading.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "CONVERSA_PLUGIN",
	MagicCookieValue: "5b0c9f4e-conversa-plugin",
}

// Plugin kinds, which are also the keys of the go-plugin PluginSet.
const (
	KindInfo      = "info"
	KindChannel   = "channel"
	KindAssistant = "assistant"
)

// Channel adapts one messaging provider: it verifies and parses webhooks into
// normalized events, sends outbound messages and looks up user profiles.
type Channel interface {
	Describe(ctx context.Context) (*proto.ChannelInfo, error)
	HandleWebhook(ctx context.Context, req *proto.WebhookRequest) (*proto.WebhookResponse, error)
	Send(ctx context.Context, req *proto.SendRequest) (*proto.SendResponse, error)
	Profile(ctx context.Context, req *proto.ProfileRequest) (*proto.ProfileResponse, error)
}

// SendChecker is optionally implemented by a Channel: CheckSend answers as
// Send would (refused or not) without calling the provider. The host asks it
// before accepting an agent's reply, so the agent learns at once that the
// messaging window is closed. A channel without it raises no objection.
type SendChecker interface {
	CheckSend(ctx context.Context, req *proto.SendRequest) (*proto.SendResponse, error)
}

// ActionSender is optionally implemented by a Channel: Action shows the
// contact that the business is typing, or has seen their messages, where
// the provider has that (see the Action* constants). The host calls it best
// effort, a few times a minute at most per conversation, and only within
// the messaging window. A channel without it has no such actions; one that
// lacks a particular action answers ActionResponse.unsupported.
type ActionSender interface {
	Action(ctx context.Context, req *proto.ActionRequest) (*proto.ActionResponse, error)
}

// SettingsValidator is optionally implemented by a Channel: ValidateSettings
// checks an integration's settings when an operator creates or changes it,
// and the host refuses to save settings with problems, showing each under
// its field. It checks the settings' form only (never calls the provider
// with them). A channel without it raises no objection.
type SettingsValidator interface {
	ValidateSettings(ctx context.Context, req *proto.ValidateSettingsRequest) (*proto.ValidateSettingsResponse, error)
}

// Actions a channel may show the contact (ActionRequest.action).
const (
	ActionTypingOn  = "typing_on"
	ActionTypingOff = "typing_off"
	ActionMarkSeen  = "mark_seen"
)

// Assistant is an NLU backend: given what the user sent and the session it
// returned last time, it answers with reply components.
type Assistant interface {
	Describe(ctx context.Context) (*proto.AssistantInfo, error)
	Converse(ctx context.Context, req *proto.ConverseRequest) (*proto.ConverseResponse, error)
}

// Content types, in both directions.
const (
	ContentText         = "text"
	ContentImage        = "image"
	ContentAudio        = "audio"
	ContentVideo        = "video"
	ContentFile         = "file"
	ContentStoryMention = "story_mention"
	ContentStoryReply   = "story_reply"
	ContentShare        = "share"
	ContentReaction     = "reaction"
	ContentQuickReplies = "quick_replies"
	ContentSelect       = "select"
	ContentOptionList   = "option_list"
	ContentUnsupported  = "unsupported"
)

// Event kinds a channel reports.
const (
	// A new message from the user.
	EventMessage = "message"
	// A message the business sent, echoed back by the provider: our own sends
	// (matched by id) or messages typed in the provider's app.
	EventEcho = "echo"
	// The user unsent a message.
	EventUnsend = "unsend"
	// The user edited a message (contents carry the new text).
	EventEdit = "edit"
	// A reaction added to a message; contents[0] is the reaction.
	EventReaction = "reaction"
	// A reaction removed.
	EventUnreaction = "unreaction"
	// Delivery status of an outbound message.
	EventStatus = "status"
	// The user saw the conversation up to message_id.
	EventRead = "read"
	// The user re-opened the thread through a link or an ad (reopens the
	// messaging window).
	EventReferral = "referral"
	// Understood and deliberately not acted on; kept in the inbox.
	EventIgnored = "ignored"
)

// Delivery statuses carried by EventStatus.
const (
	StatusSent      = "sent"
	StatusDelivered = "delivered"
	StatusRead      = "read"
	StatusFailed    = "failed"
)

// Author kinds of outbound messages (SendRequest.author_kind).
const (
	AuthorAssistant = "assistant"
	AuthorAgent     = "agent"
	AuthorSystem    = "system"
)
