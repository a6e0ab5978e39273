// Form fields with their label, hint and error, and the mapping of the API's
// validation errors ({"field", "fields": {name: message}, "problems":
// [{field, message}]}) onto them. A field is the request's JSON path: a
// channel setting's is settings.<name>, "settings" for them as a whole.

import { h } from './dom.js';

export function fieldErrors() {
  const top = h('p.form-error', { role: 'alert', hidden: true });
  const slots = new Map(); // field name -> {error, input}

  // field wraps input (which must have an id) with its label, hint and
  // error line. aliases: other names the API may use for the same field.
  function field(name, label, input, hint = '', aliases = []) {
    const id = input.id;
    const error = h('p.field-error', { id: `${id}-error`, hidden: true, dataset: { field: name } });
    const hintEl = hint ? h('p.hint', { id: `${id}-hint` }, hint) : null;
    input.setAttribute('aria-describedby', [hintEl ? `${id}-hint` : '', `${id}-error`].filter(Boolean).join(' '));
    const slot = { error, input };
    for (const n of [name, ...aliases]) slots.set(n, slot);
    const isCheck = input.type === 'checkbox';
    return h(`div.field${isCheck ? '.field-check' : ''}`, { dataset: { field: name } },
      isCheck ? h('label', { for: id }, input, ' ', label) : [h('label', { for: id }, label), input],
      hintEl, error);
  }

  function clear() {
    top.hidden = true;
    top.textContent = '';
    for (const { error, input } of slots.values()) {
      error.hidden = true;
      error.textContent = '';
      input.removeAttribute('aria-invalid');
    }
  }

  // show puts each problem under its field; problems no field claims, and
  // errors without fields, go to the top of the form.
  function show(err) {
    clear();
    // problems keeps every message, in order, where a field has several
    // (the host's check and the channel's own); fields has one per field.
    const problems = Array.isArray(err.problems) && err.problems.length
      ? err.problems.map((p) => [p.field, p.message])
      : Object.entries(err.fields || {});
    const loose = [];
    let first = null;
    for (const [name, message] of problems) {
      const base = name.replace(/\[\d+\]$/, '');
      const slot = slots.get(name) || slots.get(base) || slots.get(base.replace(/^settings\./, ''));
      if (!slot) {
        loose.push(`${name}: ${message}`);
        continue;
      }
      slot.error.textContent = slot.error.textContent ? `${slot.error.textContent} ${capital(message)}` : capital(message);
      slot.error.hidden = false;
      slot.input.setAttribute('aria-invalid', 'true');
      if (!first) first = slot.input;
    }
    if (loose.length || !problems.length) {
      top.textContent = loose.length ? loose.join('; ') : err.message;
      top.hidden = false;
    }
    if (first) first.focus();
    else top.scrollIntoView({ block: 'nearest' });
  }

  return { top, field, clear, show };
}

function capital(s) {
  s = String(s || '');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// lines splits a textarea into its non-empty lines.
export function lines(text) {
  return String(text || '').split('\n').map((s) => s.trim()).filter(Boolean);
}
