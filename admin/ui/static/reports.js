// Reports (admins): conversations started in a range of days, how many the
// assistant handled alone and how many went to people, and how fast people
// answered and conversations ended. Days are the browser's time zone. The
// charts are inline SVG drawn here: no library, no build step.

import { get, query } from './api.js';
import { fill, h } from './dom.js';
import { formatDuration, plural } from './format.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

// svg creates an SVG element: attrs are attributes, children nodes or text.
function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null && v !== false) el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// The report's definitions, as the README gives them.
const HELP = [
  ['Conversations', 'conversations that started in the range (days in your time zone).'],
  ['Assistant only', 'never handed off to people.'],
  ['Handed off', 'handed to a squad at least once.'],
  ['First response', 'from the first hand-off to the first message an agent wrote to the contact, for the handed-off conversations that got one. Private notes and system notes do not count.'],
  ['Resolution', 'from the start to the end, for the conversations that ended.'],
  ['p50 / p90', 'half / nine in ten of those conversations took at most this long (nearest rank). “—” when there is none to measure.'],
  ['By agent', 'the conversations each agent held last, with their times.'],
];

// isoDay is a local calendar date as YYYY-MM-DD.
function isoDay(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

// dayLabel shows YYYY-MM-DD as a short date; it is a calendar day, not an
// instant, so it is read and shown in UTC.
const shortDay = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', timeZone: 'UTC' });
const longDay = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });
const dayLabel = (date, fmt = shortDay) => fmt.format(new Date(date + 'T00:00:00Z'));

function duration(v) {
  return v === null || v === undefined ? '—' : formatDuration(v);
}

function timeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

export function reportsView(ctx) {
  const params = new URLSearchParams(location.search);
  const now = new Date();
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const tz = timeZone();
  const f = {
    from: h('input#report-from', { type: 'date', name: 'from', value: params.get('from') || isoDay(new Date(today.getFullYear(), today.getMonth(), today.getDate() - 6)), required: true }),
    to: h('input#report-to', { type: 'date', name: 'to', value: params.get('to') || isoDay(today), required: true }),
    squad: h('select#report-squad', { name: 'squad' }, h('option', { value: '' }, 'Every squad')),
    agent: h('select#report-agent', { name: 'agent' }, h('option', { value: '' }, 'Every agent')),
  };
  const error = h('p.form-error', { role: 'alert', hidden: true });
  const csv = h('a.button#report-csv', { href: '#', download: '' }, 'Download CSV');
  const body = h('div', { 'aria-live': 'polite' }, h('p.loading', {}, 'Loading the report…'));
  const form = h('form.search-form.report-form', { 'aria-label': 'Report range and filters' },
    h('div.field', {}, h('label', { for: 'report-from' }, 'From'), f.from),
    h('div.field', {}, h('label', { for: 'report-to' }, 'To (inclusive)'), f.to),
    h('div.field', {}, h('label', { for: 'report-squad' }, 'Squad'), f.squad),
    h('div.field', {}, h('label', { for: 'report-agent' }, 'Agent'), f.agent),
    h('div.field.actions', {}, h('button.button.primary', { type: 'submit' }, 'Show')));
  const help = h('details.report-help', {},
    h('summary', {}, 'How these are counted'),
    h('dl', {}, HELP.map(([term, text]) => [h('dt', {}, term), h('dd', {}, text)])),
    h('p.muted.small', {}, `Days are in your time zone, ${tz}. Times are in whole seconds; the CSV has one row per day, a total row and one row per agent.`));
  const el = h('div.page.reports', {},
    h('div.page-head', {}, h('h1', {}, 'Reports'), h('div.head-actions', {}, csv)),
    h('section.card', {}, form, error, help),
    body);
  let stopped = false;
  let seq = 0;

  function filters() {
    return { from: f.from.value, to: f.to.value, tz, squad: f.squad.value, agent: f.agent.value };
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const { from, to, squad, agent } = filters();
    history.replaceState({}, '', '/reports' + query({ from, to, squad, agent }));
    load();
  });

  async function load() {
    const n = ++seq;
    const p = filters();
    csv.href = '/api/v1/reports' + query({ ...p, format: 'csv' });
    error.hidden = true;
    for (const input of [f.from, f.to]) input.removeAttribute('aria-invalid');
    try {
      const rep = await get('/reports' + query(p));
      if (stopped || n !== seq) return;
      render(rep);
    } catch (err) {
      if (stopped || n !== seq) return;
      error.textContent = err.message;
      error.hidden = false;
      const bad = f[err.field];
      if (bad) bad.setAttribute('aria-invalid', 'true');
      fill(body);
    }
  }

  async function loadChoices() {
    const [squads, agents] = await Promise.allSettled([get('/squads'), get('/agents')]);
    if (stopped) return;
    if (squads.status === 'fulfilled') {
      for (const s of squads.value.squads || []) {
        f.squad.appendChild(h('option', { value: s.name, selected: params.get('squad') === s.name }, s.name));
      }
    }
    if (agents.status === 'fulfilled') {
      for (const a of agents.value.agents || []) {
        f.agent.appendChild(h('option', { value: a.id, selected: params.get('agent') === a.id }, `${a.name || a.login} (${a.login})`));
      }
    }
  }

  function render(rep) {
    const pct = (n) => (rep.conversations ? ` · ${Math.round((100 * n) / rep.conversations)}%` : '');
    fill(body,
      h('section.card', { 'aria-labelledby': 'report-summary-title' },
        h('h2#report-summary-title', {}, `${dayLabel(rep.from, longDay)} – ${dayLabel(rep.to, longDay)}`),
        h('p.muted.small', {}, `Days in ${rep.tz}.`),
        h('dl.stats.report-tiles', {},
          tile('Conversations', String(rep.conversations)),
          tile('Assistant only', String(rep.assistant_only), pct(rep.assistant_only)),
          tile('Handed off', String(rep.handed_off), pct(rep.handed_off)),
          tile('First response p50 / p90', `${duration(rep.first_response_seconds.p50)} / ${duration(rep.first_response_seconds.p90)}`),
          tile('Resolution p50 / p90', `${duration(rep.resolution_seconds.p50)} / ${duration(rep.resolution_seconds.p90)}`))),
      h('section.card', { 'aria-labelledby': 'report-days-title' },
        h('h2#report-days-title', {}, 'Conversations per day'),
        dayChart(rep.by_day)),
      h('section.card', { 'aria-labelledby': 'report-times-title' },
        h('h2#report-times-title', {}, 'First response and resolution'),
        timesChart(rep)),
      h('section.card', { 'aria-labelledby': 'report-agents-title' },
        h('h2#report-agents-title', {}, 'By agent'),
        agentTable(rep.by_agent)));
  }

  function tile(label, value, note = '') {
    return h('div.stat', {}, h('dt', {}, label), h('dd', {}, value, note ? h('span.muted.small', {}, note) : null));
  }

  function agentTable(list) {
    if (!list.length) return h('p.empty', {}, 'No agent held a conversation in this range.');
    return h('div.table-wrap', {}, h('table.table.report-agents', {},
      h('thead', {}, h('tr', {}, ['Agent', 'Conversations', 'First response p50', 'p90', 'Resolution p50', 'p90']
        .map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, list.map((a) => h('tr', { dataset: { agent: a.agent } },
        h('td', {}, h('strong', {}, ctx.agentName(a.agent)), h('span.muted.small.block', {}, a.agent)),
        h('td.num', {}, String(a.conversations)),
        h('td.num', {}, duration(a.first_response_seconds.p50)),
        h('td.num', {}, duration(a.first_response_seconds.p90)),
        h('td.num', {}, duration(a.resolution_seconds.p50)),
        h('td.num', {}, duration(a.resolution_seconds.p90)))))));
  }

  // The squad and agent of the address are chosen once their options exist.
  loadChoices().finally(load);
  return {
    el,
    destroy() {
      stopped = true;
    },
  };
}

// dayChart: one stacked bar a day (the assistant alone below, handed off
// above), the count over it when there is room, every figure in the bar's
// accessible name and tooltip.
function dayChart(days) {
  const total = days.reduce((s, d) => s + d.conversations, 0);
  const step = niceStep(Math.max(...days.map((d) => d.conversations)) / 4);
  const max = step * Math.max(1, Math.ceil(Math.max(...days.map((d) => d.conversations)) / step));
  const top = 22;
  const plot = 160;
  const left = 34;
  // The chart keeps its width: a long range gets thinner bars.
  const width = 880;
  const slot = (width - left - 8) / days.length;
  const height = top + plot + 34;
  const y = (v) => top + plot - (plot * v) / max;
  const bar = Math.max(2, Math.min(48, slot * 0.7));
  const every = Math.ceil(days.length / Math.max(1, Math.floor((slot * days.length) / 64))); // date labels that fit
  const ticks = [];
  for (let t = 0; t <= max; t += step) ticks.push(t);
  const summary = `Conversations per day, ${days[0].date} to ${days[days.length - 1].date}: ${plural(total, 'conversation', 'conversations')} in all`;
  return h('figure.chart', {},
    svg('svg', { class: 'chart-days', viewBox: `0 0 ${width} ${height}`, width, role: 'group', 'aria-label': summary },
      svg('title', {}, summary),
      ticks.map((t) => svg('g', { class: 'chart-grid', 'aria-hidden': 'true' },
        svg('line', { x1: left, x2: width - 4, y1: y(t), y2: y(t) }),
        svg('text', { x: left - 6, y: y(t) + 4, 'text-anchor': 'end' }, t))),
      days.map((d, i) => {
        const x = left + i * slot + (slot - bar) / 2;
        const label = `${dayLabel(d.date, longDay)}: ${plural(d.conversations, 'conversation', 'conversations')}` +
          (d.conversations ? `, ${d.assistant_only} with the assistant only, ${d.handed_off} handed off` : '');
        return svg('g', { class: 'chart-bar', role: 'img', 'aria-label': label, 'data-date': d.date, 'data-count': d.conversations },
          svg('title', {}, label),
          // The whole slot answers the pointer, even on a day of zero.
          svg('rect', { class: 'chart-hit', x: left + i * slot, y: top, width: slot, height: plot }),
          d.assistant_only ? svg('rect', { class: 'bar-assistant', x, width: bar, y: y(d.assistant_only), height: top + plot - y(d.assistant_only) }) : null,
          d.handed_off ? svg('rect', { class: 'bar-handed', x, width: bar, y: y(d.conversations), height: y(d.assistant_only) - y(d.conversations) }) : null,
          d.conversations && slot >= 14 ? svg('text', { class: 'chart-value', x: x + bar / 2, y: y(d.conversations) - 5, 'text-anchor': 'middle' }, d.conversations) : null,
          i % every === 0 ? svg('text', { class: 'chart-axis', x: left + i * slot + slot / 2, y: top + plot + 18, 'text-anchor': 'middle', 'aria-hidden': 'true' }, dayLabel(d.date)) : null);
      })),
    h('figcaption.chart-legend', {},
      h('span.legend-assistant', {}, 'Assistant only'),
      h('span.legend-handed', {}, 'Handed off')));
}

// niceStep is the smallest of 1, 2, 5, 10, 20, 50… at least v: gridlines at
// round counts.
function niceStep(v) {
  for (let p = 1; ; p *= 10) {
    for (const m of [1, 2, 5]) {
      if (m * p >= v) return m * p;
    }
  }
}

// timesChart: a horizontal bar for each of p50 and p90 of first response
// and of resolution, each pair on its own scale (minutes against hours),
// the time written beside it.
function timesChart(rep) {
  const groups = [
    ['First response', rep.first_response_seconds, 'bar-first'],
    ['Resolution', rep.resolution_seconds, 'bar-resolution'],
  ];
  const left = 150;
  const room = 520;
  const row = 28;
  const width = left + room + 110;
  const height = groups.length * (2 * row + 18);
  let yPos = 0;
  const parts = [];
  for (const [name, v, cls] of groups) {
    const max = Math.max(1, v.p90 || 0, v.p50 || 0);
    for (const p of ['p50', 'p90']) {
      const value = v[p];
      const label = value === null ? `${name} ${p}: no conversation to measure` : `${name} ${p}: ${formatDuration(value)} (${value} seconds)`;
      const w = value === null ? 0 : Math.max(2, (room * value) / max);
      parts.push(svg('g', { class: 'chart-bar', role: 'img', 'aria-label': label, 'data-measure': `${name.toLowerCase().replace(' ', '_')}_${p}`, 'data-seconds': value === null ? '' : value },
        svg('title', {}, label),
        svg('text', { class: 'chart-axis', x: left - 10, y: yPos + row / 2 + 4, 'text-anchor': 'end' }, `${name} ${p}`),
        w ? svg('rect', { class: cls, x: left, y: yPos + 4, width: w, height: row - 8, rx: 3 }) : null,
        svg('text', { class: 'chart-value', x: left + w + 8, y: yPos + row / 2 + 4 }, value === null ? '—' : formatDuration(value))));
      yPos += row;
    }
    yPos += 18;
  }
  const summary = `First response p50 ${duration(rep.first_response_seconds.p50)}, p90 ${duration(rep.first_response_seconds.p90)}; ` +
    `resolution p50 ${duration(rep.resolution_seconds.p50)}, p90 ${duration(rep.resolution_seconds.p90)}`;
  return h('figure.chart', {},
    svg('svg', { class: 'chart-times', viewBox: `0 0 ${width} ${height}`, width, role: 'group', 'aria-label': summary },
      svg('title', {}, summary), parts),
    h('figcaption.muted.small', {}, 'Each measure on its own scale. p50: half took at most this long; p90: nine in ten.'));
}
