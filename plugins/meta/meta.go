package meta

import (
	"context"

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

// New returns the Meta channel. The options are the SDK's: tests point
// sdk.WithHTTPClient at a fake Graph API and move sdk.WithClock.
func New(opts ...sdk.ChannelOption) sdk.Channel {
	return &channel{ChannelBase: sdk.NewChannelBase(opts...)}
}

type channel struct {
	sdk.ChannelBase
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
		Settings:    settingsSchema,
	}, nil
}

// ValidateSettings checks the settings' form when an operator saves an
// integration, without calling Meta.
func (c *channel) ValidateSettings(_ context.Context, req *proto.ValidateSettingsRequest) (*proto.ValidateSettingsResponse, error) {
	return validate(req.GetIntegration().GetSettingsJson()).Response(), nil
}

// settingsSchema is the integration form, in the order an operator fills
// it in. The form asks for account_id although the API does not: an
// integration without one gets only the events that reach its own webhook
// URL and that no other integration's account_id claims.
var settingsSchema = []*proto.SettingField{
	{Name: settingAccountID, Label: "Instagram account ID", Required: true,
		Help: "The professional account id that Meta’s webhooks carry (entry.id)."},
	{Name: settingLogin, Label: "Login type", Type: sdk.FieldSelect,
		Choices:      []string{LoginInstagram, LoginFacebook},
		ChoiceLabels: []string{"Instagram Login (graph.instagram.com)", "Facebook Login (graph.facebook.com)"}},
	{Name: settingAccessToken, Label: "Access token", Type: sdk.FieldSecret, Required: true,
		Help: "Long-lived token with instagram_manage_messages (Instagram Login: instagram_business_manage_messages)."},
	{Name: settingAppSecret, Label: "App secret", Type: sdk.FieldSecret, Required: true,
		Help: "Checks the X-Hub-Signature-256 of every webhook."},
	{Name: settingVerifyToken, Label: "Verify token",
		Help: "Leave blank to generate one. Meta sends it when you save the callback URL."},
	{Name: settingGraphURL, Label: "Graph API URL", Type: sdk.FieldURL, Placeholder: DefaultInstagramGraphURL,
		Help: "Leave blank for the default of the login type."},
	{Name: settingAPIVersion, Label: "Graph API version", Placeholder: DefaultAPIVersion},
	{Name: settingHumanAgentTag, Type: sdk.FieldBool,
		Label: "Let human agents answer up to 7 days after the user’s last message (HUMAN_AGENT tag; your app needs Meta’s Human Agent permission)"},
}

var _ sdk.SettingsValidator = (*channel)(nil)
