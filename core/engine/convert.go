package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/plugins/proto"
)

func eventFromProto(p *proto.Event) *model.Event {
	ev := &model.Event{
		Kind: p.Kind, DedupeKey: p.DedupeKey, Integration: p.Integration, ContactID: p.ContactId,
		ContactUsername: p.ContactUsername, ContactName: p.ContactName, ContactAvatarURL: p.ContactAvatarUrl,
		MessageID: p.MessageId, ReplyTo: p.ReplyTo, Status: p.Status, ErrorCode: p.ErrorCode,
		ErrorMessage: p.ErrorMessage, AccountID: p.AccountId, Note: p.Note, Passive: p.Passive,
	}
	if p.TimestampMs > 0 {
		ev.Timestamp = time.UnixMilli(p.TimestampMs).UTC()
	}
	for _, c := range p.Contents {
		ev.Contents = append(ev.Contents, contentFromProto(c))
	}
	if json.Valid(p.Raw) {
		ev.Raw = append(json.RawMessage(nil), p.Raw...)
	}
	return ev
}

func contentFromProto(p *proto.Content) model.Content {
	c := model.Content{
		Type: p.Type, Text: p.Text, URL: p.Url, MimeType: p.MimeType, Name: p.Name, Caption: p.Caption,
		Title: p.Title, Payload: p.Payload, StoryID: p.StoryId, Emoji: p.Emoji, Mid: p.Mid,
		OriginalType: p.OriginalType,
	}
	for _, o := range p.Options {
		c.Options = append(c.Options, model.Option{Title: o.Title, Payload: o.Payload})
	}
	if json.Valid(p.Raw) {
		c.Raw = append(json.RawMessage(nil), p.Raw...)
	}
	return c
}

func contentToProto(c model.Content) *proto.Content {
	p := &proto.Content{
		Type: c.Type, Text: c.Text, Url: c.URL, MimeType: c.MimeType, Name: c.Name, Caption: c.Caption,
		Title: c.Title, Payload: c.Payload, StoryId: c.StoryID, Emoji: c.Emoji, Mid: c.Mid,
		OriginalType: c.OriginalType,
	}
	for _, o := range c.Options {
		p.Options = append(p.Options, &proto.Option{Title: o.Title, Payload: o.Payload})
	}
	return p
}

func contentsToProto(cs []model.Content) []*proto.Content {
	out := make([]*proto.Content, len(cs))
	for i, c := range cs {
		out[i] = contentToProto(c)
	}
	return out
}

func contactToProto(c *model.Contact) *proto.Contact {
	return &proto.Contact{Id: c.ChannelUserID, Username: c.Username, Name: c.Name, LastInboundMs: msOf(c.LastInboundAt)}
}

func msOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func hashBytes(parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		switch v := p.(type) {
		case []byte:
			h.Write(v)
		case string:
			h.Write([]byte(v))
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
