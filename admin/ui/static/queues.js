// Queues: who waits in each squad and for how long, and who could take
// them. Refreshed on every live event that moves a conversation or an agent,
// and every few seconds in any case; waiting times tick locally in between.

import { get } from './api.js';
import { fill, h } from './dom.js';
import { avatar, contactName, formatDuration, originBadge } from './format.js';

const REFRESH_MS = 5000;

export function queuesView() {
  const body = h('div.queues', {}, h('p.loading', {}, 'Loading queues…'));
  const updated = h('p.muted.small', { 'aria-live': 'off' });
  const el = h('div.page', {}, h('div.page-head', {}, h('h1', {}, 'Queues'), updated), body);
  let fetchedAt = 0;
  let data = [];
  let timer = 0;
  let ticker = 0;
  let pending = 0;
  let stopped = false;
  let clocks = []; // [{el, seconds}] waiting times to tick

  async function load() {
    clearTimeout(timer);
    if (stopped) return;
    try {
      ({ queues: data } = await get('/queues'));
      fetchedAt = Date.now();
      render();
    } catch (err) {
      fill(body, h('p.form-error', { role: 'alert' }, err.message));
    }
    if (!stopped) timer = setTimeout(load, REFRESH_MS);
  }

  function clock(seconds) {
    const el = h('span', {}, formatDuration(seconds));
    clocks.push({ el, seconds });
    return el;
  }

  function tick() {
    const elapsed = (Date.now() - fetchedAt) / 1000;
    for (const c of clocks) c.el.textContent = formatDuration(c.seconds + elapsed);
  }

  function render() {
    clocks = [];
    updated.textContent = `Updated ${new Date(fetchedAt).toLocaleTimeString()}`;
    if (!data.length) {
      fill(body, h('p.empty', {}, 'No squads yet.'));
      return;
    }
    fill(body, data.map((q) => {
      const waiting = q.waiting || [];
      const longest = waiting.reduce((m, w) => Math.max(m, w.wait_seconds), 0);
      return h('section.card.queue', { 'aria-labelledby': `queue-${q.squad}` },
        h('header.queue-head', {},
          h('h2', { id: `queue-${q.squad}` }, q.squad),
          h('dl.stats', {},
            stat('Waiting', String(waiting.length), waiting.length ? 'warn' : ''),
            stat('Longest wait', waiting.length ? clock(longest) : '—'),
            stat('Agents available', String(q.agents_available), q.agents_available ? '' : waiting.length ? 'bad' : ''),
            stat('Free slots', String(q.free_slots), q.free_slots ? '' : waiting.length ? 'bad' : ''))),
        waiting.length
          ? h('div.table-wrap', {}, h('table.table', {},
            h('caption.visually-hidden', {}, `Waiting in ${q.squad}`),
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Contact'), h('th', { scope: 'col' }, 'Integration'),
              h('th', { scope: 'col' }, 'Priority'), h('th', { scope: 'col' }, 'Waiting for'))),
            h('tbody', {}, waiting.map((w) => {
              const c = w.conversation;
              return h('tr', {},
                h('td', {}, h('a.contact-cell', { href: `/conversations/${c.id}`, 'data-nav': true }, avatar(c.contact, 'sm'),
                  h('span.truncate', {}, contactName(c.contact)), originBadge(c.origin))),
                h('td', {}, c.integration),
                h('td', {}, String(c.priority || 0)),
                h('td.wait', {}, clock(w.wait_seconds)));
            }))))
          : h('p.muted', {}, q.agents_available ? 'Nobody waiting.' : 'Nobody waiting, and no agent of this squad is available.'));
    }));
  }

  function stat(label, value, tone) {
    return h(`div.stat${tone ? '.stat-' + tone : ''}`, {}, h('dt', {}, label), h('dd', {}, value));
  }

  load();
  ticker = setInterval(tick, 1000);

  return {
    el,
    event(ev) {
      if (['assigned', 'queued', 'ended', 'agent', 'reset'].includes(ev.type)) {
        // Several events often come together: one reload for the burst.
        clearTimeout(pending);
        pending = setTimeout(load, 200);
      }
    },
    destroy() {
      stopped = true;
      clearTimeout(timer);
      clearTimeout(pending);
      clearInterval(ticker);
    },
  };
}
