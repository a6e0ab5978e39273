// Confirmations in the page's own <dialog> (window.confirm would block the
// page and cannot be styled or labelled).

import { $, fill } from './dom.js';

// ask shows the dialog and resolves to true when the person confirms.
// body: nodes to show (e.g. a select whose value the caller reads after).
export function ask({ title, body = [], confirm = 'OK', cancel = 'Cancel', danger = false }) {
  const dialog = $('#dialog');
  fill($('#dialog-title'), title);
  fill($('#dialog-body'), ...[].concat(body));
  const ok = $('#dialog-ok');
  ok.textContent = confirm;
  ok.classList.toggle('danger', danger);
  ok.classList.toggle('primary', !danger);
  $('#dialog-cancel').textContent = cancel;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
    const first = dialog.querySelector('#dialog-body select, #dialog-body input');
    (first || ok).focus();
  });
}
