package zenvia

import (
	"context"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// Name is the channel's plugin name (an integration's `channel`).
const Name = "zenvia"

// Version is the plugin's version, reported by Describe.
const Version = "1.0.0"

// New returns the Zenvia channel. The options are the SDK's: tests point
// sdk.WithHTTPClient at a fake Zenvia and move sdk.WithClock.
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
		Settings:         settingsSchema,
	}, nil
}

// ValidateSettings checks the settings' form when an operator saves an
// integration, without calling Zenvia.
func (c *channel) ValidateSettings(_ context.Context, req *proto.ValidateSettingsRequest) (*proto.ValidateSettingsResponse, error) {
	return validate(req.GetIntegration().GetSettingsJson()).Response(), nil
}

// settingsSchema is the integration form, in the order an operator fills
// it in.
var settingsSchema = []*proto.SettingField{
	{Name: settingSenderID, Label: "Sender ID", Required: true,
		Help: "Identifies your Instagram account at Zenvia (the sender of the Instagram channel in Zenvia’s console)."},
	{Name: settingAPIToken, Label: "API token", Type: sdk.FieldSecret, Required: true,
		Help: "Zenvia API token: authenticates Conversa’s calls to Zenvia."},
	{Name: settingAPIURL, Label: "API URL", Type: sdk.FieldURL, Placeholder: DefaultAPIURL,
		Help: "Leave blank for Zenvia’s API."},
	{Name: settingWebhookUsername, Label: "Webhook username",
		Help: "Leave blank to generate one. Zenvia sends it in the Username header."},
	{Name: settingWebhookToken, Label: "Webhook token", Type: sdk.FieldSecret,
		Help: "Leave blank to generate one. Zenvia sends it in the AuthenticationToken header."},
}

var _ sdk.SettingsValidator = (*channel)(nil)

// Profile always fails: Zenvia has no profile API, and the contact's name,
// username and picture come with every message (visitor).
func (c *channel) Profile(context.Context, *proto.ProfileRequest) (*proto.ProfileResponse, error) {
	return &proto.ProfileResponse{
		ErrorCode:    "unsupported",
		ErrorMessage: "Zenvia has no profile API; names arrive with each message",
		Retryable:    false,
	}, nil
}
