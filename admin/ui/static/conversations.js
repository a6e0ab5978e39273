// Conversations (admins): search every conversation by text, state and
// integration, and read any transcript (read-only; it updates live).

import { get, post, query } from './api.js';
import { fill, h } from './dom.js';
import { avatar, contactName, END_REASONS, formatDateTime, originBadge, stateBadge, timeTag, STATE_LABELS } from './format.js';
import { Thread } from './messages.js';
import { chooseAgent, labelChips } from './workspace.js';
import { highlight, matchLine } from './search.js';

export function conversationsView(ctx) {
  const el = h('div.page');
  let mode = null; // the search or a transcript

  return {
    el,
    route(params) {
      if (mode && mode.destroy) mode.destroy();
      mode = params.id ? transcript(ctx, Number(params.id)) : search(ctx);
      fill(el, mode.el);
    },
    event(ev) {
      if (mode && mode.event) mode.event(ev);
    },
    destroy() {
      if (mode && mode.destroy) mode.destroy();
    },
  };
}

function search(ctx) {
  const params = new URLSearchParams(location.search);
  const q = h('input#search-q', { type: 'search', name: 'q', value: params.get('q') || '', placeholder: 'Name, @username or message text' });
  const state = h('select#search-state', { name: 'state' },
    h('option', { value: '' }, 'Any state'),
    Object.entries(STATE_LABELS).map(([v, label]) => h('option', { value: v, selected: params.get('state') === v }, label)));
  const integration = h('select#search-integration', { name: 'integration' }, h('option', { value: '' }, 'Any integration'));
  const agent = h('input#search-agent', { name: 'agent', value: params.get('agent') || '', placeholder: 'login' });
  const label = h('select#search-label', { name: 'label' }, h('option', { value: '' }, 'Any label'));
  const results = h('div.results', { 'aria-live': 'polite' });
  const form = h('form.search-form', { role: 'search', 'aria-label': 'Search conversations' },
    h('div.field.grow', {}, h('label', { for: 'search-q' }, 'Search'), q),
    h('div.field', {}, h('label', { for: 'search-state' }, 'State'), state),
    h('div.field', {}, h('label', { for: 'search-integration' }, 'Integration'), integration),
    h('div.field', {}, h('label', { for: 'search-agent' }, 'Agent'), agent),
    h('div.field', {}, h('label', { for: 'search-label' }, 'Label'), label),
    h('div.field.actions', {}, h('button.button.primary', { type: 'submit' }, 'Search')));
  let typing = 0;
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearTimeout(typing);
    const qs = query({ q: q.value.trim(), state: state.value, integration: integration.value, agent: agent.value.trim(), label: label.value });
    history.replaceState({}, '', '/conversations' + qs);
    run();
  });
  // Results follow the search as it is typed (the last word matches as the
  // start of a word).
  q.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => form.requestSubmit(), 300);
  });

  get('/integrations').then(({ integrations }) => {
    for (const i of integrations) {
      integration.appendChild(h('option', { value: i.id, selected: params.get('integration') === i.id }, `${i.name} (${i.id})`));
    }
  }).catch(() => {});
  get('/labels').then(({ labels }) => {
    for (const l of labels) label.appendChild(h('option', { value: l.name, selected: params.get('label') === l.name }, `${l.name} (${l.count})`));
  }).catch(() => {});

  let seq = 0; // an older search's answer must not replace a newer one's
  async function run() {
    const mine = ++seq;
    const text = q.value.trim();
    fill(results, h('p.loading', {}, 'Searching…'));
    const qs = query({ q: text, state: state.value, integration: integration.value || params.get('integration'), agent: agent.value.trim(), label: label.value || params.get('label'), limit: 200 });
    try {
      const { conversations } = await get('/conversations' + qs);
      if (mine !== seq) return;
      if (!conversations.length) {
        fill(results, h('p.empty', {}, 'No conversation matches.'));
        return;
      }
      fill(results, h('p.muted.small', {}, conversations.length >= 200 ? 'Showing the 200 most recent matches.' : `${conversations.length} found.`),
        h('div.table-wrap', {}, h('table.table.conversations-table', {},
          h('thead', {}, h('tr', {}, ['Contact', 'State', 'Integration', 'Squad / agent', 'Started', 'Last activity'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, conversations.map((c) => h('tr', {},
            h('td', {}, h('a.contact-cell', { href: `/conversations/${c.id}`, 'data-nav': true }, avatar(c.contact, 'sm'),
              h('span.truncate', {}, highlight(contactName(c.contact), text)), originBadge(c.origin)), labelChips(c.labels), matchLine(c, text)),
            h('td', {}, stateBadge(c.state), c.end_reason ? h('span.muted.small.block', {}, END_REASONS[c.end_reason] || c.end_reason) : null),
            h('td', {}, c.integration),
            h('td', {}, c.squad, c.agent ? h('span.muted.small.block', {}, ctx.agentName(c.agent)) : null),
            h('td', {}, timeTag(c.started_at, formatDateTime(c.started_at))),
            h('td', {}, timeTag(c.last_activity_at, formatDateTime(c.last_activity_at)))))))));
    } catch (err) {
      if (mine === seq) fill(results, h('p.form-error', { role: 'alert' }, err.message));
    }
  }

  run();
  return {
    el: h('div', {}, h('div.page-head', {}, h('h1', {}, 'Conversations')), h('div.card', {}, form), results),
  };
}

function transcript(ctx, id) {
  const el = h('div.transcript', {}, h('p.loading', {}, 'Loading the conversation…'));
  let thread = null;

  get(`/conversations/${id}`).then((conv) => {
    thread = new Thread(conv, ctx.agentName);
    thread.deliveriesLink = true;
    // An admin may send a failed message again while the conversation is open.
    if (conv.state !== 'ended') thread.allowRetry((err) => ctx.toast(err.message, 'error'));
    thread.set(conv.messages || []);
    const c = conv;
    fill(el,
      h('div.page-head', {},
        h('a.button.small', { href: '/conversations', 'data-nav': true }, '← Conversations'),
        h('h1', {}, 'Conversation #' + c.id),
        c.state !== 'ended' ? h('button.button#transcript-assign', { type: 'button', onclick: () => assign(c) }, 'Assign to an agent') : null),
      h('section.card.transcript-head', {},
        avatar(c.contact, 'lg'),
        h('div', {},
          h('h2', {}, contactName(c.contact)),
          c.contact && c.contact.username ? h('p', {}, h('a', { href: `https://www.instagram.com/${encodeURIComponent(c.contact.username)}/`, target: '_blank', rel: 'noopener noreferrer' }, '@' + c.contact.username)) : null,
          h('p.muted.small', {}, `Instagram user id ${c.contact ? c.contact.channel_user_id : '?'}`)),
        h('dl.facts', {},
          fact('State', stateBadge(c.state)),
          fact('Integration', c.integration),
          fact('Squad', c.squad || '—'),
          fact('Agent', c.agent ? ctx.agentName(c.agent) : '—'),
          fact('Labels', labelChips(c.labels) || '—'),
          fact('Origin', originBadge(c.origin) || 'Direct message'),
          fact('Started', formatDateTime(c.started_at)),
          fact('Ended', c.ended_at ? `${formatDateTime(c.ended_at)} (${END_REASONS[c.end_reason] || c.end_reason})` : '—'))),
      h('section.card.transcript-body', { 'aria-label': 'Transcript' },
        conv.messages && conv.messages.length ? null : h('p.empty', {}, 'No messages yet.'), thread.el));
  }).catch((err) => {
    fill(el, h('div.page-head', {}, h('a.button.small', { href: '/conversations', 'data-nav': true }, '← Conversations')),
      h('p.form-error', { role: 'alert' }, err.status === 404 ? 'No such conversation.' : err.message));
  });

  async function assign(c) {
    try {
      const login = await chooseAgent(c, { me: ctx.me, agentName: ctx.agentName });
      if (!login) return;
      const moved = await post(`/conversations/${c.id}/assign`, { agent: login });
      ctx.toast(`Assigned to ${ctx.agentName(moved.agent)}.`);
      ctx.navigate(`/conversations/${c.id}`);
    } catch (err) {
      ctx.toast(err.message, 'error');
    }
  }

  return {
    el,
    event(ev) {
      if (thread && ev.conversation === id && (ev.type === 'message' || ev.type === 'status') && ev.data) thread.upsert(ev.data);
    },
  };
}

function fact(label, value) {
  return h('div', {}, h('dt', {}, label), h('dd', {}, value));
}
