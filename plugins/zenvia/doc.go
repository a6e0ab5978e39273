// Package zenvia is the channel plugin for Instagram Direct through Zenvia's
// API v2.
//
// Inbound, Zenvia POSTs one event per request to the integration's webhook
// URL (subscriptions of type MESSAGE and, for delivery reports,
// MESSAGE_STATUS, version v2, channel instagram). Zenvia signs nothing: the
// only proof of origin is the pair of custom headers the operator configured
// on the subscription, Username and AuthenticationToken, which HandleWebhook
// compares in constant time with the integration's webhook_username and
// webhook_token. An integration without those credentials refuses every
// request rather than accepting unauthenticated traffic.
//
// Each event becomes exactly one normalized event, keyed on Zenvia's event id
// (stable across Zenvia's retries) and carrying the event's JSON as received.
// Parsing is lenient below the top level: unknown content types, unknown
// referral types, odd timestamps and fields of the wrong JSON type degrade to
// unsupported contents, ignored events or a zero timestamp, never to a lost
// event, because Zenvia drops an event after about fifteen minutes of failed
// deliveries.
//
// Outbound, Send posts one message per request to
// {api_url}/v2/channels/instagram/messages. Zenvia's Instagram channel
// carries only text and images, so non-image files go out as a text with the
// download link; reply components (quick replies, select, option list) have
// been turned into text by the host before Send. Instagram lets a business
// answer only within 24 hours of the user's last message, or 7 days for a
// human agent (Zenvia's HUMAN representative), and Send refuses anything
// outside that window before calling Zenvia.
//
// Zenvia has no profile API; names arrive with each message (visitor).
//
// ValidateSettings checks an integration's settings when an operator saves
// them, with the checks Send refuses over plus the webhook credentials'
// form, and Describe publishes the settings form the console draws.
package zenvia
