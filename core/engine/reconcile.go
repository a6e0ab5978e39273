package engine

import (
	"strings"

	"github.com/conversa/conversa/core/model"
)

// matchEcho finds, among our recent sends (store.Outbox.InFlight: sends
// whose outcome is unknown, then recently confirmed ones, oldest first),
// the one an echo is of. A send in flight matches when the echo is it (Meta
// rehosts media under new URLs, and echoes each part of a split text
// separately, so texts match by prefix and media by type); a confirmed one
// only when the echo is a later part of its text.
func matchEcho(ours []*model.Message, echo []model.Content) *model.Message {
	if len(echo) == 0 {
		return nil
	}
	e := echo[0]
	for _, m := range ours {
		if m.Status == model.StatusInFlight && len(m.Contents) > 0 && sameContent(m.Contents[0], e) {
			return m
		}
	}
	for _, m := range ours {
		if m.Status != model.StatusInFlight && len(m.Contents) > 0 && laterPart(m.Contents[0], e) {
			return m
		}
	}
	return nil
}

func sameContent(o, e model.Content) bool {
	if e.Text != "" || o.Text != "" {
		return e.Text != "" && strings.HasPrefix(o.Text, e.Text)
	}
	return o.Type == e.Type
}

// laterPart: e is a part of o's text other than the whole of it.
func laterPart(o, e model.Content) bool {
	return e.Text != "" && len(e.Text) < len(o.Text) && strings.Contains(o.Text, e.Text) && !strings.HasPrefix(o.Text, e.Text)
}
