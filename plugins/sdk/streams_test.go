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

// callChannel answers Send and Profile by the idempotency key or contact:
// "status" fails with a gRPC status, "plain" with a plain error, "nil"
// with no response, "hang" only when its context ends (and says how it
// ended on ended); anything else is echoed. Each call records the gRPC
// method that carried it.
type callChannel struct {
	plainChannel
	methods sync.Map // gRPC method -> *atomic.Int64
	ended   chan error
}

func (c *callChannel) record(ctx context.Context) {
	m, _ := grpc.Method(ctx)
	n, _ := c.methods.LoadOrStore(m, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
}

func (c *callChannel) count(method string) int64 {
	n, ok := c.methods.Load(method)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

func (c *callChannel) answer(ctx context.Context, id string) error {
	switch id {
	case "status":
		return status.Error(codes.FailedPrecondition, "window closed")
	case "plain":
		return errors.New("plain failure")
	case "hang":
		<-ctx.Done()
		c.ended <- ctx.Err()
		return ctx.Err()
	}
	return nil
}

func (c *callChannel) Send(ctx context.Context, r *proto.SendRequest) (*proto.SendResponse, error) {
	c.record(ctx)
	if r.GetIdempotencyKey() == "nil" {
		return nil, nil
	}
	if err := c.answer(ctx, r.GetIdempotencyKey()); err != nil {
		return nil, err
	}
	return &proto.SendResponse{MessageIds: []string{"sent:" + r.GetIdempotencyKey()}}, nil
}

func (c *callChannel) Profile(ctx context.Context, r *proto.ProfileRequest) (*proto.ProfileResponse, error) {
	c.record(ctx)
	if err := c.answer(ctx, r.GetContactId()); err != nil {
		return nil, err
	}
	return &proto.ProfileResponse{Name: "name:" + r.GetContactId()}, nil
}

// Sends and profile lookups in flight at once share the Calls stream, each
// gets its own answer, and failures arrive as the unary call would report
// them.
func TestChannelCallsStream(t *testing.T) {
	impl := &callChannel{}
	ch := sdktest.Channel(t, impl)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			id := fmt.Sprint("u", i)
			if i%2 == 0 {
				resp, err := ch.Send(ctx, &proto.SendRequest{IdempotencyKey: id})
				if err != nil || fmt.Sprint(resp.GetMessageIds()) != "[sent:"+id+"]" {
					t.Errorf("send %d = %v, %v", i, resp, err)
				}
				return
			}
			resp, err := ch.Profile(ctx, &proto.ProfileRequest{ContactId: id})
			if err != nil || resp.GetName() != "name:"+id {
				t.Errorf("profile %d = %v, %v", i, resp, err)
			}
		})
	}
	wg.Wait()
	for _, tc := range []struct {
		id   string
		code codes.Code
		msg  string
	}{
		{"status", codes.FailedPrecondition, "window closed"},
		{"plain", codes.Unknown, "plain failure"},
		{"nil", codes.Internal, "Send returned no response"},
	} {
		_, err := ch.Send(ctx, &proto.SendRequest{IdempotencyKey: tc.id})
		if st := status.Convert(err); st.Code() != tc.code || (tc.msg != "" && st.Message() != tc.msg) {
			t.Errorf("send %s: error %v, want %s %q", tc.id, err, tc.code, tc.msg)
		}
	}
	if n, unary := impl.count(proto.Channel_Calls_FullMethodName), impl.count(proto.Channel_Send_FullMethodName)+impl.count(proto.Channel_Profile_FullMethodName); n != 67 || unary != 0 {
		t.Errorf("%d calls on the Calls stream and %d unary; want all 67 on the stream", n, unary)
	}
}

// A caller that gives up (its context cancelled, no deadline) is answered
// at once, and the plugin's call is cancelled too rather than left to run.
func TestChannelCallsStreamCancel(t *testing.T) {
	impl := &callChannel{ended: make(chan error, 2)}
	ch := sdktest.Channel(t, impl)
	for _, call := range []func(context.Context) error{
		func(ctx context.Context) error {
			_, err := ch.Send(ctx, &proto.SendRequest{IdempotencyKey: "hang"})
			return err
		},
		func(ctx context.Context) error {
			_, err := ch.Profile(ctx, &proto.ProfileRequest{ContactId: "hang"})
			return err
		},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- call(ctx) }()
		for impl.count(proto.Channel_Calls_FullMethodName) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
		select {
		case err := <-errc:
			if status.Code(err) != codes.Canceled {
				t.Errorf("a cancelled call: %v, want Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a cancelled call is still waiting")
		}
		select {
		case err := <-impl.ended:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("the plugin's call ended with %v, want its context cancelled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the plugin's call was not cancelled")
		}
		impl.methods.Clear()
	}
	// The stream is still good.
	if resp, err := ch.Send(context.Background(), &proto.SendRequest{IdempotencyKey: "u"}); err != nil || fmt.Sprint(resp.GetMessageIds()) != "[sent:u]" {
		t.Errorf("after a cancelled call: %v, %v", resp, err)
	}
}

// A plugin without the Calls stream gets every Send and Profile as a call
// of its own.
func TestChannelCallsStreamUnsupported(t *testing.T) {
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
		wg.Go(func() {
			id := fmt.Sprint("u", i)
			if resp, err := ch.Send(context.Background(), &proto.SendRequest{IdempotencyKey: id}); err != nil || fmt.Sprint(resp.GetMessageIds()) != "[sent:"+id+"]" {
				t.Errorf("send %d = %v, %v", i, resp, err)
			}
			if resp, err := ch.Profile(context.Background(), &proto.ProfileRequest{ContactId: id}); err != nil || resp.GetName() != "name:"+id {
				t.Errorf("profile %d = %v, %v", i, resp, err)
			}
		})
	}
	wg.Wait()
	if n := calls.Load(); n != 32 {
		t.Errorf("the plugin had %d calls, want 32", n)
	}
}

// converser echoes the text of a turn, fails "fail" with a status, and
// holds "hang" until its context ends.
type converser struct {
	methods sync.Map
	ended   chan error
}

func (a *converser) Describe(context.Context) (*proto.AssistantInfo, error) {
	return &proto.AssistantInfo{Name: "echo"}, nil
}

func (a *converser) Converse(ctx context.Context, r *proto.ConverseRequest) (*proto.ConverseResponse, error) {
	m, _ := grpc.Method(ctx)
	n, _ := a.methods.LoadOrStore(m, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	switch r.GetConversationId() {
	case "fail":
		return nil, status.Error(codes.ResourceExhausted, "too many turns")
	case "hang":
		<-ctx.Done()
		a.ended <- ctx.Err()
		return nil, ctx.Err()
	}
	return &proto.ConverseResponse{Intent: "echo:" + r.GetConversationId()}, nil
}

// Converse calls share the Converses stream, with their failures and
// cancellation as on the channel's stream.
func TestConversesStream(t *testing.T) {
	impl := &converser{ended: make(chan error, 1)}
	as := sdktest.Assistant(t, impl)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			id := fmt.Sprint("c", i)
			resp, err := as.Converse(context.Background(), &proto.ConverseRequest{ConversationId: id})
			if err != nil || resp.GetIntent() != "echo:"+id {
				t.Errorf("turn %d = %v, %v", i, resp, err)
			}
		})
	}
	wg.Wait()
	if _, err := as.Converse(context.Background(), &proto.ConverseRequest{ConversationId: "fail"}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a failed turn: %v, want ResourceExhausted", err)
	}
	n, _ := impl.methods.Load(proto.Assistant_Converses_FullMethodName)
	if n == nil || n.(*atomic.Int64).Load() != 33 {
		t.Errorf("turns on the Converses stream: %v, want all 33", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := as.Converse(ctx, &proto.ConverseRequest{ConversationId: "hang"})
		errc <- err
	}()
	for n.(*atomic.Int64).Load() < 34 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; status.Code(err) != codes.Canceled {
		t.Errorf("a cancelled turn: %v, want Canceled", err)
	}
	select {
	case err := <-impl.ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the assistant's turn ended with %v, want its context cancelled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the assistant's turn was not cancelled")
	}
}
