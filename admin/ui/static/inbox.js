// The signed-in person's open chats (state assigned, their own), kept up to
// date from live events whatever page is showing: it drives the chat list,
// the unread counts, the title badge and the notifications.

import { get, post, query } from './api.js';
import { contactName, instant, ORIGIN_LABELS } from './format.js';
import { notify, setBadge } from './notify.js';

export class Inbox extends EventTarget {
  constructor(me, navigate) {
    super();
    this.me = me;
    this.navigate = navigate;
    this.chats = new Map(); // conversation id -> Conversation
    this.fresh = new Set(); // assigned but not opened yet
    this.seen = new Set(); // message ids already counted
    this.openID = 0; // the conversation on screen, if any
    this.gone = new Set(); // ended or moved away here: a slower reload must not bring them back
    this.loaded = false;
    this.reloadTimer = 0;
    this.onVisible = () => this.visible();
    document.addEventListener('visibilitychange', this.onVisible);
  }

  dispose() {
    clearTimeout(this.reloadTimer);
    document.removeEventListener('visibilitychange', this.onVisible);
  }

  // reloadSoon refreshes the list once for a burst of events (an assigned
  // event carries no unread count; the list does).
  reloadSoon() {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.load().catch(() => {}), 300);
  }

  async load() {
    const { conversations } = await get('/conversations' + query({ state: 'assigned', agent: this.me.id, limit: 500 }));
    const before = new Set(this.chats.keys());
    this.chats.clear();
    for (const c of conversations) {
      if (c.agent === this.me.id && !this.gone.has(c.id)) this.chats.set(c.id, c);
    }
    if (this.loaded) {
      // A reload after missed events: chats we did not have are new.
      for (const id of this.chats.keys()) if (!before.has(id)) this.fresh.add(id);
    }
    this.loaded = true;
    this.changed();
  }

  // list: most recently active first.
  list() {
    return Array.from(this.chats.values()).sort((a, b) => instant(b.last_activity_at) - instant(a.last_activity_at));
  }

  get(id) {
    return this.chats.get(id);
  }

  // attention: how many chats need the agent (unread messages, or new).
  unreadTotal() {
    let n = 0;
    for (const c of this.chats.values()) n += c.unread || (this.fresh.has(c.id) ? 1 : 0);
    return n;
  }

  // opened: the chat panel shows id (0: none).
  opened(id) {
    this.openID = id;
    if (id) {
      this.fresh.delete(id);
      this.markRead(id);
    }
    this.changed();
  }

  looking(id) {
    return this.openID === id && document.visibilityState === 'visible';
  }

  visible() {
    if (this.openID && document.visibilityState === 'visible') this.markRead(this.openID);
  }

  async markRead(id) {
    const c = this.chats.get(id);
    if (!c || document.visibilityState !== 'visible') return;
    const had = c.unread;
    c.unread = 0;
    this.changed();
    try {
      await post(`/conversations/${id}/read`, {});
    } catch {
      c.unread = had;
      this.changed();
    }
  }

  remove(id) {
    this.gone.add(id);
    this.fresh.delete(id);
    if (this.chats.delete(id)) this.changed();
  }

  // handle applies one live event.
  handle(ev) {
    const mine = ev.agent === this.me.id;
    switch (ev.type) {
      case 'assigned': {
        const conv = ev.data;
        if (!conv || !mine) {
          if (conv) this.remove(conv.id);
          return;
        }
        const isNew = !this.chats.has(conv.id);
        this.gone.delete(conv.id);
        this.chats.set(conv.id, { ...this.chats.get(conv.id), ...conv });
        if (isNew) {
          this.reloadSoon();
          this.fresh.add(conv.id);
          const name = contactName(conv.contact);
          const what = ORIGIN_LABELS[conv.origin] ? ORIGIN_LABELS[conv.origin].toLowerCase() : 'conversation';
          if (!this.looking(conv.id)) notify(`New chat: ${name}`, `A new ${what} is waiting for you.`, 'conv-' + conv.id, () => this.navigate(`/chats/${conv.id}`));
          this.dispatchEvent(new CustomEvent('assigned', { detail: conv }));
        }
        this.changed();
        return;
      }
      case 'queued':
      case 'ended':
        if (ev.data && this.chats.has(ev.data.id)) {
          this.remove(ev.data.id);
          this.dispatchEvent(new CustomEvent('left', { detail: { type: ev.type, conversation: ev.data } }));
        }
        return;
      case 'message':
        this.message(ev.data);
        return;
      case 'labels':
        if (ev.data && this.chats.has(ev.data.id)) {
          this.chats.get(ev.data.id).labels = ev.data.labels;
          this.changed();
        }
        return;
      case 'agent':
        if (ev.data && ev.data.id === this.me.id) {
          Object.assign(this.me, ev.data);
          this.dispatchEvent(new CustomEvent('me', { detail: this.me }));
        }
        return;
      case 'reset':
        this.load().catch(() => {});
        return;
    }
  }

  message(m) {
    if (!m) return;
    const c = this.chats.get(m.conversation);
    if (!c) return;
    if (m.created_at && instant(m.created_at) > instant(c.last_activity_at)) c.last_activity_at = m.created_at;
    // A change to a known message (deleted, edited, a reaction) is not news.
    const isNew = !this.seen.has(m.id) && !m.deleted && !m.edited_at && !(m.reactions && m.reactions.length);
    this.seen.add(m.id);
    if (isNew && m.direction === 'in') {
      if (this.looking(c.id)) {
        this.markRead(c.id);
      } else {
        c.unread = (c.unread || 0) + 1;
        notify(contactName(c.contact), previewText(m), 'conv-' + c.id, () => this.navigate(`/chats/${c.id}`));
      }
    }
    this.changed();
  }

  changed() {
    setBadge(this.unreadTotal());
    this.dispatchEvent(new Event('change'));
  }
}

// previewText is a one-line summary of a message for notifications.
export function previewText(m) {
  if (m.deleted) return 'Message deleted';
  const c = (m.contents || [])[0];
  if (!c) return 'New message';
  switch (c.type) {
    case 'text':
      return c.text;
    case 'image':
      return 'Sent a photo';
    case 'audio':
      return 'Sent an audio message';
    case 'video':
      return 'Sent a video';
    case 'file':
      return 'Sent a file';
    case 'story_mention':
      return 'Mentioned you in their story';
    case 'story_reply':
      return 'Replied to your story' + (c.text ? ': ' + c.text : '');
    case 'share':
      return 'Shared a post';
    case 'reaction':
      return `Reacted ${c.emoji || ''}`;
    case 'unsupported':
      return `Sent something the console cannot show (${c.original_type || 'unknown'})`;
    default:
      return c.text || 'New message';
  }
}
