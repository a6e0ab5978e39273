// Package events is the in-process publish/subscribe of live updates that the
// console receives over Server-Sent Events: a conversation assigned, a new
// message, a delivery status, a conversation ended.
//
// Recent events are kept in a ring so a client that reconnects with
// Last-Event-ID gets what it missed. Event ids carry the bus's epoch (its
// start time): an id from another epoch, or one older than the ring, means
// the client missed too much and must reload, which Subscribe reports.
//
// Each event is encoded once, as the bytes of its SSE frame, when it is
// published; every stream it goes to shares them. A stream subscribes with
// SubscribeFeed: the frames its filter accepts wait in a bounded queue that
// its writer empties in one go. Publishing never waits for a stream: one
// that falls a whole queue behind is dropped, and its client resumes with
// Last-Event-ID.
package events
