package meta

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// Instagram's messaging windows, counted from the user's last message.
const (
	standardWindow   = 24 * time.Hour
	humanAgentWindow = 7 * 24 * time.Hour
)

// sendBody is one Send API request. Field order follows Meta's samples.
type sendBody struct {
	Recipient     recipient   `json:"recipient"`
	MessagingType string      `json:"messaging_type,omitempty"`
	Tag           string      `json:"tag,omitempty"`
	Message       *outMessage `json:"message"`
	ReplyTo       *replyTo    `json:"reply_to,omitempty"`
}

type recipient struct {
	ID string `json:"id"`
}

type replyTo struct {
	Mid string `json:"mid"`
}

type outMessage struct {
	Text         string          `json:"text,omitempty"`
	QuickReplies []quickReply    `json:"quick_replies,omitempty"`
	Attachment   *outAttachment  `json:"attachment,omitempty"`
	Attachments  []outAttachment `json:"attachments,omitempty"`
}

type quickReply struct {
	ContentType string `json:"content_type"`
	Title       string `json:"title"`
	Payload     string `json:"payload"`
}

type outAttachment struct {
	Type    string     `json:"type"`
	Payload urlPayload `json:"payload"`
}

type urlPayload struct {
	URL string `json:"url"`
}

// Send delivers one outbound message, which may take several Send API
// calls: a long text goes out in parts, and each medium is its own message.
// Everything that can be refused is refused before the first call; a dry
// run stops there, answering as Send would without calling Meta.
//
// If a call fails after earlier parts went out, the ids sent so far come
// back with the error, which is then never retryable: a retry would send
// those parts again, and the Send API has no idempotency key.
func (c *channel) Send(ctx context.Context, req *proto.SendRequest) (*proto.SendResponse, error) {
	return c.SendWith(ctx, req, c.prepare)
}

// CheckSend runs every check Send makes before calling the provider, and
// stops there.
func (c *channel) CheckSend(ctx context.Context, req *proto.SendRequest) (*proto.SendResponse, error) {
	return c.CheckSendWith(ctx, req, c.prepare)
}

// prepare refuses what Instagram would refuse, before any call, and builds
// the Send API messages.
func (c *channel) prepare(_ context.Context, req *proto.SendRequest) (*sdk.Outgoing, *proto.SendError) {
	s, problems := graphSettings(req.GetIntegration().GetSettingsJson())
	if refusal := problems.Refusal(); refusal != nil {
		return nil, refusal
	}
	to := strings.TrimSpace(req.GetContact().GetId())
	if to == "" {
		return nil, refusedErr("no_recipient", "the contact has no Instagram id to send to")
	}
	now := c.Now(req.GetNowMs()).UnixMilli()
	messagingType, tag, refusal := window(s, req.GetContact().GetLastInboundMs(), now, req.GetAuthorKind())
	if refusal != nil {
		return nil, refusal
	}
	msgs, refusal := buildMessages(req.GetContents())
	if refusal != nil {
		return nil, refusal
	}
	return &sdk.Outgoing{
		Secrets: []string{s.AccessToken, s.AppSecret, s.VerifyToken},
		Deliver: func(ctx context.Context) (*proto.SendResponse, error) {
			return c.deliver(ctx, s, req, to, messagingType, tag, msgs), nil
		},
	}, nil
}

// deliver makes the Send API calls, one per message, in order.
func (c *channel) deliver(ctx context.Context, s settings, req *proto.SendRequest, to, messagingType, tag string, msgs []*outMessage) *proto.SendResponse {
	resp := &proto.SendResponse{}
	for i, m := range msgs {
		b := sendBody{Recipient: recipient{ID: to}, MessagingType: messagingType, Tag: tag, Message: m}
		if i == 0 && req.GetReplyTo() != "" {
			b.ReplyTo = &replyTo{Mid: req.GetReplyTo()}
		}
		id, serr := c.sendOne(ctx, s, b)
		if serr != nil {
			if i > 0 {
				serr.Retryable = false
				serr.RetryAfterMs = 0
				serr.Message = fmt.Sprintf("%s (after %d of %d parts went out; not retried, which would send them twice)",
					serr.Message, i, len(msgs))
			}
			resp.Error = serr
			return resp
		}
		if id != "" {
			resp.MessageIds = append(resp.MessageIds, id)
		}
	}
	return resp
}

// window decides, before any call, whether Instagram allows this message now
// and with which messaging type: inside 24 h of the user's last message
// anyone may answer; up to 7 days only a human agent, with the HUMAN_AGENT
// tag, when the integration has that permission; after that nobody.
func window(s settings, lastInboundMs, nowMs int64, author string) (messagingType, tag string, refusal *proto.SendError) {
	if lastInboundMs <= 0 {
		return "", "", refusedErr("no_inbound",
			"the user has never written: on Instagram a business may only answer conversations the user started")
	}
	age := time.Duration(nowMs-lastInboundMs) * time.Millisecond
	switch {
	case age < standardWindow:
		if s.Login == LoginFacebook {
			// Messenger-platform sends state their type; Instagram-login
			// samples leave it out.
			return "RESPONSE", "", nil
		}
		return "", "", nil
	case age < humanAgentWindow && author == sdk.AuthorAgent && s.HumanAgentTag:
		return "MESSAGE_TAG", "HUMAN_AGENT", nil
	case age < humanAgentWindow && author != sdk.AuthorAgent:
		return "", "", refusedErr("outside_window",
			"more than 24 hours since the user's last message: only a human agent may answer now (HUMAN_AGENT tag, up to 7 days)")
	case age < humanAgentWindow:
		return "", "", refusedErr("outside_window",
			"more than 24 hours since the user's last message, and human_agent_tag is off for this integration: Instagram allows no reply until the user writes again")
	default:
		return "", "", refusedErr("outside_window",
			"more than 7 days since the user's last message: Instagram allows no reply until the user writes again")
	}
}

// buildMessages turns contents into Send API messages, in order. Images in a
// row go out together (up to 10 in one message, as Instagram shows them as
// one group); everything else is a message of its own.
func buildMessages(contents []*proto.Content) ([]*outMessage, *proto.SendError) {
	var out []*outMessage
	// The message the next image may join, if the previous content was a
	// plain image.
	var album *outMessage
	for i, ct := range contents {
		joinable := album
		album = nil
		switch typ := ct.GetType(); typ {
		case sdk.ContentText:
			out = appendText(out, ct.GetText(), nil)
		case sdk.ContentQuickReplies:
			if strings.TrimSpace(ct.GetText()) == "" {
				return nil, invalidContent(i, "quick replies need a text")
			}
			out = appendText(out, ct.GetText(), quickReplies(ct.GetOptions()))
		case sdk.ContentSelect, sdk.ContentOptionList:
			// The host converts these before Send; should one slip through,
			// a numbered list still lets the user answer.
			out = appendText(out, optionsText(ct), nil)
		case sdk.ContentImage, sdk.ContentAudio, sdk.ContentVideo, sdk.ContentFile:
			u := strings.TrimSpace(ct.GetUrl())
			if u == "" {
				return nil, invalidContent(i, typ+" without a URL")
			}
			if linkOnly(typ, ct.GetMimeType()) {
				// Instagram's file attachments are PDFs: any other document
				// goes as its link, which the user opens.
				out = appendText(out, linkText(ct), nil)
				continue
			}
			a := outAttachment{Type: attachmentType(typ, ct.GetMimeType()), Payload: urlPayload{URL: u}}
			caption := strings.TrimSpace(ct.GetCaption())
			switch {
			case a.Type == sdk.ContentImage && joinable != nil && len(joinable.Attachments) < maxImagesPerMessage:
				if joinable.Attachment != nil {
					joinable.Attachments = []outAttachment{*joinable.Attachment}
					joinable.Attachment = nil
				}
				joinable.Attachments = append(joinable.Attachments, a)
				album = joinable
			default:
				m := &outMessage{Attachment: &a}
				out = append(out, m)
				if a.Type == sdk.ContentImage {
					album = m
				}
			}
			if caption != "" {
				// Instagram attachments carry no caption: it follows as text.
				out = appendText(out, caption, nil)
				album = nil
			}
		case sdk.ContentShare:
			if strings.TrimSpace(ct.GetUrl()) == "" {
				return nil, invalidContent(i, "share without a URL")
			}
			out = appendText(out, strings.TrimSpace(ct.GetTitle()+"\n"+ct.GetUrl()), nil)
		default:
			return nil, &proto.SendError{
				Code:    "unsupported_content",
				Message: fmt.Sprintf("content %d: Instagram cannot carry %q", i+1, truncate(typ, 32)),
				Refused: true,
			}
		}
	}
	if len(out) == 0 {
		return nil, &proto.SendError{Code: "empty_message", Message: "nothing to send", Refused: true}
	}
	if len(out) > maxSendCalls {
		return nil, refusedErr("too_long", fmt.Sprintf("the message would take %d Instagram messages (texts are cut at %d bytes); at most %d are sent for one message",
			len(out), maxTextBytes, maxSendCalls))
	}
	return out, nil
}

// attachmentType picks the Send API type: a "file" that is really an image,
// a video or audio goes out as such, because Instagram shows those inline.
func attachmentType(typ, mimeType string) string {
	if typ != sdk.ContentFile {
		return typ
	}
	switch major, _, _ := strings.Cut(strings.ToLower(mimeType), "/"); major {
	case "image", "video", "audio":
		return major
	}
	return sdk.ContentFile
}

// linkOnly reports whether a file of a given type cannot be an attachment:
// Instagram takes images, video, audio and PDF documents, nothing else.
func linkOnly(typ, mimeType string) bool {
	base, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(mimeType)), ";")
	return typ == sdk.ContentFile && base != "" && attachmentType(typ, base) == sdk.ContentFile && base != "application/pdf"
}

// linkText is a file as text: its caption or name, then its URL.
func linkText(ct *proto.Content) string {
	label := strings.TrimSpace(ct.GetCaption())
	if label == "" {
		label = strings.TrimSpace(ct.GetName())
	}
	if label == "" {
		return strings.TrimSpace(ct.GetUrl())
	}
	return label + "\n" + strings.TrimSpace(ct.GetUrl())
}

// appendText adds text as one or more messages of at most 1000 bytes; quick
// replies ride on the last part, which is the one the user answers.
func appendText(out []*outMessage, text string, qrs []quickReply) []*outMessage {
	parts := splitText(text, maxTextBytes)
	for i, p := range parts {
		m := &outMessage{Text: p}
		if i == len(parts)-1 {
			m.QuickReplies = qrs
		}
		out = append(out, m)
	}
	return out
}

func quickReplies(opts []*proto.Option) []quickReply {
	var qrs []quickReply
	for _, o := range opts {
		title := strings.TrimSpace(truncateRunes(strings.TrimSpace(o.GetTitle()), maxQuickReplyTitle))
		if title == "" {
			continue
		}
		payload := o.GetPayload()
		if payload == "" {
			payload = strings.TrimSpace(o.GetTitle())
		}
		qrs = append(qrs, quickReply{ContentType: "text", Title: title, Payload: payload})
		if len(qrs) == maxQuickReplies {
			break
		}
	}
	return qrs
}

func optionsText(ct *proto.Content) string {
	var b strings.Builder
	b.WriteString(ct.GetText())
	for i, o := range ct.GetOptions() {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(strconv.Itoa(i+1) + ". " + o.GetTitle())
	}
	return b.String()
}

func truncateRunes(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// splitText cuts text into parts of at most limit bytes, breaking at the
// last whitespace that fits and never inside a rune; a word longer than the
// limit is cut where it must be. Whitespace at a break is dropped, and an
// empty text gives no parts.
func splitText(text string, limit int) []string {
	text = strings.TrimSpace(strings.ToValidUTF8(text, "\uFFFD"))
	var parts []string
	for len(text) > limit {
		cut := -1
		for i := limit; i > 0; i-- {
			if isBreak(text[i]) {
				cut = i
				break
			}
		}
		head := ""
		if cut > 0 {
			head = strings.TrimRightFunc(text[:cut], isSpace)
		}
		if head == "" {
			cut = limit
			for cut > 0 && !utf8.RuneStart(text[cut]) {
				cut--
			}
			if cut == 0 {
				// A limit below one rune's size: the rune goes whole.
				_, cut = utf8.DecodeRuneInString(text)
			}
			head = text[:cut]
		}
		parts = append(parts, head)
		text = strings.TrimLeftFunc(text[len(head):], isSpace)
	}
	if text != "" {
		parts = append(parts, text)
	}
	return parts
}

func isBreak(b byte) bool { return b == ' ' || b == '\n' || b == '\t' || b == '\r' }

func isSpace(r rune) bool { return r == ' ' || r == '\n' || r == '\t' || r == '\r' }

// sendOne makes one Send API call and returns the new message's id. An
// empty id with no error means Meta reported a failure that is known to have
// delivered the message anyway (1/1357046); its echo brings the id later.
func (c *channel) sendOne(ctx context.Context, s settings, b sendBody) (string, *proto.SendError) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b); err != nil {
		return "", &proto.SendError{Code: "encode", Message: err.Error()}
	}
	r := c.graph(ctx, s, http.MethodPost, "me/messages", nil, bytes.TrimSpace(buf.Bytes()))
	if r.err != nil {
		return "", transportError(r)
	}
	ge, hasErr := parseGraphError(r.body)
	if r.status >= 200 && r.status < 300 && !hasErr {
		var ok struct {
			MessageID looseString `json:"message_id"`
		}
		if json.Unmarshal(r.body, &ok) != nil || ok.MessageID == "" {
			return "", &proto.SendError{
				Code:           "no_message_id",
				Message:        "Meta answered " + strconv.Itoa(r.status) + " without a message_id",
				Retryable:      true,
				UnknownOutcome: true,
				RetryAfterMs:   transientPause.Milliseconds(),
			}
		}
		return string(ok.MessageID), nil
	}
	if !hasErr {
		return "", httpError(r, c.Now(0))
	}
	serr := &proto.SendError{Code: ge.codeString(), Message: truncate(ge.Message, 500)}
	switch ge.class(r.status) {
	case classSent:
		return "", nil
	case classReauthorize:
		serr.Reauthorize = true
	case classRateLimit:
		serr.Retryable = true
		serr.RetryAfterMs = retryAfter(r.header, c.Now(0), rateLimitPause).Milliseconds()
	case classTransient:
		serr.Retryable = true
		serr.RetryAfterMs = retryAfter(r.header, c.Now(0), transientPause).Milliseconds()
		serr.UnknownOutcome = r.status >= 500
	}
	return "", serr
}

func transportError(r graphResult) *proto.SendError {
	return &proto.SendError{
		Code:           "network",
		Message:        truncate(r.err.Error(), 500),
		Retryable:      true,
		RetryAfterMs:   transientPause.Milliseconds(),
		UnknownOutcome: r.maybeDelivered,
	}
}

// httpError classifies an answer that carries no Graph error object.
func httpError(r graphResult, now time.Time) *proto.SendError {
	serr := &proto.SendError{
		Code:    "http_" + strconv.Itoa(r.status),
		Message: "Meta answered " + strconv.Itoa(r.status) + " " + http.StatusText(r.status),
	}
	switch {
	case r.status == http.StatusTooManyRequests:
		serr.Retryable = true
		serr.RetryAfterMs = retryAfter(r.header, now, rateLimitPause).Milliseconds()
	case r.status >= 500:
		serr.Retryable = true
		serr.UnknownOutcome = true
		serr.RetryAfterMs = retryAfter(r.header, now, transientPause).Milliseconds()
	case r.status == http.StatusUnauthorized:
		serr.Reauthorize = true
	}
	return serr
}

func refusedErr(code, msg string) *proto.SendError {
	return &proto.SendError{Code: code, Message: msg, Refused: true}
}

func invalidContent(i int, what string) *proto.SendError {
	return refusedErr("invalid_content", fmt.Sprintf("content %d: %s", i+1, what))
}
