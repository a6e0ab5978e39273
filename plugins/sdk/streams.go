package sdk

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conversa/conversa/plugins/proto"
)

// The three call streams (see calls.go) and how each one's messages carry
// its calls: a WebhookCall is one HandleWebhook of the channel, a
// ChannelCall one Send or Profile, a ConverseCall one Converse of the
// assistant.

var webhookCalls = &callKind[proto.WebhookCall, proto.WebhookReply]{
	method: "HandleWebhook",
	stamp:  func(c *proto.WebhookCall, id uint64, ms int64) { c.Id, c.TimeoutMs = id, ms },
	header: func(c *proto.WebhookCall) (uint64, int64, bool) { return c.GetId(), c.GetTimeoutMs(), false },
	// A WebhookCall cannot cancel: the stream came before cancellation.
	replyID: func(r *proto.WebhookReply) uint64 { return r.GetId() },
	replyError: func(r *proto.WebhookReply) (int32, string) {
		return r.GetErrorCode(), r.GetErrorMessage()
	},
	failure: func(id uint64, code int32, msg string) *proto.WebhookReply {
		return &proto.WebhookReply{Id: id, ErrorCode: code, ErrorMessage: msg}
	},
}

// HandleWebhooks serves the stream.
func (s *channelServer) HandleWebhooks(stream proto.Channel_HandleWebhooksServer) error {
	return serveCalls(stream, webhookCalls, func(ctx context.Context, id uint64, c *proto.WebhookCall) (*proto.WebhookReply, error) {
		resp, err := s.impl.HandleWebhook(ctx, c.GetRequest())
		if err != nil || resp == nil {
			return nil, err
		}
		return &proto.WebhookReply{Id: id, Response: resp}, nil
	})
}

// Calls serves a channel's Send and Profile calls on one stream.
func (s *channelServer) Calls(stream proto.Channel_CallsServer) error {
	return serveCalls(stream, channelCalls, func(ctx context.Context, id uint64, c *proto.ChannelCall) (*proto.ChannelReply, error) {
		switch r := c.GetRequest().(type) {
		case *proto.ChannelCall_Send:
			resp, err := s.impl.Send(ctx, r.Send)
			if err != nil || resp == nil {
				return nil, orNoResponse(err, "Send")
			}
			return &proto.ChannelReply{Id: id, Response: &proto.ChannelReply_Send{Send: resp}}, nil
		case *proto.ChannelCall_Profile:
			resp, err := s.impl.Profile(ctx, r.Profile)
			if err != nil || resp == nil {
				return nil, orNoResponse(err, "Profile")
			}
			return &proto.ChannelReply{Id: id, Response: &proto.ChannelReply_Profile{Profile: resp}}, nil
		}
		return nil, errUnknownCall
	})
}

// Converses serves an assistant's Converse calls on one stream.
func (s *assistantServer) Converses(stream proto.Assistant_ConversesServer) error {
	return serveCalls(stream, converseCalls, func(ctx context.Context, id uint64, c *proto.ConverseCall) (*proto.ConverseReply, error) {
		resp, err := s.impl.Converse(ctx, c.GetRequest())
		if err != nil || resp == nil {
			return nil, err
		}
		return &proto.ConverseReply{Id: id, Response: resp}, nil
	})
}

var errUnknownCall = status.Error(codes.Unimplemented, "a call this plugin does not know")

// orNoResponse is err, or the error of a call that returned neither a
// response nor an error, as a unary call reports it.
func orNoResponse(err error, method string) error {
	if err != nil {
		return err
	}
	return status.Error(codes.Internal, method+" returned no response")
}

var channelCalls = &callKind[proto.ChannelCall, proto.ChannelReply]{
	method: "Calls",
	stamp:  func(c *proto.ChannelCall, id uint64, ms int64) { c.Id, c.TimeoutMs = id, ms },
	header: func(c *proto.ChannelCall) (uint64, int64, bool) {
		return c.GetId(), c.GetTimeoutMs(), c.GetCancel()
	},
	cancel:  func(id uint64) *proto.ChannelCall { return &proto.ChannelCall{Id: id, Cancel: true} },
	replyID: func(r *proto.ChannelReply) uint64 { return r.GetId() },
	replyError: func(r *proto.ChannelReply) (int32, string) {
		return r.GetErrorCode(), r.GetErrorMessage()
	},
	failure: func(id uint64, code int32, msg string) *proto.ChannelReply {
		return &proto.ChannelReply{Id: id, ErrorCode: code, ErrorMessage: msg}
	},
}

var converseCalls = &callKind[proto.ConverseCall, proto.ConverseReply]{
	method: "Converse",
	stamp:  func(c *proto.ConverseCall, id uint64, ms int64) { c.Id, c.TimeoutMs = id, ms },
	header: func(c *proto.ConverseCall) (uint64, int64, bool) {
		return c.GetId(), c.GetTimeoutMs(), c.GetCancel()
	},
	cancel:  func(id uint64) *proto.ConverseCall { return &proto.ConverseCall{Id: id, Cancel: true} },
	replyID: func(r *proto.ConverseReply) uint64 { return r.GetId() },
	replyError: func(r *proto.ConverseReply) (int32, string) {
		return r.GetErrorCode(), r.GetErrorMessage()
	},
	failure: func(id uint64, code int32, msg string) *proto.ConverseReply {
		return &proto.ConverseReply{Id: id, ErrorCode: code, ErrorMessage: msg}
	},
}
