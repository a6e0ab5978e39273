package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

var errNotChannel = errors.New("is not a channel plugin")
var errNotAssistant = errors.New("is not an assistant plugin")

// call runs one RPC, method, against the plugin's running process. Every
// error before the RPC is made implements NotAttempted; the error of the
// RPC itself does not. Only the RPC is timed (Options.ObserveCall), not the
// wait for a process to start.
func call[C, R any](ctx context.Context, s *supervisor, method string, client func(*process) (C, error), rpc func(C) (R, error)) (R, error) {
	var zero R
	p, err := s.acquire(ctx)
	if err != nil {
		return zero, err
	}
	c, err := client(p)
	if err != nil {
		return zero, err
	}
	start := time.Now()
	r, err := rpc(c)
	if observe := s.h.o.ObserveCall; observe != nil {
		observe(s.name, method, time.Since(start))
	}
	if err != nil {
		return zero, s.failed(p, err)
	}
	return r, nil
}

// channelCaller is a Channel over the named plugin's process: it speaks
// protobuf to the plugin and Go to the caller.
type channelCaller struct{ s *supervisor }

func (c channelCaller) client(p *process) (sdk.Channel, error) {
	if p.channel == nil {
		return nil, refusedError{fmt.Errorf("plugin %s %w", c.s.name, errNotChannel)}
	}
	return p.channel, nil
}

func (c channelCaller) Describe(ctx context.Context) (*ChannelInfo, error) {
	return call(ctx, c.s, "Describe", c.client, func(ch sdk.Channel) (*ChannelInfo, error) {
		info, err := ch.Describe(ctx)
		if err != nil {
			return nil, err
		}
		return channelInfoFromProto(info), nil
	})
}

func (c channelCaller) HandleWebhook(ctx context.Context, req *WebhookRequest) (*WebhookResponse, error) {
	return call(ctx, c.s, "HandleWebhook", c.client, func(ch sdk.Channel) (*WebhookResponse, error) {
		resp, err := ch.HandleWebhook(ctx, webhookRequestToProto(req))
		if err != nil {
			return nil, err
		}
		return webhookResponseFromProto(resp), nil
	})
}

func (c channelCaller) Send(ctx context.Context, req *SendRequest) (*SendResponse, error) {
	return call(ctx, c.s, "Send", c.client, func(ch sdk.Channel) (*SendResponse, error) {
		resp, err := ch.Send(ctx, sendRequestToProto(req))
		if err != nil {
			return nil, err
		}
		return sendResponseFromProto(resp), nil
	})
}

func (c channelCaller) Profile(ctx context.Context, req *ProfileRequest) (*ProfileResponse, error) {
	return call(ctx, c.s, "Profile", c.client, func(ch sdk.Channel) (*ProfileResponse, error) {
		resp, err := ch.Profile(ctx, profileRequestToProto(req))
		if err != nil {
			return nil, err
		}
		return profileResponseFromProto(resp), nil
	})
}

// CheckSend raises no objection for a channel that cannot check.
func (c channelCaller) CheckSend(ctx context.Context, req *SendRequest) (*SendResponse, error) {
	return call(ctx, c.s, "CheckSend", c.client, func(ch sdk.Channel) (*SendResponse, error) {
		checker, ok := ch.(sdk.SendChecker)
		if !ok {
			return &SendResponse{}, nil
		}
		resp, err := checker.CheckSend(ctx, sendRequestToProto(req))
		if err != nil {
			return nil, err
		}
		return sendResponseFromProto(resp), nil
	})
}

// Action is unsupported on a channel without actions.
func (c channelCaller) Action(ctx context.Context, req *ActionRequest) (*ActionResponse, error) {
	return call(ctx, c.s, "Action", c.client, func(ch sdk.Channel) (*ActionResponse, error) {
		a, ok := ch.(sdk.ActionSender)
		if !ok {
			return &ActionResponse{Unsupported: true}, nil
		}
		resp, err := a.Action(ctx, actionRequestToProto(req))
		if err != nil {
			return nil, err
		}
		return actionResponseFromProto(resp), nil
	})
}

// ValidateSettings finds no problem for a channel that cannot validate.
func (c channelCaller) ValidateSettings(ctx context.Context, in *Integration) ([]SettingsProblem, error) {
	return call(ctx, c.s, "ValidateSettings", c.client, func(ch sdk.Channel) ([]SettingsProblem, error) {
		v, ok := ch.(sdk.SettingsValidator)
		if !ok {
			return nil, nil
		}
		resp, err := v.ValidateSettings(ctx, &proto.ValidateSettingsRequest{Integration: integrationToProto(in)})
		if err != nil {
			return nil, err
		}
		return problemsFromProto(resp), nil
	})
}

type assistantCaller struct{ s *supervisor }

func (c assistantCaller) client(p *process) (sdk.Assistant, error) {
	if p.assistant == nil {
		return nil, refusedError{fmt.Errorf("plugin %s %w", c.s.name, errNotAssistant)}
	}
	return p.assistant, nil
}

func (c assistantCaller) Describe(ctx context.Context) (*AssistantInfo, error) {
	return call(ctx, c.s, "Describe", c.client, func(as sdk.Assistant) (*AssistantInfo, error) {
		info, err := as.Describe(ctx)
		if err != nil {
			return nil, err
		}
		return assistantInfoFromProto(info), nil
	})
}

func (c assistantCaller) Converse(ctx context.Context, req *ConverseRequest) (*ConverseResponse, error) {
	return call(ctx, c.s, "Converse", c.client, func(as sdk.Assistant) (*ConverseResponse, error) {
		resp, err := as.Converse(ctx, converseRequestToProto(req))
		if err != nil {
			return nil, err
		}
		return converseResponseFromProto(resp), nil
	})
}
