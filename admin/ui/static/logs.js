// The two logs admins read: the audit log (every change a person made:
// who, what, from where) and an integration's delivery log (every webhook
// it received and every attempt to send through it, with the redacted
// request and response), which answers "why didn't this message arrive?".

import { get, query } from './api.js';
import { fill, h } from './dom.js';
import { formatDateTime } from './format.js';

// --- audit ----------------------------------------------------------------

const ACTIONS = {
  setup: 'Set up Conversa',
  'integration.create': 'Created integration',
  'integration.update': 'Changed integration',
  'integration.enable': 'Enabled integration',
  'integration.disable': 'Disabled integration',
  'integration.delete': 'Deleted integration',
  'agent.create': 'Created agent',
  'agent.update': 'Changed agent',
  'agent.password': 'Changed password of',
  'agent.status': 'Set status of',
  'agent.deactivate': 'Deactivated agent',
  'agent.activate': 'Activated agent',
  'canned_response.create': 'Created canned response',
  'canned_response.update': 'Changed canned response',
  'canned_response.delete': 'Deleted canned response',
  'plugin.trust': 'Trusted plugin',
  'plugin.untrust': 'Stopped trusting plugin',
};

const ACTION_GROUPS = [
  ['', 'Any change'],
  ['integration', 'Integrations'],
  ['agent', 'Agents'],
  ['agent.password', '· Password changes'],
  ['agent.status', '· Statuses set by others'],
  ['agent.deactivate', '· Deactivations'],
  ['canned_response', 'Canned responses'],
  ['plugin', 'Plugin trust'],
  ['setup', 'Setup'],
];

export function auditView() {
  const params = new URLSearchParams(location.search);
  const actor = h('input#audit-actor', { name: 'actor', value: params.get('actor') || '', placeholder: 'login', autocomplete: 'off' });
  const action = h('select#audit-action', { name: 'action' },
    ACTION_GROUPS.map(([v, label]) => h('option', { value: v, selected: (params.get('action') || '') === v }, label)));
  const results = h('div.results', { 'aria-live': 'polite' });
  const form = h('form.search-form', { role: 'search', 'aria-label': 'Filter the audit log' },
    h('div.field', {}, h('label', { for: 'audit-actor' }, 'Who'), actor),
    h('div.field', {}, h('label', { for: 'audit-action' }, 'What'), action),
    h('div.field.actions', {}, h('button.button.primary', { type: 'submit' }, 'Filter')));
  const el = h('div.page', {},
    h('div.page-head', {}, h('h1', {}, 'Audit')),
    h('section.card', { 'aria-labelledby': 'audit-title' },
      h('h2#audit-title.visually-hidden', {}, 'Changes'),
      h('p.muted', {}, 'Every change a person made to integrations, agents, canned responses and trusted plugins, newest first, with the address it came from (“command line”: the conversa command on the server). Secrets never appear: a changed token shows as its name only.'),
      form, results));
  let seq = 0;

  async function load() {
    const mine = ++seq;
    fill(results, h('p.loading', {}, 'Loading…'));
    let entries;
    try {
      ({ entries } = await get('/audit' + query({ actor: actor.value.trim(), action: action.value, limit: 500 })));
    } catch (err) {
      if (mine === seq) fill(results, h('p.form-error', { role: 'alert' }, err.message));
      return;
    }
    if (mine !== seq) return;
    if (!entries.length) {
      fill(results, h('p.empty', {}, actor.value || action.value ? 'No change matches.' : 'No changes recorded yet.'));
      return;
    }
    fill(results, h('div.table-wrap', {}, h('table.table.audit-table', {},
      h('thead', {}, h('tr', {}, ['When', 'Who', 'What', 'On', 'Detail', 'From'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, entries.map((e) => h('tr', { dataset: { action: e.action } },
        h('td.nowrap', {}, h('time', { datetime: e.at }, formatDateTime(e.at))),
        h('td', {}, h('button.link-button', { type: 'button', title: 'Show only their changes', onclick: () => { actor.value = e.actor; form.requestSubmit(); } }, e.actor)),
        h('td', {}, ACTIONS[e.action] || e.action),
        h('td', {}, h('code', {}, e.target)),
        h('td.detail-cell', {}, e.detail || ''),
        h('td', {}, h('code.muted', {}, e.ip || '—'))))))));
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    history.replaceState({}, '', '/audit' + query({ actor: actor.value.trim(), action: action.value }));
    load();
  });
  action.addEventListener('change', () => form.requestSubmit());
  load();
  return { el };
}

// --- deliveries -----------------------------------------------------------

const OUTCOMES = {
  stored: ['ok', 'Stored', 'The events were stored; the source was answered 200.'],
  duplicate: ['ok', 'Duplicate', 'Delivered again by the source: already stored, answered 200.'],
  ignored: ['muted', 'Nothing to store', 'Accepted, but it carried nothing Conversa keeps.'],
  verified: ['ok', 'Verified', 'The source’s verification handshake.'],
  unauthorized: ['bad', 'Refused: credentials', 'The credentials or the signature did not match: nothing was stored.'],
  malformed: ['bad', 'Refused: unreadable', 'The channel could not read the body: nothing was stored.'],
  too_large: ['bad', 'Refused: too large', 'Over [server] body_limit_kb: nothing was read or stored.'],
  disabled: ['bad', 'Refused: disabled', 'The integration is disabled: answered 404, nothing stored.'],
  unavailable: ['warn', 'Channel unavailable', 'The channel plugin could not run: answered 503, the source delivers again later.'],
  error: ['bad', 'Not stored', 'Storing the events failed: the source was told to deliver again.'],
  sent: ['ok', 'Sent', 'The provider accepted the message.'],
  retry: ['warn', 'Failed, retrying', 'The provider refused or failed; Conversa tries again.'],
  failed: ['bad', 'Failed', 'Given up: the message is marked Not delivered.'],
  unknown: ['warn', 'Outcome unknown', 'It may have gone out; Conversa checks before sending again.'],
};

// deliveriesSection is the Deliveries card of an integration's page.
// messageID, when given, starts it filtered to that message.
export function deliveriesSection(integrationID, messageID = '') {
  const id = h('input#deliveries-message', { name: 'message_id', value: messageID, placeholder: 'e.g. 42 or the provider’s id', autocomplete: 'off' });
  const outcome = h('select#deliveries-outcome', { name: 'outcome' }, h('option', { value: '' }, 'Any outcome'),
    h('optgroup', { label: 'Received' }, ['stored', 'duplicate', 'ignored', 'verified', 'unauthorized', 'malformed', 'too_large', 'disabled', 'unavailable', 'error']
      .map((o) => h('option', { value: o }, OUTCOMES[o][1]))),
    h('optgroup', { label: 'Sent' }, ['sent', 'retry', 'unknown', 'failed'].map((o) => h('option', { value: o }, OUTCOMES[o][1]))));
  const results = h('div.results', { 'aria-live': 'polite' });
  const form = h('form.search-form', { role: 'search', 'aria-label': 'Filter the deliveries' },
    h('div.field.grow', {}, h('label', { for: 'deliveries-message' }, 'Message'), id),
    h('div.field', {}, h('label', { for: 'deliveries-outcome' }, 'Outcome'), outcome),
    h('div.field.actions', {}, h('button.button.primary', { type: 'submit' }, 'Filter')));
  const el = h('section.card.deliveries', { 'aria-labelledby': 'deliveries-title' },
    h('h2#deliveries-title', {}, 'Deliveries'),
    h('p.muted', {}, 'Every webhook this integration received and every attempt to send through it, newest first, with what was asked and answered (credentials hidden). To learn why a message did not arrive, enter its id: a reply’s id in Conversa, or the provider’s message id.'),
    form, results);
  let seq = 0;

  async function load() {
    const mine = ++seq;
    fill(results, h('p.loading', {}, 'Loading…'));
    let deliveries;
    try {
      ({ deliveries } = await get(`/integrations/${encodeURIComponent(integrationID)}/deliveries` +
        query({ message_id: id.value.trim(), outcome: outcome.value, limit: 200 })));
    } catch (err) {
      if (mine === seq) fill(results, h('p.form-error', { role: 'alert' }, err.message));
      return;
    }
    if (mine !== seq) return;
    if (!deliveries.length) {
      fill(results, h('p.empty', {}, id.value.trim() || outcome.value
        ? 'Nothing matches. A message that left no trace here never reached Conversa (check the provider’s webhook settings) or is older than the log keeps.'
        : 'Nothing received or sent yet.'));
      return;
    }
    const body = h('tbody');
    for (const d of deliveries) {
      const [tone, label, help] = OUTCOMES[d.outcome] || ['muted', d.outcome, ''];
      const more = h('tr.delivery-detail', { hidden: true }, h('td', { colspan: 7 }, detail(d)));
      const toggle = h('button.button.small', { type: 'button', 'aria-expanded': 'false', onclick: () => {
        more.hidden = !more.hidden;
        toggle.setAttribute('aria-expanded', String(!more.hidden));
        toggle.textContent = more.hidden ? 'Show' : 'Hide';
      } }, 'Show');
      body.append(h('tr.delivery', { dataset: { outcome: d.outcome, direction: d.direction } },
        h('td.nowrap', {}, h('time', { datetime: d.at }, formatDateTime(d.at))),
        h('td.nowrap', {}, d.direction === 'in' ? '↓ Received' : '↑ Sent'),
        h('td.message-cell', {}, d.message_id ? h('button.link-button', { type: 'button', title: `${d.message_id}\nShow only this message`, onclick: () => { id.value = d.message_id; form.requestSubmit(); } }, h('code', {}, d.message_id)) : h('span.muted', {}, '—')),
        h('td', {}, h(`span.pill.pill-${tone}`, { title: help }, label)),
        h('td.num', {}, d.http_status ? String(d.http_status) : '—'),
        h('td.num', {}, `${d.latency_ms} ms`),
        h('td.error-cell', {}, d.error || '', ' ', toggle)), more);
    }
    fill(results, h('div.table-wrap', {}, h('table.table.deliveries-table', {},
      h('thead', {}, h('tr', {}, ['When', 'Direction', 'Message', 'Outcome', 'HTTP', 'Took', 'Why'].map((t) => h('th', { scope: 'col' }, t)))),
      body)));
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    load();
  });
  outcome.addEventListener('change', () => form.requestSubmit());
  // Arriving for one message (from a transcript): that is what to show.
  load().then(() => { if (messageID && el.isConnected) el.scrollIntoView({ block: 'start' }); });
  return el;
}

// detail shows a delivery's request and response; a send's every call.
function detail(d) {
  const calls = d.exchanges && d.exchanges.length ? d.exchanges : [{ request: d.request, response: d.response }];
  return h('div.delivery-calls', {},
    d.provider_message_ids && d.provider_message_ids.length
      ? h('p.small', {}, 'Provider message ids: ', d.provider_message_ids.map((p, i) => [i ? ', ' : '', h('code', {}, p)]))
      : null,
    d.exchanges_omitted ? h('p.small.muted', {}, `${d.exchanges_omitted} earlier calls not kept.`) : null,
    !d.request && !d.response ? h('p.small.muted', {}, 'Nothing was sent to the provider.') : null,
    calls.filter((c) => c.request || c.response).map((c, i) => h('div.delivery-call', {},
      calls.length > 1 ? h('p.small', {}, h('strong', {}, `Call ${i + 1} of ${calls.length}`), c.latency_ms !== undefined ? ` · ${c.latency_ms} ms` : '') : null,
      c.error ? h('p.small.form-error', {}, c.error) : null,
      c.request ? message('Request', `${c.request.method || ''} ${c.request.url || ''}`.trim(), c.request) : null,
      c.response ? message('Response', `HTTP ${c.response.status}`, c.response) : h('p.small.muted', {}, 'No answer.'))));
}

function message(title, first, m) {
  const lines = [first, ...(m.headers || []).map((hd) => `${hd.name}: ${hd.value}`)];
  return h('div.http-message', {},
    h('h3.small', {}, title),
    h('pre.http', {}, lines.join('\n'), m.body ? '\n\n' + pretty(m.body) : ''),
    m.body_truncated ? h('p.small.muted', {}, 'Body cut at 16 KB.') : null);
}

// pretty indents a JSON body; anything else is shown as it came.
function pretty(body) {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}
