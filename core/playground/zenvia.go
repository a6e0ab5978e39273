package playground

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/conversa/conversa/core/config"
	"github.com/conversa/conversa/core/engine"
	"github.com/conversa/conversa/core/model"
)

// Zenvia's webhooks, as its fixtures show them (reference/zenvia/fixtures):
// a MESSAGE event per message, a MESSAGE_STATUS DELETED for an unsend, with
// the subscription's custom headers.

// The playground's (invented) Zenvia subscriptions.
const (
	zenviaMessageSubscription = "6d0b7f52-3a8e-4c19-b2f4-9e1a0c5d7b30"
	zenviaStatusSubscription  = "a2e94c17-5b3d-4f68-8c0a-71d6e3b9f245"
)

func zenviaTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func zenviaWebhook(in *model.Integration, uid, mid string, x Input, now time.Time) (engine.WebhookRequest, error) {
	var event map[string]any
	if x.Kind == KindUnsend {
		event = map[string]any{
			"id": newUUID(), "timestamp": zenviaTime(now), "type": "MESSAGE_STATUS",
			"subscriptionId": zenviaStatusSubscription, "channel": "instagram",
			"messageId": mid, "contentIndex": 0,
			"message": map[string]any{"id": mid, "contentIndex": 0, "direction": "IN", "from": uid, "to": in.Setting("sender_id")},
			"messageStatus": map[string]any{"timestamp": zenviaTime(now), "code": "DELETED",
				"description": "The message has been deleted by the contact"},
		}
	} else {
		msg := map[string]any{
			"id": mid, "from": uid, "to": in.Setting("sender_id"), "direction": "IN", "channel": "instagram",
			"visitor":   map[string]string{"name": displayName(x.User), "userName": x.User},
			"timestamp": zenviaTime(now),
		}
		switch x.Kind {
		case KindText:
			c := map[string]string{"type": "text", "text": x.Text}
			if x.Payload != "" {
				c["payload"] = x.Payload
			}
			msg["contents"] = []any{c}
		case KindImage:
			msg["contents"] = []any{map[string]string{"type": "file", "fileUrl": x.URL, "fileMimeType": imageType(x.URL)}}
		case KindStoryMention:
			msg["contents"] = []any{map[string]string{"type": "file", "fileUrl": x.URL}}
			msg["referral"] = map[string]any{"source": map[string]string{"id": storyID(x.URL), "type": "story_mention", "url": x.URL}}
		case KindStoryReply:
			msg["contents"] = []any{map[string]string{"type": "text", "text": x.Text}}
			msg["referral"] = map[string]any{"source": map[string]string{"id": storyID(x.URL), "type": "story", "url": x.URL}}
		}
		event = map[string]any{
			"id": newUUID(), "timestamp": zenviaTime(now), "type": "MESSAGE",
			"subscriptionId": zenviaMessageSubscription, "channel": "instagram", "direction": "IN", "message": msg,
		}
	}
	body, err := json.Marshal(event)
	if err != nil {
		return engine.WebhookRequest{}, err
	}
	return engine.WebhookRequest{
		Method: http.MethodPost, Path: "/webhooks/" + in.ID,
		Headers: map[string][]string{
			"Content-Type":        {"application/json"},
			"Username":            {in.Setting("webhook_username")},
			"AuthenticationToken": {in.Setting("webhook_token")},
		},
		Body: body,
	}, nil
}

// imageType is a photo's MIME type by its extension (JPEG when it says
// nothing), as Instagram's media come.
func imageType(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		if t := mime.TypeByExtension(strings.ToLower(path.Ext(u.Path))); strings.HasPrefix(t, "image/") {
			return t
		}
	}
	return "image/jpeg"
}

func zenviaError(status int, code, message string) Response {
	return jsonResponse(status, map[string]string{"code": code, "message": message})
}

// zenviaSend is the body of POST /v2/channels/instagram/messages.
type zenviaSend struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Contents []struct {
		Type         string `json:"type"`
		Text         string `json:"text"`
		FileURL      string `json:"fileUrl"`
		FileMimeType string `json:"fileMimeType"`
		FileName     string `json:"fileName"`
	} `json:"contents"`
	ExternalID string `json:"externalId"`
}

// FakeZenvia answers POST /v2/channels/instagram/messages like Zenvia's
// API v2 and records the message in the test user's thread as the user
// receives it: quick replies and lists arrive as the numbered text the
// engine turned them into.
func (p *Playground) FakeZenvia(r Request) Response {
	in := p.o.Engine.Integration(config.PlaygroundZenvia)
	if in == nil || !in.Enabled {
		return zenviaError(http.StatusNotFound, "NOT_FOUND", "Not found")
	}
	if !sameSecret(r.Header.Get("X-API-TOKEN"), in.Setting("api_token")) {
		return zenviaError(http.StatusUnauthorized, "AUTHENTICATION_ERROR", "No authorization token was found")
	}
	if r.Method != http.MethodPost || strings.TrimRight(r.Path, "/") != "/v2/channels/instagram/messages" {
		return zenviaError(http.StatusNotFound, "NOT_FOUND", "Not found")
	}
	var b zenviaSend
	if err := json.Unmarshal(r.Body, &b); err != nil {
		return zenviaError(http.StatusBadRequest, "VALIDATION_ERROR", "Validation error")
	}
	switch {
	case b.From != in.Setting("sender_id"):
		return zenviaError(http.StatusBadRequest, "VALIDATION_ERROR", "Validation error: from is not a sender of this account")
	case b.To == "":
		return zenviaError(http.StatusBadRequest, "VALIDATION_ERROR", "Validation error: to is required")
	case len(b.Contents) == 0:
		return zenviaError(http.StatusBadRequest, "VALIDATION_ERROR", "Validation error: contents is required")
	}
	var contents []model.Content
	for _, c := range b.Contents {
		switch strings.ToLower(c.Type) {
		case "text":
			contents = append(contents, model.Content{Type: model.Text, Text: c.Text})
		case "file":
			typ := model.File
			if strings.HasPrefix(strings.ToLower(c.FileMimeType), "image/") || (c.FileMimeType == "" && hasImageExt(c.FileURL)) {
				typ = model.Image
			}
			contents = append(contents, model.Content{Type: typ, URL: c.FileURL, MimeType: c.FileMimeType, Name: c.FileName})
		default:
			return zenviaError(http.StatusBadRequest, "UNSUPPORTED_CONTENT_TYPE", "Content type "+c.Type+" is not supported by channel instagram")
		}
	}
	m := &Message{Direction: "out", Mid: newUUID(), Contents: contents, At: p.now()}
	if err := p.record(Zenvia, b.To, "", m); err != nil {
		return zenviaError(http.StatusBadRequest, "VALIDATION_ERROR", "Validation error")
	}
	out := map[string]any{"id": m.Mid, "from": b.From, "to": b.To, "direction": "OUT", "channel": "instagram",
		"contents": b.Contents, "timestamp": zenviaTime(m.At)}
	if b.ExternalID != "" {
		out["externalId"] = b.ExternalID
	}
	return jsonResponse(http.StatusOK, out)
}

func hasImageExt(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mime.TypeByExtension(strings.ToLower(path.Ext(u.Path))), "image/")
}
