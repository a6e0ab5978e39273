// Package engine decides what happens to every conversation. It turns a
// webhook into durable inbox rows (through the channel plugin), processes
// them in order per contact, routes each message (routing.lua, then the
// assistant or a squad), commits replies to the outbox, and sends them
// through the channel plugin with retries. It also ends inactive
// conversations on a timer.
//
// Crash safety rests on two rules: the source is acknowledged only after its
// events are committed to the inbox, and nothing is sent before it is
// committed to the outbox. On start, pending inbox and outbox rows resume.
package engine
