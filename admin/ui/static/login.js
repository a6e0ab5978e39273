// The sign-in page.

import { api } from './api.js';
import { h } from './dom.js';

// loginView calls onSignedIn({csrf_token, agent}) after a successful sign-in.
// notice, when given, says why the page shows (an expired session).
export function loginView(onSignedIn, notice = '') {
  const error = h('p.form-error', { role: 'alert', hidden: true });
  const login = h('input#login-name', { name: 'login', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input#login-password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const button = h('button.button.primary.wide', { type: 'submit' }, 'Sign in');
  const form = h('form.login-form', { 'aria-labelledby': 'login-title', novalidate: true },
    h('div.login-brand', {}, h('img', { src: '/static/icon.svg', alt: '', width: 40, height: 40 }), h('span', {}, 'Conversa')),
    h('h1#login-title', {}, 'Sign in to the console'),
    notice ? h('p.login-notice', { role: 'status' }, notice) : null,
    error,
    h('div.field', {}, h('label', { for: 'login-name' }, 'Login'), login),
    h('div.field', {}, h('label', { for: 'login-password' }, 'Password'), password),
    button);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!login.value.trim() || !password.value) {
      showError('Enter your login and password.');
      (login.value.trim() ? password : login).focus();
      return;
    }
    button.disabled = true;
    error.hidden = true;
    const n = form.querySelector('.login-notice');
    if (n) n.remove();
    try {
      const res = await api('POST', '/login', { login: login.value.trim(), password: password.value });
      onSignedIn(res);
    } catch (err) {
      if (err.code === 'bad_credentials') showError('Wrong login or password.');
      else if (err.code === 'rate_limited') showError(`Too many failed attempts. Try again in ${waitText(err.retryAfter)}.`);
      else showError(err.message);
      password.value = '';
      password.focus();
    } finally {
      button.disabled = false;
    }
  });

  function showError(text) {
    error.textContent = text;
    error.hidden = false;
  }

  const el = h('div.login-page', {}, form);
  return { el, title: 'Sign in', focus: login };
}

function waitText(seconds) {
  if (!seconds) return 'a few minutes';
  if (seconds < 90) return `${seconds} seconds`;
  return `${Math.ceil(seconds / 60)} minutes`;
}
