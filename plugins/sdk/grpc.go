package sdk

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conversa/conversa/plugins/proto"
)

// PluginSet is the go-plugin set for a binary serving the given
// implementations (nil ones are left out). The host calls it with nils to get
// client-side dispensers for every kind.
func PluginSet(info *proto.PluginInfo, ch Channel, as Assistant) plugin.PluginSet {
	return plugin.PluginSet{
		KindInfo:      &InfoPlugin{Info: info},
		KindChannel:   &ChannelPlugin{Impl: ch},
		KindAssistant: &AssistantPlugin{Impl: as},
	}
}

// InfoPlugin serves the plugin's name, version and kinds.
type InfoPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Info *proto.PluginInfo
}

func (p *InfoPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	proto.RegisterInfoServer(s, &infoServer{info: p.Info})
	return nil
}

func (p *InfoPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return InfoClient{c: proto.NewInfoClient(c)}, nil
}

type infoServer struct {
	proto.UnimplementedInfoServer
	info *proto.PluginInfo
}

func (s *infoServer) Describe(context.Context, *proto.InfoRequest) (*proto.PluginInfo, error) {
	return s.info, nil
}

// InfoClient is the host's view of a plugin's Info service.
type InfoClient struct{ c proto.InfoClient }

func (c InfoClient) Describe(ctx context.Context) (*proto.PluginInfo, error) {
	return c.c.Describe(ctx, &proto.InfoRequest{})
}

// ChannelPlugin carries a Channel over gRPC.
type ChannelPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Channel
	// Unary makes the host's client make each call as a gRPC call of its
	// own, never on the HandleWebhooks and Calls streams (which a client
	// otherwise uses when the plugin serves them).
	Unary bool
}

func (p *ChannelPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl != nil {
		proto.RegisterChannelServer(s, &channelServer{impl: p.Impl})
	}
	return nil
}

func (p *ChannelPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	cc := proto.NewChannelClient(c)
	client := &channelClient{c: cc}
	if !p.Unary {
		client.hooks = &callStream[proto.WebhookCall, proto.WebhookReply]{kind: webhookCalls,
			open: func(ctx context.Context) (proto.Channel_HandleWebhooksClient, error) { return cc.HandleWebhooks(ctx) }}
		client.calls = &callStream[proto.ChannelCall, proto.ChannelReply]{kind: channelCalls,
			open: func(ctx context.Context) (proto.Channel_CallsClient, error) { return cc.Calls(ctx) }}
	}
	return client, nil
}

type channelServer struct {
	proto.UnimplementedChannelServer
	impl Channel
}

func (s *channelServer) Describe(ctx context.Context, _ *proto.DescribeRequest) (*proto.ChannelInfo, error) {
	return s.impl.Describe(ctx)
}

func (s *channelServer) HandleWebhook(ctx context.Context, r *proto.WebhookRequest) (*proto.WebhookResponse, error) {
	return s.impl.HandleWebhook(ctx, r)
}

func (s *channelServer) Send(ctx context.Context, r *proto.SendRequest) (*proto.SendResponse, error) {
	return s.impl.Send(ctx, r)
}

func (s *channelServer) Profile(ctx context.Context, r *proto.ProfileRequest) (*proto.ProfileResponse, error) {
	return s.impl.Profile(ctx, r)
}

func (s *channelServer) CheckSend(ctx context.Context, r *proto.SendRequest) (*proto.SendResponse, error) {
	if c, ok := s.impl.(SendChecker); ok {
		return c.CheckSend(ctx, r)
	}
	return nil, status.Error(codes.Unimplemented, "CheckSend not implemented")
}

func (s *channelServer) Action(ctx context.Context, r *proto.ActionRequest) (*proto.ActionResponse, error) {
	if a, ok := s.impl.(ActionSender); ok {
		return a.Action(ctx, r)
	}
	return nil, status.Error(codes.Unimplemented, "Action not implemented")
}

func (s *channelServer) ValidateSettings(ctx context.Context, r *proto.ValidateSettingsRequest) (*proto.ValidateSettingsResponse, error) {
	if v, ok := s.impl.(SettingsValidator); ok {
		return v.ValidateSettings(ctx, r)
	}
	return nil, status.Error(codes.Unimplemented, "ValidateSettings not implemented")
}

type channelClient struct {
	c     proto.ChannelClient
	hooks *callStream[proto.WebhookCall, proto.WebhookReply] // nil: every call unary
	calls *callStream[proto.ChannelCall, proto.ChannelReply] // nil: every call unary
}

func (c *channelClient) Describe(ctx context.Context) (*proto.ChannelInfo, error) {
	return c.c.Describe(ctx, &proto.DescribeRequest{})
}

// HandleWebhook goes on the webhook stream, or as a call of its own to a
// plugin that does not serve the stream.
func (c *channelClient) HandleWebhook(ctx context.Context, r *proto.WebhookRequest) (*proto.WebhookResponse, error) {
	if c.hooks != nil {
		if reply, unary, err := c.hooks.call(ctx, &proto.WebhookCall{Request: r}); !unary {
			if err != nil {
				return nil, err
			}
			return reply.GetResponse(), nil
		}
	}
	return c.c.HandleWebhook(ctx, r)
}

// Send goes on the Calls stream, or as a call of its own to a plugin that
// does not serve the stream.
func (c *channelClient) Send(ctx context.Context, r *proto.SendRequest) (*proto.SendResponse, error) {
	if c.calls != nil {
		if reply, unary, err := c.calls.call(ctx, &proto.ChannelCall{Request: &proto.ChannelCall_Send{Send: r}}); !unary {
			if err != nil {
				return nil, err
			}
			return answered(reply.GetSend(), "Send")
		}
	}
	return c.c.Send(ctx, r)
}

// Profile goes on the Calls stream, as Send does.
func (c *channelClient) Profile(ctx context.Context, r *proto.ProfileRequest) (*proto.ProfileResponse, error) {
	if c.calls != nil {
		if reply, unary, err := c.calls.call(ctx, &proto.ChannelCall{Request: &proto.ChannelCall_Profile{Profile: r}}); !unary {
			if err != nil {
				return nil, err
			}
			return answered(reply.GetProfile(), "Profile")
		}
	}
	return c.c.Profile(ctx, r)
}

// answered is a stream's answer to a call: an error when the reply holds
// no response of the call's kind (a plugin's mistake).
func answered[R any](resp *R, method string) (*R, error) {
	if resp == nil {
		return nil, status.Errorf(codes.Internal, "the plugin answered %s with another kind of response", method)
	}
	return resp, nil
}

// CheckSend answers no objection when the plugin does not implement it.
func (c *channelClient) CheckSend(ctx context.Context, r *proto.SendRequest) (*proto.SendResponse, error) {
	resp, err := c.c.CheckSend(ctx, r)
	if status.Code(err) == codes.Unimplemented {
		return &proto.SendResponse{}, nil
	}
	return resp, err
}

// Action answers unsupported when the plugin does not implement it (a
// plugin built before the RPC existed, or in another language).
func (c *channelClient) Action(ctx context.Context, r *proto.ActionRequest) (*proto.ActionResponse, error) {
	resp, err := c.c.Action(ctx, r)
	if status.Code(err) == codes.Unimplemented {
		return &proto.ActionResponse{Unsupported: true}, nil
	}
	return resp, err
}

// ValidateSettings answers no problems when the plugin does not implement
// it (a plugin built before the RPC existed).
func (c *channelClient) ValidateSettings(ctx context.Context, r *proto.ValidateSettingsRequest) (*proto.ValidateSettingsResponse, error) {
	resp, err := c.c.ValidateSettings(ctx, r)
	if status.Code(err) == codes.Unimplemented {
		return &proto.ValidateSettingsResponse{}, nil
	}
	return resp, err
}

// AssistantPlugin carries an Assistant over gRPC.
type AssistantPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Assistant
	// Unary makes the host's client make each Converse a gRPC call of its
	// own, never on the Converses stream.
	Unary bool
}

func (p *AssistantPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl != nil {
		proto.RegisterAssistantServer(s, &assistantServer{impl: p.Impl})
	}
	return nil
}

func (p *AssistantPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	ac := proto.NewAssistantClient(c)
	client := &assistantClient{c: ac}
	if !p.Unary {
		client.converses = &callStream[proto.ConverseCall, proto.ConverseReply]{kind: converseCalls,
			open: func(ctx context.Context) (proto.Assistant_ConversesClient, error) { return ac.Converses(ctx) }}
	}
	return client, nil
}

type assistantServer struct {
	proto.UnimplementedAssistantServer
	impl Assistant
}

func (s *assistantServer) Describe(ctx context.Context, _ *proto.DescribeRequest) (*proto.AssistantInfo, error) {
	return s.impl.Describe(ctx)
}

func (s *assistantServer) Converse(ctx context.Context, r *proto.ConverseRequest) (*proto.ConverseResponse, error) {
	return s.impl.Converse(ctx, r)
}

type assistantClient struct {
	c         proto.AssistantClient
	converses *callStream[proto.ConverseCall, proto.ConverseReply] // nil: every call unary
}

func (c *assistantClient) Describe(ctx context.Context) (*proto.AssistantInfo, error) {
	return c.c.Describe(ctx, &proto.DescribeRequest{})
}

// Converse goes on the Converses stream, or as a call of its own to an
// assistant that does not serve the stream.
func (c *assistantClient) Converse(ctx context.Context, r *proto.ConverseRequest) (*proto.ConverseResponse, error) {
	if c.converses != nil {
		if reply, unary, err := c.converses.call(ctx, &proto.ConverseCall{Request: r}); !unary {
			if err != nil {
				return nil, err
			}
			return answered(reply.GetResponse(), "Converse")
		}
	}
	return c.c.Converse(ctx, r)
}
