package sdk

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/conversa/conversa/plugins/proto"
)

// DefaultCallTimeout bounds each provider call of a channel built on
// ChannelBase without a client of its own.
const DefaultCallTimeout = 45 * time.Second

// CodePluginError is the SendError code of a send the plugin itself failed
// on (a panic, an error of its own), as opposed to the provider's answer.
const CodePluginError = "plugin_error"

// ChannelBase holds what every channel written in Go needs besides its
// provider's specifics: an HTTP client whose calls reach the delivery log,
// a clock that tests set, a logger, and the frame around Send and CheckSend
// (SendWith, CheckSendWith). A channel embeds it, built by NewChannelBase
// from the options its own constructor takes:
//
//	type channel struct{ sdk.ChannelBase }
//
//	func New(opts ...sdk.ChannelOption) sdk.Channel {
//		return &channel{ChannelBase: sdk.NewChannelBase(opts...)}
//	}
//
//	func (c *channel) Send(ctx context.Context, req *proto.SendRequest) (*proto.SendResponse, error) {
//		return c.SendWith(ctx, req, c.prepare)
//	}
//
//	func (c *channel) CheckSend(ctx context.Context, req *proto.SendRequest) (*proto.SendResponse, error) {
//		return c.CheckSendWith(ctx, req, c.prepare)
//	}
type ChannelBase struct {
	client *http.Client
	clock  func() time.Time
	log    *slog.Logger
}

// ChannelOption changes how NewChannelBase builds a base. A channel's
// constructor takes them as they are, so every channel is configured alike.
type ChannelOption func(*ChannelBase)

// WithHTTPClient makes the channel call its provider with c instead of a
// client from NewHTTPClient (tests point it at a fake provider; c should
// carry its own timeouts). Its calls reach the delivery log all the same.
func WithHTTPClient(c *http.Client) ChannelOption {
	return func(b *ChannelBase) { b.client = c }
}

// WithClock replaces time.Now: the time of a request that carries no
// now_ms, and the time Retry-After dates are counted from.
func WithClock(now func() time.Time) ChannelOption {
	return func(b *ChannelBase) { b.clock = now }
}

// WithLogger replaces the channel's logger (Logger(), whose lines the host
// re-emits in its own log).
func WithLogger(l *slog.Logger) ChannelOption {
	return func(b *ChannelBase) { b.log = l }
}

// NewChannelBase builds a base from the options: by default a client from
// NewHTTPClient(DefaultCallTimeout), time.Now and Logger().
func NewChannelBase(opts ...ChannelOption) ChannelBase {
	var b ChannelBase
	for _, o := range opts {
		o(&b)
	}
	if b.client == nil {
		b.client = NewHTTPClient(DefaultCallTimeout)
	}
	// Whatever the client, its calls under RecordExchanges are kept.
	b.client = RecordingClient(b.client)
	if b.clock == nil {
		b.clock = time.Now
	}
	if b.log == nil {
		b.log = Logger()
	}
	return b
}

// HTTPClient is the client to call the provider with: calls made under
// SendWith's context reach the delivery log.
func (b ChannelBase) HTTPClient() *http.Client {
	if b.client == nil {
		// A base not built by NewChannelBase still calls safely, sharing
		// one client rather than a transport per call.
		return defaultClient()
	}
	return b.client
}

// defaultClient is built once, on first use, and never changed.
var defaultClient = sync.OnceValue(func() *http.Client { return NewHTTPClient(DefaultCallTimeout) })

// Logger is the channel's logger.
func (b ChannelBase) Logger() *slog.Logger {
	if b.log == nil {
		return Logger()
	}
	return b.log
}

// Now is the time of a call: the request's now_ms when the host set one
// (its clock, which decides messaging windows alike for every plugin), else
// the channel's clock. Now(0) is the channel's clock.
func (b ChannelBase) Now(nowMs int64) time.Time {
	if nowMs != 0 {
		return time.UnixMilli(nowMs)
	}
	if b.clock == nil {
		return time.Now()
	}
	return b.clock()
}

// Outgoing is a message a channel has checked and is ready to send.
type Outgoing struct {
	// Secrets are the credentials the calls carry: the delivery log hides
	// them wherever they appear, besides what it always hides.
	Secrets []string
	// Deliver calls the provider, with HTTPClient and under ctx (which
	// records each call), and reports the outcome as Send does: the
	// provider's ids, or its refusal or failure in SendResponse.error. An
	// error is a fault of the plugin's own, never the provider's answer.
	Deliver func(ctx context.Context) (*proto.SendResponse, error)
}

// PrepareFunc makes every check a channel's Send makes before calling the
// provider: settings (Problems.Refusal), recipient, messaging window,
// contents. It returns the message to deliver, or why it is refused (the
// base marks the error refused: nothing went out).
type PrepareFunc func(ctx context.Context, req *proto.SendRequest) (*Outgoing, *proto.SendError)

// SendWith is Send for a channel built on the base: prepare checks the
// message, then Outgoing.Deliver sends it under a context that records its
// HTTP calls, which come back in SendResponse.exchanges with credentials
// hidden. A panic in either, or an error from Deliver, becomes a SendError
// (CodePluginError) and a line in the log with its stack, rather than
// ending the process and every call in flight with it; its outcome is
// unknown once the provider was called. The error result is always nil:
// every failure is in the response, as the host expects of Send.
func (b ChannelBase) SendWith(ctx context.Context, req *proto.SendRequest, prepare PrepareFunc) (*proto.SendResponse, error) {
	out, refusal := b.runPrepare(ctx, req, prepare)
	if refusal != nil {
		return refusal, nil
	}
	return b.runDeliver(ctx, req, out), nil
}

// CheckSendWith is CheckSend for a channel built on the base: prepare's
// answer, without delivering (no call to the provider).
func (b ChannelBase) CheckSendWith(ctx context.Context, req *proto.SendRequest, prepare PrepareFunc) (*proto.SendResponse, error) {
	if _, refusal := b.runPrepare(ctx, req, prepare); refusal != nil {
		return refusal, nil
	}
	return &proto.SendResponse{}, nil
}

// runPrepare runs the channel's checks; a non-nil response is the answer.
func (b ChannelBase) runPrepare(ctx context.Context, req *proto.SendRequest, prepare PrepareFunc) (out *Outgoing, refusal *proto.SendResponse) {
	defer func() {
		if v := recover(); v != nil {
			b.fault(req, "a panic preparing a message", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			out, refusal = nil, &proto.SendResponse{Error: faultError(false)}
		}
	}()
	out, serr := prepare(ctx, req)
	switch {
	case serr != nil:
		serr.Refused = true
		return nil, &proto.SendResponse{Error: serr}
	case out == nil || out.Deliver == nil:
		b.fault(req, "a message prepared with nothing to deliver it")
		return nil, &proto.SendResponse{Error: faultError(false)}
	}
	return out, nil
}

// runDeliver runs Deliver under a recording context.
func (b ChannelBase) runDeliver(ctx context.Context, req *proto.SendRequest, out *Outgoing) (resp *proto.SendResponse) {
	ctx, calls := RecordExchanges(ctx, out.Secrets...)
	defer func() {
		if v := recover(); v != nil {
			// The log hides the message's credentials too.
			b.fault(req, "a panic delivering a message", "panic", calls.red.Text(fmt.Sprint(v)), "stack", string(debug.Stack()))
			resp = &proto.SendResponse{Error: faultError(len(calls.List()) > 0)}
		}
		resp.Exchanges = calls.List()
	}()
	resp, err := out.Deliver(ctx)
	switch {
	case err != nil:
		b.fault(req, "an error delivering a message", "error", calls.red.Text(err.Error()))
		// Parts that went out before the error keep their ids.
		resp = &proto.SendResponse{MessageIds: resp.GetMessageIds(), Error: faultError(len(calls.List()) > 0)}
	case resp == nil:
		b.fault(req, "a message delivered with no outcome reported")
		resp = &proto.SendResponse{Error: faultError(len(calls.List()) > 0)}
	}
	return resp
}

func (b ChannelBase) fault(req *proto.SendRequest, what string, args ...any) {
	args = append([]any{"integration", req.GetIntegration().GetId()}, args...)
	b.Logger().Error("channel plugin fault: "+what, args...)
}

// faultError is the SendError of a send the plugin failed on. Its message
// is for the operator: the plugin's log has the details.
func faultError(calledProvider bool) *proto.SendError {
	if !calledProvider {
		return &proto.SendError{
			Code:    CodePluginError,
			Message: "the channel plugin failed on this message before calling the provider, so nothing was sent (a fault in the plugin: its log has the details)",
			Refused: true,
		}
	}
	return &proto.SendError{
		Code:           CodePluginError,
		Message:        "the channel plugin failed on this message after calling the provider, so it may have been sent (a fault in the plugin: its log has the details)",
		UnknownOutcome: true,
	}
}
