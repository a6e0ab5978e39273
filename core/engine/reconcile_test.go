package engine

import (
	"testing"

	"github.com/conversa/conversa/core/model"
)

func TestMatchEcho(t *testing.T) {
	text := func(s string) []model.Content { return []model.Content{{Type: model.Text, Text: s}} }
	msg := func(id int64, status, s string) *model.Message {
		return &model.Message{ID: id, Status: status, Contents: text(s)}
	}
	long := "First part of a long answer. Second part of it."
	ours := []*model.Message{
		msg(1, model.StatusSent, long),
		msg(2, model.StatusInFlight, "Hi! How can I help?"),
		msg(3, model.StatusInFlight, "Hi! How can I help?"),
		{ID: 4, Status: model.StatusInFlight, Contents: []model.Content{{Type: model.Image, URL: "https://ours/a.jpg"}}},
	}
	for _, tc := range []struct {
		name string
		echo []model.Content
		want int64
	}{
		{"an in-flight send: the oldest that matches", text("Hi! How can I help?"), 2},
		{"the first part of a split in-flight text", text("Hi!"), 2},
		{"media rehosted under another URL", []model.Content{{Type: model.Image, URL: "https://cdn/other.jpg"}}, 4},
		{"a later part of a text already confirmed", text("Second part of it."), 1},
		{"the whole of a text already confirmed is not ours again", text(long), 0},
		{"a text typed in the provider's app", text("See you tomorrow"), 0},
		{"an echo with no content", nil, 0},
	} {
		got := matchEcho(ours, tc.echo)
		var id int64
		if got != nil {
			id = got.ID
		}
		if id != tc.want {
			t.Errorf("%s: matchEcho = message %d, want %d", tc.name, id, tc.want)
		}
	}
}
