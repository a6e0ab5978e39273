// Canned responses (admins): replies agents insert by typing "/" and a
// shortcut in the reply box, for every agent or for one squad's.

import { del, get, post, put } from './api.js';
import { fill, h } from './dom.js';
import { ask } from './dialog.js';
import { cannedResponses } from './workspace.js';

export function cannedView(ctx) {
  const list = h('div', {}, h('p.loading', {}, 'Loading…'));
  const error = h('p.form-error', { role: 'alert', hidden: true });
  const shortcut = h('input#canned-shortcut', { required: true, maxlength: 32, placeholder: 'hours', autocomplete: 'off', pattern: '[\\p{L}\\p{N}_\\-]+' });
  const text = h('textarea#canned-text', { required: true, rows: 3, maxlength: 4000, placeholder: 'We answer Monday to Friday, 9:00 to 18:00.' });
  const squad = h('select#canned-squad', {}, h('option', { value: '' }, 'Everyone'));
  let squads = [];

  const form = h('form.form-grid', {
    'aria-labelledby': 'canned-new-title',
    onsubmit: async (e) => {
      e.preventDefault();
      error.hidden = true;
      try {
        await post('/canned_responses', { shortcut: shortcut.value, text: text.value, squad: squad.value });
        shortcut.value = text.value = '';
        ctx.toast('Canned response added.');
        load();
      } catch (err) {
        showError(err);
      }
    },
  },
  h('div.field', {}, h('label', { for: 'canned-shortcut' }, 'Shortcut'), shortcut,
    h('p.muted.small', {}, 'Agents type / and this word. Letters, digits, - and _.')),
  h('div.field', {}, h('label', { for: 'canned-squad' }, 'Shown to'), squad),
  h('div.field.wide', {}, h('label', { for: 'canned-text' }, 'Text'), text),
  error,
  h('div.field.actions', {}, h('button.button.primary', { type: 'submit' }, 'Add canned response')));

  function showError(err) {
    error.textContent = err.field ? `${err.field}: ${err.message}` : err.message;
    error.hidden = false;
  }

  async function load() {
    try {
      const [{ canned_responses: rs }, sq] = await Promise.all([get('/canned_responses'), get('/squads')]);
      squads = sq.squads.map((s) => s.name);
      fill(squad, h('option', { value: '' }, 'Everyone'), squads.map((s) => h('option', { value: s }, `Squad ${s}`)));
      cannedResponses(true).catch(() => {});
      if (!rs.length) {
        fill(list, h('p.empty', {}, 'No canned responses yet. Add the answers your agents give every day.'));
        return;
      }
      fill(list, h('div.table-wrap', {}, h('table.table.canned-table', {},
        h('thead', {}, h('tr', {}, ['Shortcut', 'Shown to', 'Text', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, rs.map((r) => h('tr', { dataset: { id: String(r.id) } },
          h('td', {}, h('code', {}, '/' + r.shortcut)),
          h('td', {}, r.squad ? `Squad ${r.squad}` : 'Everyone'),
          h('td.canned-cell', {}, r.text),
          h('td.row-actions', {},
            h('button.button.small', { type: 'button', onclick: () => edit(r) }, 'Edit'),
            h('button.button.small.danger', { type: 'button', onclick: () => remove(r) }, 'Delete'))))))));
    } catch (err) {
      fill(list, h('p.form-error', { role: 'alert' }, err.message));
    }
  }

  async function edit(r) {
    const sc = h('input#edit-shortcut', { value: r.shortcut, maxlength: 32 });
    const tx = h('textarea#edit-text', { rows: 4, maxlength: 4000 }, r.text);
    const sq = h('select#edit-squad', {}, h('option', { value: '' }, 'Everyone'),
      squads.map((s) => h('option', { value: s, selected: s === r.squad }, `Squad ${s}`)));
    const ok = await ask({
      title: `Edit /${r.shortcut}`,
      body: [h('label', { for: 'edit-shortcut' }, 'Shortcut'), sc, h('label', { for: 'edit-squad' }, 'Shown to'), sq,
        h('label', { for: 'edit-text' }, 'Text'), tx],
      confirm: 'Save',
    });
    if (!ok) return;
    try {
      await put(`/canned_responses/${r.id}`, { shortcut: sc.value, text: tx.value, squad: sq.value });
      ctx.toast('Saved.');
      load();
    } catch (err) {
      ctx.toast(err.message, 'error');
    }
  }

  async function remove(r) {
    const ok = await ask({ title: `Delete /${r.shortcut}?`, body: h('p', {}, 'Agents will no longer be offered it.'), confirm: 'Delete', danger: true });
    if (!ok) return;
    try {
      await del(`/canned_responses/${r.id}`);
      load();
    } catch (err) {
      ctx.toast(err.message, 'error');
    }
  }

  load();
  return {
    el: h('div.page', {},
      h('div.page-head', {}, h('h1', {}, 'Canned responses')),
      h('section.card', {}, h('h2#canned-new-title', {}, 'New canned response'), form),
      h('section.card', { 'aria-label': 'Canned responses' }, list)),
  };
}
