package pluginhost

import (
	"strings"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/plugins/proto"
)

func TestChannelInfoFromProto(t *testing.T) {
	info := channelInfoFromProto(&proto.ChannelInfo{
		Name: "x", MaxQuickReplies: 13, UrlSettings: []string{"api_url"},
		Settings: []*proto.SettingField{
			{Name: "region", Label: "Region", Type: "select", Required: true, Choices: []string{"eu"}, ChoiceLabels: []string{"Europe"}},
			{Name: "notes", Type: "textarea"}, // a kind no form draws: typed in
			{Name: "plain"},
			{Label: "nameless"}, // nothing a form could save
		},
	})
	var got []string
	for _, f := range info.Settings {
		got = append(got, f.Name+":"+f.Type)
	}
	if strings.Join(got, " ") != "region:select notes:string plain:string" {
		t.Errorf("Settings = %v, want region:select notes:string plain:string", got)
	}
	if f := info.Settings[0]; !f.Required || f.Label != "Region" || f.ChoiceLabels[0] != "Europe" {
		t.Errorf("region = %+v, want it as published", f)
	}
	if info.MaxQuickReplies != 13 || info.URLSettings[0] != "api_url" {
		t.Errorf("info = %+v, want the limits and URL settings carried", info)
	}
	if empty := channelInfoFromProto(nil); empty == nil || len(empty.Settings) != 0 {
		t.Errorf("channelInfoFromProto(nil) = %+v, want an empty description", empty)
	}
}

// Optional messages a plugin in another language may leave out read as
// their zero values, never as a crash of the host.
func TestResponsesFromProtoWithMessagesLeftOut(t *testing.T) {
	if r := sendResponseFromProto(nil); r.Error != nil || len(r.MessageIDs) != 0 {
		t.Errorf("sendResponseFromProto(nil) = %+v, want sent with nothing", r)
	}
	r := sendResponseFromProto(&proto.SendResponse{
		Error:     &proto.SendError{Code: "slow", Retryable: true, RetryAfterMs: 1500},
		Exchanges: []*proto.HttpExchange{nil, {Method: "POST", Status: 200, RequestHeaders: []*proto.Header{{Name: "A", Value: "b"}}}},
	})
	if r.Error == nil || r.Error.RetryAfter != 1500*time.Millisecond || len(r.Exchanges) != 1 || r.Exchanges[0].RequestHeaders[0].Value != "b" {
		t.Errorf("sendResponseFromProto = %+v, want the error's delay and the one exchange", r)
	}
	if w := webhookResponseFromProto(&proto.WebhookResponse{Authenticated: true, Events: []*proto.Event{nil,
		{Kind: "message", Raw: []byte("not json"), Contents: []*proto.Content{{Type: "text", Raw: []byte(`{"a":1}`)}}}}}); len(w.Events) != 1 ||
		w.Events[0].Raw != nil || string(w.Events[0].Contents[0].Raw) != `{"a":1}` {
		t.Errorf("webhookResponseFromProto = %+v, want one event, its invalid raw dropped and its content's kept", w)
	}
	if ps := problemsFromProto(&proto.ValidateSettingsResponse{Problems: []*proto.SettingsProblem{nil, {Field: "a", Message: "b"}}}); len(ps) != 1 || ps[0] != (SettingsProblem{"a", "b"}) {
		t.Errorf("problemsFromProto = %v, want [{a b}]", ps)
	}
}

func TestSendRequestToProto(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123)
	p := sendRequestToProto(&SendRequest{
		Integration: &Integration{ID: "ig", SettingsJSON: []byte(`{}`)},
		Contact:     &model.Contact{ChannelUserID: "u1", Username: "ana", LastInboundAt: at},
		Contents:    []model.Content{{Type: "quick_replies", Text: "Pick", Options: []model.Option{{Title: "A"}}, Raw: []byte(`{"x":1}`)}},
		AuthorKind:  "agent", Now: at,
	})
	if p.GetIntegration().GetId() != "ig" || p.GetContact().GetId() != "u1" || p.GetContact().GetLastInboundMs() != at.UnixMilli() || p.GetNowMs() != at.UnixMilli() {
		t.Errorf("sendRequestToProto = %v, want the integration, the contact's channel id and the times in ms", p)
	}
	if c := p.GetContents()[0]; c.GetOptions()[0].GetTitle() != "A" || c.GetRaw() != nil {
		t.Errorf("content = %v, want its options and no raw (an inbound record is no send instruction)", c)
	}
	if z := sendRequestToProto(&SendRequest{Contact: &model.Contact{}}); z.GetNowMs() != 0 || z.GetContact().GetLastInboundMs() != 0 {
		t.Errorf("zero times = %v, want 0 (never), not a negative epoch", z)
	}
}
