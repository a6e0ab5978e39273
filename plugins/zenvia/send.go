package zenvia

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// Instagram's messaging windows, counted from the user's last message. A
// human agent's reply (Zenvia's HUMAN representative) gets the longer one.
const (
	botWindow   = 24 * time.Hour
	agentWindow = 7 * 24 * time.Hour
)

// maxResponseBytes bounds what is read of Zenvia's answers: they are a
// message echo or an error, a few kilobytes at most.
const maxResponseBytes = 1 << 20

// Codes of the errors Send reports itself (Zenvia's own codes pass through).
const (
	codeSettings           = sdk.CodeSettings
	codeNoContact          = "no_contact"
	codeNoInbound          = "no_inbound"
	codeOutsideWindow      = "outside_window"
	codeUnsupportedContent = "unsupported_content"
	codeEmpty              = "empty_message"
	codeNetwork            = "network"
	codeTimeout            = "timeout"
	codeNoMessageID        = "no_message_id"
	codeRateLimited        = "rate_limited"
)

// outMessage is the body of POST /v2/channels/instagram/messages.
type outMessage struct {
	From           string          `json:"from"`
	To             string          `json:"to"`
	Contents       []outContent    `json:"contents"`
	ExternalID     string          `json:"externalId,omitempty"`
	Representative *representative `json:"representative,omitempty"`
}

type outContent struct {
	Type         string `json:"type"`
	Text         string `json:"text,omitempty"`
	FileURL      string `json:"fileUrl,omitempty"`
	FileMimeType string `json:"fileMimeType,omitempty"`
}

type representative struct {
	Type string `json:"type"`
}

// contentError is a content Send cannot carry.
type contentError struct {
	code, message string
}

func (e *contentError) Error() string { return e.message }

func (c *channel) Send(ctx context.Context, req *proto.SendRequest) (*proto.SendResponse, error) {
	return c.SendWith(ctx, req, c.prepare)
}

// CheckSend runs every check Send makes before calling the provider, and
// stops there.
func (c *channel) CheckSend(ctx context.Context, req *proto.SendRequest) (*proto.SendResponse, error) {
	return c.CheckSendWith(ctx, req, c.prepare)
}

// prepare refuses what Zenvia or Instagram would refuse, before any call,
// and builds the message.
func (c *channel) prepare(_ context.Context, req *proto.SendRequest) (*sdk.Outgoing, *proto.SendError) {
	s, problems := sendSettings(req.GetIntegration().GetSettingsJson())
	if refusal := problems.Refusal(); refusal != nil {
		// Before any call: nothing went out, and retrying cannot help until
		// the operator fixes the integration.
		return nil, refusal
	}
	if req.GetContact().GetId() == "" {
		return nil, refusedErr(codeNoContact, "the contact has no Zenvia id to send to")
	}
	if e := c.checkWindow(req); e != nil {
		return nil, e
	}
	msg, err := buildMessage(s, req)
	if err != nil {
		var ce *contentError
		if errors.As(err, &ce) {
			return nil, refusedErr(ce.code, ce.message)
		}
		return nil, refusedErr(codeUnsupportedContent, err.Error())
	}
	return &sdk.Outgoing{
		Secrets: []string{s.APIToken, s.WebhookToken},
		Deliver: func(ctx context.Context) (*proto.SendResponse, error) { return c.post(ctx, s, msg), nil },
	}, nil
}

func refusedErr(code, message string) *proto.SendError {
	return &proto.SendError{Code: code, Message: message, Refused: true}
}

func refused(code, message string) *proto.SendResponse {
	return &proto.SendResponse{Error: refusedErr(code, message)}
}

// checkWindow enforces Instagram's rule that a business only answers: never
// to a contact who has not written, and only within the window that applies
// to the author.
func (c *channel) checkWindow(req *proto.SendRequest) *proto.SendError {
	last := req.GetContact().GetLastInboundMs()
	if last <= 0 {
		return &proto.SendError{
			Code:    codeNoInbound,
			Message: "the contact has never written: Instagram does not let a business start a conversation",
			Refused: true,
		}
	}
	now := c.Now(req.GetNowMs()).UnixMilli()
	window, who := botWindow, "assistant and system replies"
	if req.GetAuthorKind() == sdk.AuthorAgent {
		window, who = agentWindow, "human agent replies"
	}
	if elapsed := time.Duration(now-last) * time.Millisecond; elapsed > window {
		return &proto.SendError{
			Code: codeOutsideWindow,
			Message: fmt.Sprintf("the contact last wrote %s ago; Instagram allows %s for %s",
				elapsed.Round(time.Minute), window, who),
			Refused: true,
		}
	}
	return nil
}

func buildMessage(s settings, req *proto.SendRequest) (*outMessage, error) {
	contents, err := outContents(req.GetContents())
	if err != nil {
		return nil, err
	}
	msg := &outMessage{
		From:     s.SenderID,
		To:       req.GetContact().GetId(),
		Contents: contents,
		// Zenvia echoes it in MESSAGE_STATUS (message.externalId).
		ExternalID: req.GetIdempotencyKey(),
	}
	if req.GetAuthorKind() == sdk.AuthorAgent {
		// Without it Zenvia assumes a bot, and Instagram closes the window
		// after 24 hours instead of 7 days.
		msg.Representative = &representative{Type: "HUMAN"}
	}
	return msg, nil
}

// outContents maps contents to what Zenvia's Instagram channel accepts: text
// and image files. Everything else becomes text.
func outContents(in []*proto.Content) ([]outContent, error) {
	var out []outContent
	text := func(t string) {
		if strings.TrimSpace(t) != "" {
			out = append(out, outContent{Type: "text", Text: t})
		}
	}
	for i, c := range in {
		switch c.GetType() {
		case sdk.ContentText:
			text(c.GetText())
		case sdk.ContentImage, sdk.ContentFile, sdk.ContentAudio, sdk.ContentVideo:
			if strings.TrimSpace(c.GetUrl()) == "" {
				return nil, &contentError{codeUnsupportedContent, fmt.Sprintf("contents[%d]: %s without a url", i, c.GetType())}
			}
			mime := strings.TrimSpace(c.GetMimeType())
			switch {
			case c.GetType() == sdk.ContentImage, isImageMime(mime),
				c.GetType() == sdk.ContentFile && mime == "":
				// Zenvia infers a missing type from the download, and
				// Instagram shows the file if it turns out to be an image.
				out = append(out, outContent{Type: "file", FileURL: c.GetUrl(), FileMimeType: mime})
				// Instagram has no captions: the caption follows as text.
				text(c.GetCaption())
			default:
				// Instagram through Zenvia takes no audio, video or
				// documents: send the link.
				label := c.GetCaption()
				if strings.TrimSpace(label) == "" {
					label = c.GetName()
				}
				if strings.TrimSpace(label) != "" {
					text(label + "\n" + c.GetUrl())
				} else {
					text(c.GetUrl())
				}
			}
		default:
			// The host converts components to text before Send; whatever
			// still slips through goes out as its text if it has one.
			if strings.TrimSpace(c.GetText()) == "" {
				return nil, &contentError{codeUnsupportedContent,
					fmt.Sprintf("contents[%d]: type %q cannot be sent through Zenvia and has no text", i, c.GetType())}
			}
			text(c.GetText())
		}
	}
	if len(out) == 0 {
		return nil, &contentError{codeEmpty, "nothing to send: every content is empty"}
	}
	return out, nil
}

func isImageMime(mime string) bool {
	return strings.HasPrefix(strings.ToLower(mime), "image/")
}

// post sends the message and maps Zenvia's answer (reference SPEC §2.6).
func (c *channel) post(ctx context.Context, s settings, msg *outMessage) *proto.SendResponse {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(msg); err != nil {
		return refused(codeUnsupportedContent, fmt.Sprintf("encode message: %v", err))
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.APIURL+"/v2/channels/instagram/messages", &body)
	if err != nil {
		return refused(codeSettings, fmt.Sprintf("request: %v", err))
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("X-API-TOKEN", s.APIToken)

	resp, err := c.HTTPClient().Do(hreq)
	if err != nil {
		return &proto.SendResponse{Error: transportError(err)}
	}
	defer resp.Body.Close()
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		id := responseID(data)
		if readErr != nil || id == "" {
			// Zenvia took the request but gave no id: the message may well
			// be on its way.
			return &proto.SendResponse{Error: &proto.SendError{
				Code:           codeNoMessageID,
				Message:        fmt.Sprintf("Zenvia answered %d without a message id", resp.StatusCode),
				Retryable:      true,
				UnknownOutcome: true,
			}}
		}
		return &proto.SendResponse{MessageIds: []string{id}}
	}
	return &proto.SendResponse{Error: c.httpError(resp, data)}
}

// responseID is the id of the message Zenvia took, from its answer (which
// repeats the whole message): read in one pass, as webhooks are.
func responseID(data []byte) string {
	root, t := readTree(data)
	defer releaseTree(t)
	return root.object().str("id")
}

// httpError maps a non-2xx answer: 5xx, 429 and 408 are worth retrying,
// every other status means the request itself is wrong.
func (c *channel) httpError(resp *http.Response, data []byte) *proto.SendError {
	status := resp.StatusCode
	e := &proto.SendError{Code: fmt.Sprintf("http_%d", status)}
	code, message := apiError(data)
	if code != "" {
		e.Code = code
	}
	e.Message = message
	if e.Message == "" {
		e.Message = http.StatusText(status)
		if snippet := bodySnippet(data); snippet != "" {
			e.Message += ": " + snippet
		}
	}
	e.Message = fmt.Sprintf("Zenvia answered %d: %s", status, e.Message)
	switch {
	case status == http.StatusTooManyRequests:
		if code == "" {
			e.Code = codeRateLimited
		}
		e.Retryable = true
		e.RetryAfterMs = c.retryAfter(resp.Header.Get("Retry-After"))
	case status >= 500, status == http.StatusRequestTimeout:
		// The request may have been processed before the failure.
		e.Retryable = true
		e.UnknownOutcome = true
		e.RetryAfterMs = c.retryAfter(resp.Header.Get("Retry-After"))
	case status == http.StatusUnauthorized:
		e.Reauthorize = true
	case status >= 300 && status < 400:
		e.Message += fmt.Sprintf(" (redirect to %q: check api_url)", resp.Header.Get("Location"))
	}
	return e
}

// apiError reads Zenvia's error body {code, message, details[{code, path,
// message}]}; the details carry what actually went wrong.
func apiError(data []byte) (code, message string) {
	o := decodeObject(data)
	if !o.ok() {
		return "", ""
	}
	code, message = strings.TrimSpace(o.str("code")), strings.TrimSpace(o.str("message"))
	var details []string
	for _, item := range o.arr("details") {
		d := item.object()
		m := strings.TrimSpace(d.str("message"))
		if m == "" {
			continue
		}
		if p := strings.TrimSpace(d.str("path")); p != "" {
			m = p + ": " + m
		}
		details = append(details, m)
	}
	if len(details) > 0 {
		if message != "" {
			message += ": "
		}
		message += strings.Join(details, "; ")
	}
	return code, message
}

func bodySnippet(data []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(data), "?"))
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "..."
	}
	return s
}

// retryAfter reads Retry-After (seconds or an HTTP date) as milliseconds.
func (c *channel) retryAfter(v string) int64 {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return min(secs, int64(24*time.Hour/time.Second)) * 1000
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(c.Now(0)); d > 0 {
			return min(d, 24*time.Hour).Milliseconds()
		}
	}
	return 0
}

// transportError maps a failure to get an answer. Every such failure is
// worth retrying; the outcome is known only when no connection was made.
func transportError(err error) *proto.SendError {
	e := &proto.SendError{
		Code:           codeNetwork,
		Message:        fmt.Sprintf("Zenvia unreachable: %v", err),
		Retryable:      true,
		UnknownOutcome: true,
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		e.Code = codeTimeout
	}
	var op *net.OpError
	var dns *net.DNSError
	if errors.As(err, &op) && op.Op == "dial" || errors.As(err, &dns) {
		e.UnknownOutcome = false
	}
	return e
}
