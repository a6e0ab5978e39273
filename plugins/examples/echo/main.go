// Command conversa-plugin-echo is an example third-party assistant for
// Conversa, built against plugins/sdk alone: it repeats what the user wrote,
// and hands the conversation to a person when asked.
package main

import (
	"context"
	"strings"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

type echo struct{}

func (echo) Describe(context.Context) (*proto.AssistantInfo, error) {
	return &proto.AssistantInfo{Name: "echo", Version: "1.0.0", InboundTypes: []string{sdk.ContentText}}, nil
}

func (echo) Converse(_ context.Context, req *proto.ConverseRequest) (*proto.ConverseResponse, error) {
	var said []string
	for _, c := range req.Contents {
		if c.Text != "" {
			said = append(said, c.Text)
		}
	}
	text := strings.Join(said, " ")
	sdk.Logger().Info("echoing", "conversation", req.ConversationId, "chars", len(text))
	if strings.Contains(strings.ToLower(text), "human") {
		return &proto.ConverseResponse{
			Replies: []*proto.Content{{Type: sdk.ContentText, Text: "Passing you to a person."}},
			Handoff: true, Intent: "human", Confidence: 1,
		}, nil
	}
	return &proto.ConverseResponse{
		Replies: []*proto.Content{{Type: sdk.ContentText, Text: "You said: " + text}},
		Session: req.Session, Intent: "echo", Confidence: 1,
	}, nil
}

func main() {
	sdk.Serve(sdk.Plugin{Name: "echo", Version: "1.0.0", Assistant: echo{}})
}
