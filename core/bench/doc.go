// Package bench is `conversa bench`'s load and its measurements: an
// open-loop generator of signed webhooks from distinct users, an in-process
// fake provider (Meta's Graph API or Zenvia's API) that notes when each
// reply arrives, a bare Fiber handler to compare against, and the report.
//
// Every time is read from one monotonic clock (Clock), shared by the sender
// and the fake provider in the same process, so "webhook sent → reply
// received" is a difference of two readings of the same clock.
//
// The load is open-loop: request i is due at start + i/rate whatever
// happened to the requests before it, and its latencies are measured from
// that due time. A server that falls behind therefore shows as latency and
// backlog, never as a quietly lower offered rate (coordinated omission).
// The saturation mode (rate 0) is the opposite on purpose: C connections
// each post as soon as the previous answer came, and the figure is how many
// webhooks a second were acknowledged.
//
// Latencies are kept one slot per request, preallocated in chunks, and the
// percentiles are exact (nearest rank over the sorted samples): at a few
// hundred thousand requests that is a few megabytes and one sort.
package bench
