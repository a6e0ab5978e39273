package pluginhost

import (
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/plugins/proto"
)

// The only place protobuf messages become Go values and back. Getters
// everywhere: a plugin in another language may leave any message out.
//
// A reply's bytes fields are taken as they are, not copied: every reply is
// a message gRPC has just decoded for this call alone, and nothing else
// holds it.

// fieldTypes are the SettingField types a form knows how to draw.
var fieldTypes = map[string]bool{"string": true, "secret": true, "url": true, "number": true, "bool": true, "select": true}

func channelInfoFromProto(p *proto.ChannelInfo) *ChannelInfo {
	if p == nil {
		return &ChannelInfo{}
	}
	info := &ChannelInfo{
		Name: p.GetName(), Version: p.GetVersion(),
		InboundTypes: p.GetInboundTypes(), OutboundTypes: p.GetOutboundTypes(),
		MaxQuickReplies: int(p.GetMaxQuickReplies()), MaxQuickReplyTitle: int(p.GetMaxQuickReplyTitle()),
		SecretSettings: p.GetSecretSettings(), GeneratedSettings: p.GetGeneratedSettings(),
		WebhookHeaders: p.GetWebhookHeaders(), WebhookFields: p.GetWebhookFields(),
		AccountSetting: p.GetAccountSetting(), RequiredSettings: p.GetRequiredSettings(),
		EchoesSends: p.GetEchoesSends(), URLSettings: p.GetUrlSettings(),
	}
	for _, f := range p.GetSettings() {
		if f.GetName() == "" {
			continue // nothing a form could save
		}
		typ := f.GetType()
		if !fieldTypes[typ] {
			typ = "string" // a kind this host cannot draw is typed in as text
		}
		info.Settings = append(info.Settings, SettingField{Name: f.GetName(), Label: f.GetLabel(), Type: typ,
			Required: f.GetRequired(), Help: f.GetHelp(), Placeholder: f.GetPlaceholder(),
			Choices: f.GetChoices(), ChoiceLabels: f.GetChoiceLabels()})
	}
	return info
}

func assistantInfoFromProto(p *proto.AssistantInfo) *AssistantInfo {
	return &AssistantInfo{Name: p.GetName(), Version: p.GetVersion(), InboundTypes: p.GetInboundTypes()}
}

func integrationToProto(in *Integration) *proto.Integration {
	if in == nil {
		return nil
	}
	return &proto.Integration{Id: in.ID, SettingsJson: in.SettingsJSON}
}

func integrationsToProto(ins []*Integration) []*proto.Integration {
	out := make([]*proto.Integration, len(ins))
	for i, in := range ins {
		out[i] = integrationToProto(in)
	}
	return out
}

func headersToProto(hs []Header) []*proto.Header {
	if len(hs) == 0 {
		return nil
	}
	out := make([]*proto.Header, len(hs))
	all := make([]proto.Header, len(hs)) // one allocation for a request's headers
	for i, h := range hs {
		all[i].Name, all[i].Value = h.Name, h.Value
		out[i] = &all[i]
	}
	return out
}

func headersFromProto(hs []*proto.Header) []Header {
	if len(hs) == 0 {
		return nil
	}
	out := make([]Header, len(hs))
	for i, h := range hs {
		out[i] = Header{Name: h.GetName(), Value: h.GetValue()}
	}
	return out
}

func webhookRequestToProto(r *WebhookRequest) *proto.WebhookRequest {
	return &proto.WebhookRequest{Integrations: integrationsToProto(r.Integrations), Method: r.Method,
		Path: r.Path, Query: r.Query, Headers: headersToProto(r.Headers), Body: r.Body}
}

func webhookResponseFromProto(p *proto.WebhookResponse) *WebhookResponse {
	r := &WebhookResponse{Authenticated: p.GetAuthenticated(), Malformed: p.GetMalformed(), Status: int(p.GetStatus()),
		Body: p.GetBody(), ContentType: p.GetContentType(), Error: p.GetError()}
	for _, e := range p.GetEvents() {
		if e != nil {
			r.Events = append(r.Events, eventFromProto(e))
		}
	}
	return r
}

func eventFromProto(p *proto.Event) *model.Event {
	ev := &model.Event{
		Kind: p.Kind, DedupeKey: p.DedupeKey, Integration: p.Integration, ContactID: p.ContactId,
		ContactUsername: p.ContactUsername, ContactName: p.ContactName, ContactAvatarURL: p.ContactAvatarUrl,
		MessageID: p.MessageId, ReplyTo: p.ReplyTo, Status: p.Status, ErrorCode: p.ErrorCode,
		ErrorMessage: p.ErrorMessage, AccountID: p.AccountId, Note: p.Note, Passive: p.Passive,
	}
	if p.TimestampMs > 0 {
		ev.Timestamp = time.UnixMilli(p.TimestampMs).UTC()
	}
	for _, c := range p.Contents {
		ev.Contents = append(ev.Contents, contentFromProto(c))
	}
	if validJSON(p.Raw) {
		ev.Raw = p.Raw
	}
	return ev
}

func contentFromProto(p *proto.Content) model.Content {
	c := model.Content{
		Type: p.GetType(), Text: p.GetText(), URL: p.GetUrl(), MimeType: p.GetMimeType(), Name: p.GetName(),
		Caption: p.GetCaption(), Title: p.GetTitle(), Payload: p.GetPayload(), StoryID: p.GetStoryId(),
		Emoji: p.GetEmoji(), Mid: p.GetMid(), OriginalType: p.GetOriginalType(),
	}
	for _, o := range p.GetOptions() {
		c.Options = append(c.Options, model.Option{Title: o.GetTitle(), Payload: o.GetPayload()})
	}
	if raw := p.GetRaw(); validJSON(raw) {
		c.Raw = raw
	}
	return c
}

func contentsFromProto(ps []*proto.Content) []model.Content {
	var out []model.Content
	for _, p := range ps {
		out = append(out, contentFromProto(p))
	}
	return out
}

// contentToProto leaves Raw out: a provider's record of an inbound piece
// is no instruction for a send.
func contentToProto(c model.Content) *proto.Content {
	p := &proto.Content{
		Type: c.Type, Text: c.Text, Url: c.URL, MimeType: c.MimeType, Name: c.Name, Caption: c.Caption,
		Title: c.Title, Payload: c.Payload, StoryId: c.StoryID, Emoji: c.Emoji, Mid: c.Mid,
		OriginalType: c.OriginalType,
	}
	for _, o := range c.Options {
		p.Options = append(p.Options, &proto.Option{Title: o.Title, Payload: o.Payload})
	}
	return p
}

func contentsToProto(cs []model.Content) []*proto.Content {
	out := make([]*proto.Content, len(cs))
	for i, c := range cs {
		out[i] = contentToProto(c)
	}
	return out
}

func contactToProto(c *model.Contact) *proto.Contact {
	if c == nil {
		return nil
	}
	return &proto.Contact{Id: c.ChannelUserID, Username: c.Username, Name: c.Name, LastInboundMs: msOf(c.LastInboundAt)}
}

func msOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func sendRequestToProto(r *SendRequest) *proto.SendRequest {
	return &proto.SendRequest{Integration: integrationToProto(r.Integration), Contact: contactToProto(r.Contact),
		Contents: contentsToProto(r.Contents), AuthorKind: r.AuthorKind, ReplyTo: r.ReplyTo,
		IdempotencyKey: r.IdempotencyKey, NowMs: msOf(r.Now)}
}

func sendErrorFromProto(p *proto.SendError) *SendError {
	if p == nil {
		return nil
	}
	return &SendError{Code: p.GetCode(), Message: p.GetMessage(), Retryable: p.GetRetryable(),
		RetryAfter: time.Duration(p.GetRetryAfterMs()) * time.Millisecond, Reauthorize: p.GetReauthorize(),
		UnknownOutcome: p.GetUnknownOutcome(), Refused: p.GetRefused()}
}

func sendResponseFromProto(p *proto.SendResponse) *SendResponse {
	r := &SendResponse{MessageIDs: p.GetMessageIds(), Error: sendErrorFromProto(p.GetError())}
	for _, x := range p.GetExchanges() {
		if x == nil {
			continue
		}
		r.Exchanges = append(r.Exchanges, HTTPExchange{Method: x.GetMethod(), URL: x.GetUrl(),
			RequestHeaders: headersFromProto(x.GetRequestHeaders()), RequestBody: x.GetRequestBody(),
			Status: int(x.GetStatus()), ResponseHeaders: headersFromProto(x.GetResponseHeaders()),
			ResponseBody: x.GetResponseBody(), LatencyMS: x.GetLatencyMs(), Error: x.GetError(),
			RequestTruncated: x.GetRequestTruncated(), ResponseTruncated: x.GetResponseTruncated()})
	}
	return r
}

func actionRequestToProto(r *ActionRequest) *proto.ActionRequest {
	return &proto.ActionRequest{Integration: integrationToProto(r.Integration), Contact: contactToProto(r.Contact),
		Action: r.Action, NowMs: msOf(r.Now)}
}

func actionResponseFromProto(p *proto.ActionResponse) *ActionResponse {
	return &ActionResponse{Unsupported: p.GetUnsupported(), Error: sendErrorFromProto(p.GetError())}
}

func profileRequestToProto(r *ProfileRequest) *proto.ProfileRequest {
	return &proto.ProfileRequest{Integration: integrationToProto(r.Integration), ContactId: r.ContactID}
}

func profileResponseFromProto(p *proto.ProfileResponse) *ProfileResponse {
	return &ProfileResponse{Username: p.GetUsername(), Name: p.GetName(), AvatarURL: p.GetAvatarUrl(),
		ErrorCode: p.GetErrorCode(), ErrorMessage: p.GetErrorMessage(), Retryable: p.GetRetryable()}
}

func problemsFromProto(p *proto.ValidateSettingsResponse) []SettingsProblem {
	var out []SettingsProblem
	for _, pr := range p.GetProblems() {
		if pr == nil {
			continue
		}
		out = append(out, SettingsProblem{Field: pr.GetField(), Message: pr.GetMessage()})
	}
	return out
}

func converseRequestToProto(r *ConverseRequest) *proto.ConverseRequest {
	return &proto.ConverseRequest{SettingsJson: r.SettingsJSON, AssistantId: r.AssistantID,
		IntegrationId: r.IntegrationID, ConversationId: r.ConversationID, Contact: contactToProto(r.Contact),
		Session: r.Session, Contents: contentsToProto(r.Contents), Channel: r.Channel}
}

func converseResponseFromProto(p *proto.ConverseResponse) *ConverseResponse {
	return &ConverseResponse{Replies: contentsFromProto(p.GetReplies()), Session: p.GetSession(),
		Intent: p.GetIntent(), Confidence: p.GetConfidence(), Handoff: p.GetHandoff(), End: p.GetEnd(),
		Squad: p.GetSquad()}
}
