package sdk

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conversa/conversa/plugins/proto"
)

// Webhooks travel on one long-lived stream (Channel.HandleWebhooks) rather
// than as a gRPC call each: a call's own HTTP/2 stream, headers, trailers
// and server goroutine cost more than the webhook's bytes. The stream
// changes nothing else: each webhook is still one HandleWebhook of the
// channel, with its own deadline, and a plugin without the stream gets
// plain calls.

// HandleWebhooks serves the stream. Each call runs on a goroutine of its
// own, as a HandleWebhook call would, and its reply is sent when it ends;
// the goroutines stay for the next calls while calls keep coming (see
// webhookWorkerIdle), so a webhook does not pay for a new goroutine's stack
// to grow again: that was a fifth of a small webhook's CPU in the plugin.
func (s *channelServer) HandleWebhooks(stream proto.Channel_HandleWebhooksServer) error {
	ctx := stream.Context()
	var send sync.Mutex // a stream's Send is not safe for concurrent use
	var workers sync.WaitGroup
	work := make(chan *proto.WebhookCall)
	defer func() {
		close(work)
		workers.Wait()
	}()
	serve := func(call *proto.WebhookCall) {
		reply := s.webhook(ctx, call)
		send.Lock()
		defer send.Unlock()
		_ = stream.Send(reply) // fails only when the stream is gone, and with it the host's wait
	}
	for {
		call, err := stream.Recv()
		if err != nil {
			return err // the host closed the stream (io.EOF) or went away
		}
		select {
		case work <- call: // an idle worker takes it
			continue
		default:
		}
		workers.Add(1)
		go func() {
			defer workers.Done()
			serve(call)
			idle := time.NewTimer(webhookWorkerIdle)
			defer idle.Stop()
			for {
				select {
				case call, ok := <-work:
					if !ok {
						return
					}
					serve(call)
					idle.Reset(webhookWorkerIdle)
				case <-idle.C:
					return
				}
			}
		}()
	}
}

// webhookWorkerIdle is how long a goroutine of HandleWebhooks waits for
// another call before it ends.
const webhookWorkerIdle = 10 * time.Second

// webhook runs one call of the stream and makes its reply.
func (s *channelServer) webhook(ctx context.Context, call *proto.WebhookCall) *proto.WebhookReply {
	if ms := call.GetTimeoutMs(); ms > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
		defer cancel()
	}
	resp, err := s.impl.HandleWebhook(ctx, call.GetRequest())
	reply := &proto.WebhookReply{Id: call.GetId(), Response: resp}
	switch {
	case err != nil:
		// As grpc-go's server reports a handler's error.
		st, ok := status.FromError(err)
		if !ok {
			st = status.FromContextError(err)
		}
		reply.Response, reply.ErrorCode, reply.ErrorMessage = nil, int32(st.Code()), st.Message()
		if st.Code() == codes.OK {
			reply.ErrorCode = int32(codes.Unknown)
		}
	case resp == nil:
		// What a unary call does with a nil reply.
		reply.ErrorCode, reply.ErrorMessage = int32(codes.Internal), "HandleWebhook returned no response"
	}
	return reply
}

// webhookStream is the host's end of HandleWebhooks: calls in flight by
// id, and the goroutine that hands each reply to its caller. A stream that
// breaks fails the calls in flight (Unavailable) and is opened again by the
// next call; one the plugin does not serve sends every call unary.
type webhookStream struct {
	c proto.ChannelClient

	mu          sync.Mutex
	stream      proto.Channel_HandleWebhooksClient
	out         chan *proto.WebhookCall // to the stream's sender
	pending     map[uint64]chan webhookResult
	next        uint64
	unsupported bool
}

// sendQueue is how many calls may wait for the stream's sender. Callers
// never wait on the stream itself: a plugin that stops reading would
// otherwise hold them past their deadlines.
const sendQueue = 256

type webhookResult struct {
	resp *proto.WebhookResponse
	err  error
	// unary: the plugin does not serve the stream; make the call unary.
	unary bool
}

// call sends r on the stream; unary is true when it could not (the plugin
// does not serve the stream) and the caller should make the call itself.
func (w *webhookStream) call(ctx context.Context, r *proto.WebhookRequest) (resp *proto.WebhookResponse, unary bool, err error) {
	w.mu.Lock()
	if w.unsupported {
		w.mu.Unlock()
		return nil, true, nil
	}
	if w.stream == nil {
		// The stream outlives every call: it ends with the connection.
		s, err := w.c.HandleWebhooks(context.Background())
		if err != nil {
			w.mu.Unlock()
			return nil, false, err
		}
		w.stream = s
		w.pending = map[uint64]chan webhookResult{}
		w.out = make(chan *proto.WebhookCall, sendQueue)
		ended := make(chan struct{})
		go w.receive(s, w.pending, ended)
		go sendAll(s, w.out, ended)
	}
	out, pending := w.out, w.pending
	w.next++
	id := w.next
	done := make(chan webhookResult, 1)
	pending[id] = done
	w.mu.Unlock()

	call := &proto.WebhookCall{Id: id, Request: r}
	if d, ok := ctx.Deadline(); ok {
		call.TimeoutMs = max(1, time.Until(d).Milliseconds())
	}
	select {
	case out <- call:
	case res := <-done: // the stream broke meanwhile
		return res.resp, res.unary, res.err
	case <-ctx.Done():
		return w.abandon(ctx, pending, id)
	}
	select {
	case res := <-done:
		return res.resp, res.unary, res.err
	case <-ctx.Done():
		return w.abandon(ctx, pending, id)
	}
}

// abandon forgets a call whose caller gave up; a reply that comes later is
// dropped.
func (w *webhookStream) abandon(ctx context.Context, pending map[uint64]chan webhookResult, id uint64) (*proto.WebhookResponse, bool, error) {
	w.mu.Lock()
	delete(pending, id)
	w.mu.Unlock()
	return nil, false, status.FromContextError(ctx.Err()).Err()
}

// sendAll sends the calls queued for a stream until it ends. A failed Send
// means it is broken: its receiver then fails the calls waiting, with the
// reason (Send only says io.EOF), and closes ended.
func sendAll(s proto.Channel_HandleWebhooksClient, out <-chan *proto.WebhookCall, ended <-chan struct{}) {
	for {
		select {
		case call := <-out:
			if s.Send(call) != nil {
				return
			}
		case <-ended:
			return
		}
	}
}

// receive hands each reply to its caller until the stream ends, then fails
// the calls still waiting and stops the sender.
func (w *webhookStream) receive(s proto.Channel_HandleWebhooksClient, pending map[uint64]chan webhookResult, ended chan struct{}) {
	defer close(ended)
	for {
		reply, err := s.Recv()
		if err != nil {
			w.mu.Lock()
			unsupported := status.Code(err) == codes.Unimplemented
			if unsupported {
				w.unsupported = true
			}
			if w.stream == s {
				w.stream, w.pending, w.out = nil, nil, nil
			}
			if !unsupported && status.Code(err) != codes.Canceled {
				// A stream that ended is a plugin that cannot be reached.
				err = status.Errorf(codes.Unavailable, "webhook stream: %v", err)
			}
			for id, done := range pending {
				done <- webhookResult{err: err, unary: unsupported}
				delete(pending, id)
			}
			w.mu.Unlock()
			return
		}
		w.mu.Lock()
		done, ok := pending[reply.GetId()]
		delete(pending, reply.GetId())
		w.mu.Unlock()
		if !ok {
			continue // its caller gave up
		}
		if code := codes.Code(reply.GetErrorCode()); code != codes.OK {
			done <- webhookResult{err: status.Error(code, reply.GetErrorMessage())}
		} else {
			done <- webhookResult{resp: reply.GetResponse()}
		}
	}
}
