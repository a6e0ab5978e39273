// The agent's workspace around a chat: the contact panel, labels, canned
// responses typed with "/", assignment to one agent, and the keyboard
// shortcuts with their "?" overlay.

import { get, put } from './api.js';
import { fill, h } from './dom.js';
import { ask } from './dialog.js';
import { avatar, contactName, END_REASONS, formatDateTime, stateBadge } from './format.js';

// --- labels --------------------------------------------------------------

// labelChips shows labels as small chips; onRemove, when given, adds a
// remove button to each.
export function labelChips(labels, onRemove) {
  if (!labels || !labels.length) return null;
  return h('ul.labels', { 'aria-label': 'Labels' }, labels.map((l) => h('li.label-chip', { dataset: { label: l } },
    h('span', {}, l),
    onRemove ? h('button.label-remove', { type: 'button', 'aria-label': `Remove label ${l}`, onclick: () => onRemove(l) }, '×') : null)));
}

// LabelEditor edits a conversation's labels in place: chips, and a field
// that adds one (suggesting labels already in use).
export class LabelEditor {
  constructor(conv, { editable, onSaved, onError }) {
    this.conv = conv;
    this.editable = editable;
    this.onSaved = onSaved;
    this.onError = onError;
    this.el = h('div.label-editor');
    this.render();
  }

  set(labels) {
    this.conv.labels = labels || [];
    this.render();
  }

  render() {
    const chips = labelChips(this.conv.labels, this.editable ? (l) => this.save(this.conv.labels.filter((x) => x !== l)) : null);
    if (!this.editable) {
      fill(this.el, chips);
      return;
    }
    const listID = `labels-known-${this.conv.id}`;
    const known = h(`datalist#${listID}`);
    const input = h('input.label-input', {
      type: 'text', placeholder: '+ label', 'aria-label': 'Add a label', list: listID, maxlength: 32, autocomplete: 'off',
      onkeydown: (e) => {
        if (e.key === 'Enter') {
          e.preventDefault();
          const v = input.value.trim().toLowerCase();
          if (v && !this.conv.labels.includes(v)) this.save([...this.conv.labels, v]);
          input.value = '';
        }
      },
      onfocus: async () => {
        try {
          const { labels } = await get('/labels');
          fill(known, labels.map((l) => h('option', { value: l.name })));
        } catch {
          // Suggestions are a nicety.
        }
      },
    });
    fill(this.el, chips, input, known);
  }

  async save(labels) {
    try {
      const conv = await put(`/conversations/${this.conv.id}/labels`, { labels });
      this.set(conv.labels);
      if (this.onSaved) this.onSaved(conv);
    } catch (err) {
      if (this.onError) this.onError(err);
    }
  }
}

// --- the contact panel -----------------------------------------------------

// contactPanel shows who the user is and their conversations, newest first,
// each openable (link(id) is where it opens).
export function contactPanel(conv, { agentName, link, labels }) {
  const ct = conv.contact || {};
  const history = h('ol.contact-history', { 'aria-label': 'Conversations with this contact' }, h('li.muted.small', {}, 'Loading…'));
  const el = h('aside.contact-panel', { 'aria-label': 'Contact' },
    h('div.contact-card', {},
      avatar(ct, 'lg'),
      h('h3.contact-name', {}, contactName(ct)),
      ct.username ? h('p', {}, h('a', { href: `https://www.instagram.com/${encodeURIComponent(ct.username)}/`, target: '_blank', rel: 'noopener noreferrer' }, '@' + ct.username)) : null),
    h('dl.facts.contact-facts', {},
      h('div', {}, h('dt', {}, 'Instagram id'), h('dd.contact-id', {}, ct.channel_user_id || '—')),
      h('div', {}, h('dt', {}, 'Integration'), h('dd', {}, conv.integration)),
      h('div', {}, h('dt', {}, 'Labels'), h('dd', {}, labels))),
    h('h4', {}, 'Conversations'),
    history);
  if (ct.id) {
    get(`/contacts/${ct.id}`).then((contact) => {
      const items = contact.conversations.map((c) => h('li', {},
        h('a.history-item', { href: link(c.id), 'data-nav': true, 'aria-current': c.id === conv.id ? 'page' : null, dataset: { conversation: String(c.id) } },
          h('span.history-when', {}, formatDateTime(c.started_at)),
          h('span.history-state', {}, c.id === conv.id ? 'This conversation' : stateBadge(c.state)),
          h('span.muted.small', {}, [
            c.agent ? agentName(c.agent) : (c.state === 'ended' && c.end_reason === 'assistant' ? 'Assistant only' : ''),
            c.end_reason ? END_REASONS[c.end_reason] || c.end_reason : '',
          ].filter(Boolean).join(' · ')),
          c.labels && c.labels.length ? labelChips(c.labels) : null)));
      fill(history, items.length ? items : h('li.muted.small', {}, 'No other conversation.'));
    }).catch((err) => fill(history, h('li.form-error', {}, err.message)));
  }
  return el;
}

// --- canned responses ------------------------------------------------------

let cannedCache = null; // one load per page: admins' changes show on reload

export async function cannedResponses(force) {
  if (!cannedCache || force) {
    cannedCache = get('/canned_responses').then((r) => r.canned_responses).catch((err) => {
      cannedCache = null;
      throw err;
    });
  }
  return cannedCache;
}

// CannedPicker offers canned responses while the agent types "/" and a
// shortcut in the reply box: arrows choose, Enter or Tab inserts, Escape
// closes.
export class CannedPicker {
  constructor(textarea) {
    this.text = textarea;
    this.items = [];
    this.index = 0;
    this.list = h('ul.canned-list#canned-list', { role: 'listbox', 'aria-label': 'Canned responses' });
    this.el = h('div.canned-picker', { hidden: true }, this.list);
    textarea.setAttribute('aria-controls', 'canned-list');
    textarea.setAttribute('aria-autocomplete', 'list');
    textarea.addEventListener('input', () => this.update());
    textarea.addEventListener('keydown', (e) => this.key(e), true);
    textarea.addEventListener('blur', () => setTimeout(() => this.close(), 150));
  }

  get open() {
    return !this.el.hidden;
  }

  // token is the "/shortcut" being typed just before the caret, if any.
  token() {
    const upto = this.text.value.slice(0, this.text.selectionStart);
    const m = /(^|\s)\/([\p{L}\p{N}_-]*)$/u.exec(upto);
    return m ? { query: m[2].toLowerCase(), start: upto.length - m[2].length - 1 } : null;
  }

  async update() {
    const t = this.token();
    if (!t) {
      this.close();
      return;
    }
    let all;
    try {
      all = await cannedResponses();
    } catch {
      this.close();
      return;
    }
    const q = t.query;
    this.items = all.filter((r) => r.shortcut.startsWith(q) || (q.length > 1 && r.text.toLowerCase().includes(q)));
    this.index = 0;
    this.render(all.length);
  }

  render(total) {
    this.el.hidden = false;
    if (!this.items.length) {
      fill(this.list, h('li.canned-empty', {}, total ? 'No canned response matches.' : 'No canned responses yet: an admin adds them under Canned responses.'));
      this.text.removeAttribute('aria-activedescendant');
      return;
    }
    fill(this.list, this.items.map((r, i) => h(`li.canned-item${i === this.index ? '.is-active' : ''}#canned-${r.id}`, {
      role: 'option', 'aria-selected': String(i === this.index),
      onmousedown: (e) => {
        e.preventDefault();
        this.index = i;
        this.insert();
      },
    }, h('span.canned-shortcut', {}, '/' + r.shortcut), r.squad ? h('span.muted.small', {}, r.squad) : null,
    h('span.canned-text', {}, r.text))));
    this.text.setAttribute('aria-activedescendant', `canned-${this.items[this.index].id}`);
  }

  key(e) {
    if (!this.open) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      if (!this.items.length) return;
      e.preventDefault();
      e.stopImmediatePropagation();
      this.index = (this.index + (e.key === 'ArrowDown' ? 1 : this.items.length - 1)) % this.items.length;
      this.render(1);
    } else if ((e.key === 'Enter' || e.key === 'Tab') && this.items.length) {
      e.preventDefault();
      e.stopImmediatePropagation();
      this.insert();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopImmediatePropagation();
      this.close();
    }
  }

  insert() {
    const r = this.items[this.index];
    const t = this.token();
    if (!r || !t) return;
    const v = this.text.value;
    const end = this.text.selectionStart;
    this.text.value = v.slice(0, t.start) + r.text + v.slice(end);
    const caret = t.start + r.text.length;
    this.text.setSelectionRange(caret, caret);
    this.close();
    this.text.dispatchEvent(new Event('input'));
    this.text.focus();
  }

  close() {
    this.el.hidden = true;
    this.items = [];
    this.text.removeAttribute('aria-activedescendant');
  }
}

// --- assignment to one agent -----------------------------------------------

// chooseAgent asks for an agent of the console's squads to give the chat
// to; it resolves to a login, or null.
export async function chooseAgent(conv, { me, agentName }) {
  const { squads } = await get('/squads');
  const logins = new Set();
  for (const s of squads) {
    if (me.role === 'admin' || (me.squads || []).includes(s.name)) for (const a of s.agents) logins.add(a);
  }
  logins.delete(conv.agent);
  if (!logins.size) {
    await ask({ title: 'Assign to an agent', body: h('p', {}, 'No other agent is in your squads.'), confirm: 'OK' });
    return null;
  }
  const select = h('select#assign-agent', {}, Array.from(logins).sort().map((l) => h('option', { value: l }, `${agentName(l)} (${l})`)));
  const ok = await ask({
    title: 'Assign to an agent',
    body: [h('label', { for: 'assign-agent' }, 'Agent'), select,
      h('p.muted', {}, 'They get the chat now if they are available with a free slot; otherwise nothing changes.')],
    confirm: 'Assign',
  });
  return ok ? select.value : null;
}

// --- keyboard ------------------------------------------------------------

export const SHORTCUTS = [
  ['Alt+↓ / Alt+↑', 'Next / previous chat'],
  ['j / k', 'Next / previous chat (outside the reply box)'],
  ['r', 'Write a reply'],
  ['n', 'Write a private note'],
  ['/', 'Canned responses (in the reply box: type / and a shortcut)'],
  ['l', 'Add a label'],
  ['e', 'End the conversation'],
  ['Esc', 'Leave the reply box'],
  ['?', 'Show these shortcuts'],
];

export function showShortcuts() {
  return ask({
    title: 'Keyboard shortcuts',
    body: h('dl.shortcuts', {}, SHORTCUTS.map(([k, what]) => h('div', {}, h('dt', {}, h('kbd', {}, k)), h('dd', {}, what)))),
    confirm: 'Close',
    cancel: 'Close',
  });
}

// typing reports whether a key press goes to a field (shortcuts made of
// one letter must not fire there).
export function typing(e) {
  const t = e.target;
  return t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName));
}
