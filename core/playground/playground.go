package playground

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/conversa/conversa/core/config"
	"github.com/conversa/conversa/core/engine"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// Channels the phone speaks through, and the built-in integration of each.
const (
	Meta   = "meta"
	Zenvia = "zenvia"
)

// IntegrationOf is the built-in integration of a channel.
func IntegrationOf(channel string) string {
	if channel == Zenvia {
		return config.PlaygroundZenvia
	}
	return config.PlaygroundMeta
}

// Kinds of what a test user may do.
const (
	KindText         = "text"
	KindImage        = "image"
	KindStoryMention = "story_mention"
	KindStoryReply   = "story_reply"
	KindReaction     = "reaction"
	KindUnsend       = "unsend"
)

// FakePrefix is where the fake send APIs live on Conversa's own listener.
const FakePrefix = "/playground/fake"

// Engine is what the playground needs of core/engine.
type Engine interface {
	Integration(id string) *model.Integration
	Put(ctx context.Context, in *model.Integration, keepSecrets bool) error
	Disable(ctx context.Context, id string) error
	Webhook(ctx context.Context, integration string, r engine.WebhookRequest) (engine.WebhookResult, error)
}

// Options configures a Playground.
type Options struct {
	Engine Engine
	Logger *slog.Logger
	Now    func() time.Time
	// LocalURL is Conversa's own listener as the plugin processes reach it
	// over loopback (see LocalURL): the built-in integrations send there.
	LocalURL string
	// Assistant answers the playground's conversations ("" for none).
	Assistant string
	// EchoDelay is how long after accepting a message the fake Meta
	// delivers its echo (default 200 ms; Meta takes about as long).
	EchoDelay time.Duration
}

// Errors the API maps to statuses.
var (
	// ErrNotReady: the built-in integration is missing or disabled (its
	// channel plugin could not start).
	ErrNotReady = errors.New("the playground's integration is not ready")
	// ErrRefused: the channel plugin refused the playground's own webhook,
	// which means a bug, not bad input.
	ErrRefused = errors.New("the channel refused the playground's webhook")
)

// FieldError is bad input about one field.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Input is one action of a test user (POST /api/v1/playground/messages).
type Input struct {
	Channel string `json:"channel"`
	User    string `json:"user"`
	Kind    string `json:"kind"`
	Text    string `json:"text"`
	URL     string `json:"url"`
	Emoji   string `json:"emoji"`
	Mid     string `json:"mid"`
	// Payload is a quick reply's payload: the user tapped one (Meta).
	Payload string `json:"payload"`
}

// Message is one message of a test user's thread, as the phone shows it.
type Message struct {
	Direction string          `json:"direction"` // in: the user sent it; out: it reached the user
	Mid       string          `json:"mid"`
	Contents  []model.Content `json:"contents"`
	At        time.Time       `json:"at"`
	Deleted   bool            `json:"deleted,omitempty"`
	Reactions []Reaction      `json:"reactions,omitempty"`
}

// Reaction is an emoji on a message, by the user or the business.
type Reaction struct {
	Emoji string    `json:"emoji"`
	By    string    `json:"by"` // user or business
	At    time.Time `json:"at"`
}

// Thread is what the phone shows of one test user's chat.
type Thread struct {
	Messages []Message `json:"messages"`
	// Typing: the business is typing (Meta's typing_on, not yet followed by
	// a message).
	Typing bool `json:"typing"`
}

// Limits that keep the in-memory threads small.
const (
	maxMessages = 500 // per thread; older ones are dropped
	maxUsers    = 200 // per channel
	maxText     = 1000
	maxURL      = 2048
	typingFor   = 20 * time.Second
)

type thread struct {
	messages    []*Message
	typingUntil time.Time
}

// Playground is the test phone and the fake send APIs behind it.
type Playground struct {
	o   Options
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	threads map[string]*thread  // channel \x00 channel user id
	names   map[string]string   // channel \x00 channel user id -> user
	users   map[string][]string // channel -> users, in order of first use

	stopMu sync.Mutex // orders background work started against Close
	stop   chan struct{}
	wg     sync.WaitGroup
}

// New builds a playground; Install creates its integrations.
func New(o Options) *Playground {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.EchoDelay <= 0 {
		o.EchoDelay = 200 * time.Millisecond
	}
	o.LocalURL = strings.TrimRight(o.LocalURL, "/")
	return &Playground{o: o, log: o.Logger.With("component", "playground"), now: o.Now,
		threads: map[string]*thread{}, names: map[string]string{}, users: map[string][]string{},
		stop: make(chan struct{})}
}

// Close stops the echoes still on their way and waits for them.
func (p *Playground) Close() {
	p.stopMu.Lock()
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.stopMu.Unlock()
	p.wg.Wait()
}

// background runs f on a goroutine Close waits for; after Close it does
// nothing.
func (p *Playground) background(f func()) {
	p.stopMu.Lock()
	defer p.stopMu.Unlock()
	select {
	case <-p.stop:
		return
	default:
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
}

// LocalURL is how a process on this machine reaches a listener: its own
// address, or loopback when it listens on every interface.
func LocalURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if ip != nil && ip.To4() == nil {
			host = "::1"
		} else {
			host = "127.0.0.1"
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

// The built-in accounts: what the webhooks name as the business.
const (
	metaAccountID  = "17841400000000001"
	zenviaSenderID = "conversa-playground"
	metaAPIVersion = "v25.0"
)

// Install creates or refreshes the built-in integrations: the fake send
// APIs' address changes with the listener (port 0 picks a new one), and the
// secrets are generated once and kept.
func (p *Playground) Install(ctx context.Context) error {
	var errs []error
	for _, in := range p.builtins() {
		if err := p.o.Engine.Put(ctx, in, false); err != nil {
			errs = append(errs, fmt.Errorf("integration %s: %w", in.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (p *Playground) builtins() []*model.Integration {
	keep := func(id, key string) string {
		if old := p.o.Engine.Integration(id); old != nil {
			if v := old.Setting(key); v != "" {
				return v
			}
		}
		return randomToken()
	}
	base := func(id, name, channel string, settings map[string]any) *model.Integration {
		return &model.Integration{ID: id, Name: name, Channel: channel, Assistant: p.o.Assistant,
			Squad: model.DefaultSquad, InactivityMinutes: config.DefaultInactivityMinutes,
			UnsupportedMediaMessages: config.DefaultUnsupportedMediaMessages(), HomologationUsers: []string{},
			Settings: settings, Enabled: true, Source: model.SourcePlayground}
	}
	return []*model.Integration{
		base(config.PlaygroundMeta, "Playground (Meta)", Meta, map[string]any{
			"account_id":   metaAccountID,
			"login":        "instagram",
			"access_token": keep(config.PlaygroundMeta, "access_token"),
			"app_secret":   keep(config.PlaygroundMeta, "app_secret"),
			"graph_url":    p.o.LocalURL + FakePrefix + "/meta",
			"api_version":  metaAPIVersion,
		}),
		base(config.PlaygroundZenvia, "Playground (Zenvia)", Zenvia, map[string]any{
			"sender_id": zenviaSenderID,
			"api_token": keep(config.PlaygroundZenvia, "api_token"),
			"api_url":   p.o.LocalURL + FakePrefix + "/zenvia",
		}),
	}
}

// Assistant picks the assistant of the playground's conversations: the
// demo assistant when configured, else the first one.
func Assistant(as []config.Assistant) string {
	for _, a := range as {
		if a.ID == config.DemoAssistant {
			return a.ID
		}
	}
	if len(as) > 0 {
		return as[0].ID
	}
	return ""
}

// Off disables the built-in integrations of an install whose playground was
// on before; they stay in the database (their conversations refer to them)
// and the API hides them.
func Off(ctx context.Context, eng Engine) error {
	var errs []error
	for _, id := range []string{config.PlaygroundMeta, config.PlaygroundZenvia} {
		if in := eng.Integration(id); in != nil && in.Enabled {
			if err := eng.Disable(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
				errs = append(errs, fmt.Errorf("integration %s: %w", id, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Users lists the test users of each channel, in the order they first wrote.
func (p *Playground) Users() map[string][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return map[string][]string{Meta: append([]string{}, p.users[Meta]...), Zenvia: append([]string{}, p.users[Zenvia]...)}
}

// Messages is one test user's thread, oldest first.
func (p *Playground) Messages(channel, user string) (Thread, error) {
	channel, err := checkChannel(channel)
	if err != nil {
		return Thread{}, err
	}
	user, err = checkUser(user)
	if err != nil {
		return Thread{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := Thread{Messages: []Message{}}
	th := p.threads[key(channel, userID(channel, user))]
	if th == nil {
		return out, nil
	}
	for _, m := range th.messages {
		c := *m
		c.Reactions = append([]Reaction(nil), m.Reactions...)
		out.Messages = append(out.Messages, c)
	}
	out.Typing = p.now().Before(th.typingUntil)
	return out, nil
}

// Send makes a test user do something: the provider's webhook for it goes
// through the engine and the channel plugin. It returns the mid of the
// message sent (for a reaction or an unsend, of the message it is about).
func (p *Playground) Send(ctx context.Context, in Input) (string, error) {
	if err := p.check(&in); err != nil {
		return "", err
	}
	id := IntegrationOf(in.Channel)
	integ := p.o.Engine.Integration(id)
	if integ == nil || !integ.Enabled {
		return "", ErrNotReady
	}
	uid := userID(in.Channel, in.User)
	now := p.now()
	var (
		req engine.WebhookRequest
		msg *Message
		err error
	)
	switch in.Kind {
	case KindReaction, KindUnsend:
		if err := p.checkTarget(in, uid); err != nil {
			return "", err
		}
	default:
		msg = &Message{Direction: "in", Mid: newMid(in.Channel), Contents: []model.Content{userContent(in)}, At: now}
	}
	mid := in.Mid
	if msg != nil {
		mid = msg.Mid
	}
	switch in.Channel {
	case Meta:
		req, err = metaWebhook(integ, uid, mid, in, now)
	default:
		req, err = zenviaWebhook(integ, uid, mid, in, now)
	}
	if err != nil {
		return "", err
	}
	if msg != nil {
		// Recorded before delivery: the answer may reach the fake send API
		// before the webhook call returns.
		if err := p.record(in.Channel, uid, in.User, msg); err != nil {
			return "", err
		}
	} else {
		p.remember(in.Channel, uid, in.User)
	}
	if err := p.deliver(ctx, id, req); err != nil {
		if msg != nil {
			p.forget(in.Channel, uid, msg)
		}
		return "", err
	}
	if msg == nil {
		p.apply(in, uid, now)
	}
	return mid, nil
}

func (p *Playground) deliver(ctx context.Context, integration string, req engine.WebhookRequest) error {
	res, err := p.o.Engine.Webhook(ctx, integration, req)
	if err != nil {
		return err
	}
	if res.Status != 200 {
		return fmt.Errorf("%w: status %d: %s", ErrRefused, res.Status, res.Refusal)
	}
	return nil
}

// check normalizes and validates an input; every error names its field.
func (p *Playground) check(in *Input) error {
	var err error
	if in.Channel, err = checkChannel(in.Channel); err != nil {
		return err
	}
	if in.User, err = checkUser(in.User); err != nil {
		return err
	}
	in.Kind = strings.ToLower(strings.TrimSpace(in.Kind))
	if in.Kind == "" {
		in.Kind = KindText
	}
	in.Text = strings.TrimSpace(in.Text)
	in.URL = strings.TrimSpace(in.URL)
	in.Emoji = strings.TrimSpace(in.Emoji)
	in.Mid = strings.TrimSpace(in.Mid)
	needText := func() error {
		switch n := utf8.RuneCountInString(in.Text); {
		case n == 0:
			return fieldErr("text", "is required for kind %s", in.Kind)
		case n > maxText:
			return fieldErr("text", "is %d characters long; Instagram takes at most %d", n, maxText)
		}
		return nil
	}
	needURL := func() error {
		if in.URL == "" {
			return fieldErr("url", "is required for kind %s (the address of the photo or story)", in.Kind)
		}
		u, err := url.Parse(in.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(in.URL) > maxURL {
			return fieldErr("url", "must be an http(s) address of at most %d characters", maxURL)
		}
		return nil
	}
	switch in.Kind {
	case KindText:
		return needText()
	case KindImage, KindStoryMention:
		return needURL()
	case KindStoryReply:
		if err := needURL(); err != nil {
			return err
		}
		return needText()
	case KindReaction:
		if in.Channel == Zenvia {
			return fieldErr("kind", "Zenvia does not deliver Instagram reactions; try it through Meta")
		}
		if n := utf8.RuneCountInString(in.Emoji); n == 0 || n > 16 {
			return fieldErr("emoji", "is required for a reaction (one emoji, e.g. ❤️)")
		}
		if in.Mid == "" {
			return fieldErr("mid", "is required: the mid of the message reacted to")
		}
	case KindUnsend:
		if in.Mid == "" {
			return fieldErr("mid", "is required: the mid of the user's message to unsend")
		}
	default:
		return fieldErr("kind", "must be text, image, story_mention, story_reply, reaction or unsend")
	}
	return nil
}

func checkChannel(ch string) (string, error) {
	ch = strings.ToLower(strings.TrimSpace(ch))
	switch ch {
	case Meta, Zenvia:
		return ch, nil
	case "":
		return "", fieldErr("channel", "is required: meta or zenvia")
	}
	return "", fieldErr("channel", "must be meta or zenvia")
}

var username = regexp.MustCompile(`^[a-z0-9._]{1,30}$`)

// checkUser takes an Instagram-style username: up to 30 letters, digits,
// dots and underscores, with or without @.
func checkUser(u string) (string, error) {
	u = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(u), "@"))
	if u == "" {
		return "", fieldErr("user", "is required: the test user's name, e.g. ana")
	}
	if !username.MatchString(u) {
		return "", fieldErr("user", "must be up to 30 letters, digits, '.' or '_' (an Instagram username)")
	}
	return u, nil
}

// checkTarget: a reaction is to a message of the thread, an unsend to one
// of the user's own that is still there.
func (p *Playground) checkTarget(in Input, uid string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.find(in.Channel, uid, in.Mid)
	switch {
	case m == nil:
		return fieldErr("mid", "no message %s in %s's chat", in.Mid, in.User)
	case m.Deleted:
		return fieldErr("mid", "that message was unsent")
	case in.Kind == KindUnsend && m.Direction != "in":
		return fieldErr("mid", "a user can only unsend their own messages")
	}
	return nil
}

func (p *Playground) find(channel, uid, mid string) *Message {
	th := p.threads[key(channel, uid)]
	if th == nil {
		return nil
	}
	for _, m := range th.messages {
		if m.Mid == mid {
			return m
		}
	}
	return nil
}

// apply records a delivered reaction or unsend on its message.
func (p *Playground) apply(in Input, uid string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.find(in.Channel, uid, in.Mid)
	if m == nil {
		return
	}
	if in.Kind == KindUnsend {
		m.Deleted = true
		return
	}
	react(m, "user", in.Emoji, at)
}

// react sets by's reaction on m: one each, as Instagram shows them; an empty
// emoji removes it.
func react(m *Message, by, emoji string, at time.Time) {
	out := m.Reactions[:0]
	for _, r := range m.Reactions {
		if r.By != by {
			out = append(out, r)
		}
	}
	if emoji != "" {
		out = append(out, Reaction{Emoji: emoji, By: by, At: at})
	}
	m.Reactions = out
}

func userContent(in Input) model.Content {
	switch in.Kind {
	case KindImage:
		return model.Content{Type: model.Image, URL: in.URL}
	case KindStoryMention:
		return model.Content{Type: model.StoryMention, URL: in.URL}
	case KindStoryReply:
		return model.Content{Type: model.StoryReply, URL: in.URL, Text: in.Text}
	}
	return model.Content{Type: model.Text, Text: in.Text, Payload: in.Payload}
}

// remember notes a test user's name for their channel id.
func (p *Playground) remember(channel, uid, user string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rememberLocked(channel, uid, user)
}

func (p *Playground) rememberLocked(channel, uid, user string) bool {
	k := key(channel, uid)
	if _, ok := p.names[k]; ok {
		return true
	}
	if len(p.users[channel]) >= maxUsers {
		return false
	}
	p.names[k] = user
	p.users[channel] = append(p.users[channel], user)
	return true
}

// record adds a message to a thread (the user's own, or one that reached
// them).
func (p *Playground) record(channel, uid, user string, m *Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if user != "" && !p.rememberLocked(channel, uid, user) {
		return fieldErr("user", "the playground keeps at most %d test users per channel; reuse one", maxUsers)
	}
	th := p.threads[key(channel, uid)]
	if th == nil {
		th = &thread{}
		p.threads[key(channel, uid)] = th
	}
	th.messages = append(th.messages, m)
	if len(th.messages) > maxMessages {
		th.messages = append([]*Message(nil), th.messages[len(th.messages)-maxMessages:]...)
	}
	if m.Direction == "out" {
		th.typingUntil = time.Time{}
	}
	return nil
}

// forget removes a message whose delivery failed.
func (p *Playground) forget(channel, uid string, m *Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	th := p.threads[key(channel, uid)]
	if th == nil {
		return
	}
	for i, x := range th.messages {
		if x == m {
			th.messages = append(th.messages[:i], th.messages[i+1:]...)
			return
		}
	}
}

func (p *Playground) typing(channel, uid string, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	th := p.threads[key(channel, uid)]
	if th == nil {
		th = &thread{}
		p.threads[key(channel, uid)] = th
	}
	th.typingUntil = time.Time{}
	if on {
		th.typingUntil = p.now().Add(typingFor)
	}
}

// nameOf is the test user behind a channel id ("" when unknown, e.g.
// after a restart, until they write again).
func (p *Playground) nameOf(channel, uid string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.names[key(channel, uid)]
}

func key(channel, uid string) string { return channel + "\x00" + uid }

// userID is a test user's Instagram-scoped id on a channel: 16 digits,
// like Meta's, the same at every start, so a user's conversations continue
// after a restart.
func userID(channel, user string) string {
	sum := sha256.Sum256([]byte("conversa playground\x00" + channel + "\x00" + user))
	n := binary.BigEndian.Uint64(sum[:8]) % 9_000_000_000_000_000
	return strconv.FormatUint(1_000_000_000_000_000+n, 10)
}

// displayName is what the profile says: "ana.souza" is "Ana Souza".
func displayName(user string) string {
	parts := strings.FieldsFunc(user, func(r rune) bool { return r == '.' || r == '_' })
	for i, s := range parts {
		parts[i] = strings.ToUpper(s[:1]) + s[1:]
	}
	if len(parts) == 0 {
		return user
	}
	return strings.Join(parts, " ")
}

func newMid(channel string) string {
	if channel == Zenvia {
		return newUUID()
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	// Meta's mids are base64 of "ig_item:..."; the prefix keeps the look.
	return "aWdfaXRlbTox" + base64.RawURLEncoding.EncodeToString(b)
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sameSecret compares in constant time.
func sameSecret(got, want string) bool {
	if want == "" {
		return false
	}
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
