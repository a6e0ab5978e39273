// The console's entry point: the session, the top bar (navigation, status
// switch, sign-out), the router and the live event stream.

import { APIError, get, post, put, setCSRF, whenUnauthorized } from './api.js';
import { $, $$, fill, h } from './dom.js';
import { Inbox } from './inbox.js';
import { Live } from './live.js';
import { loginView } from './login.js';
import { askPermission, notificationsSupported, permission, setBadge } from './notify.js';
import { ask } from './dialog.js';
import { chatsView } from './chats.js';
import { queuesView } from './queues.js';
import { conversationsView } from './conversations.js';
import { integrationsView } from './integrations.js';
import { agentsView } from './agents.js';
import { systemView } from './system.js';
import { cannedView } from './canned.js';
import { reportsView } from './reports.js';
import { auditView } from './logs.js';
import { setupNeeded, setupView } from './setup.js';
import { playgroundAlone, playgroundView, showPlaygroundLink } from './playground.js';

const VIEWS = {
  chats: { create: chatsView },
  queues: { create: queuesView, admin: true },
  conversations: { create: conversationsView, admin: true },
  integrations: { create: integrationsView, admin: true },
  agents: { create: agentsView, admin: true },
  system: { create: systemView, admin: true },
  canned: { create: cannedView, admin: true },
  reports: { create: reportsView, admin: true },
  audit: { create: auditView, admin: true },
  playground: { create: playgroundView, admin: true },
};

const ROUTES = [
  [/^\/(?:chats\/?)?$/, 'chats'],
  [/^\/chats\/(?<id>\d+)$/, 'chats'],
  [/^\/queues$/, 'queues'],
  [/^\/conversations$/, 'conversations'],
  [/^\/conversations\/(?<id>\d+)$/, 'conversations'],
  [/^\/integrations$/, 'integrations'],
  [/^\/integrations\/(?<id>[^/]+)$/, 'integrations'],
  [/^\/agents$/, 'agents'],
  [/^\/system$/, 'system'],
  [/^\/canned$/, 'canned'],
  [/^\/reports$/, 'reports'],
  [/^\/audit$/, 'audit'],
  [/^\/playground$/, 'playground'],
];

const session = {
  me: null,
  inbox: null,
  live: null,
  view: null, // {name, view}
  agentNames: new Map(),
};

const main = $('#main');

// --- session ------------------------------------------------------------

async function start() {
  whenUnauthorized(() => showLogin(session.me ? 'Your session has ended. Sign in again.' : ''));
  wireTopbar();
  try {
    const me = await get('/me');
    signedIn(me, me.csrf_token);
  } catch (err) {
    if (err instanceof APIError && err.status === 401 && location.pathname === '/playground') playgroundAlone(main, showLogin);
    else if (err instanceof APIError && err.status === 401) (await setupNeeded()) ? showSetup() : showLogin();
    else fill(main, h('div.page', {}, h('h1', {}, 'Conversa is not reachable'), h('p', {}, err.message),
      h('button.button', { type: 'button', onclick: () => location.reload() }, 'Try again')));
  }
}

function signedIn(me, csrf) {
  setCSRF(csrf);
  session.me = me;
  session.agentNames.set(me.id, me.name || me.login);
  $('#topbar').hidden = false;
  $('#me-name').textContent = me.name || me.login;
  $('#me-name').title = `${me.login} · ${me.role}`;
  $('#logout-button').title = `Signed in as ${me.name || me.login} (${me.login})`;
  for (const a of $$('[data-admin]')) a.hidden = me.role !== 'admin';
  document.body.classList.toggle('role-agent', me.role !== 'admin');
  showStatus(me.status);
  updateNotifyButton();

  session.inbox = new Inbox(me, navigate);
  session.inbox.addEventListener('me', () => showStatus(session.me.status));
  session.live = new Live(checkSession);
  session.live.addEventListener('event', (e) => onEvent(e.detail));
  session.live.addEventListener('state', (e) => connectionState(e.detail.connected));
  session.live.start();
  session.inbox.load().catch((err) => toast(err.message, 'error'));
  if (me.role === 'admin') loadAgentNames();
  if (me.role === 'admin') showPlaygroundLink();
  route();
}

function showLogin(notice = '') {
  // Several requests may find the session gone at once: one sign-in page.
  if (!session.me && $('.login-page')) return;
  if (session.live) session.live.stop();
  if (session.inbox) session.inbox.dispose();
  destroyView();
  session.me = session.inbox = session.live = null;
  setCSRF('');
  setBadge(0);
  $('#topbar').hidden = true;
  $('#connection').hidden = true;
  const view = loginView((res) => {
    signedIn({ ...res.agent }, res.csrf_token);
  }, notice);
  fill(main, view.el);
  view.focus.focus();
}

// showSetup is the first run: no agent exists yet. The new admin lands on
// the playground (the chats when it is off).
function showSetup() {
  const view = setupView((res) => {
    history.replaceState({}, '', '/playground');
    signedIn({ ...res.agent }, res.csrf_token);
  }, (notice) => {
    history.replaceState({}, '', '/');
    showLogin(notice);
  });
  fill(main, view.el);
  view.focus.focus();
}

async function checkSession() {
  try {
    await get('/me');
    return true;
  } catch (err) {
    return !(err instanceof APIError && err.status === 401);
  }
}

async function loadAgentNames() {
  try {
    const { agents } = await get('/agents');
    for (const a of agents) session.agentNames.set(a.id, a.name || a.login);
  } catch {
    // Names are a nicety: logins show instead.
  }
}

function agentName(login) {
  return session.agentNames.get(login) || login || 'an agent';
}

function onEvent(ev) {
  if (!session.inbox) return;
  session.inbox.handle(ev);
  if (ev.type === 'agent' && ev.data && ev.data.id) session.agentNames.set(ev.data.id, ev.data.name || ev.data.login);
  if (ev.type === 'reset' && session.view && session.view.view.reset) session.view.view.reset();
  if (session.view && session.view.view.event) session.view.view.event(ev);
}

// The banner shows only when the stream stays down: a reconnect that
// succeeds at once should not flash it.
let connectionTimer = 0;
function connectionState(connected) {
  clearTimeout(connectionTimer);
  if (connected) {
    $('#connection').hidden = true;
    return;
  }
  connectionTimer = setTimeout(() => {
    if (session.live && !session.live.connected) $('#connection').hidden = false;
  }, 2500);
}

// --- top bar ------------------------------------------------------------

function wireTopbar() {
  for (const input of $$('#status-switch input')) {
    input.addEventListener('change', () => changeStatus(input.value));
  }
  $('#notify-button').addEventListener('click', async () => {
    await askPermission();
    updateNotifyButton();
  });
  $('#logout-button').addEventListener('click', logout);
  document.addEventListener('click', (e) => {
    const a = e.target.closest('a[data-nav]');
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(a.getAttribute('href'));
  });
  window.addEventListener('popstate', () => session.me && route());
  // A page kept in the back/forward cache would hold its event stream
  // open, and browsers allow only six connections per server: close it on
  // the way out, reopen it on the way back.
  window.addEventListener('pagehide', () => {
    if (session.live) session.live.stop();
  });
  window.addEventListener('pageshow', (e) => {
    if (e.persisted && session.live) {
      session.live.start();
      session.inbox.load().catch(() => {});
      if (session.view && session.view.view.reset) session.view.view.reset();
    }
  });
}

function showStatus(status) {
  for (const input of $$('#status-switch input')) input.checked = input.value === status;
  $('#status-switch').dataset.status = status;
}

async function changeStatus(status) {
  // Asking during the click is the only moment browsers allow it.
  if (status === 'available') askPermission().then(updateNotifyButton);
  const before = session.me.status;
  if (status === 'offline' && !(await handBackConfirmed('Go offline?', 'Go offline'))) {
    showStatus(before);
    return;
  }
  try {
    const agent = await put('/me/status', { status });
    // The switch itself shows the new status; no toast needed.
    session.inbox.handle({ type: 'agent', agent: agent.id, data: agent });
  } catch (err) {
    showStatus(before);
    toast(err.message, 'error');
  }
}

function updateNotifyButton() {
  const b = $('#notify-button');
  b.hidden = !notificationsSupported() || permission() !== 'default';
}

// handBackConfirmed asks before an action that returns the agent's open
// chats to the queue (nothing to ask when there are none).
async function handBackConfirmed(title, confirm) {
  const n = session.inbox ? session.inbox.chats.size : 0;
  if (!n) return true;
  return ask({
    title,
    body: h('p', {}, `Your ${n === 1 ? 'open chat goes' : n + ' open chats go'} back to the queue for another agent.`),
    confirm,
  });
}

async function logout() {
  if (!(await handBackConfirmed('Sign out?', 'Sign out'))) return;
  try {
    // Going offline first hands open chats back to the queue at once
    // instead of after the console has been closed for a while.
    if (session.me && session.me.status !== 'offline') await put('/me/status', { status: 'offline' });
  } catch {
    // Signing out matters more.
  }
  try {
    await post('/logout', {});
  } catch {
    // The session may already be gone.
  }
  history.replaceState({}, '', '/');
  showLogin();
}

// --- routing ------------------------------------------------------------

export function navigate(path, replace = false) {
  if (path !== location.pathname + location.search) {
    if (replace) history.replaceState({}, '', path);
    else history.pushState({}, '', path);
  }
  route();
}

function route() {
  if (!session.me) return;
  let name = '';
  let params = {};
  for (const [re, view] of ROUTES) {
    const m = location.pathname.match(re);
    if (m) {
      name = view;
      params = { ...(m.groups || {}) };
      break;
    }
  }
  if (!name || (VIEWS[name].admin && session.me.role !== 'admin')) {
    navigate('/chats', true);
    return;
  }
  for (const a of $$('#mainnav a')) {
    if (a.dataset.section === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!session.view || session.view.name !== name) {
    destroyView();
    const view = VIEWS[name].create(context());
    session.view = { name, view };
    fill(main, view.el);
    main.focus({ preventScroll: true });
  }
  if (session.view.view.route) session.view.view.route(params);
}

function destroyView() {
  if (session.view && session.view.view.destroy) session.view.view.destroy();
  session.view = null;
}

function context() {
  return { me: session.me, inbox: session.inbox, navigate, toast, agentName };
}

// --- toasts -------------------------------------------------------------

export function toast(text, kind = 'info') {
  const t = h(`div.toast.toast-${kind}`, { role: kind === 'error' ? 'alert' : 'status' }, text,
    h('button.toast-close', { type: 'button', 'aria-label': 'Dismiss' }, '×'));
  t.querySelector('button').addEventListener('click', () => t.remove());
  $('#toasts').appendChild(t);
  setTimeout(() => t.remove(), kind === 'error' ? 9000 : 5000);
}

start();
