package meta

// How the tree fills each struct of a delivery: every field of its json
// tag, by name (see tree.go; FuzzParseDeliveryAgrees checks these against
// the tags).

func (e *envelope) fromTree(t *tree, n int32) bool {
	return t.object(n, func(k []byte) fromTree {
		if string(k) == "entry" {
			return &e.Entry
		}
		return nil
	})
}

func (e *entryFields) fromTree(t *tree, n int32) bool {
	return t.object(n, func(k []byte) fromTree {
		switch string(k) {
		case "id":
			return &e.ID
		case "time":
			return &e.Time
		case "messaging":
			return &e.Messaging
		case "standby":
			return &e.Standby
		case "changes":
			return &e.Changes
		}
		return nil
	})
}

func (p *party) fromTree(t *tree, n int32) bool {
	return t.object(n, func(k []byte) fromTree {
		if string(k) == "id" {
			return &p.ID
		}
		return nil
	})
}

func (it *item) fromTree(t *tree, n int32) bool {
	return t.object(n, func(k []byte) fromTree {
		switch string(k) {
		case "sender":
			return &it.Sender
		case "recipient":
			return &it.Recipient
		case "timestamp":
			return &it.Timestamp
		case "message":
			return &it.Message
		case "message_edit":
			return optional[messageEdit, *messageEdit]{&it.MessageEdit}
		case "reaction":
			return optional[reaction, *reaction]{&it.Reaction}
		case "postback":
			return optional[postback, *postback]{&it.Postback}
		case "read":
			return optional[read, *read]{&it.Read}
		case "referral":
			return &it.Referral
		}
		return nil
	})
}

func (e *messageEdit) fromTree(t *tree, n int32) bool {
	return t.object(n, func(k []byte) fromTree {
		switch string(k) {
		case "mid":
			return &e.Mid
		case "text":
			return &e.Text
		case "num_edit":
			return &e.NumEdit
		}
		return nil
	})
}

func (r *reaction) fromTree(t *tree, n int32) bool {
	return t.object(n, func(k []byte) fromTree {
		switch string(k) {
		case "mid":
			return &r.Mid
		case "action":
			return &r.Action
		case "reaction":
			return &r.Reaction
		case "emoji":
			return &r.Emoji
		}
		return nil
	})
}

func (p *postback) fromTree(t *tree, n int32) bool {
	return t.object(n, func(k []byte) fromTree {
		switch string(k) {
		case "mid":
			return &p.Mid
		case "title":
			return &p.Title
		case "payload":
			return &p.Payload
		case "referral":
			return &p.Referral
		}
		return nil
	})
}

func (r *read) fromTree(t *tree, n int32) bool {
	return t.object(n, func(k []byte) fromTree {
		if string(k) == "mid" {
			return &r.Mid
		}
		return nil
	})
}

func (m *message) fromTree(t *tree, n int32) bool {
	return t.object(n, func(k []byte) fromTree {
		switch string(k) {
		case "mid":
			return &m.Mid
		case "text":
			return &m.Text
		case "is_echo":
			return &m.IsEcho
		case "is_deleted":
			return &m.IsDeleted
		case "is_unsupported":
			return &m.IsUnsupported
		case "quick_reply":
			return optional[inQuickReply, *inQuickReply]{&m.QuickReply}
		case "reply_to":
			return optional[inReplyTo, *inReplyTo]{&m.ReplyTo}
		case "attachments":
			return &m.Attachments
		case "referral":
			return &m.Referral
		}
		return nil
	})
}

func (q *inQuickReply) fromTree(t *tree, n int32) bool {
	return t.object(n, func(k []byte) fromTree {
		if string(k) == "payload" {
			return &q.Payload
		}
		return nil
	})
}

func (r *inReplyTo) fromTree(t *tree, n int32) bool {
	return t.object(n, func(k []byte) fromTree {
		switch string(k) {
		case "mid":
			return &r.Mid
		case "story":
			return optional[story, *story]{&r.Story}
		}
		return nil
	})
}

func (s *story) fromTree(t *tree, n int32) bool {
	return t.object(n, func(k []byte) fromTree {
		switch string(k) {
		case "url":
			return &s.URL
		case "id":
			return &s.ID
		}
		return nil
	})
}

func (a *attachment) fromTree(t *tree, n int32) bool {
	return t.object(n, func(k []byte) fromTree {
		switch string(k) {
		case "type":
			return &a.Type
		case "payload":
			return &a.Payload
		}
		return nil
	})
}

func (p *attachmentPayload) fromTree(t *tree, n int32) bool {
	return t.object(n, func(k []byte) fromTree {
		switch string(k) {
		case "url":
			return &p.URL
		case "title":
			return &p.Title
		case "id":
			return &p.ID
		case "ig_post_media_id":
			return &p.IgPostMediaID
		case "reel_video_id":
			return &p.ReelVideoID
		case "video_id":
			return &p.VideoID
		case "story_media_id":
			return &p.StoryMediaID
		case "story_media_url":
			return &p.StoryMediaURL
		}
		return nil
	})
}

func (r *referral) fromTree(t *tree, n int32) bool {
	return t.object(n, func(k []byte) fromTree {
		switch string(k) {
		case "ref":
			return &r.Ref
		case "source":
			return &r.Source
		case "type":
			return &r.Type
		case "ad_id":
			return &r.AdID
		}
		return nil
	})
}

func (c *change) fromTree(t *tree, n int32) bool {
	return t.object(n, func(k []byte) fromTree {
		switch string(k) {
		case "field":
			return &c.Field
		case "value":
			return &c.Value
		}
		return nil
	})
}
