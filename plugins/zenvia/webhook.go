package zenvia

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// The custom headers the operator configures on Zenvia's subscription.
const (
	headerUsername = "Username"
	headerToken    = "AuthenticationToken"
)

// Zenvia's event types and the values of its direction fields.
const (
	eventMessage       = "MESSAGE"
	eventMessageStatus = "MESSAGE_STATUS"
	directionIn        = "IN"
	directionOut       = "OUT"
)

func (c *channel) HandleWebhook(_ context.Context, req *proto.WebhookRequest) (*proto.WebhookResponse, error) {
	if !strings.EqualFold(req.GetMethod(), http.MethodPost) {
		return &proto.WebhookResponse{
			Status:      http.StatusMethodNotAllowed,
			ContentType: "text/plain; charset=utf-8",
			Body:        []byte("Zenvia webhooks are POST requests\n"),
			Error:       fmt.Sprintf("method %q not allowed", req.GetMethod()),
		}, nil
	}
	if len(req.GetIntegrations()) == 0 {
		return refuse("no integration in the request"), nil
	}
	s, problems := parseSettings(req.GetIntegrations()[0].GetSettingsJson())
	if len(problems) > 0 {
		return refuse("integration settings are not a JSON object"), nil
	}
	if reason := authenticate(s, req.GetHeaders()); reason != "" {
		return refuse(reason), nil
	}
	ev, err := parseEvent(req.GetBody(), s)
	if err != nil {
		return &proto.WebhookResponse{
			Authenticated: true,
			Malformed:     true,
			Status:        http.StatusBadRequest,
			Error:         err.Error(),
		}, nil
	}
	if other := otherSender(ev, s); other != "" {
		c.Logger().Warn("Zenvia event for another sender id: kept, not answered (is sender_id right?)",
			"integration", req.GetIntegrations()[0].GetId(), "event_sender_id", other, "sender_id", s.SenderID)
	}
	return &proto.WebhookResponse{Authenticated: true, Events: []*proto.Event{ev}}, nil
}

// otherSender turns an event addressed to (or sent from) another Instagram
// account of the Zenvia customer into an ignored one, and returns that
// account's sender id. One Zenvia subscription delivers the events of every
// sender id of the account to the same URL; answering them would reply from
// this integration's account. The event is kept, with the reason, and
// acknowledged: Zenvia would otherwise deliver it again and again.
func otherSender(ev *proto.Event, s settings) string {
	id := strings.TrimSpace(ev.GetAccountId())
	if ev.GetKind() == sdk.EventIgnored || id == "" || s.SenderID == "" || strings.EqualFold(id, s.SenderID) {
		return ""
	}
	ignore(ev, fmt.Sprintf("event for sender id %q; this integration's sender_id is %q: not answered", id, s.SenderID))
	return id
}

func refuse(reason string) *proto.WebhookResponse {
	return &proto.WebhookResponse{Status: http.StatusUnauthorized, Error: reason}
}

// authenticate returns why the request's credentials are refused, "" when
// they match. The reason names headers, never the expected values.
func authenticate(s settings, headers []*proto.Header) string {
	if s.WebhookUsername == "" || s.WebhookToken == "" {
		return "integration has no webhook credentials (webhook_username, webhook_token): every request is refused"
	}
	var problems []string
	for _, want := range []struct{ name, value string }{
		{headerUsername, s.WebhookUsername},
		{headerToken, s.WebhookToken},
	} {
		got, ok := header(headers, want.name)
		switch {
		case !ok || got == "":
			problems = append(problems, "missing "+want.name+" header")
		case !secretEqual(got, want.value):
			problems = append(problems, "wrong "+want.name+" header")
		}
	}
	return strings.Join(problems, "; ")
}

// header returns the first value of the named header; names are
// case-insensitive in HTTP, and proxies do change their case.
func header(headers []*proto.Header, name string) (string, bool) {
	for _, h := range headers {
		if strings.EqualFold(h.GetName(), name) {
			return strings.TrimSpace(h.GetValue()), true
		}
	}
	return "", false
}

// secretEqual compares digests so that neither the content nor the length
// of the expected value shows in the comparison's timing.
func secretEqual(got, want string) bool {
	g := sha256.Sum256([]byte(got))
	w := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// parseEvent turns one Zenvia event (one POST body) into one normalized
// event. Only a body that is not a JSON object with a type is an error:
// anything else is kept, if only as an ignored event, because the event is
// lost for good once Zenvia gives up retrying.
func parseEvent(body []byte, s settings) (*proto.Event, error) {
	root, t := readTree(body)
	defer releaseTree(t)
	return readEvent(root, s)
}

// readEvent is parseEvent of a body read into a tree or not: without one
// (the reference the tree is tested against) every level is decoded with
// encoding/json.
func readEvent(root value, s settings) (*proto.Event, error) {
	body := root.b
	top := root.object()
	if !top.ok() {
		return nil, errors.New("body is not a JSON object")
	}
	typ, _ := top.text("type")
	if strings.TrimSpace(typ) == "" {
		return nil, errors.New("event has no type")
	}
	ev := &proto.Event{DedupeKey: dedupeKey(top, body), Raw: body}
	if ch := top.str("channel"); ch != "" && !strings.EqualFold(ch, "instagram") {
		// A subscription for another channel pointed at this URL: its
		// contacts cannot be answered through the Instagram endpoint.
		ev.TimestampMs = firstTime(top.raw("timestamp"))
		ignore(ev, fmt.Sprintf("event for channel %q, this integration serves instagram", ch))
		return ev, nil
	}
	switch strings.ToUpper(typ) {
	case eventMessage:
		messageEvent(ev, top, s)
	case eventMessageStatus:
		statusEvent(ev, top)
	default:
		ev.TimestampMs = firstTime(top.raw("timestamp"))
		ignore(ev, fmt.Sprintf("event type %s is not handled", typ))
	}
	if (ev.Kind == sdk.EventMessage || ev.Kind == sdk.EventEcho) && ev.ContactId == "" {
		// No one to answer, nor to file it under: kept for the record only.
		ignore(ev, ev.Kind+" without the contact's id (message.from, or message.to for an echo)")
	}
	return ev, nil
}

// dedupeKey is Zenvia's event id, which its retries keep. An event without
// one (never seen) falls back to a digest of the body, which retries also
// repeat byte for byte.
func dedupeKey(top object, body []byte) string {
	if id := top.str("id"); id != "" {
		return id
	}
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func ignore(ev *proto.Event, note string) {
	ev.Kind = sdk.EventIgnored
	ev.Note = note
}

func messageEvent(ev *proto.Event, top object, s settings) {
	msg := top.obj("message")
	if !msg.ok() {
		ev.TimestampMs = firstTime(top.raw("timestamp"))
		ignore(ev, "MESSAGE event without a message object")
		return
	}
	ev.MessageId = msg.str("id")
	ev.ReplyTo = msg.str("idRef")
	ev.TimestampMs = firstTime(msg.raw("timestamp"), top.raw("timestamp"))

	from, to := msg.str("from"), msg.str("to")
	dir := strings.ToUpper(msg.str("direction"))
	if dir == "" {
		dir = strings.ToUpper(top.str("direction"))
	}
	if dir != directionIn && dir != directionOut {
		dir = directionIn
		if s.SenderID != "" && from == s.SenderID {
			dir = directionOut
		}
	}
	if dir == directionOut {
		// Echo: a message the business sent (through us or Zenvia's app).
		ev.Kind = sdk.EventEcho
		ev.ContactId, ev.AccountId = to, from
	} else {
		ev.Kind = sdk.EventMessage
		ev.ContactId, ev.AccountId = from, to
	}
	// visitor always describes the contact, whatever the direction.
	if v := msg.obj("visitor"); v.ok() {
		ev.ContactUsername = strings.TrimPrefix(strings.TrimSpace(v.str("userName")), "@")
		ev.ContactName = strings.TrimSpace(v.str("name"))
		ev.ContactAvatarUrl = v.str("picture")
	}

	contents, optins := parseContents(msg.arr("contents"))
	contents = applyReferral(ev, msg.obj("referral"), contents)
	if len(contents) == 0 && len(optins) > 0 {
		ignore(ev, optinNote(optins[0]))
		return
	}
	if len(contents) == 0 {
		// Nothing readable: still a message from the user (it opens the
		// window, and an agent should see that something arrived).
		un := &proto.Content{Type: sdk.ContentUnsupported, OriginalType: "empty"}
		if src := msg.obj("referral").obj("source"); src.ok() {
			un.OriginalType = src.str("type")
			un.Raw = msg.raw("referral")
		}
		contents = append(contents, un)
	}
	ev.Contents = contents
}

// optinNote describes a recurring-notification opt-in. Conversa never starts
// conversations, so the opt-in token has no use; the event is kept (raw)
// for the record.
func optinNote(o object) string {
	note := "recurring-notification opt-in (optin_response): nothing to answer"
	var parts []string
	for _, k := range []string{"optInStatus", "frequency", "payload"} {
		if v := o.str(k); v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	if len(parts) > 0 {
		note += "; " + strings.Join(parts, " ")
	}
	return note
}

// parseContents keeps every item in order. Opt-in responses are returned
// apart: they are not something the user said.
func parseContents(items []value) (contents []*proto.Content, optins []object) {
	for _, item := range items {
		o := item.object()
		if !o.ok() {
			contents = append(contents, &proto.Content{Type: sdk.ContentUnsupported, Raw: item.b})
			continue
		}
		typ := o.str("type")
		switch strings.ToLower(typ) {
		case "text":
			contents = append(contents, &proto.Content{
				Type:    sdk.ContentText,
				Text:    o.str("text"),
				Payload: o.str("payload"),
			})
		case "file":
			url, mime := o.str("fileUrl"), strings.TrimSpace(o.str("fileMimeType"))
			contents = append(contents, &proto.Content{
				Type:     mediaType(mime, url),
				Url:      url,
				MimeType: mime,
				Name:     o.str("fileName"),
				Caption:  o.str("fileCaption"),
			})
		case "optin_response":
			optins = append(optins, o)
		default:
			// location, contacts, unsupported (Meta could not hand the
			// content over) and whatever Zenvia adds later.
			contents = append(contents, &proto.Content{
				Type:         sdk.ContentUnsupported,
				OriginalType: typ,
				Raw:          item.b,
			})
		}
	}
	return contents, optins
}

// extensionType classifies the media Instagram users send by the URL's
// extension, for files that arrive without a MIME type.
func extensionType(ext string) string {
	switch ext {
	case "jpg", "jpeg", "png", "webp", "gif":
		return sdk.ContentImage
	case "mp3", "m4a", "aac", "ogg", "opus", "wav", "amr":
		return sdk.ContentAudio
	case "mp4", "mov", "webm", "3gp":
		return sdk.ContentVideo
	default:
		return sdk.ContentFile
	}
}

// mediaType classifies a file by its MIME type, or by its URL's extension
// when the type is absent or says nothing (octet-stream).
func mediaType(mime, rawURL string) string {
	m := strings.ToLower(mime)
	if i := strings.IndexByte(m, ';'); i >= 0 {
		m = strings.TrimSpace(m[:i])
	}
	if m != "" && m != "application/octet-stream" && m != "binary/octet-stream" {
		switch {
		case strings.HasPrefix(m, "image/"):
			return sdk.ContentImage
		case strings.HasPrefix(m, "audio/"):
			return sdk.ContentAudio
		case strings.HasPrefix(m, "video/"):
			return sdk.ContentVideo
		default:
			return sdk.ContentFile
		}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return sdk.ContentFile
	}
	return extensionType(strings.ToLower(strings.TrimPrefix(path.Ext(u.Path), ".")))
}

// applyReferral reads what the message refers to: a story that mentions the
// business, a reply to one of its stories, or a quoted message. Other
// referrals (ads, shared posts, lives) stay in the event's raw JSON.
func applyReferral(ev *proto.Event, ref object, contents []*proto.Content) []*proto.Content {
	src := ref.obj("source")
	if !src.ok() {
		return contents
	}
	switch strings.ToLower(src.str("type")) {
	case "story_mention":
		// The file that comes along is the story's media: one content, not
		// a mention plus an image.
		sm := &proto.Content{Type: sdk.ContentStoryMention, Url: src.str("url"), StoryId: src.str("id")}
		for _, c := range contents {
			if c.Url != "" && isMedia(c.Type) {
				if sm.Url == "" {
					sm.Url = c.Url
				}
				if c.Url == sm.Url {
					sm.MimeType = c.MimeType
				}
				break
			}
		}
		return []*proto.Content{sm}
	case "story":
		sr := &proto.Content{Type: sdk.ContentStoryReply, Url: src.str("url"), StoryId: src.str("id")}
		for i, c := range contents {
			if c.Type == sdk.ContentText {
				sr.Text = c.Text
				contents[i] = sr
				return contents
			}
		}
		// A reply without text (a photo, a sticker): the story first, then
		// what the user sent.
		return append([]*proto.Content{sr}, contents...)
	case "message":
		if ev.ReplyTo == "" {
			ev.ReplyTo = src.str("id")
		}
	}
	return contents
}

func isMedia(t string) bool {
	switch t {
	case sdk.ContentImage, sdk.ContentAudio, sdk.ContentVideo, sdk.ContentFile:
		return true
	}
	return false
}

func statusEvent(ev *proto.Event, top object) {
	msg := top.obj("message")
	st := top.obj("messageStatus")
	// message{} arrived in 2024; older senders give only the top-level
	// messageId, which is still documented.
	ev.MessageId = msg.str("id")
	if ev.MessageId == "" {
		ev.MessageId = top.str("messageId")
	}
	if strings.EqualFold(msg.str("direction"), directionIn) {
		ev.ContactId, ev.AccountId = msg.str("from"), msg.str("to")
	} else {
		ev.ContactId, ev.AccountId = msg.str("to"), msg.str("from")
	}
	ev.TimestampMs = firstTime(st.raw("timestamp"), top.raw("timestamp"))

	code := strings.ToUpper(strings.TrimSpace(st.str("code")))
	switch {
	case ev.MessageId == "":
		ignore(ev, "MESSAGE_STATUS without a message id")
		return
	case code == "":
		ignore(ev, "MESSAGE_STATUS without a status code")
		return
	}
	switch code {
	case "SENT":
		ev.Kind, ev.Status = sdk.EventStatus, sdk.StatusSent
	case "DELIVERED":
		ev.Kind, ev.Status = sdk.EventStatus, sdk.StatusDelivered
	case "READ":
		ev.Kind, ev.Status = sdk.EventStatus, sdk.StatusRead
	case "REJECTED", "NOT_DELIVERED":
		ev.Kind, ev.Status = sdk.EventStatus, sdk.StatusFailed
		ev.ErrorCode, ev.ErrorMessage = failure(st, code)
		// Zenvia reports each content of a message apart; say which one
		// failed when it is not the first (an image whose caption went out).
		index := msg.str("contentIndex")
		if index == "" {
			index = top.str("contentIndex")
		}
		if index != "" && index != "0" {
			ev.ErrorMessage = fmt.Sprintf("contents[%s]: %s", index, ev.ErrorMessage)
		}
	case "DELETED":
		// Zenvia's DELETED is about the contact's own message: an unsend.
		ev.Kind = sdk.EventUnsend
	default:
		ignore(ev, fmt.Sprintf("message status %s is not tracked", code))
	}
}

// failure reads the first cause of a REJECTED or NOT_DELIVERED status: the
// provider's (Meta's) error code and reason, else Zenvia's description.
func failure(st object, code string) (errCode, errMessage string) {
	var cause object
	if causes := st.arr("causes"); len(causes) > 0 {
		cause = causes[0].object()
	}
	errCode = strings.TrimSpace(cause.str("channelErrorCode"))
	reason, details := strings.TrimSpace(cause.str("reason")), strings.TrimSpace(cause.str("details"))
	switch {
	case reason != "" && details != "":
		errMessage = reason + ": " + details
	case reason != "":
		errMessage = reason
	default:
		errMessage = details
	}
	if errMessage == "" {
		// The oldest shape has a single `cause` string.
		errMessage = st.str("cause")
	}
	if errMessage == "" {
		errMessage = st.str("description")
	}
	if errCode == "" {
		errCode = code
	}
	return errCode, errMessage
}

// firstTime is the first of the given JSON timestamps that parses, as Unix
// milliseconds; 0 when none does (the host then uses the time of receipt).
func firstTime(raws ...[]byte) int64 {
	for _, raw := range raws {
		if ms, ok := parseTimestamp(raw); ok {
			return ms
		}
	}
	return 0
}

// parseTimestamp reads a JSON value (as the body holds it) that is an ISO
// 8601 time or an epoch number. The strings and numbers every event has are
// read from their bytes; anything else is decoded with encoding/json, which
// is what they read as.
func parseTimestamp(raw []byte) (int64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	var s string
	switch c := raw[0]; {
	case c == '"' && len(raw) >= 2 && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw):
		s = string(raw[1 : len(raw)-1])
	case c == '-' || ('0' <= c && c <= '9'):
		n, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return 0, false
		}
		return epochTime(n)
	default:
		if err := json.Unmarshal(raw, &s); err != nil {
			var n float64
			if err := json.Unmarshal(raw, &n); err != nil {
				return 0, false
			}
			return epochTime(n)
		}
	}
	s = strings.ToUpper(strings.TrimSpace(s))
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	// RFC 3339 first, then what other ISO 8601 writers produce. Every layout
	// accepts fractional seconds when parsing.
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			if ms := t.UnixMilli(); ms > 0 {
				return ms, true
			}
			return 0, false
		}
	}
	return 0, false
}

var timeLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05Z07",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04:05",
}

// epochTime reads an epoch number: seconds, or milliseconds past 1973.
func epochTime(n float64) (int64, bool) {
	switch {
	case n <= 0:
		return 0, false
	case n < 1e11:
		return int64(n * 1000), true
	case n < 1e15:
		return int64(n), true
	default:
		return 0, false
	}
}
