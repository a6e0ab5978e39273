// Package playground is the built-in test phone (CONTRACT §8): a person
// chats as an Instagram user without Meta or Zenvia.
//
// Each action becomes the provider's real webhook (signed with the built-in
// integration's app secret for Meta, with Zenvia's credential headers) and
// goes through the engine's webhook path and the real channel plugin, like
// production traffic. The built-in integrations point their send API at a
// fake of the provider served by Conversa itself (FakeMeta, FakeZenvia),
// which records what reaches each test user and, like Meta, echoes every
// message back to the webhook.
//
// What the phone shows lives in memory: it is a test tool, and the
// conversations themselves are in the database like any other.
package playground
