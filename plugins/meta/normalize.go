package meta

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// itemContext is what an item inherits from its entry.
type itemContext struct {
	account     string
	entryTimeMs int64
	// The item came from entry.standby: another app owns the thread.
	standby bool
}

type party struct {
	ID looseString `json:"id"`
}

// item is one entry.messaging[] (or standby[], or a change's value). Exactly
// one event key is expected; the sub-objects whose shape varies stay
// jsonValues and are decoded on their own, so one of the wrong shape costs
// only itself.
type item struct {
	Sender      party        `json:"sender"`
	Recipient   party        `json:"recipient"`
	Timestamp   looseInt     `json:"timestamp"`
	Message     jsonValue    `json:"message"`
	MessageEdit *messageEdit `json:"message_edit"`
	Reaction    *reaction    `json:"reaction"`
	Postback    *postback    `json:"postback"`
	Read        *read        `json:"read"`
	Referral    jsonValue    `json:"referral"`
}

type messageEdit struct {
	Mid     looseString `json:"mid"`
	Text    looseString `json:"text"`
	NumEdit looseInt    `json:"num_edit"`
}

type reaction struct {
	Mid      looseString `json:"mid"`
	Action   looseString `json:"action"`
	Reaction looseString `json:"reaction"`
	Emoji    looseString `json:"emoji"`
}

type postback struct {
	Mid      looseString `json:"mid"`
	Title    looseString `json:"title"`
	Payload  looseString `json:"payload"`
	Referral jsonValue   `json:"referral"`
}

type read struct {
	Mid looseString `json:"mid"`
}

type message struct {
	Mid           looseString   `json:"mid"`
	Text          looseString   `json:"text"`
	IsEcho        looseBool     `json:"is_echo"`
	IsDeleted     looseBool     `json:"is_deleted"`
	IsUnsupported looseBool     `json:"is_unsupported"`
	QuickReply    *inQuickReply `json:"quick_reply"`
	ReplyTo       *inReplyTo    `json:"reply_to"`
	Attachments   jsonValue     `json:"attachments"`
	Referral      jsonValue     `json:"referral"`
}

type inQuickReply struct {
	Payload looseString `json:"payload"`
}

type inReplyTo struct {
	Mid   looseString `json:"mid"`
	Story *story      `json:"story"`
}

type story struct {
	URL looseString `json:"url"`
	ID  looseString `json:"id"`
}

type attachment struct {
	Type    looseString `json:"type"`
	Payload jsonValue   `json:"payload"`
}

// attachmentPayload is the union of the payload keys of every attachment
// type seen so far.
type attachmentPayload struct {
	URL           looseString `json:"url"`
	Title         looseString `json:"title"`
	ID            looseString `json:"id"`
	IgPostMediaID looseString `json:"ig_post_media_id"`
	ReelVideoID   looseString `json:"reel_video_id"`
	VideoID       looseString `json:"video_id"`
	StoryMediaID  looseString `json:"story_media_id"`
	StoryMediaURL looseString `json:"story_media_url"`
}

type referral struct {
	Ref    looseString `json:"ref"`
	Source looseString `json:"source"`
	Type   looseString `json:"type"`
	AdID   looseString `json:"ad_id"`
}

// Event keys that are understood and deliberately not acted on.
var ignoredKeys = []string{
	"optin", "pass_thread_control", "take_thread_control", "request_thread_control",
	"policy_enforcement", "messaging_feedback", "response_feedback", "app_roles",
	"account_linking", "delivery",
}

// normalizeItem turns one messaging item into an event. It never fails: an
// item it cannot read becomes an ignored event carrying its raw JSON.
func normalizeItem(v jsonValue, x itemContext) *proto.Event {
	var it item
	raw := v.b
	if firstByte(raw) != '{' {
		return badItem(raw, "item is not a JSON object")
	}
	if err := decode(v, &it); err != nil {
		return badItem(raw, "item: "+err.Error())
	}
	ev := &proto.Event{
		ContactId:   string(it.Sender.ID),
		TimestampMs: toMillis(int64(it.Timestamp)),
		Raw:         raw,
	}
	if ev.TimestampMs == 0 {
		ev.TimestampMs = x.entryTimeMs
	}
	switch {
	case !isNull(it.Message.b):
		normalizeMessage(ev, it, x)
	case it.MessageEdit != nil:
		e := it.MessageEdit
		if e.Mid == "" {
			return ignored(ev, "message_edit", "message_edit without mid")
		}
		ev.Kind = sdk.EventEdit
		ev.MessageId = string(e.Mid)
		ev.DedupeKey = "edit:" + string(e.Mid) + ":" + strconv.FormatInt(int64(e.NumEdit), 10)
		ev.Contents = []*proto.Content{{Type: sdk.ContentText, Text: string(e.Text)}}
	case it.Reaction != nil:
		r := it.Reaction
		if r.Mid == "" {
			return ignored(ev, "reaction", "reaction without mid")
		}
		switch r.Action {
		case "react":
			ev.Kind = sdk.EventReaction
		case "unreact":
			ev.Kind = sdk.EventUnreaction
		default:
			return ignored(ev, "reaction", "reaction with action "+strconv.Quote(truncate(string(r.Action), 32)))
		}
		ev.MessageId = string(r.Mid)
		emoji := string(r.Emoji)
		if emoji == "" && ev.Kind == sdk.EventReaction {
			emoji = reactionEmoji[string(r.Reaction)]
		}
		ev.Contents = []*proto.Content{{Type: sdk.ContentReaction, Emoji: emoji, Mid: string(r.Mid)}}
		// Reactions carry no id of their own; the tuple is what stays the
		// same when Meta redelivers.
		ev.DedupeKey = "reaction:" + string(r.Mid) + ":" + ev.ContactId + ":" + string(r.Action) + ":" +
			string(r.Reaction) + ":" + strconv.FormatInt(int64(it.Timestamp), 10)
	case it.Postback != nil:
		p := it.Postback
		ev.Kind = sdk.EventMessage
		ev.MessageId = string(p.Mid)
		title := string(p.Title)
		if title == "" {
			title = string(p.Payload)
		}
		ev.Contents = []*proto.Content{{Type: sdk.ContentText, Text: title, Payload: string(p.Payload)}}
		if p.Mid != "" {
			ev.DedupeKey = "postback:" + string(p.Mid)
		} else {
			ev.DedupeKey = "postback:" + ev.ContactId + ":" + strconv.FormatInt(int64(it.Timestamp), 10) + ":" + string(p.Payload)
		}
		if !isNull(p.Referral.b) {
			ev.Note = referralNote(p.Referral)
		}
	case it.Read != nil:
		if it.Read.Mid == "" {
			return ignored(ev, "read", "read receipt without mid")
		}
		ev.Kind = sdk.EventRead
		ev.MessageId = string(it.Read.Mid)
		ev.DedupeKey = "read:" + string(it.Read.Mid) + ":" + ev.ContactId
	case !isNull(it.Referral.b):
		ev.Kind = sdk.EventReferral
		ev.Note = referralNote(it.Referral)
		ev.DedupeKey = "referral:" + ev.ContactId + ":" + strconv.FormatInt(int64(it.Timestamp), 10)
	default:
		key := presentKey(raw)
		if key == "" {
			return ignored(ev, "unknown", "item without a known event key")
		}
		return ignored(ev, key, key+" event")
	}
	if ev.Kind != sdk.EventIgnored && ev.ContactId == "" {
		return badItem(raw, ev.Kind+" without a user id")
	}
	if x.standby {
		// The app that owns the thread answers it: recorded here, so agents
		// see the whole thread, and never answered twice.
		ev.Note = joinNotes("standby: another app owns the thread", ev.Note)
		ev.Passive = true
	}
	return ev
}

// normalizeMessage fills ev from item.message: a new message, an echo of
// the business's own, or the unsend of either.
func normalizeMessage(ev *proto.Event, it item, x itemContext) {
	var m message
	if firstByte(it.Message.b) != '{' {
		ignored(ev, "message", "message is not a JSON object")
		return
	}
	if err := decode(it.Message, &m); err != nil {
		ignored(ev, "message", "message: "+err.Error())
		return
	}
	if m.Mid == "" {
		ignored(ev, "message", "message without mid")
		return
	}
	ev.MessageId = string(m.Mid)
	// An echo covers the business's own messages, sent from any app. The
	// sender check guards against an echo that lacks the flag: the business
	// must never become its own contact.
	echo := bool(m.IsEcho) || (x.account != "" && string(it.Sender.ID) == x.account && string(it.Recipient.ID) != x.account)
	if echo {
		ev.ContactId = string(it.Recipient.ID)
	}
	if m.IsDeleted {
		ev.Kind = sdk.EventUnsend
		ev.DedupeKey = "unsend:" + string(m.Mid)
		return
	}
	ev.Kind = sdk.EventMessage
	if echo {
		ev.Kind = sdk.EventEcho
	}
	ev.DedupeKey = string(m.Mid)
	if m.ReplyTo != nil {
		ev.ReplyTo = string(m.ReplyTo.Mid)
	}
	ev.Contents = messageContents(m, it.Message.b)
	if !isNull(m.Referral.b) {
		ev.Note = referralNote(m.Referral)
	}
}

func messageContents(m message, raw []byte) []*proto.Content {
	var out []*proto.Content
	switch {
	case m.ReplyTo != nil && m.ReplyTo.Story != nil:
		s := m.ReplyTo.Story
		out = append(out, &proto.Content{
			Type: sdk.ContentStoryReply, Url: string(s.URL), StoryId: string(s.ID), Text: string(m.Text),
		})
	case m.QuickReply != nil:
		text := string(m.Text)
		if text == "" {
			text = string(m.QuickReply.Payload)
		}
		out = append(out, &proto.Content{Type: sdk.ContentText, Text: text, Payload: string(m.QuickReply.Payload)})
	case m.Text != "":
		out = append(out, &proto.Content{Type: sdk.ContentText, Text: string(m.Text)})
	}
	out = appendAttachments(out, m.Attachments)
	if m.IsUnsupported {
		out = append(out, &proto.Content{Type: sdk.ContentUnsupported, OriginalType: "is_unsupported", Raw: raw})
	}
	if len(out) == 0 {
		// A message with nothing we can show still exists (and may be
		// unsent later): record it as unsupported, never as a blank bubble.
		out = append(out, &proto.Content{Type: sdk.ContentUnsupported, OriginalType: "empty", Raw: raw})
	}
	return out
}

func appendAttachments(out []*proto.Content, v jsonValue) []*proto.Content {
	var all []jsonValue
	switch raw := v.b; firstByte(raw) {
	case 0, 'n':
		return out
	case '[':
		var err error
		if all, err = list(v); err != nil {
			return append(out, unsupported("attachments", raw))
		}
	case '{':
		// One IG sample writes a single attachment as an object.
		all = []jsonValue{v}
	default:
		return append(out, unsupported("attachments", raw))
	}
	for _, a := range all {
		c := attachmentContent(a)
		if c == nil {
			continue
		}
		if c.Type == sdk.ContentShare && mergeShare(out, c) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// attachmentContent maps one attachment. Meta adds types without notice:
// anything not known here is unsupported, with its own type name and JSON.
func attachmentContent(v jsonValue) *proto.Content {
	raw := v.b
	if isNull(raw) {
		return nil
	}
	var a attachment
	if firstByte(raw) != '{' || decode(v, &a) != nil {
		return unsupported("attachment", raw)
	}
	typ := string(a.Type)
	var p attachmentPayload
	if !isNull(a.Payload.b) && (firstByte(a.Payload.b) != '{' || decode(a.Payload, &p) != nil) {
		return unsupported(typ, raw)
	}
	switch typ {
	case "image", "video", "audio", "file":
		if p.URL == "" {
			return unsupported(typ, raw)
		}
		mime, name := fileFacts(string(p.URL))
		return &proto.Content{Type: typ, Url: string(p.URL), MimeType: mime, Name: name, Raw: raw}
	case "share", "ig_post":
		return &proto.Content{Type: sdk.ContentShare, Url: string(p.URL), Title: string(p.Title),
			StoryId: firstOf(p.IgPostMediaID, p.ID), Raw: raw}
	case "ig_reel", "reel":
		return &proto.Content{Type: sdk.ContentShare, Url: string(p.URL), Title: string(p.Title),
			StoryId: firstOf(p.ReelVideoID, p.VideoID, p.ID), Raw: raw}
	case "ig_story":
		return &proto.Content{Type: sdk.ContentShare, Url: firstOf(p.StoryMediaURL, p.URL), Title: string(p.Title),
			StoryId: firstOf(p.StoryMediaID, p.ID), Raw: raw}
	case "story_mention":
		// The CDN URL and the id only: the story's media must never be
		// fetched or stored.
		return &proto.Content{Type: sdk.ContentStoryMention, Url: string(p.URL),
			StoryId: firstOf(p.ID, p.StoryMediaID), Raw: raw}
	default:
		return unsupported(typ, raw)
	}
}

// mergeShare folds c into an earlier share of the same media: since late
// 2025 one post share arrives as a share + ig_post pair.
func mergeShare(out []*proto.Content, c *proto.Content) bool {
	for _, prev := range out {
		if prev.Type != sdk.ContentShare {
			continue
		}
		if (c.StoryId != "" && c.StoryId == prev.StoryId) || (c.Url != "" && c.Url == prev.Url) {
			if prev.Url == "" {
				prev.Url = c.Url
			}
			if prev.Title == "" {
				prev.Title = c.Title
			}
			if prev.StoryId == "" {
				prev.StoryId = c.StoryId
			}
			return true
		}
	}
	return false
}

func unsupported(typ string, raw []byte) *proto.Content {
	if typ == "" {
		typ = "unknown"
	}
	return &proto.Content{Type: sdk.ContentUnsupported, OriginalType: truncate(typ, 64), Raw: raw}
}

func firstOf(vs ...looseString) string {
	for _, v := range vs {
		if v != "" {
			return string(v)
		}
	}
	return ""
}

// extensionTypes names the media types Instagram carries, by file extension.
// A fixed table rather than mime.TypeByExtension, whose answers depend on the
// machine's mime files.
var extensionTypes = map[string]string{
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".png":  "image/png",
	".gif":  "image/gif",
	".webp": "image/webp",
	".heic": "image/heic",
	".mp4":  "video/mp4",
	".mov":  "video/quicktime",
	".webm": "video/webm",
	".avi":  "video/x-msvideo",
	".ogg":  "audio/ogg",
	".m4a":  "audio/mp4",
	".aac":  "audio/aac",
	".wav":  "audio/wav",
	".mp3":  "audio/mpeg",
	".opus": "audio/ogg",
	".pdf":  "application/pdf",
	".txt":  "text/plain",
	".csv":  "text/csv",
	".doc":  "application/msword",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xls":  "application/vnd.ms-excel",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".zip":  "application/zip",
}

// fileFacts guesses a media type and a file name from a URL's path. Meta's
// CDN URLs usually have neither, and nothing is fetched to find out.
func fileFacts(rawURL string) (mime, name string) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", ""
	}
	base := path.Base(u.Path)
	ext := strings.ToLower(path.Ext(base))
	mime = extensionTypes[ext]
	if mime == "" {
		return "", ""
	}
	return mime, base
}

// reactionEmoji stands in for the emoji when Meta sends only the reaction's
// name.
var reactionEmoji = map[string]string{
	"love": "\u2764\ufe0f", "like": "\U0001f44d", "laugh": "\U0001f606", "wow": "\U0001f62e",
	"sad": "\U0001f622", "angry": "\U0001f620",
}

func referralNote(v jsonValue) string {
	var r referral
	if decode(v, &r) != nil {
		return "referral"
	}
	parts := []string{"referral"}
	for _, kv := range []struct{ k, v string }{
		{"source", string(r.Source)}, {"type", string(r.Type)}, {"ref", string(r.Ref)}, {"ad_id", string(r.AdID)},
	} {
		if kv.v != "" {
			parts = append(parts, kv.k+"="+truncate(kv.v, 256))
		}
	}
	return strings.Join(parts, " ")
}

func joinNotes(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	default:
		return a + "; " + b
	}
}

// ignored turns ev into an ignored event. Its key hashes the item, which is
// the same bytes when Meta redelivers it.
func ignored(ev *proto.Event, key, note string) *proto.Event {
	ev.Kind = sdk.EventIgnored
	ev.Note = note
	ev.MessageId = ""
	ev.Contents = nil
	ev.DedupeKey = "ignored:" + key + ":" + digest(ev.Raw)
	return ev
}

// badItem records an item (or entry) that could not be read at all.
func badItem(raw []byte, note string) *proto.Event {
	return &proto.Event{
		Kind:      sdk.EventIgnored,
		Note:      truncate(note, 300),
		Raw:       raw,
		DedupeKey: "bad:" + digest(raw),
	}
}

func digest(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16])
}

// presentKey names the event key of an item that has none of the handled
// ones, for the note.
func presentKey(raw []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	for _, k := range ignoredKeys {
		if _, ok := m[k]; ok {
			return k
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		switch k {
		case "sender", "recipient", "timestamp":
		default:
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	return truncate(keys[0], 64)
}

// messagingFields are the change fields whose value is a messaging item
// (the dashboard's test button sends these); comments and mentions are not.
var messagingFields = map[string]bool{
	"messages": true, "message_reactions": true, "messaging_reactions": true, "messaging_postbacks": true,
	"messaging_seen": true, "messaging_referral": true, "messaging_referrals": true, "message_edit": true,
	"messaging_optins": true, "messaging_handover": true, "messaging_handovers": true, "standby": true,
	"message_echoes": true, "messaging_policy_enforcement": true,
}

type change struct {
	Field looseString `json:"field"`
	Value jsonValue   `json:"value"`
}

// normalizeChange reads one entry.changes[] element.
func normalizeChange(v jsonValue, x itemContext) *proto.Event {
	var ch change
	raw := v.b
	if firstByte(raw) != '{' {
		return badItem(raw, "change is not a JSON object")
	}
	if err := decode(v, &ch); err != nil {
		return badItem(raw, "change: "+err.Error())
	}
	field := string(ch.Field)
	if !messagingFields[field] {
		ev := &proto.Event{Raw: raw, TimestampMs: x.entryTimeMs}
		return ignored(ev, "change", "changes field "+strconv.Quote(truncate(field, 64))+" is not handled")
	}
	ev := normalizeItem(ch.Value, x)
	// Keep the field name in the record: the value alone does not say it
	// came through the test form.
	ev.Raw = raw
	return ev
}
