package rasa

import (
	"encoding/json"

	"github.com/conversa/conversa/plugins/proto"
)

// restRequest is what Rasa's REST channel takes. The metadata reaches the
// bot's custom actions (tracker.latest_message["metadata"]).
type restRequest struct {
	Sender   string       `json:"sender"`
	Message  string       `json:"message"`
	Metadata restMetadata `json:"metadata"`
}

type restMetadata struct {
	Integration  string        `json:"integration"`
	Channel      string        `json:"channel"`
	Conversation string        `json:"conversation"`
	Contact      restContact   `json:"contact"`
	Contents     []restContent `json:"contents"`
}

type restContact struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
}

// restContent is a content in the names CONTRACT §5 gives it; the
// provider's raw JSON is left out.
type restContent struct {
	Type         string       `json:"type"`
	Text         string       `json:"text,omitempty"`
	URL          string       `json:"url,omitempty"`
	MimeType     string       `json:"mime_type,omitempty"`
	Name         string       `json:"name,omitempty"`
	Caption      string       `json:"caption,omitempty"`
	Payload      string       `json:"payload,omitempty"`
	Title        string       `json:"title,omitempty"`
	StoryID      string       `json:"story_id,omitempty"`
	Emoji        string       `json:"emoji,omitempty"`
	Mid          string       `json:"mid,omitempty"`
	OriginalType string       `json:"original_type,omitempty"`
	Options      []restOption `json:"options,omitempty"`
}

type restOption struct {
	Title   string `json:"title"`
	Payload string `json:"payload"`
}

func contentsJSON(cs []*proto.Content) []restContent {
	out := make([]restContent, 0, len(cs))
	for _, c := range cs {
		rc := restContent{
			Type: c.GetType(), Text: c.GetText(), URL: c.GetUrl(), MimeType: c.GetMimeType(),
			Name: c.GetName(), Caption: c.GetCaption(), Payload: c.GetPayload(), Title: c.GetTitle(),
			StoryID: c.GetStoryId(), Emoji: c.GetEmoji(), Mid: c.GetMid(), OriginalType: c.GetOriginalType(),
		}
		for _, o := range c.GetOptions() {
			rc.Options = append(rc.Options, restOption{Title: o.GetTitle(), Payload: o.GetPayload()})
		}
		out = append(out, rc)
	}
	return out
}

// botMessage is one item of the REST channel's answer. Other keys
// (attachment, elements...) have no counterpart here and are ignored.
type botMessage struct {
	RecipientID string          `json:"recipient_id"`
	Text        string          `json:"text"`
	Buttons     []button        `json:"buttons"`
	Image       string          `json:"image"`
	Custom      json.RawMessage `json:"custom"`
}

type button struct {
	Title   string `json:"title"`
	Payload string `json:"payload"`
}
