package sdk

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The calls of the hot path travel on long-lived streams, one per kind and
// plugin process (Channel.HandleWebhooks for webhooks, Channel.Calls for
// Send and Profile, Assistant.Converses for Converse), rather than as a
// gRPC call each: a call's own HTTP/2 stream, headers, trailers and server
// goroutine cost more than its bytes (about 30 µs of CPU per call across
// the two processes, BenchmarkWebhookHopTransport's after-stream). A
// stream changes nothing else: each message is still one call of the
// implementation, with its own deadline, answered as the call would have
// been, and a plugin that does not serve a stream gets plain calls.
//
// This file is the machinery the three streams share; webhooks.go and
// grpc.go say how each one's messages carry its calls.

// callKind is how one stream's generated messages carry calls and
// replies.
type callKind[Call, Reply any] struct {
	// method names the calls in the errors the SDK makes for them.
	method string
	// stamp sets a call's id and timeout (milliseconds, 0 for none).
	stamp func(c *Call, id uint64, timeoutMS int64)
	// header reads them back, and whether the message cancels the call of
	// that id rather than making one.
	header func(c *Call) (id uint64, timeoutMS int64, cancel bool)
	// cancel is the message that cancels call id; nil for a stream whose
	// calls cannot be cancelled (HandleWebhooks, which came first).
	cancel func(id uint64) *Call
	// replyID and replyError read a reply: its call's id, and the failure
	// it carries (code 0 for none).
	replyID    func(r *Reply) uint64
	replyError func(r *Reply) (code int32, message string)
	// failure is the reply of a call that failed.
	failure func(id uint64, code int32, message string) *Reply
}

// serveCalls serves a stream of calls: each runs on a goroutine of its own,
// as a unary call would, with the call's deadline, and its reply is sent
// when it ends. The goroutines stay for the next calls while calls keep
// coming (see callWorkerIdle), so a call does not pay for a new goroutine's
// stack to grow again: that was a fifth of a small webhook's CPU in the
// plugin. run answers a call with its reply, or an error the reply reports
// as a unary call's error would be.
func serveCalls[Call, Reply any](stream grpc.BidiStreamingServer[Call, Reply], k *callKind[Call, Reply],
	run func(context.Context, uint64, *Call) (*Reply, error)) error {
	ctx := stream.Context()
	var send sync.Mutex // a stream's Send is not safe for concurrent use
	var mu sync.Mutex
	cancels := map[uint64]context.CancelFunc{} // calls in flight, when k.cancel is set
	type work struct {
		id   uint64
		ms   int64
		call *Call
		ctx  context.Context
	}
	var workers sync.WaitGroup
	queue := make(chan work)
	defer func() {
		close(queue)
		workers.Wait()
	}()
	serve := func(w work) {
		ctx, stop := w.ctx, context.CancelFunc(func() {})
		if w.ms > 0 {
			ctx, stop = context.WithTimeout(ctx, time.Duration(w.ms)*time.Millisecond)
		}
		reply, err := run(ctx, w.id, w.call)
		stop()
		if k.cancel != nil {
			mu.Lock()
			if c := cancels[w.id]; c != nil {
				c()
				delete(cancels, w.id)
			}
			mu.Unlock()
		}
		if err != nil || reply == nil {
			code, msg := callStatus(err, k.method)
			reply = k.failure(w.id, code, msg)
		}
		send.Lock()
		defer send.Unlock()
		_ = stream.Send(reply) // fails only when the stream is gone, and with it the host's wait
	}
	for {
		call, err := stream.Recv()
		if err != nil {
			return err // the host closed the stream (io.EOF) or went away
		}
		id, ms, cancel := k.header(call)
		w := work{id: id, ms: ms, call: call, ctx: ctx}
		if k.cancel != nil {
			mu.Lock()
			if cancel {
				if c := cancels[id]; c != nil {
					c()
					delete(cancels, id)
				}
				mu.Unlock()
				continue
			}
			var c context.CancelFunc
			w.ctx, c = context.WithCancel(ctx)
			cancels[id] = c
			mu.Unlock()
		}
		select {
		case queue <- w: // an idle worker takes it
			continue
		default:
		}
		workers.Add(1)
		go func() {
			defer workers.Done()
			serve(w)
			idle := time.NewTimer(callWorkerIdle)
			defer idle.Stop()
			for {
				select {
				case w, ok := <-queue:
					if !ok {
						return
					}
					serve(w)
					idle.Reset(callWorkerIdle)
				case <-idle.C:
					return
				}
			}
		}()
	}
}

// callWorkerIdle is how long a goroutine of a call stream waits for
// another call before it ends.
const callWorkerIdle = 10 * time.Second

// callStatus is how a unary call would have reported err: its status
// code, never OK, and message. A nil err is a call that returned neither
// a response nor an error.
func callStatus(err error, method string) (int32, string) {
	if err == nil {
		// What a unary call does with a nil reply.
		return int32(codes.Internal), method + " returned no response"
	}
	// As grpc-go's server reports a handler's error.
	st, ok := status.FromError(err)
	if !ok {
		st = status.FromContextError(err)
	}
	if st.Code() == codes.OK {
		return int32(codes.Unknown), st.Message()
	}
	return int32(st.Code()), st.Message()
}

// callStream is the host's end of a stream of calls: the calls in flight
// by id, and the goroutine that hands each reply to its caller. A stream
// that breaks fails the calls in flight (Unavailable) and is opened again
// by the next call; one the plugin does not serve has every call made
// unary.
type callStream[Call, Reply any] struct {
	kind *callKind[Call, Reply]
	open func(context.Context) (grpc.BidiStreamingClient[Call, Reply], error)

	mu          sync.Mutex
	stream      grpc.BidiStreamingClient[Call, Reply]
	out         chan *Call // to the stream's sender
	pending     map[uint64]chan callResult[Reply]
	next        uint64
	unsupported bool
}

// sendQueue is how many calls may wait for a stream's sender. Callers
// never wait on the stream itself: a plugin that stops reading would
// otherwise hold them past their deadlines.
const sendQueue = 256

type callResult[Reply any] struct {
	reply *Reply
	err   error
	// unary: the plugin does not serve the stream; make the call unary.
	unary bool
}

// call sends c on the stream, stamped with an id and the context's
// deadline, and returns its reply when that carries no failure (the
// failure as an error otherwise); unary is true when it could not be sent
// (the plugin does not serve the stream) and the caller should make the
// call itself.
func (s *callStream[Call, Reply]) call(ctx context.Context, c *Call) (reply *Reply, unary bool, err error) {
	s.mu.Lock()
	if s.unsupported {
		s.mu.Unlock()
		return nil, true, nil
	}
	if s.stream == nil {
		// The stream outlives every call: it ends with the connection.
		st, err := s.open(context.Background())
		if err != nil {
			s.mu.Unlock()
			return nil, false, err
		}
		s.stream = st
		s.pending = map[uint64]chan callResult[Reply]{}
		s.out = make(chan *Call, sendQueue)
		ended := make(chan struct{})
		go s.receive(st, s.pending, ended)
		go sendCalls(st, s.out, ended)
	}
	out, pending := s.out, s.pending
	s.next++
	id := s.next
	done := make(chan callResult[Reply], 1)
	pending[id] = done
	s.mu.Unlock()

	var ms int64
	if d, ok := ctx.Deadline(); ok {
		ms = max(1, time.Until(d).Milliseconds())
	}
	s.kind.stamp(c, id, ms)
	select {
	case out <- c:
	case res := <-done: // the stream broke meanwhile
		return res.reply, res.unary, res.err
	case <-ctx.Done():
		return s.abandon(ctx, out, pending, id, false)
	}
	select {
	case res := <-done:
		return res.reply, res.unary, res.err
	case <-ctx.Done():
		return s.abandon(ctx, out, pending, id, true)
	}
}

// abandon forgets a call whose caller gave up, and cancels it in the
// plugin when it was sent and the stream can say so; a reply that comes
// later is dropped.
func (s *callStream[Call, Reply]) abandon(ctx context.Context, out chan<- *Call, pending map[uint64]chan callResult[Reply], id uint64, sent bool) (*Reply, bool, error) {
	s.mu.Lock()
	_, waiting := pending[id]
	delete(pending, id)
	s.mu.Unlock()
	if sent && waiting && s.kind.cancel != nil {
		select {
		case out <- s.kind.cancel(id):
		default: // the sender is behind: the call ends by its deadline
		}
	}
	return nil, false, status.FromContextError(ctx.Err()).Err()
}

// sendCalls sends the calls queued for a stream until it ends. A failed
// Send means it is broken: its receiver then fails the calls waiting, with
// the reason (Send only says io.EOF), and closes ended.
func sendCalls[Call, Reply any](s grpc.BidiStreamingClient[Call, Reply], out <-chan *Call, ended <-chan struct{}) {
	for {
		select {
		case c := <-out:
			if s.Send(c) != nil {
				return
			}
		case <-ended:
			return
		}
	}
}

// receive hands each reply to its caller until the stream ends, then fails
// the calls still waiting and stops the sender.
func (s *callStream[Call, Reply]) receive(st grpc.BidiStreamingClient[Call, Reply], pending map[uint64]chan callResult[Reply], ended chan struct{}) {
	defer close(ended)
	for {
		reply, err := st.Recv()
		if err != nil {
			s.mu.Lock()
			unsupported := status.Code(err) == codes.Unimplemented
			if unsupported {
				s.unsupported = true
			}
			if s.stream == st {
				s.stream, s.pending, s.out = nil, nil, nil
			}
			if !unsupported && status.Code(err) != codes.Canceled {
				// A stream that ended is a plugin that cannot be reached.
				err = status.Errorf(codes.Unavailable, "%s stream: %v", s.kind.method, err)
			}
			for id, done := range pending {
				done <- callResult[Reply]{err: err, unary: unsupported}
				delete(pending, id)
			}
			s.mu.Unlock()
			return
		}
		id := s.kind.replyID(reply)
		s.mu.Lock()
		done, ok := pending[id]
		delete(pending, id)
		s.mu.Unlock()
		if !ok {
			continue // its caller gave up
		}
		if code, msg := s.kind.replyError(reply); code != int32(codes.OK) {
			done <- callResult[Reply]{err: status.Error(codes.Code(code), msg)}
		} else {
			done <- callResult[Reply]{reply: reply}
		}
	}
}
