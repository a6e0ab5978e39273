package playground

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/conversa/conversa/core/config"
	"github.com/conversa/conversa/core/engine"
	"github.com/conversa/conversa/core/model"
)

// Meta's webhooks, as its fixtures show them (reference/meta/fixtures):
// one entry for the business account, one messaging item from the user.

func metaWebhook(in *model.Integration, uid, mid string, x Input, now time.Time) (engine.WebhookRequest, error) {
	item := map[string]any{
		"sender":    map[string]string{"id": uid},
		"recipient": map[string]string{"id": in.Setting("account_id")},
		"timestamp": now.UnixMilli(),
	}
	switch x.Kind {
	case KindText:
		msg := map[string]any{"mid": mid, "text": x.Text}
		if x.Payload != "" {
			msg["quick_reply"] = map[string]string{"payload": x.Payload}
		}
		item["message"] = msg
	case KindImage, KindStoryMention:
		item["message"] = map[string]any{"mid": mid, "attachments": []any{
			map[string]any{"type": x.Kind, "payload": map[string]string{"url": x.URL}},
		}}
	case KindStoryReply:
		item["message"] = map[string]any{"mid": mid, "text": x.Text, "reply_to": map[string]any{
			"story": map[string]string{"url": x.URL, "id": storyID(x.URL)},
		}}
	case KindReaction:
		item["reaction"] = map[string]string{"mid": mid, "action": "react", "reaction": reactionName(x.Emoji), "emoji": x.Emoji}
	case KindUnsend:
		item["message"] = map[string]any{"mid": mid, "is_deleted": true}
	}
	return signedMeta(in, item, now)
}

// signedMeta wraps one messaging item in a delivery, signed with the
// integration's app secret as Meta signs it.
func signedMeta(in *model.Integration, item map[string]any, now time.Time) (engine.WebhookRequest, error) {
	body, err := json.Marshal(map[string]any{
		"object": "instagram",
		"entry": []any{map[string]any{
			"time": now.UnixMilli(), "id": in.Setting("account_id"), "messaging": []any{item},
		}},
	})
	if err != nil {
		return engine.WebhookRequest{}, err
	}
	mac := hmac.New(sha256.New, []byte(in.Setting("app_secret")))
	mac.Write(body)
	return engine.WebhookRequest{
		Method: http.MethodPost, Path: "/webhooks/" + in.ID,
		Headers: map[string][]string{
			"Content-Type":        {"application/json"},
			"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(mac.Sum(nil))},
		},
		Body: body,
	}, nil
}

// reactionName is Meta's name for an emoji: "love" for the heart, "other"
// for the rest.
func reactionName(emoji string) string {
	if strings.HasPrefix(emoji, "\u2764") {
		return "love"
	}
	return "other"
}

// storyID is a stable id for a story URL, in Meta's digits.
func storyID(u string) string {
	return "18" + userID("story", u)[:15]
}

// Request is an HTTP request to a fake send API, below its prefix.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
}

// Response is the fake's answer (JSON).
type Response struct {
	Status int
	Body   []byte
}

func jsonResponse(status int, v any) Response {
	b, _ := json.Marshal(v)
	return Response{Status: status, Body: b}
}

func metaError(status, code int, subcode int, message string) Response {
	e := map[string]any{"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "playground"}
	if subcode != 0 {
		e["error_subcode"] = subcode
	}
	return jsonResponse(status, map[string]any{"error": e})
}

// metaSend is a Send API body.
type metaSend struct {
	Recipient struct {
		ID string `json:"id"`
	} `json:"recipient"`
	SenderAction string `json:"sender_action"`
	Payload      struct {
		MessageID string `json:"message_id"`
		Reaction  string `json:"reaction"`
	} `json:"payload"`
	Message *struct {
		Text         string `json:"text"`
		QuickReplies []struct {
			Title   string `json:"title"`
			Payload string `json:"payload"`
		} `json:"quick_replies"`
		Attachment  *metaAttachment  `json:"attachment"`
		Attachments []metaAttachment `json:"attachments"`
	} `json:"message"`
}

type metaAttachment struct {
	Type    string `json:"type"`
	Payload struct {
		URL string `json:"url"`
	} `json:"payload"`
}

// FakeMeta answers like Meta's Graph API: the Send API
// (POST /{version}/me/messages) and the profile lookup
// (GET /{version}/{user id}?fields=...). Messages are recorded in the test
// user's thread and echoed to the webhook, as Meta does.
func (p *Playground) FakeMeta(r Request) Response {
	in := p.o.Engine.Integration(config.PlaygroundMeta)
	if in == nil || !in.Enabled {
		return metaError(http.StatusNotFound, 100, 0, "Unknown path components")
	}
	token := strings.TrimSpace(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	if token == "" {
		token = r.Query.Get("access_token")
	}
	if !sameSecret(token, in.Setting("access_token")) {
		return metaError(http.StatusBadRequest, 190, 0, "Invalid OAuth access token - Cannot parse access token")
	}
	parts := strings.Split(strings.Trim(r.Path, "/"), "/")
	switch {
	case r.Method == http.MethodPost && len(parts) == 3 && parts[1] == "me" && parts[2] == "messages":
		return p.metaSend(in, r.Body)
	case r.Method == http.MethodGet && len(parts) == 2:
		name := p.nameOf(Meta, parts[1])
		if name == "" {
			return metaError(http.StatusBadRequest, 100, 33, "Unsupported get request. Object with ID '"+parts[1]+"' does not exist")
		}
		return jsonResponse(http.StatusOK, map[string]string{"name": displayName(name), "username": name, "id": parts[1]})
	}
	return metaError(http.StatusNotFound, 100, 0, "Unknown path components: "+r.Path)
}

func (p *Playground) metaSend(in *model.Integration, body []byte) Response {
	var b metaSend
	if err := json.Unmarshal(body, &b); err != nil || b.Recipient.ID == "" {
		return metaError(http.StatusBadRequest, 100, 0, "(#100) Invalid parameter")
	}
	to := b.Recipient.ID
	if b.Message == nil {
		switch b.SenderAction {
		case "typing_on", "typing_off":
			p.typing(Meta, to, b.SenderAction == "typing_on")
		case "react", "unreact":
			p.businessReacts(to, b.Payload.MessageID, b.Payload.Reaction, b.SenderAction == "react")
		case "mark_seen":
		default:
			return metaError(http.StatusBadRequest, 100, 0, "(#100) Param sender_action must be one of {typing_on, typing_off, mark_seen, react, unreact}")
		}
		return jsonResponse(http.StatusOK, map[string]string{"recipient_id": to})
	}
	var contents []model.Content
	var attachments []metaAttachment
	if b.Message.Attachment != nil {
		attachments = append(attachments, *b.Message.Attachment)
	}
	attachments = append(attachments, b.Message.Attachments...)
	for _, a := range attachments {
		typ := a.Type
		switch typ {
		case model.Image, model.Audio, model.Video, model.File:
		default:
			typ = model.File
		}
		contents = append(contents, model.Content{Type: typ, URL: a.Payload.URL})
	}
	switch text := b.Message.Text; {
	case text != "" && len(b.Message.QuickReplies) > 0:
		qr := model.Content{Type: model.QuickReplies, Text: text}
		for _, q := range b.Message.QuickReplies {
			qr.Options = append(qr.Options, model.Option{Title: q.Title, Payload: q.Payload})
		}
		contents = append(contents, qr)
	case text != "":
		contents = append(contents, model.Content{Type: model.Text, Text: text})
	}
	if len(contents) == 0 {
		return metaError(http.StatusBadRequest, 100, 0, "(#100) The message is empty")
	}
	now := p.now()
	m := &Message{Direction: "out", Mid: newMid(Meta), Contents: contents, At: now}
	if err := p.record(Meta, to, "", m); err != nil {
		return metaError(http.StatusBadRequest, 100, 2534014, "(#100) No matching user found")
	}
	p.echo(in, to, m.Mid, b.Message.Text, attachments, now)
	return jsonResponse(http.StatusOK, map[string]string{"recipient_id": to, "message_id": m.Mid})
}

func (p *Playground) businessReacts(to, mid, reaction string, on bool) {
	emoji := ""
	if on {
		emoji = "\u2764\ufe0f"
		if reaction != "" && reaction != "love" {
			emoji = reaction
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if m := p.find(Meta, to, mid); m != nil {
		react(m, "business", emoji, p.now())
	}
}

// echo delivers, shortly after, the webhook Meta sends for a message the
// business sent (fixture 16), so that the engine's echo path runs as in
// production. It is retried while the engine cannot take it.
func (p *Playground) echo(in *model.Integration, to, mid, text string, attachments []metaAttachment, at time.Time) {
	msg := map[string]any{"mid": mid, "is_echo": true}
	if text != "" {
		msg["text"] = text
	}
	if len(attachments) > 0 {
		msg["attachments"] = attachments
	}
	req, err := signedMeta(in, map[string]any{
		"sender":    map[string]string{"id": in.Setting("account_id")},
		"recipient": map[string]string{"id": to},
		"timestamp": at.UnixMilli(),
		"message":   msg,
	}, at)
	if err != nil {
		p.log.Error("building an echo", "err", err)
		return
	}
	p.background(func() {
		wait := p.o.EchoDelay
		for attempt := 1; ; attempt++ {
			select {
			case <-p.stop:
				return
			case <-time.After(wait):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := p.deliver(ctx, in.ID, req)
			cancel()
			if err == nil {
				return
			}
			if attempt == 8 {
				p.log.Error("echo not delivered", "integration", in.ID, "mid", mid, "err", err)
				return
			}
			wait = min(wait*2, 10*time.Second)
		}
	})
}
