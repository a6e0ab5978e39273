package rasa

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// Name and Version are what the plugin reports about itself.
const (
	Name    = "rasa"
	Version = "1.0.0"
)

// IntentUnsupported is reported, with no replies and no call to the bot,
// for a turn that has nothing to send as a message (audio without a
// caption...). The host normally answers those itself, since Describe
// declares text only.
const IntentUnsupported = "unsupported"

const (
	// maxResponse caps the bot's answer; a REST channel answer is a few
	// messages, so more is a misconfigured URL.
	maxResponse = 4 << 20
	// snippetLen is how much of an error body goes into the error.
	snippetLen = 200
)

// Rasa is an assistant backed by any bot that speaks Rasa's REST channel.
type Rasa struct {
	client *http.Client
}

// New returns the Rasa assistant.
func New() sdk.Assistant {
	// Each call carries its own deadline (timeout_ms), so the client has
	// none.
	return &Rasa{client: sdk.NewHTTPClient(0)} // bounded per call by timeout_ms
}

// Describe declares text only: the REST channel carries a message string,
// so other content is answered by the host's unsupported-media reply.
func (r *Rasa) Describe(context.Context) (*proto.AssistantInfo, error) {
	return &proto.AssistantInfo{Name: Name, Version: Version, InboundTypes: []string{sdk.ContentText}}, nil
}

// Converse sends the user's turn to the bot and translates its answer. Rasa
// keeps the dialogue state itself (its tracker, keyed by sender), so the
// session passes through unchanged.
func (r *Rasa) Converse(ctx context.Context, req *proto.ConverseRequest) (*proto.ConverseResponse, error) {
	cfg, err := parseSettings(req.GetSettingsJson())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "rasa: %v", err)
	}
	msg, ok := message(req.GetContents())
	if !ok {
		return &proto.ConverseResponse{Session: req.GetSession(), Intent: IntentUnsupported}, nil
	}
	body, err := json.Marshal(restRequest{
		Sender:  req.GetIntegrationId() + ":" + req.GetConversationId(),
		Message: msg,
		Metadata: restMetadata{
			Integration:  req.GetIntegrationId(),
			Channel:      req.GetChannel(),
			Conversation: req.GetConversationId(),
			Contact: restContact{
				ID:       req.GetContact().GetId(),
				Username: req.GetContact().GetUsername(),
				Name:     req.GetContact().GetName(),
			},
			Contents: contentsJSON(req.GetContents()),
		},
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "rasa: %v", err)
	}
	msgs, err := r.post(ctx, cfg, body)
	if err != nil {
		return nil, err
	}
	res := replies(msgs)
	res.Session = req.GetSession()
	return res, nil
}

// message is what the user said, as the REST channel's message string: a
// tapped button's payload (Rasa buttons carry "/intent" payloads), else the
// text, else a media caption.
func message(contents []*proto.Content) (string, bool) {
	for _, c := range contents {
		if c.GetPayload() != "" {
			return c.GetPayload(), true
		}
	}
	for _, field := range []func(*proto.Content) string{(*proto.Content).GetText, (*proto.Content).GetCaption} {
		var parts []string
		for _, c := range contents {
			if s := field(c); s != "" {
				parts = append(parts, s)
			}
		}
		if len(parts) > 0 {
			return strings.Join(parts, "\n"), true
		}
	}
	return "", false
}

// post calls the bot. Every failure is an error, so that the host retries
// and, after its bounded attempts, hands the conversation to people.
func (r *Rasa) post(ctx context.Context, cfg config, body []byte) ([]botMessage, error) {
	where := "rasa: POST " + redact(cfg.url)
	callCtx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, http.MethodPost, cfg.url.String(), bytes.NewReader(body))
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%s: %v", where, err)
	}
	for k, v := range cfg.headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	failed := func(err error) error {
		switch {
		case ctx.Err() != nil:
			// The host gave up (shutdown, its own deadline): not the bot's fault.
			return status.Errorf(status.FromContextError(ctx.Err()).Code(), "%s: %v", where, ctx.Err())
		case callCtx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
			return status.Errorf(codes.DeadlineExceeded, "%s: timed out after %v", where, cfg.timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // it repeats the method and the unredacted URL
		}
		return status.Errorf(codes.Unavailable, "%s: %v", where, err)
	}

	resp, err := r.client.Do(req)
	if err != nil {
		return nil, failed(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, failed(err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, status.Errorf(codes.Unavailable, "%s: %s: %s", where, resp.Status, snippet(data))
	}
	if len(data) > maxResponse {
		return nil, status.Errorf(codes.Internal, "%s: response larger than %d MiB", where, maxResponse>>20)
	}
	var msgs []botMessage
	if err := json.Unmarshal(data, &msgs); err != nil {
		reason := err.Error()
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			// Its own text names Go types.
			reason = strings.TrimPrefix(te.Field+": ", ": ") + "unexpected " + te.Value
		}
		return nil, status.Errorf(codes.Internal, "%s: invalid JSON response (want an array of messages): %s: %s", where, reason, snippet(data))
	}
	return msgs, nil
}

// snippet is the start of a response body on one line, for an error. It
// must be valid UTF-8: the error becomes a gRPC status message.
func snippet(b []byte) string {
	cut := len(b) > snippetLen
	if cut {
		b = b[:snippetLen]
	}
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "")), " ")
	if s == "" {
		return "(empty body)"
	}
	if cut {
		s += "…"
	}
	return s
}

// replies translates the bot's messages, in order: a text with buttons is
// one quick_replies content (the text is the prompt), an image an image
// content; custom.handoff, custom.end and custom.squad set the flags and the
// squad (when several messages set them, any true flag wins and the last
// squad wins).
func replies(msgs []botMessage) *proto.ConverseResponse {
	res := &proto.ConverseResponse{}
	for _, m := range msgs {
		var opts []*proto.Option
		for _, b := range m.Buttons {
			title, payload := cmp.Or(b.Title, b.Payload), cmp.Or(b.Payload, b.Title)
			if title != "" {
				opts = append(opts, &proto.Option{Title: title, Payload: payload})
			}
		}
		switch {
		case len(opts) > 0:
			res.Replies = append(res.Replies, &proto.Content{Type: sdk.ContentQuickReplies, Text: m.Text, Options: opts})
		case m.Text != "":
			res.Replies = append(res.Replies, &proto.Content{Type: sdk.ContentText, Text: m.Text})
		}
		if m.Image != "" {
			res.Replies = append(res.Replies, &proto.Content{Type: sdk.ContentImage, Url: m.Image})
		}
		applyCustom(res, m.Custom)
	}
	return res
}

// applyCustom reads the keys of a custom payload Conversa understands. A
// custom payload is whatever the bot's authors chose to send, so anything
// else, including these keys with other types, is ignored.
func applyCustom(res *proto.ConverseResponse, raw json.RawMessage) {
	if len(raw) == 0 {
		return
	}
	var c map[string]json.RawMessage
	if json.Unmarshal(raw, &c) != nil {
		return
	}
	var b bool
	if json.Unmarshal(c["handoff"], &b) == nil && b {
		res.Handoff = true
	}
	b = false
	if json.Unmarshal(c["end"], &b) == nil && b {
		res.End = true
	}
	var squad string
	if json.Unmarshal(c["squad"], &squad) == nil && squad != "" {
		res.Squad = squad
	}
}
