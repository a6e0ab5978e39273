// Package rasa is an assistant backed by any bot that speaks Rasa's REST
// channel (rasa run --enable-api with the "rest" channel, or anything that
// imitates it).
//
// Settings:
//
//	{"url": "http://localhost:5005/webhooks/rest/webhook",
//	 "timeout_ms": 10000,
//	 "headers": {"Authorization": "Bearer ..."}}
//
// Each turn is one POST of {"sender", "message", "metadata"}. The sender is
// integration id + ":" + conversation id, so Rasa keeps one tracker per
// conversation and a conversation restarted after inactivity starts a fresh
// one. The message is a tapped button's payload (Rasa buttons carry
// "/intent" payloads), else the text, else a media caption. A turn with none
// of these (audio...) is not sent: the answer has no replies and intent
// "unsupported". Describe declares text only, so the host normally answers
// such turns with its unsupported-media reply before they get here. The
// metadata carries the integration, channel, conversation, contact
// {id, username, name} and the turn's contents.
//
// The answer, a JSON array of {recipient_id, text, buttons, image, custom},
// becomes replies in order: text → text; text with buttons → one
// quick_replies content (button title and payload); image → image. In
// custom, "handoff": true and "end": true set the flags and "squad" names
// the squad for the handoff; other keys are ignored.
//
// Every failure (no connection, a non-2xx status, a timeout, an answer that
// is not a JSON array) is a gRPC error with a one-line reason, so that the
// host retries and then hands the conversation to people. Error messages
// show the URL without its query, where Rasa's token goes.
//
// Rasa keeps the dialogue state, so the session is returned unchanged.
package rasa
