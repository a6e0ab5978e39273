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

type channelCaller struct{ s *supervisor }

func (c channelCaller) client(p *process) (sdk.Channel, error) {
	if p.channel == nil {
		return nil, refusedError{fmt.Errorf("plugin %s %w", c.s.name, errNotChannel)}
	}
	return p.channel, nil
}

func (c channelCaller) Describe(ctx context.Context) (*proto.ChannelInfo, error) {
	return call(ctx, c.s, "Describe", c.client, func(ch sdk.Channel) (*proto.ChannelInfo, error) { return ch.Describe(ctx) })
}

func (c channelCaller) HandleWebhook(ctx context.Context, req *proto.WebhookRequest) (*proto.WebhookResponse, error) {
	return call(ctx, c.s, "HandleWebhook", c.client, func(ch sdk.Channel) (*proto.WebhookResponse, error) { return ch.HandleWebhook(ctx, req) })
}

func (c channelCaller) Send(ctx context.Context, req *proto.SendRequest) (*proto.SendResponse, error) {
	return call(ctx, c.s, "Send", c.client, func(ch sdk.Channel) (*proto.SendResponse, error) { return ch.Send(ctx, req) })
}

func (c channelCaller) Profile(ctx context.Context, req *proto.ProfileRequest) (*proto.ProfileResponse, error) {
	return call(ctx, c.s, "Profile", c.client, func(ch sdk.Channel) (*proto.ProfileResponse, error) { return ch.Profile(ctx, req) })
}

// CheckSend raises no objection for a channel that cannot check.
func (c channelCaller) CheckSend(ctx context.Context, req *proto.SendRequest) (*proto.SendResponse, error) {
	return call(ctx, c.s, "CheckSend", c.client, func(ch sdk.Channel) (*proto.SendResponse, error) {
		checker, ok := ch.(sdk.SendChecker)
		if !ok {
			return &proto.SendResponse{}, nil
		}
		return checker.CheckSend(ctx, req)
	})
}

// Action is unsupported on a channel without actions.
func (c channelCaller) Action(ctx context.Context, req *proto.ActionRequest) (*proto.ActionResponse, error) {
	return call(ctx, c.s, "Action", c.client, func(ch sdk.Channel) (*proto.ActionResponse, error) {
		a, ok := ch.(sdk.ActionSender)
		if !ok {
			return &proto.ActionResponse{Unsupported: true}, nil
		}
		return a.Action(ctx, req)
	})
}

type assistantCaller struct{ s *supervisor }

func (c assistantCaller) client(p *process) (sdk.Assistant, error) {
	if p.assistant == nil {
		return nil, refusedError{fmt.Errorf("plugin %s %w", c.s.name, errNotAssistant)}
	}
	return p.assistant, nil
}

func (c assistantCaller) Describe(ctx context.Context) (*proto.AssistantInfo, error) {
	return call(ctx, c.s, "Describe", c.client, func(as sdk.Assistant) (*proto.AssistantInfo, error) { return as.Describe(ctx) })
}

func (c assistantCaller) Converse(ctx context.Context, req *proto.ConverseRequest) (*proto.ConverseResponse, error) {
	return call(ctx, c.s, "Converse", c.client, func(as sdk.Assistant) (*proto.ConverseResponse, error) { return as.Converse(ctx, req) })
}

// ValidateSettings raises no objection for a channel that cannot validate.
func (c channelCaller) ValidateSettings(ctx context.Context, req *proto.ValidateSettingsRequest) (*proto.ValidateSettingsResponse, error) {
	return call(ctx, c.s, "ValidateSettings", c.client, func(ch sdk.Channel) (*proto.ValidateSettingsResponse, error) {
		v, ok := ch.(sdk.SettingsValidator)
		if !ok {
			return &proto.ValidateSettingsResponse{}, nil
		}
		return v.ValidateSettings(ctx, req)
	})
}
