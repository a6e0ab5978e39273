package bench

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// The world a bench run's webhooks describe.
const (
	// BusinessID is the Instagram account the Meta integration serves.
	BusinessID = "17841400000000001"
	// ZenviaSender is the Zenvia integration's sender id.
	ZenviaSender = "conversa-bench"
	// Text is what every user writes: a greeting the demo assistant
	// answers (its greet_pt intent), with one message.
	Text = "oi"
)

// User is the Instagram-scoped id of the i-th user of a run: digits, as
// Meta's are (the Meta plugin refuses to look up anything else), and
// distinct per webhook, so each reply names the webhook that caused it.
func User(i int) string { return fmt.Sprintf("7%015d", i) }

// UserIndex is User's inverse; false for an id the load never used.
func UserIndex(id string) (int, bool) {
	if len(id) != 16 || id[0] != '7' {
		return 0, false
	}
	n, err := strconv.Atoi(id[1:])
	return n, err == nil
}

// Webhooks builds the i-th webhook of a run: one text message from
// User(i), signed or authenticated as the provider does it.
type Webhooks struct {
	// Channel is "meta" or "zenvia".
	Channel string
	// Secret is the Meta app secret the body is signed with
	// (X-Hub-Signature-256).
	Secret string
	// Username and Token are the credentials Zenvia sends with each
	// webhook.
	Username, Token string
	// Run makes message ids unique across runs on one database.
	Run string
}

// Request returns the body of the i-th webhook, written at now, and gives
// its headers to header.
func (w *Webhooks) Request(i int, now time.Time, header func(key, value string)) []byte {
	header("Content-Type", "application/json")
	switch w.Channel {
	case "zenvia":
		header("Username", w.Username)
		header("AuthenticationToken", w.Token)
		return w.zenvia(i, now)
	default:
		body := w.meta(i, now)
		m := hmac.New(sha256.New, []byte(w.Secret))
		m.Write(body)
		header("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
		return body
	}
}

// meta is the body Meta sends for one Instagram text message (a
// messages-field webhook, one entry, one messaging item).
func (w *Webhooks) meta(i int, now time.Time) []byte {
	at := now.UnixMilli()
	b := make([]byte, 0, 320)
	b = append(b, `{"object":"instagram","entry":[{"id":"`+BusinessID+`","time":`...)
	b = strconv.AppendInt(b, at, 10)
	b = append(b, `,"messaging":[{"sender":{"id":"`...)
	b = append(b, User(i)...)
	b = append(b, `"},"recipient":{"id":"`+BusinessID+`"},"timestamp":`...)
	b = strconv.AppendInt(b, at, 10)
	b = append(b, `,"message":{"mid":"aWdfZAG1fbench`...)
	b = append(b, w.Run...)
	b = append(b, '_')
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `","text":"`+Text+`"}}]}]}`...)
	return b
}

// zenvia is the body Zenvia posts for one Instagram text message (a
// MESSAGE event with the visitor's profile).
func (w *Webhooks) zenvia(i int, now time.Time) []byte {
	ts := now.UTC().Format("2006-01-02T15:04:05.000Z")
	user := User(i)
	b := make([]byte, 0, 560)
	b = append(b, `{"id":"`...)
	b = w.uuid(b, 1, i)
	b = append(b, `","timestamp":"`...)
	b = append(b, ts...)
	b = append(b, `","type":"MESSAGE","subscriptionId":"8f3c2a61-0b7e-4d2c-9a55-1e6f0c9d4b12","channel":"instagram","direction":"IN","message":{"id":"`...)
	b = w.uuid(b, 2, i)
	b = append(b, `","from":"`...)
	b = append(b, user...)
	b = append(b, `","to":"`+ZenviaSender+`","direction":"IN","channel":"instagram","visitor":{"name":"Bench User `...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `","userName":"bench.user.`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `"},"contents":[{"type":"text","text":"`+Text+`"}],"timestamp":"`...)
	b = append(b, ts...)
	b = append(b, `"}}`...)
	return b
}

// uuid appends an id in the UUID form Zenvia uses, unique per run, kind
// (event or message) and webhook.
func (w *Webhooks) uuid(b []byte, kind, i int) []byte {
	run := w.Run + "00000000"
	return fmt.Appendf(b, "%s-%04x-4%03x-8000-%012x", run[:8], kind, 0, i)
}
