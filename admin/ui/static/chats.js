// The agent's view: their open chats on the left, the open chat on the
// right (on a phone, one at a time, with a back button).

import { get, post } from './api.js';
import { h, fill } from './dom.js';
import { ask } from './dialog.js';
import { avatar, contactName, END_REASONS, formatDateTime, originBadge, plural, timeTag } from './format.js';
import { Thread } from './messages.js';
import { CannedPicker, chooseAgent, contactPanel, labelChips, LabelEditor, showShortcuts, typing } from './workspace.js';
import { attachTo, typingNotifier } from './attach.js';
import { chatSearch } from './search.js';

const DAY = 24 * 3600 * 1000;

export function chatsView(ctx) {
  const { inbox, me } = ctx;
  const capacity = h('span.capacity', { 'aria-live': 'polite' });
  const hint = h('p.list-hint', { role: 'status' });
  const list = h('ul.chat-list', { 'aria-label': 'Your open chats' });
  let labelFilter = '';
  const filter = h('select.label-filter#chat-label-filter', {
    'aria-label': 'Show chats with a label',
    onchange: () => {
      labelFilter = filter.value;
      renderList();
    },
  });
  const pane = h('section.chat-pane', { 'aria-label': 'Chat' });
  const listPane = h('aside.chat-list-pane', { 'aria-label': 'Your chats' },
    h('div.pane-head', {}, h('h1', {}, 'Chats'), capacity), chatSearch().el, filter, hint, list);
  const el = h('div.chats', {}, listPane, pane);
  const items = new Map(); // conversation id -> {key, li}
  let current = null; // the open chat

  // renderFilter offers the labels of the agent's chats, with counts.
  function renderFilter(all) {
    const counts = new Map();
    for (const c of all) for (const l of c.labels || []) counts.set(l, (counts.get(l) || 0) + 1);
    if (labelFilter && !counts.has(labelFilter)) counts.set(labelFilter, 0);
    const key = JSON.stringify([...counts].sort());
    if (filter.dataset.key === key) return;
    filter.dataset.key = key;
    fill(filter, h('option', { value: '' }, `All labels (${all.length})`),
      [...counts].sort().map(([l, n]) => h('option', { value: l, selected: l === labelFilter }, `${l} (${n})`)));
    filter.hidden = counts.size === 0;
  }

  function renderList() {
    const all = inbox.list();
    renderFilter(all);
    const chats = labelFilter ? all.filter((c) => (c.labels || []).includes(labelFilter)) : all;
    fill(capacity, `${all.length} of ${me.max_chats || 0}`);
    capacity.title = `${plural(all.length, 'open chat', 'open chats')}; you take up to ${me.max_chats}`;
    if (!(me.squads || []).length) {
      hint.textContent = 'You are in no squad, so no chats are assigned to you: ask an admin to add you to one.';
    } else if (me.status === 'available') {
      hint.textContent = chats.length ? '' : labelFilter ? `No open chat has the label ${labelFilter}.` : 'No open chats. New chats appear here automatically.';
    } else {
      hint.textContent = me.status === 'paused'
        ? 'You are paused: no new chats will arrive. Choose Available at the top to receive chats.'
        : 'You are offline. Choose Available at the top to receive chats.';
    }
    hint.hidden = !hint.textContent;
    const keep = new Set();
    for (const c of chats) {
      keep.add(c.id);
      const open = current && current.id === c.id;
      const fresh = inbox.fresh.has(c.id);
      const key = JSON.stringify([c.contact, c.unread, c.last_activity_at, c.origin, c.integration, c.labels, open, fresh]);
      let it = items.get(c.id);
      if (!it || it.key !== key) {
        const li = listItem(c, open, fresh);
        if (it) it.li.replaceWith(li);
        it = { key, li };
        items.set(c.id, it);
      }
      list.appendChild(it.li); // moves it into order
    }
    for (const [id, it] of items) {
      if (!keep.has(id)) {
        it.li.remove();
        items.delete(id);
      }
    }
  }

  function listItem(c, open, fresh) {
    const name = contactName(c.contact);
    const unread = c.unread || 0;
    const sub = [];
    if (c.contact && c.contact.username && c.contact.name) sub.push('@' + c.contact.username);
    sub.push(c.integration);
    return h('li', { dataset: { conversation: String(c.id) } },
      h(`a.chat-item${unread ? '.has-unread' : ''}${fresh ? '.is-new' : ''}`, {
        href: `/chats/${c.id}`, 'data-nav': true, 'aria-current': open ? 'page' : null,
      },
      avatar(c.contact),
      h('span.chat-item-main', {},
        h('span.chat-item-name', {}, name),
        h('span.chat-item-sub', {}, sub.join(' · ')),
        originBadge(c.origin),
        labelChips(c.labels)),
      h('span.chat-item-side', {},
        timeTag(c.last_activity_at),
        unread ? h('span.unread-count', { 'aria-label': plural(unread, 'unread message', 'unread messages') }, String(unread))
          : fresh ? h('span.new-label', {}, 'New') : null)));
  }

  // --- the open chat ---------------------------------------------------

  function showPlaceholder() {
    el.classList.remove('has-open');
    fill(pane, h('div.pane-empty', {}, h('img', { src: '/static/icon.svg', alt: '', width: 48, height: 48 }),
      h('p', {}, inbox.chats.size ? 'Choose a chat from the list.' : 'Your chats will open here.')));
  }

  async function open(id) {
    if (current && current.id === id) return;
    if (current && current.destroy) current.destroy();
    const token = { id };
    current = token;
    el.classList.add('has-open');
    fill(pane, h('p.loading', {}, 'Opening the chat…'));
    renderList();
    let conv;
    try {
      conv = await get(`/conversations/${id}`);
    } catch (err) {
      if (current !== token) return;
      fill(pane, h('div.pane-empty', {}, backButton(),
        h('p', {}, err.status === 404 ? 'This conversation does not exist or is not yours.' : err.message)));
      return;
    }
    if (current !== token) return;
    current = new OpenChat(conv, ctx, pane);
    inbox.opened(id);
    renderList();
  }

  function backButton() {
    return h('button.back.button.small', { type: 'button', onclick: () => ctx.navigate('/chats') }, '← Chats');
  }

  function close() {
    if (current && current.destroy) current.destroy();
    current = null;
    inbox.opened(0);
    showPlaceholder();
    renderList();
  }

  const onChange = () => renderList();
  const onMe = () => renderList();
  inbox.addEventListener('change', onChange);
  inbox.addEventListener('me', onMe);

  // step opens the next (1) or previous (-1) chat of the list.
  function step(by) {
    const ids = Array.from(list.querySelectorAll('li[data-conversation]'), (li) => Number(li.dataset.conversation));
    if (!ids.length) return;
    const at = current ? ids.indexOf(current.id) : -1;
    const next = ids[at < 0 ? (by > 0 ? 0 : ids.length - 1) : (at + by + ids.length) % ids.length];
    ctx.navigate(`/chats/${next}`);
  }

  const onKey = (e) => {
    if (document.querySelector('dialog[open]')) return;
    if (e.altKey && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
      e.preventDefault();
      step(e.key === 'ArrowDown' ? 1 : -1);
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (typing(e)) {
      if (e.key === 'Escape' && e.target.id === 'reply-text') e.target.blur();
      return;
    }
    const chat = current && current.composer ? current : null;
    switch (e.key) {
      case 'j': step(1); break;
      case 'k': step(-1); break;
      case '?': showShortcuts(); break;
      case 'r': if (chat) chat.focusReply('reply'); break;
      case 'n': if (chat) chat.focusReply('note'); break;
      case '/': if (chat) chat.focusReply('reply', '/'); break;
      case 'l': if (chat) chat.focusLabels(); break;
      case 'e': if (chat && chat.active) chat.end(); break;
      default: return;
    }
    e.preventDefault();
  };
  document.addEventListener('keydown', onKey);

  return {
    el,
    route(params) {
      if (params.id) open(Number(params.id));
      else close();
    },
    event(ev) {
      if (current && current.event && ev.conversation === current.id) current.event(ev);
    },
    // reset: events were missed; reload the open chat.
    reset() {
      if (current && current.reload) current.reload();
    },
    destroy() {
      document.removeEventListener('keydown', onKey);
      inbox.removeEventListener('change', onChange);
      inbox.removeEventListener('me', onMe);
      if (current && current.destroy) current.destroy();
      inbox.opened(0);
    },
  };
}

// OpenChat is the chat panel of one conversation.
class OpenChat {
  constructor(conv, ctx, pane) {
    this.id = conv.id;
    this.conv = conv;
    this.ctx = ctx;
    this.me = ctx.me;
    this.thread = new Thread(conv, ctx.agentName);
    this.thread.set(conv.messages || []);
    this.pinned = true;
    this.build(pane);
    this.applyState();
    this.scrollToEnd();
    // Media that loads later grows the thread: stay at the bottom if the
    // agent was there.
    this.resize = new ResizeObserver(() => {
      if (this.pinned) this.scrollToEnd();
    });
    this.resize.observe(this.thread.el);
  }

  destroy() {
    this.resize.disconnect();
  }

  async reload() {
    try {
      const conv = await get(`/conversations/${this.id}`);
      this.conv = conv;
      this.thread.conversation = conv;
      this.thread.set(conv.messages || []);
      this.applyState();
      if (this.pinned) this.scrollToEnd();
    } catch {
      // The next event or a manual reload will do.
    }
  }

  build(pane) {
    const c = this.conv;
    const name = contactName(c.contact);
    const username = c.contact && c.contact.username;
    this.endButton = h('button.button.danger#chat-end', { type: 'button', onclick: () => this.end(), 'aria-keyshortcuts': 'e', title: 'End (e)' }, 'End');
    this.transferButton = h('button.button#chat-transfer', { type: 'button', onclick: () => this.transfer() }, 'Transfer');
    this.assignButton = h('button.button#chat-assign', { type: 'button', onclick: () => this.assignTo() }, 'Assign');
    this.panelButton = h('button.button.panel-toggle#chat-contact', {
      type: 'button', 'aria-expanded': 'true', 'aria-controls': 'contact-panel',
      onclick: () => this.togglePanel(),
    }, 'Contact');
    this.labels = new LabelEditor(c, {
      editable: this.active,
      onSaved: (conv) => this.labelsChanged(conv.labels),
      onError: (err) => this.ctx.toast(err.message, 'error'),
    });
    this.panelLabels = h('div');
    this.panel = contactPanel(c, {
      agentName: this.ctx.agentName, labels: this.panelLabels,
      link: (id) => (this.me.role === 'admin' && id !== c.id ? `/conversations/${id}` : `/chats/${id}`),
    });
    this.panel.id = 'contact-panel';
    this.renderPanelLabels();
    // On a narrow screen the panel covers the chat: it opens on demand.
    if (window.matchMedia('(max-width: 1100px)').matches) this.togglePanel(false);
    this.notice = h('div.chat-notice', { role: 'status', hidden: true });
    this.windowNote = h('p.window-note', { hidden: true });
    this.scroller = h('div.thread-scroll', {
      onscroll: () => {
        const s = this.scroller;
        // Content that grows (media loading) also scrolls the box: only a
        // scroll over unchanged content is the agent moving away.
        if (s.scrollHeight !== this.lastHeight) {
          if (this.pinned) this.scrollToEnd();
          return;
        }
        this.pinned = s.scrollHeight - s.scrollTop - s.clientHeight < 80;
      },
    }, this.thread.el);
    this.composer = this.buildComposer(name);
    fill(pane,
      h('header.chat-head', {},
        h('button.back.button.small', { type: 'button', onclick: () => this.ctx.navigate('/chats'), 'aria-label': 'Back to chats' }, '←'),
        avatar(c.contact, 'lg'),
        h('div.chat-who', {},
          h('div.chat-title', {}, h('h2.chat-name', {}, name), originBadge(c.origin)),
          h('p.chat-sub', {},
            username ? h('a', { href: `https://www.instagram.com/${encodeURIComponent(username)}/`, target: '_blank', rel: 'noopener noreferrer' }, '@' + username) : null,
            username ? ' · ' : null,
            h('span', { title: 'Integration' }, c.integration),
            ' · ',
            h('span', { title: 'Started ' + formatDateTime(c.started_at) }, 'since ' + formatDateTime(c.started_at))),
          this.labels.el),
        h('div.chat-actions', {}, this.panelButton, this.assignButton, this.transferButton, this.endButton)),
      h('div.chat-body', {},
        h('div.chat-main', {},
          this.notice,
          this.scroller,
          this.windowNote,
          this.composer),
        this.panel));
  }

  togglePanel(show = this.panel.hidden) {
    this.panel.hidden = !show;
    this.panelButton.setAttribute('aria-expanded', String(show));
  }

  renderPanelLabels() {
    fill(this.panelLabels, labelChips(this.conv.labels) || h('span.muted', {}, 'None'));
  }

  labelsChanged(labels) {
    this.conv.labels = labels;
    this.renderPanelLabels();
    const listed = this.ctx.inbox.get(this.id);
    if (listed) {
      listed.labels = labels;
      this.ctx.inbox.changed();
    }
  }

  focusLabels() {
    const input = this.labels.el.querySelector('input');
    if (input) input.focus();
  }

  focusReply(mode, insert) {
    if (this.composer.hidden) return;
    this.setMode(mode);
    if (insert && !this.text.value) {
      this.text.value = insert;
      this.text.dispatchEvent(new Event('input'));
    }
    this.text.focus();
  }

  buildComposer(name) {
    this.error = h('p.composer-error', { role: 'alert', hidden: true });
    this.imageURL = h('input#reply-image', { type: 'url', placeholder: 'https://… (a public image link)', inputmode: 'url' });
    this.imageRow = h('div.composer-image', { hidden: true },
      h('label', { for: 'reply-image' }, 'Image URL'), this.imageURL,
      h('button.button.small', { type: 'button', onclick: () => this.toggleImage(false) }, 'Remove'));
    this.text = h('textarea#reply-text', {
      rows: 2, placeholder: 'Write a reply…', 'aria-label': `Reply to ${name}`, 'aria-describedby': 'reply-hint',
    });
    this.canned = new CannedPicker(this.text);
    this.text.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        form.requestSubmit();
      }
    });
    this.imageButton = h('button.button.attach', {
      type: 'button', 'aria-expanded': 'false', 'aria-controls': 'reply-image', onclick: () => this.toggleImage(this.imageRow.hidden),
    }, 'Image');
    this.sendButton = h('button.button.primary.send', { type: 'submit' }, 'Send');
    this.mode = 'reply';
    this.modeTabs = {
      reply: h('button.mode-tab#mode-reply', { type: 'button', role: 'tab', 'aria-selected': 'true', onclick: () => this.focusReply('reply') }, 'Reply'),
      note: h('button.mode-tab#mode-note', { type: 'button', role: 'tab', 'aria-selected': 'false', onclick: () => this.focusReply('note') }, 'Private note'),
    };
    this.hint = h('p.composer-hint#reply-hint', {}, 'Enter sends · Shift+Enter adds a line · / canned responses · ? shortcuts');
    const form = h('form.composer', { 'aria-label': 'Reply', onsubmit: (e) => { e.preventDefault(); this.send(); } },
      h('div.composer-modes', { role: 'tablist', 'aria-label': 'Write' }, this.modeTabs.reply, this.modeTabs.note),
      this.error,
      this.imageRow,
      this.canned.el,
      h('div.composer-row', {}, this.imageButton, this.text, this.sendButton),
      this.hint);
    attachTo(form, { conversationId: this.id, dropZone: this.scroller, onSent: (m) => { this.thread.upsert(m); this.pinned = true; this.scrollToEnd(); } });
    this.text.addEventListener('input', typingNotifier(this.id));
    return form;
  }

  // setMode switches the composer between a reply to the user and a
  // private note only agents see.
  setMode(mode) {
    this.mode = mode;
    const note = mode === 'note';
    this.composer.classList.toggle('is-note', note);
    this.modeTabs.reply.setAttribute('aria-selected', String(!note));
    this.modeTabs.note.setAttribute('aria-selected', String(note));
    this.text.placeholder = note ? 'Write a private note: only agents see it…' : 'Write a reply…';
    this.sendButton.textContent = note ? 'Add note' : 'Send';
    this.imageButton.hidden = note;
    if (note) this.toggleImage(false);
    this.hint.textContent = note
      ? 'Private: never sent to the user · Enter adds the note · Shift+Enter adds a line'
      : 'Enter sends · Shift+Enter adds a line · / canned responses · ? shortcuts';
  }

  toggleImage(show) {
    this.imageRow.hidden = !show;
    this.imageButton.setAttribute('aria-expanded', String(show));
    if (show) this.imageURL.focus();
    else {
      this.imageURL.value = '';
      this.text.focus();
    }
  }

  get active() {
    return this.conv.state === 'assigned' && (this.conv.agent === this.me.id || this.me.role === 'admin');
  }

  // applyState shows whether the agent can still act on the chat.
  applyState(message) {
    const c = this.conv;
    let text = message || '';
    if (!text && c.state === 'ended') {
      text = `This conversation has ended${c.end_reason ? ' (' + (END_REASONS[c.end_reason] || c.end_reason) + ')' : ''}.`;
    } else if (!text && c.state !== 'assigned') {
      text = c.state === 'queued' ? `This chat is waiting in the ${c.squad} queue.` : 'The assistant is handling this conversation.';
    } else if (!text && c.agent !== this.me.id) {
      text = `This chat belongs to ${this.ctx.agentName(c.agent)}.`;
    }
    this.notice.textContent = text;
    this.notice.hidden = !text;
    const can = this.active;
    this.composer.hidden = !can;
    this.endButton.hidden = !can;
    this.transferButton.hidden = !can;
    this.assignButton.hidden = !can;
    if (this.labels.editable !== can) {
      this.labels.editable = can;
      this.labels.render();
    }
    this.thread.allowRetry(can ? (err) => this.ctx.toast(err.message, 'error') : null);
    this.updateWindowNote();
  }

  updateWindowNote() {
    const last = this.thread.lastInbound();
    const old = last && Date.now() - new Date(last.created_at).getTime() > DAY;
    this.windowNote.hidden = !old || !this.active;
    this.windowNote.textContent = old
      ? 'The user wrote more than 24 hours ago. Instagram accepts replies only within 24 hours of their last message (7 days for human agents when the integration uses the human-agent tag).'
      : '';
  }

  scrollToEnd() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.lastHeight = this.scroller.scrollHeight;
  }

  event(ev) {
    switch (ev.type) {
      case 'message':
      case 'status':
        if (ev.data && this.thread.upsert(ev.data)) {
          if (this.pinned) this.scrollToEnd();
          this.updateWindowNote();
        }
        break;
      case 'labels':
        if (ev.data) {
          this.labels.set(ev.data.labels);
          this.conv.labels = ev.data.labels;
          this.renderPanelLabels();
        }
        break;
      case 'assigned':
      case 'queued':
      case 'ended':
        if (ev.data) {
          const messages = this.conv.messages;
          this.conv = { ...this.conv, ...ev.data, messages };
          this.thread.conversation = this.conv;
          const moved = ev.type === 'queued' && ev.data.squad ? `This chat was moved to the ${ev.data.squad} queue.` : '';
          this.applyState(moved);
        }
        break;
    }
  }

  async send() {
    if (this.sending) return;
    const text = this.text.value.trim();
    const url = this.imageURL.value.trim();
    if (!text && !url) {
      this.text.focus();
      return;
    }
    const note = this.mode === 'note';
    const batches = [];
    if (url && !note) batches.push({ type: 'image', url });
    if (text) batches.push({ type: 'text', text });
    if (!batches.length) return;
    this.sending = true;
    this.sendButton.disabled = true;
    this.error.hidden = true;
    try {
      for (const content of batches) {
        const m = await post(`/conversations/${this.id}/messages`, note ? { contents: [content], private: true } : { contents: [content] });
        if (m) this.thread.upsert(m);
        this.pinned = true;
        this.scrollToEnd();
        if (content.type === 'image') this.toggleImage(false);
        else this.text.value = '';
      }
    } catch (err) {
      this.showError(err);
    } finally {
      this.sending = false;
      this.sendButton.disabled = false;
      if (!this.composer.hidden) this.text.focus();
    }
  }

  showError(err) {
    let parts;
    switch (err.code) {
      case 'outside_window':
        // The server's text says which window applies (24 hours, or 7 days
        // with the human-agent tag) and why this reply falls outside it.
        parts = [h('strong', {}, 'Instagram will not deliver this reply: '),
          'the messaging window has closed. Your text is kept; the user has to write again before you can answer.',
          h('span.error-detail', {}, err.message)];
        break;
      case 'ended':
        this.conv.state = 'ended';
        this.applyState();
        parts = [h('strong', {}, 'The conversation has ended. '), 'Your reply was not sent.'];
        break;
      case 'forbidden':
        parts = [h('strong', {}, 'You cannot reply here. '), 'This chat is no longer assigned to you.'];
        break;
      default:
        parts = [h('strong', {}, 'Not sent. '), err.message];
    }
    fill(this.error, ...parts);
    this.error.hidden = false;
  }

  async end() {
    const name = contactName(this.conv.contact);
    const ok = await ask({
      title: 'End this conversation?',
      body: h('p', {}, `The chat with ${name} closes and leaves your list. If they write again, a new conversation starts.`),
      confirm: 'End conversation',
      danger: true,
    });
    if (!ok) return;
    try {
      await post(`/conversations/${this.id}/end`, {});
    } catch (err) {
      if (err.code !== 'ended') {
        this.ctx.toast(err.message, 'error');
        return;
      }
    }
    this.ctx.inbox.remove(this.id);
    this.ctx.toast(`Conversation with ${name} ended.`);
    this.ctx.navigate('/chats');
  }

  async assignTo() {
    let login;
    try {
      login = await chooseAgent(this.conv, { me: this.me, agentName: this.ctx.agentName });
    } catch (err) {
      this.ctx.toast(err.message, 'error');
      return;
    }
    if (!login) return;
    const name = contactName(this.conv.contact);
    let moved;
    try {
      moved = await post(`/conversations/${this.id}/assign`, { agent: login });
    } catch (err) {
      this.ctx.toast(err.message, 'error');
      return;
    }
    if (moved.agent === this.me.id) return;
    this.ctx.inbox.remove(this.id);
    this.ctx.toast(`${name} was assigned to ${this.ctx.agentName(login)}.`);
    this.ctx.navigate('/chats');
  }

  async transfer() {
    let squads;
    try {
      ({ squads } = await get('/squads'));
    } catch (err) {
      this.ctx.toast(err.message, 'error');
      return;
    }
    const select = h('select#transfer-squad', {},
      squads.map((s) => h('option', { value: s.name, selected: s.name === this.conv.squad },
        `${s.name} — ${plural(s.available, 'agent', 'agents')} available`)));
    const ok = await ask({
      title: 'Transfer to a squad',
      body: [h('label', { for: 'transfer-squad' }, 'Squad'), select,
        h('p.muted', {}, 'The chat leaves your list and waits in that squad’s queue for the next available agent.')],
      confirm: 'Transfer',
    });
    if (!ok) return;
    const name = contactName(this.conv.contact);
    let moved;
    try {
      moved = await post(`/conversations/${this.id}/transfer`, { squad: select.value });
    } catch (err) {
      this.ctx.toast(err.message, 'error');
      return;
    }
    if (moved && moved.state === 'assigned' && moved.agent === this.me.id) {
      // The squad gave it straight back: no one else there could take it.
      this.ctx.toast(`No one else in ${select.value} could take ${name}: the chat stays with you.`);
      return;
    }
    this.ctx.inbox.remove(this.id);
    this.ctx.toast(`${name} was transferred to ${select.value}.`);
    this.ctx.navigate('/chats');
  }
}

