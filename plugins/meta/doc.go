// Package meta is the channel plugin for Instagram Direct through Meta's own
// Instagram messaging API, in either of its variants: Instagram login
// (graph.instagram.com, bearer token) and Facebook login
// (graph.facebook.com, Page token and appsecret_proof in the query).
//
// Inbound, HandleWebhook answers the verification handshake (GET, the
// integration's verify_token, a numeric challenge echoed only after
// validation) and turns signed deliveries (POST) into normalized events.
// X-Hub-Signature-256 is checked over the body bytes exactly as received, in
// constant time, before anything is parsed. One Meta app may deliver several
// accounts' events to one URL, so the request lists every enabled Meta
// integration as a candidate and each entry goes to the one whose account_id
// equals entry.id and whose app secret verified the body; an entry no
// verified integration serves is recorded as ignored under the integration
// the URL names rather than dropped.
//
// Parsing is item by item: an entry or item of the wrong shape becomes an
// ignored event with a note and its raw JSON, and the rest of the batch goes
// on. Attachment types Meta adds without notice become unsupported contents.
// Nothing is ever fetched while parsing: story mentions keep the CDN URL and
// the story id, never the media. Dedupe keys are built from what stays the
// same when Meta redelivers (the mid, or for reactions, reads and referrals
// the tuple that identifies them).
//
// Outbound, Send posts to {graph_url}/{api_version}/me/messages, one call
// per message: text in parts of at most 1000 UTF-8 bytes broken at word
// boundaries, quick replies natively, media as attachments by URL (images
// in a row grouped, up to 10 per message). The messaging window is decided
// before any call: 24 hours after the user's last message for anyone, up to
// 7 days for human agents with the HUMAN_AGENT tag when the integration has
// human_agent_tag on, never for a user who has not written. Graph errors are
// classified into retryable (rate limits, transient, 5xx and network errors,
// the latter two with unknown_outcome since Meta may have delivered),
// reauthorize (code 190) and permanent.
//
// Profile reads name, username and profile picture, best effort.
//
// ValidateSettings checks an integration's settings when an operator saves
// them, with the checks every Graph API call refuses over plus the rest of
// the form (app secret, account id, verify token, human_agent_tag), and
// Describe publishes the settings form the console draws.
package meta
