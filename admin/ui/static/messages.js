// A conversation's messages on screen: the agent's chat panel and the
// admin's read-only transcripts both use Thread. Messages are keyed by id
// and updated in place, so a late change (an unsend, a reaction, a delivery
// status) replaces one element and leaves loaded media alone.

import { post } from './api.js';
import { fill, h, linkify, safeURL } from './dom.js';
import { contactName, dayKey, formatDay, formatTime, formatDateTime, instant } from './format.js';

const STATUS_LABELS = {
  pending: 'Sending…',
  in_flight: 'Sending…',
  sent: 'Sent',
  delivered: 'Delivered',
  read: 'Seen',
  failed: 'Not delivered',
};

const STATUS_RANK = { pending: 1, in_flight: 1, sent: 2, delivered: 3, read: 4, failed: 5 };

export class Thread {
  // conversation gives the contact's name; agentName(login) the agents'.
  constructor(conversation, agentName) {
    this.conversation = conversation;
    this.agentName = agentName || ((login) => login);
    this.items = new Map(); // id -> {m, el, key}
    this.el = h('ol.thread', { 'aria-label': 'Messages' });
    this.onRetryError = null; // set: failed messages offer Retry
    this.deliveriesLink = false; // set (admins): failed messages link to the delivery log
  }

  // allowRetry shows a Retry button under each message that was not
  // delivered, for whoever may act on the chat (onError(err) reports a
  // refusal); allowRetry(null) hides them.
  allowRetry(onError) {
    if (!onError === !this.onRetryError) {
      this.onRetryError = onError;
      return;
    }
    this.onRetryError = onError;
    for (const it of this.items.values()) {
      if (it.m.status !== 'failed') continue;
      const el = this.render(it.m);
      it.el.replaceWith(el);
      it.el = el;
    }
    this.regroup();
  }

  async retry(m, button) {
    button.disabled = true;
    button.textContent = 'Retrying…';
    try {
      const again = await post(`/conversations/${m.conversation}/messages/${m.id}/retry`, {});
      if (again) this.upsert(again);
    } catch (err) {
      button.disabled = false;
      button.textContent = 'Retry';
      if (this.onRetryError) this.onRetryError(err);
    }
  }

  set(messages) {
    // Screen readers announce new messages, not the history loaded here.
    this.el.removeAttribute('aria-live');
    this.items.clear();
    this.el.replaceChildren();
    for (const m of messages) this.upsert(m, false);
    this.regroup();
    this.el.setAttribute('aria-live', 'polite');
    this.el.setAttribute('aria-relevant', 'additions');
  }

  // upsert adds a message or replaces its element when it changed. It
  // reports whether anything changed.
  upsert(m, regroup = true) {
    const old = this.items.get(m.id);
    // Answers and events race (a send's 202 may come after its "sent"
    // event; Instagram may report "read" before "delivered"): a delivery
    // status never goes back, except out of "not delivered" when someone
    // sent it again (resent, from the Retry answer and its live event).
    const resent = m.resent && old && old.m.status === 'failed';
    if (old && !resent && (STATUS_RANK[m.status] || 0) < (STATUS_RANK[old.m.status] || 0)) {
      m = { ...m, status: old.m.status, error: old.m.error };
    }
    const key = JSON.stringify(m);
    if (old && old.key === key) return false;
    const el = this.render(m);
    if (old) {
      old.el.replaceWith(el);
    } else {
      // Usually the newest: walk back from the end to keep order by time.
      let before = null;
      for (const it of Array.from(this.items.values()).reverse()) {
        if (order(it.m, m) > 0) before = it.el;
        else break;
      }
      this.el.insertBefore(el, before);
    }
    this.items.set(m.id, { m, el, key });
    // Keep the Map in screen order (by time, then id).
    const entries = Array.from(this.items.values()).sort((a, b) => order(a.m, b.m));
    this.items = new Map(entries.map((it) => [it.m.id, it]));
    if (regroup) this.regroup();
    return true;
  }

  byProviderID(mid) {
    for (const it of this.items.values()) if (it.m.provider_message_id === mid) return it.m;
    return null;
  }

  lastInbound() {
    let last = null;
    for (const it of this.items.values()) if (it.m.direction === 'in') last = it.m;
    return last;
  }

  // regroup marks runs of messages by one author (the label shows once) and
  // the first message of each day.
  regroup() {
    for (const sep of this.el.querySelectorAll('.day-sep')) sep.remove();
    let prev = null;
    for (const { m, el } of this.items.values()) {
      const newDay = !prev || dayKey(prev.created_at) !== dayKey(m.created_at);
      if (newDay) this.el.insertBefore(h('li.day-sep', { role: 'separator' }, formatDay(m.created_at)), el);
      const cont = !newDay && prev && prev.author === m.author && prev.direction === m.direction && m.status !== 'internal' && prev.status !== 'internal';
      el.classList.toggle('continued', !!cont);
      prev = m;
    }
  }

  authorLabel(m) {
    if (m.private) return `${m.author.startsWith('agent:') ? this.agentName(m.author.slice(6)) : m.author} · Private note`;
    if (m.status === 'internal' || m.author === 'system') return 'System note';
    if (m.author === 'contact') return contactName(this.conversation.contact);
    if (m.author === 'assistant') return 'Assistant';
    if (m.author === 'business') return 'Business (Instagram app)';
    if (m.author.startsWith('agent:')) return this.agentName(m.author.slice(6));
    return m.author;
  }

  render(m) {
    const kind = m.private ? 'private' : m.status === 'internal' || m.author === 'system' ? 'note'
      : m.author.startsWith('agent:') ? 'agent'
        : ['contact', 'assistant', 'business'].includes(m.author) ? m.author : 'other';
    const li = h(`li.msg.msg-${m.direction}.by-${kind}`, { dataset: { id: String(m.id), author: m.author } });
    const label = this.authorLabel(m);
    li.appendChild(h('div.msg-author', {}, label));
    const bubble = h('div.bubble');
    if (m.reply_to) bubble.appendChild(this.quote(m.reply_to));
    if (m.deleted) {
      bubble.appendChild(h('p.deleted', { title: m.deleted_at ? 'Unsent ' + formatDateTime(m.deleted_at) : '' }, 'Message deleted'));
    } else {
      for (const c of m.contents || []) bubble.appendChild(renderContent(c));
    }
    li.appendChild(bubble);
    if (m.reactions && m.reactions.length) {
      li.appendChild(h('ul.reactions', { 'aria-label': 'Reactions' },
        m.reactions.map((r) => h('li.reaction', { title: `${reactor(r.by, this)} · ${formatDateTime(r.at)}` }, r.emoji))));
    }
    const meta = h('div.msg-meta', {}, h('time', { datetime: m.created_at, title: formatDateTime(m.created_at) }, formatTime(m.created_at)));
    if (m.edited_at && !m.deleted) meta.appendChild(h('span.edited', { title: 'Edited ' + formatDateTime(m.edited_at) }, 'Edited'));
    if (m.direction === 'out' && STATUS_LABELS[m.status]) {
      const failed = m.status === 'failed';
      const text = failed && m.error ? `${STATUS_LABELS[m.status]}: ${m.error}` : STATUS_LABELS[m.status];
      meta.appendChild(h(`span.delivery.delivery-${m.status}`, {
        title: text, tabindex: failed ? '0' : null, 'aria-label': 'Delivery: ' + text,
      }, STATUS_LABELS[m.status]));
    }
    if (m.direction === 'out' && m.possible_duplicate) {
      meta.appendChild(h('span.delivery.delivery-duplicate', {
        title: 'A first attempt to send this was cut short and its outcome is unknown, so it was sent again: the user may have received it twice.',
      }, 'May have been sent twice'));
    }
    li.appendChild(meta);
    if (m.direction === 'out' && m.status === 'failed') li.appendChild(this.failure(m));
    return li;
  }

  // failure says why a message was not delivered, as text (a tooltip is
  // invisible on a touch screen), with Retry for whoever may act.
  failure(m) {
    const box = h('div.msg-failure', {},
      h('p.failure-reason', {}, m.error || 'The provider did not accept it.'));
    if (this.deliveriesLink && this.conversation && this.conversation.integration) {
      box.appendChild(h('a.small.deliveries-link', { href: `/integrations/${encodeURIComponent(this.conversation.integration)}?message=${m.id}`, 'data-nav': true }, 'What happened at the provider'));
    }
    if (this.onRetryError) {
      const button = h('button.button.small.retry', { type: 'button', 'aria-label': 'Retry sending this message' }, 'Retry');
      button.addEventListener('click', () => this.retry(m, button));
      box.appendChild(button);
    }
    return box;
  }

  quote(mid) {
    const target = this.byProviderID(mid);
    let text = 'an earlier message';
    if (target) {
      const c = (target.contents || [])[0];
      text = target.deleted ? 'a deleted message' : (c && (c.text || c.caption || c.title)) || 'an attachment';
    }
    return h('blockquote.reply-quote', {}, h('span.visually-hidden', {}, 'In reply to: '), text);
  }
}

function reactor(by, thread) {
  if (by === 'contact') return contactName(thread.conversation.contact);
  if (by && by.startsWith('agent:')) return thread.agentName(by.slice(6));
  return by || 'someone';
}

// order is a thread's order: by time, then (same instant) by id.
function order(a, b) {
  return instant(a.created_at) - instant(b.created_at) || a.id - b.id;
}

// renderContent shows one content the way the user saw or sent it.
export function renderContent(c) {
  switch (c.type) {
    case 'text':
      return h('p.text', {}, linkify(c.text || ''));
    case 'image':
      return media('img', c, 'Image no longer available');
    case 'video':
      return media('video', c, 'Video no longer available');
    case 'audio':
      return media('audio', c, 'Audio no longer available');
    case 'file':
      return h('p.file', {}, h('span.share-label', {}, 'File: '), h('a', { href: safeURL(c.url), target: '_blank', rel: 'noopener noreferrer' }, c.name || fileName(c.url) || 'download'),
        c.mime_type ? h('span.muted', {}, ` (${c.mime_type})`) : null, c.caption ? h('span.caption', {}, c.caption) : null);
    case 'story_mention':
      return h('div.story', {}, h('p.story-label', {}, 'Mentioned you in their story'), story(c));
    case 'story_reply':
      return h('div.story', {}, h('p.story-label', {}, 'Replied to your story'), story(c), c.text ? h('p.text', {}, linkify(c.text)) : null);
    case 'share':
      return h('p.share', {}, h('span.share-label', {}, 'Shared: '),
        safeURL(c.url) ? h('a', { href: c.url, target: '_blank', rel: 'noopener noreferrer' }, c.title || c.url) : c.title || 'a post');
    case 'reaction':
      return h('p.reaction-content', {}, c.emoji ? `Reacted ${c.emoji} to a message` : 'Removed a reaction');
    case 'quick_replies':
      return h('div.options', {}, c.text ? h('p.text', {}, linkify(c.text)) : null,
        h('ul.quick-replies', { 'aria-label': 'Quick replies offered' }, (c.options || []).map((o) => h('li', {}, o.title))));
    case 'select':
    case 'option_list':
      return h('div.options', {}, c.text ? h('p.text', {}, linkify(c.text)) : null,
        h('ol.option-list', { 'aria-label': 'Options offered' }, (c.options || []).map((o) => h('li', {}, o.title))));
    case 'unsupported':
      return h('p.unsupported', {}, `Unsupported content (${c.original_type || 'unknown type'}) — open Instagram to see it.`);
    default:
      return h('p.unsupported', {}, c.text || `Content of type ${c.type}`);
  }
}

function fileName(url) {
  try {
    return decodeURIComponent(new URL(url).pathname.split('/').pop());
  } catch {
    return '';
  }
}

// media shows an image, video or audio, with a placeholder once its URL no
// longer loads.
function media(tag, c, gone) {
  const box = h(`figure.media.media-${tag}`);
  if (!safeURL(c.url)) return fill(box, h('p.placeholder', {}, gone));
  const link = h('a', { href: c.url, target: '_blank', rel: 'noopener noreferrer' });
  let el;
  if (tag === 'img') {
    el = h('img', { src: c.url, alt: c.caption || c.name || 'Image', referrerpolicy: 'no-referrer' });
    link.appendChild(el);
    box.appendChild(link);
  } else {
    el = h(tag, { src: c.url, controls: true, preload: 'metadata' });
    box.appendChild(el);
  }
  el.addEventListener('error', () => box.replaceChildren(h('p.placeholder', {}, gone)));
  if (c.caption) box.appendChild(h('figcaption', {}, c.caption));
  return box;
}

// story shows the story's picture or video from Instagram's CDN. The URL
// does not say which it is, so an image is tried first and a video second;
// when neither loads the story has expired (or was removed) and a
// placeholder takes its place. The bytes are never stored: Meta's rules.
function story(c) {
  const box = h('div.story-media');
  const gone = () => box.replaceChildren(h('p.placeholder.story-gone', {}, 'Story no longer available'));
  if (!safeURL(c.url)) {
    gone();
    return box;
  }
  const asVideo = () => {
    const v = h('video', { src: c.url, controls: true, preload: 'metadata', playsinline: true, 'aria-label': 'Story video' });
    v.addEventListener('error', gone);
    box.replaceChildren(v);
  };
  if ((c.mime_type || '').startsWith('video/')) {
    asVideo();
  } else {
    const img = h('img', { src: c.url, alt: 'Story', referrerpolicy: 'no-referrer' });
    img.addEventListener('error', asVideo);
    box.appendChild(img);
  }
  return box;
}
