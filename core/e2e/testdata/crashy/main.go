// Command crashy is a test assistant plugin that dies in the middle of every
// conversation turn: the end-to-end tests use it to check that a crashing
// assistant hands the conversation to humans instead of leaving it
// unanswered.
package main

import (
	"context"
	"os"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

type crashy struct{}

func (crashy) Describe(context.Context) (*proto.AssistantInfo, error) {
	return &proto.AssistantInfo{Name: "crashy", Version: "0.0.1"}, nil
}

func (crashy) Converse(context.Context, *proto.ConverseRequest) (*proto.ConverseResponse, error) {
	sdk.Logger().Error("about to crash")
	os.Exit(7)
	return nil, nil
}

func main() {
	sdk.Serve(sdk.Plugin{Name: "crashy", Version: "0.0.1", Assistant: crashy{}})
}
