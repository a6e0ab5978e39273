// Package reports computes the admins' reports from the conversations a
// store lists (store.Conversations.Report): how many started in a range of
// days, how many the assistant handled alone and how many were handed off
// to people, and how long people took to answer and conversations to end
// (nearest-rank p50 and p90), overall, per agent and per day, in a time
// zone. The arithmetic is here, in Go, so that every store gives the same
// figures.
package reports
