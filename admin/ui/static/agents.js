// Agents and squads (admins): who can sign in, their squads, their
// capacity and status; each squad with its members and who is available.
// A squad exists as soon as an agent or an integration names it.

import { get, post, put } from './api.js';
import { fill, h } from './dom.js';
import { AGENT_STATUS_LABELS } from './format.js';
import { fieldErrors } from './forms.js';

export function agentsView(ctx) {
  const table = h('div', {}, h('p.loading', {}, 'Loading agents…'));
  const squads = h('div', {}, h('p.loading', {}, 'Loading squads…'));
  const formBox = h('div.card', { hidden: true });
  const newButton = h('button.button.primary', { type: 'button', onclick: () => edit(null) }, 'New agent');
  const el = h('div.page', {},
    h('div.page-head', {}, h('h1', {}, 'Agents'), newButton),
    formBox,
    h('section.card', { 'aria-labelledby': 'agents-title' }, h('h2#agents-title', {}, 'People'), table),
    h('section.card', { 'aria-labelledby': 'squads-title' }, h('h2#squads-title', {}, 'Squads'),
      h('p.muted', {}, 'Conversations handed to humans wait in their integration’s squad and go to that squad’s available agent with the fewest open chats. To create a squad, put an agent in it.'),
      squads));
  let agents = [];
  let pending = 0;
  let stopped = false;

  async function load() {
    try {
      const [a, s] = await Promise.all([get('/agents'), get('/squads')]);
      if (stopped) return;
      agents = a.agents;
      renderAgents();
      renderSquads(s.squads);
    } catch (err) {
      fill(table, h('p.form-error', { role: 'alert' }, err.message));
    }
  }

  function renderAgents() {
    if (!agents.length) {
      fill(table, h('p.empty', {}, 'No agents yet.'));
      return;
    }
    fill(table, h('div.table-wrap', {}, h('table.table', {},
      h('thead', {}, h('tr', {}, ['Name', 'Login', 'Role', 'Squads', 'Open chats', 'Status', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, agents.map((a) => {
        const status = h('select', { 'aria-label': `Status of ${a.name || a.login}` },
          Object.entries(AGENT_STATUS_LABELS).map(([v, label]) => h('option', { value: v, selected: a.status === v }, label)));
        status.addEventListener('change', () => setStatus(a, status));
        const full = a.open_chats >= a.max_chats;
        const inactive = a.active === false;
        return h(`tr${inactive ? '.muted' : ''}`, { dataset: { agent: a.id } },
          h('td', {}, h('span.truncate', {}, a.name || '—')),
          h('td', {}, h('code', {}, a.login)),
          h('td', {}, a.role === 'admin' ? h('span.badge', {}, 'admin') : 'agent'),
          h('td', {}, (a.squads || []).join(', ') || '—'),
          h('td', {}, h(`span${full ? '.pill.pill-warn' : ''}`, { title: full ? 'At capacity: no new chats until one ends' : '' }, `${a.open_chats} / ${a.max_chats}`)),
          h('td', {}, inactive
            ? h('span.pill.pill-muted', { title: 'Cannot sign in; no chat reaches them' }, 'Deactivated')
            : h(`span.status-select.status-${a.status}`, {}, status)),
          h('td', {}, h('button.button.small', { type: 'button', onclick: () => edit(a) }, 'Edit')));
      })))));
  }

  function renderSquads(list) {
    fill(squads, h('div.table-wrap', {}, h('table.table', {},
      h('thead', {}, h('tr', {}, ['Squad', 'Agents', 'Available'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, list.map((s) => h('tr', {},
        h('td', {}, h('strong', {}, s.name)),
        h('td', {}, s.agents.length ? s.agents.map((id) => ctx.agentName(id)).join(', ') : h('span.muted', {}, 'nobody')),
        h('td', {}, h(`span.pill.pill-${s.available ? 'ok' : 'muted'}`, {}, String(s.available)))))))));
  }

  async function setStatus(a, select) {
    try {
      const updated = await put(`/agents/${encodeURIComponent(a.id)}/status`, { status: select.value });
      Object.assign(a, updated);
      ctx.toast(`${a.name || a.login} is now ${AGENT_STATUS_LABELS[a.status].toLowerCase()}.`);
      load();
    } catch (err) {
      select.value = a.status;
      ctx.toast(err.message, 'error');
    }
  }

  function edit(a) {
    const creating = !a;
    const v = a || { login: '', name: '', role: 'agent', squads: ['geral'], max_chats: 8 };
    const f = {
      login: h('input#agent-login', { name: 'login', value: v.login, required: true, readOnly: !creating, autocapitalize: 'none', spellcheck: 'false' }),
      name: h('input#agent-name', { name: 'name', value: v.name, required: true }),
      role: h('select#agent-role', { name: 'role' },
        h('option', { value: 'agent', selected: v.role === 'agent' }, 'Agent — answers chats'),
        h('option', { value: 'admin', selected: v.role === 'admin' }, 'Admin — also runs the console')),
      squads: h('input#agent-squads', { name: 'squads', value: (v.squads || []).join(', '), placeholder: 'geral, vendas' }),
      max_chats: h('input#agent-max_chats', { name: 'max_chats', type: 'number', min: 1, max: 100, value: String(v.max_chats || 8) }),
      password: h('input#agent-password', { name: 'password', type: 'password', autocomplete: 'new-password', required: creating }),
      active: h('input#agent-active', { name: 'active', type: 'checkbox', checked: v.active !== false }),
    };
    const errors = fieldErrors();
    const form = h('form.form-grid', { novalidate: true },
      h('h2', {}, creating ? 'New agent' : `Edit ${v.name || v.login}`),
      errors.top,
      h('div.form-row', {},
        errors.field('login', 'Login', f.login, creating ? 'Lowercase; used to sign in.' : 'The login cannot change.'),
        errors.field('name', 'Name', f.name, 'Shown to colleagues.')),
      h('div.form-row', {},
        errors.field('role', 'Role', f.role),
        errors.field('max_chats', 'Maximum open chats', f.max_chats, 'How many conversations at once (8 is typical).')),
      h('div.form-row', {},
        errors.field('squads', 'Squads', f.squads, 'Comma-separated. Conversations of these squads can reach this person.'),
        errors.field('password', creating ? 'Password' : 'New password', f.password, creating ? 'At least 8 characters.' : 'Leave blank to keep the current password. A new one signs them out everywhere else.')),
      creating ? null : errors.field('active', 'Active', f.active, 'Unchecked: they are signed out everywhere, cannot sign in, and their open chats go back to the queue.'),
      h('div.form-actions', {},
        h('button.button', { type: 'button', onclick: () => { formBox.hidden = true; } }, 'Cancel'),
        h('button.button.primary', { type: 'submit' }, creating ? 'Create agent' : 'Save')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      errors.clear();
      const body = {
        login: f.login.value.trim().toLowerCase(),
        name: f.name.value.trim(),
        role: f.role.value,
        squads: f.squads.value.split(',').map((s) => s.trim()).filter(Boolean),
        max_chats: Number(f.max_chats.value) || 0,
      };
      if (f.password.value) body.password = f.password.value;
      if (!creating) body.active = f.active.checked;
      try {
        if (creating) await post('/agents', { ...body, password: f.password.value });
        else await put(`/agents/${encodeURIComponent(v.id)}`, body);
        ctx.toast(creating ? `Agent ${body.login} created.` : `Saved ${body.name || body.login}.`);
        formBox.hidden = true;
        load();
      } catch (err) {
        errors.show(err);
      }
    });
    fill(formBox, form);
    formBox.hidden = false;
    (creating ? f.login : f.name).focus();
  }

  load();
  return {
    el,
    event(ev) {
      if (['agent', 'assigned', 'ended', 'queued'].includes(ev.type)) {
        clearTimeout(pending);
        pending = setTimeout(load, 300);
      }
    },
    destroy() {
      stopped = true;
      clearTimeout(pending);
    },
  };
}
