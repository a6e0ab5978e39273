// The first-run page (CONTRACT §9): while no agent exists, the console
// shows this instead of the sign-in page. The setup URL printed when
// Conversa started carries the token; the first admin is created with it
// and signed in at once.

import { api, get } from './api.js';
import { h } from './dom.js';
import { fieldErrors } from './forms.js';

// setupNeeded reports whether no agent exists yet (anyone may ask).
export async function setupNeeded() {
  try {
    const res = await get('/setup');
    return !!(res && res.needed);
  } catch {
    return false;
  }
}

// suggestLogin turns a name into a login the server accepts: "Ana Lima" →
// "ana.lima".
function suggestLogin(name) {
  return name.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
    .replace(/[^a-z0-9]+/g, '.').replace(/^[._-]+|[._-]+$/g, '').slice(0, 63);
}

// setupView calls onSignedIn({token, csrf_token, agent}) once the admin is
// created; onDone() when someone else finished the setup meanwhile (the
// sign-in page is next).
export function setupView(onSignedIn, onDone) {
  const fromURL = new URLSearchParams(location.search).get('token') || '';
  const errors = fieldErrors();
  const name = h('input#setup-name', { name: 'name', autocomplete: 'name', required: true });
  const login = h('input#setup-login', { name: 'login', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input#setup-password', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: 8 });
  const repeat = h('input#setup-repeat', { name: 'repeat', type: 'password', autocomplete: 'new-password', required: true });
  const token = h('input#setup-token', { name: 'token', value: fromURL, autocomplete: 'off', spellcheck: 'false', required: true });
  const button = h('button.button.primary.wide', { type: 'submit' }, 'Create admin and sign in');

  // The login follows the name until the person edits it.
  let loginEdited = false;
  login.addEventListener('input', () => { loginEdited = login.value !== ''; });
  name.addEventListener('input', () => { if (!loginEdited) login.value = suggestLogin(name.value); });

  const tokenField = errors.field('token', 'Setup token', token,
    'The part after token= in the setup address printed in the terminal where Conversa started.');
  tokenField.hidden = !!fromURL;

  const form = h('form.login-form.setup-form', { 'aria-labelledby': 'setup-title', novalidate: true },
    h('div.login-brand', {}, h('img', { src: '/static/icon.svg', alt: '', width: 40, height: 40 }), h('span', {}, 'Conversa')),
    h('h1#setup-title', {}, 'Welcome! Create the first admin'),
    h('p.hint', {}, 'This account manages Conversa: integrations, agents and the playground. You can add more people later, in Agents.'),
    errors.top,
    tokenField,
    errors.field('name', 'Your name', name),
    errors.field('login', 'Login', login, 'Lowercase letters, digits, ".", "_" or "-". You sign in with it.'),
    errors.field('password', 'Password', password, 'At least 8 characters.'),
    errors.field('repeat', 'Repeat the password', repeat),
    button);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    errors.clear();
    const problems = {};
    if (!token.value.trim()) problems.token = 'Paste the setup token.';
    if (!name.value.trim()) problems.name = 'Enter your name.';
    if (!login.value.trim()) problems.login = 'Choose a login.';
    if ([...password.value].length < 8) problems.password = 'Use at least 8 characters.';
    else if (repeat.value !== password.value) problems.repeat = 'The two passwords differ.';
    if (Object.keys(problems).length) {
      if (problems.token) tokenField.hidden = false;
      errors.show({ fields: problems, message: '' });
      return;
    }
    button.disabled = true;
    try {
      const res = await api('POST', '/setup', {
        token: token.value.trim(), login: login.value.trim(), name: name.value.trim(), password: password.value,
      });
      onSignedIn(res);
    } catch (err) {
      if (err.code === 'setup_done') {
        onDone('Someone has already created the first admin. Sign in instead.');
        return;
      }
      if (err.code === 'bad_setup_token') {
        tokenField.hidden = false;
        errors.show({ fields: { token: 'This setup token is not valid. Copy the setup address from the terminal where Conversa started (each start prints a new one).' } });
      } else {
        errors.show(err);
      }
    } finally {
      button.disabled = false;
    }
  });

  const el = h('div.login-page.setup-page', {}, form);
  return { el, title: 'Set up Conversa', focus: fromURL ? name : token };
}
