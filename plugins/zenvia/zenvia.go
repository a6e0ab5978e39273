package zenvia

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// Name is the channel's plugin name (an integration's `channel`).
const Name = "zenvia"

// Version is the plugin's version, reported by Describe.
const Version = "1.0.0"

// Option changes how New builds the channel.
type Option func(*channel)

// WithHTTPClient makes Send use c instead of the built-in client (tests
// point it at a fake Zenvia; c should carry its own timeouts).
func WithHTTPClient(c *http.Client) Option {
	return func(ch *channel) { ch.http = c }
}

// WithClock replaces time.Now, for SendRequests that carry no now_ms.
func WithClock(now func() time.Time) Option {
	return func(ch *channel) { ch.now = now }
}

// WithLogger replaces the plugin's logger (sdk.Logger, whose lines the host
// re-emits in its own log).
func WithLogger(l *slog.Logger) Option {
	return func(ch *channel) { ch.log = l }
}

// New returns the Zenvia channel.
func New(opts ...Option) sdk.Channel {
	ch := &channel{http: sdk.NewHTTPClient(45 * time.Second), now: time.Now, log: sdk.Logger()}
	for _, o := range opts {
		o(ch)
	}
	// Whatever the client, its calls under sdk.RecordExchanges are kept.
	ch.http = sdk.RecordingClient(ch.http)
	return ch
}

type channel struct {
	http *http.Client
	now  func() time.Time
	log  *slog.Logger
}

func (c *channel) Describe(context.Context) (*proto.ChannelInfo, error) {
	return &proto.ChannelInfo{
		Name:    Name,
		Version: Version,
		// What Zenvia's NLU product serves on Instagram; anything else gets
		// the integration's unsupported-media reply.
		InboundTypes: []string{sdk.ContentText, sdk.ContentAudio, sdk.ContentVideo},
		// Quick replies, select and option lists are not listed: the host
		// turns them into text (text_conversion.lua) before Send.
		OutboundTypes:     []string{sdk.ContentText, sdk.ContentImage, sdk.ContentFile},
		SecretSettings:    []string{settingAPIToken, settingWebhookToken},
		GeneratedSettings: []string{settingWebhookUsername, settingWebhookToken},
		WebhookHeaders: map[string]string{
			headerUsername: settingWebhookUsername,
			headerToken:    settingWebhookToken,
		},
		RequiredSettings: []string{settingSenderID, settingAPIToken},
		UrlSettings:      []string{settingAPIURL},
	}, nil
}

// Profile always fails: Zenvia has no profile API, and the contact's name,
// username and picture come with every message (visitor).
func (c *channel) Profile(context.Context, *proto.ProfileRequest) (*proto.ProfileResponse, error) {
	return &proto.ProfileResponse{
		ErrorCode:    "unsupported",
		ErrorMessage: "Zenvia has no profile API; names arrive with each message",
		Retryable:    false,
	}, nil
}
