package meta

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// actionBody is a sender action: Meta takes nothing else in its body.
type actionBody struct {
	Recipient    recipient `json:"recipient"`
	SenderAction string    `json:"sender_action"`
}

// Action shows the user "typing" or marks their messages seen: POST
// me/messages with a sender_action, authenticated as sends are, and only
// within the 24-hour window (Meta refuses them after it).
func (c *channel) Action(ctx context.Context, req *proto.ActionRequest) (*proto.ActionResponse, error) {
	switch req.GetAction() {
	case sdk.ActionTypingOn, sdk.ActionTypingOff, sdk.ActionMarkSeen:
	default:
		return &proto.ActionResponse{Unsupported: true}, nil
	}
	s, problems := graphSettings(req.GetIntegration().GetSettingsJson())
	if refusal := problems.Refusal(); refusal != nil {
		return &proto.ActionResponse{Error: refusal}, nil
	}
	to := strings.TrimSpace(req.GetContact().GetId())
	if to == "" {
		return &proto.ActionResponse{Error: refusedErr("no_recipient", "the contact has no Instagram id")}, nil
	}
	now := c.Now(req.GetNowMs()).UnixMilli()
	last := req.GetContact().GetLastInboundMs()
	if last <= 0 || time.Duration(now-last)*time.Millisecond >= standardWindow {
		return &proto.ActionResponse{Error: refusedErr("outside_window",
			"sender actions go only within 24 hours of the user's last message")}, nil
	}
	b, err := json.Marshal(actionBody{Recipient: recipient{ID: to}, SenderAction: req.GetAction()})
	if err != nil {
		return &proto.ActionResponse{Error: &proto.SendError{Code: "encode", Message: err.Error()}}, nil
	}
	r := c.graph(ctx, s, http.MethodPost, "me/messages", nil, b)
	if r.err != nil {
		return &proto.ActionResponse{Error: transportError(r)}, nil
	}
	ge, hasErr := parseGraphError(r.body)
	switch {
	case r.status >= 200 && r.status < 300 && !hasErr:
		return &proto.ActionResponse{}, nil
	case !hasErr:
		return &proto.ActionResponse{Error: httpError(r, c.Now(0))}, nil
	}
	serr := &proto.SendError{Code: ge.codeString(), Message: truncate(ge.Message, 500)}
	if ge.class(r.status) == classReauthorize {
		serr.Reauthorize = true
	}
	return &proto.ActionResponse{Error: serr}, nil
}

var _ sdk.ActionSender = (*channel)(nil)
