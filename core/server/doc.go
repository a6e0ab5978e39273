// Package server is Conversa's HTTP face, on Fiber v2: the webhooks sources
// deliver to, the REST API and its live events (SSE), the console, health
// and metrics. Handlers copy what they need out of the request and call the
// engine; they never hand a *fiber.Ctx, or a string backed by its buffers, to
// anything that outlives the request.
package server
