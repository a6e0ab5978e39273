package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
	"github.com/conversa/conversa/plugins/sdk/sdktest"
)

// hookChannel answers a webhook by its path: "echo" returns the query,
// "status" fails with a gRPC status, "plain" with a plain error, "nil"
// with no response, "hang" only when its context ends; every call's
// deadline is recorded.
type hookChannel struct {
	plainChannel
	calls     atomic.Int64
	deadlines chan time.Duration
}

func (c *hookChannel) HandleWebhook(ctx context.Context, r *proto.WebhookRequest) (*proto.WebhookResponse, error) {
	c.calls.Add(1)
	if d, ok := ctx.Deadline(); ok && c.deadlines != nil {
		c.deadlines <- time.Until(d)
	}
	switch r.GetPath() {
	case "status":
		return nil, status.Error(codes.InvalidArgument, "bad "+r.GetQuery())
	case "plain":
		return nil, errors.New("plain failure")
	case "nil":
		return nil, nil
	case "hang":
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &proto.WebhookResponse{Authenticated: true, Body: []byte(r.GetQuery())}, nil
}

// Webhooks in flight at once on the stream each get their own answer, and
// failures arrive as the unary call would report them.
func TestWebhookStream(t *testing.T) {
	impl := &hookChannel{}
	ch := sdktest.Channel(t, impl)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := fmt.Sprint("n=", i)
			resp, err := ch.HandleWebhook(ctx, &proto.WebhookRequest{Path: "echo", Query: q})
			if err != nil || string(resp.GetBody()) != q {
				t.Errorf("webhook %d = %v, %v; want body %q", i, resp, err, q)
			}
		}()
	}
	wg.Wait()
	for _, tc := range []struct {
		path string
		code codes.Code
		msg  string
	}{
		{"status", codes.InvalidArgument, "bad x"},
		{"plain", codes.Unknown, "plain failure"},
		{"nil", codes.Internal, ""},
	} {
		_, err := ch.HandleWebhook(ctx, &proto.WebhookRequest{Path: tc.path, Query: "x"})
		if st := status.Convert(err); st.Code() != tc.code || (tc.msg != "" && st.Message() != tc.msg) {
			t.Errorf("%s: error %v, want %s %q", tc.path, err, tc.code, tc.msg)
		}
	}
}

// The caller's deadline reaches the plugin, and a caller that gives up is
// answered at once while the plugin's call is cancelled at its deadline.
func TestWebhookStreamDeadline(t *testing.T) {
	impl := &hookChannel{deadlines: make(chan time.Duration, 1)}
	ch := sdktest.Channel(t, impl)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := ch.HandleWebhook(ctx, &proto.WebhookRequest{Path: "hang"})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("a call past its deadline: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the caller waited %s", d)
	}
	if d := <-impl.deadlines; d <= 0 || d > 200*time.Millisecond {
		t.Errorf("the plugin's deadline was %s away, want within the caller's 200ms", d)
	}
	// The stream is still good for the next webhook.
	if resp, err := ch.HandleWebhook(context.Background(), &proto.WebhookRequest{Path: "echo", Query: "q"}); err != nil || string(resp.GetBody()) != "q" {
		t.Errorf("after a timeout: %v, %v", resp, err)
	}
}

// unaryOnly is a channel server built before the call streams (or in
// another language): HandleWebhook, Send and Profile, each a call of its
// own.
type unaryOnly struct {
	proto.UnimplementedChannelServer
	calls *atomic.Int64
}

func (s unaryOnly) HandleWebhook(_ context.Context, r *proto.WebhookRequest) (*proto.WebhookResponse, error) {
	s.calls.Add(1)
	return &proto.WebhookResponse{Authenticated: true, Body: []byte(r.GetQuery())}, nil
}

func (s unaryOnly) Send(_ context.Context, r *proto.SendRequest) (*proto.SendResponse, error) {
	s.calls.Add(1)
	return &proto.SendResponse{MessageIds: []string{"sent:" + r.GetIdempotencyKey()}}, nil
}

func (s unaryOnly) Profile(_ context.Context, r *proto.ProfileRequest) (*proto.ProfileResponse, error) {
	s.calls.Add(1)
	return &proto.ProfileResponse{Name: "name:" + r.GetContactId()}, nil
}

type unaryOnlyPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	calls *atomic.Int64
}

func (p *unaryOnlyPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	proto.RegisterChannelServer(s, unaryOnly{calls: p.calls})
	return nil
}

func (p *unaryOnlyPlugin) GRPCClient(ctx context.Context, b *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return (&sdk.ChannelPlugin{}).GRPCClient(ctx, b, c)
}

// A plugin without the stream gets every webhook as a call of its own.
func TestWebhookStreamUnsupported(t *testing.T) {
	var calls atomic.Int64
	client, server := plugin.TestPluginGRPCConn(t, false, plugin.PluginSet{sdk.KindChannel: &unaryOnlyPlugin{calls: &calls}})
	t.Cleanup(func() { server.Stop(); client.Close() })
	raw, err := client.Dispense(sdk.KindChannel)
	if err != nil {
		t.Fatal(err)
	}
	ch := raw.(sdk.Channel)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := fmt.Sprint("n=", i)
			resp, err := ch.HandleWebhook(context.Background(), &proto.WebhookRequest{Query: q})
			if err != nil || string(resp.GetBody()) != q {
				t.Errorf("webhook %d = %v, %v; want body %q", i, resp, err, q)
			}
		}()
	}
	wg.Wait()
	if n := calls.Load(); n != 16 {
		t.Errorf("the plugin had %d calls, want 16", n)
	}
}

// A stream that breaks fails the webhooks in flight as a plugin that
// cannot be reached (Unavailable), never leaves them waiting.
func TestWebhookStreamBreaks(t *testing.T) {
	impl := &hookChannel{}
	info := &proto.PluginInfo{Name: "test", Kinds: []string{sdk.KindChannel}}
	client, server := plugin.TestPluginGRPCConn(t, false, sdk.PluginSet(info, impl, nil))
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(sdk.KindChannel)
	if err != nil {
		t.Fatal(err)
	}
	ch := raw.(sdk.Channel)
	if _, err := ch.HandleWebhook(context.Background(), &proto.WebhookRequest{Path: "echo"}); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := ch.HandleWebhook(context.Background(), &proto.WebhookRequest{Path: "hang"})
		errc <- err
	}()
	for impl.calls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	server.Stop()
	select {
	case err := <-errc:
		if status.Code(err) != codes.Unavailable {
			t.Errorf("a webhook in flight when the stream broke: %v, want Unavailable", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a webhook in flight when the stream broke is still waiting")
	}
}

// stuckStream serves the stream but never reads it: a wedged plugin.
type stuckStream struct {
	proto.UnimplementedChannelServer
	release chan struct{}
}

func (s stuckStream) HandleWebhooks(proto.Channel_HandleWebhooksServer) error {
	<-s.release
	return nil
}

type stuckPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv stuckStream
}

func (p *stuckPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	proto.RegisterChannelServer(s, p.srv)
	return nil
}

func (p *stuckPlugin) GRPCClient(ctx context.Context, b *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return (&sdk.ChannelPlugin{}).GRPCClient(ctx, b, c)
}

// Webhooks to a plugin that stops reading its stream still end at their
// deadlines, though the stream's flow control holds what they send.
func TestWebhookStreamCallersKeepTheirDeadlines(t *testing.T) {
	p := &stuckPlugin{srv: stuckStream{release: make(chan struct{})}}
	client, server := plugin.TestPluginGRPCConn(t, false, plugin.PluginSet{sdk.KindChannel: p})
	t.Cleanup(func() { close(p.srv.release); server.Stop(); client.Close() })
	raw, err := client.Dispense(sdk.KindChannel)
	if err != nil {
		t.Fatal(err)
	}
	ch := raw.(sdk.Channel)
	body := make([]byte, 256<<10) // a few of these fill any window
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, err := ch.HandleWebhook(ctx, &proto.WebhookRequest{Body: body})
			if status.Code(err) != codes.DeadlineExceeded {
				t.Errorf("webhook %d to a stuck plugin: %v, want DeadlineExceeded", i, err)
			}
		}()
	}
	wg.Wait()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("webhooks with a 300ms deadline took %s", d)
	}
}
