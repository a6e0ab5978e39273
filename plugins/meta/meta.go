package meta

import (
	"context"
	"net/http"
	"time"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// Name is the channel's plugin name (an integration's `channel`).
const Name = "meta"

// Version is the plugin's version, reported by Describe.
const Version = "1.0.0"

// Instagram's limits on native quick replies.
const (
	maxQuickReplies     = 13
	maxQuickReplyTitle  = 20
	maxTextBytes        = 1000
	maxImagesPerMessage = 10
	// maxSendCalls bounds the Send API calls of one outbound message (its
	// text parts and media): more is refused before the first call. No
	// agent's message comes near it (the server caps those at 4,000
	// characters and 10 contents); it stops a huge reply from elsewhere (an
	// assistant, a script) from becoming hundreds of calls to one user.
	maxSendCalls = 50
)

// Option changes how New builds the channel.
type Option func(*channel)

// WithHTTPClient makes Send and Profile use c instead of the built-in client
// (tests point it at a fake Graph API; c should carry its own timeouts).
func WithHTTPClient(c *http.Client) Option {
	return func(ch *channel) { ch.http = c }
}

// WithClock replaces time.Now, for SendRequests that carry no now_ms.
func WithClock(now func() time.Time) Option {
	return func(ch *channel) { ch.now = now }
}

// New returns the Meta channel.
func New(opts ...Option) sdk.Channel {
	ch := &channel{http: sdk.NewHTTPClient(45 * time.Second), now: time.Now}
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
}

func (c *channel) Describe(context.Context) (*proto.ChannelInfo, error) {
	return &proto.ChannelInfo{
		Name:    Name,
		Version: Version,
		InboundTypes: []string{
			sdk.ContentText, sdk.ContentImage, sdk.ContentAudio, sdk.ContentVideo, sdk.ContentFile,
			sdk.ContentShare, sdk.ContentStoryMention, sdk.ContentStoryReply,
		},
		// Select and option lists are not listed: Instagram has no native
		// form for them, so the host turns them into text before Send.
		OutboundTypes: []string{
			sdk.ContentText, sdk.ContentImage, sdk.ContentAudio, sdk.ContentVideo, sdk.ContentFile,
			sdk.ContentQuickReplies,
		},
		MaxQuickReplies:    maxQuickReplies,
		MaxQuickReplyTitle: maxQuickReplyTitle,
		SecretSettings:     []string{settingAccessToken, settingAppSecret},
		GeneratedSettings:  []string{settingVerifyToken},
		WebhookFields:      map[string]string{settingVerifyToken: settingVerifyToken},
		AccountSetting:     settingAccountID,
		RequiredSettings:   []string{settingAccessToken, settingAppSecret},
		UrlSettings:        []string{settingGraphURL},
		// Meta delivers an echo (is_echo) of every message the account
		// sends, ours included.
		EchoesSends: true,
	}, nil
}
