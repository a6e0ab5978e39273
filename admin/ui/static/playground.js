// The playground: a test phone. The person at the keyboard chats as an
// Instagram user through the built-in integrations; each action is the
// provider's real webhook, so the demo assistant, routing and the agents'
// chats all run as in production. Replies are what the built-in fake of the
// provider's send API received, shown as that channel shows them: quick
// replies as buttons on Meta, numbered text on Zenvia.
//
// Admins reach it from the top bar; before the first agent exists, anyone
// on this machine may use it without signing in (playgroundAlone).

import { APIError, get, post, query } from './api.js';
import { $, fill, h, safeURL } from './dom.js';

const SAMPLES = [
  { name: 'Sneakers', path: '/static/playground/sneakers.svg' },
  { name: 'Cake', path: '/static/playground/cake.svg' },
  { name: 'Beach', path: '/static/playground/beach.svg' },
];
const EMOJIS = ['❤️', '😂', '😮', '😢', '👍', '🔥'];
const SUGGESTIONS = ['hi', 'menu', 'prices', 'photos', 'agent'];
const CHANNELS = { meta: 'Meta', zenvia: 'Zenvia' };
const USER_RE = /^[a-z0-9._]{1,30}$/;
const POLL_MS = 1000;
const SAVED = 'conversa.playground';

// showPlaygroundLink shows the top bar's link when the playground is on (an
// admin's console; it answers 404 when off).
export async function showPlaygroundLink() {
  try {
    await get('/playground');
    const a = $('#nav-playground');
    if (a) a.hidden = false;
  } catch {
    // Off: no link.
  }
}

// playgroundAlone shows the page to someone not signed in, which the
// server allows from this machine while no agent exists; otherwise it
// calls signIn.
export async function playgroundAlone(main, signIn) {
  try {
    await get('/playground');
  } catch {
    signIn();
    return;
  }
  const view = playgroundView({ alone: true });
  fill(main, view.el);
}

export function playgroundView(ctx) {
  loadStyles();
  const saved = readSaved();
  const state = {
    channel: saved.channel in CHANNELS ? saved.channel : 'meta',
    user: USER_RE.test(saved.user || '') ? saved.user : 'ana',
    messages: [],
    typing: false,
    sig: '',
    mode: '', // photo | story_mention | story_reply: the attachment panel
    picking: '', // the mid whose emoji row is open
    users: { meta: [], zenvia: [] },
    timer: 0,
    stopped: false,
    gen: 0, // drops answers for a user or channel no longer shown
  };

  const thread = h('ol.pg-thread#pg-thread', { 'aria-live': 'polite', 'aria-label': 'Messages' });
  const scroller = h('div.pg-scroll', {}, thread);
  const quick = h('div.pg-quick#pg-quick', { hidden: true });
  const error = h('p.pg-error#pg-error', { role: 'alert', hidden: true });
  const text = h('input#pg-text', { type: 'text', placeholder: 'Message…', autocomplete: 'off', maxlength: 1000, 'aria-label': 'Message' });
  const send = h('button.pg-send#pg-send', { type: 'submit' }, 'Send');
  const composer = h('form.pg-composer#pg-composer', {}, text, send);
  const panel = h('div.pg-panel#pg-panel', { hidden: true });
  const tools = h('div.pg-tools', { role: 'group', 'aria-label': 'Send something else' },
    toolButton('photo', 'Photo', 'Send a photo'),
    toolButton('story_mention', 'Story mention', 'Mention the business in your story'),
    toolButton('story_reply', 'Story reply', 'Reply to the business’s story'));
  const title = h('span.pg-via');
  const who = h('span.pg-as');
  const phone = h('section.pg-phone', { 'aria-label': 'Test phone' },
    h('header.pg-phone-head', {},
      h('span.pg-avatar', { 'aria-hidden': 'true' }, 'C'),
      h('div.pg-phone-who', {}, h('strong', {}, 'Your business'), title),
      who),
    scroller, quick, panel, tools, composer, error);

  const userInput = h('input#pg-user', { value: state.user, list: 'pg-users', autocapitalize: 'none', spellcheck: 'false', maxlength: 30, 'aria-describedby': 'pg-user-hint' });
  const userList = h('datalist#pg-users');
  const channelRadios = Object.entries(CHANNELS).map(([value, label]) => h('label.pg-seg', {},
    h('input', { type: 'radio', name: 'pg-channel', id: `pg-channel-${value}`, value, checked: value === state.channel,
      onchange: () => switchTo(value, state.user) }),
    h('span', {}, `Through ${label}`)));
  const setup = h('div.pg-setup', {},
    h('fieldset.pg-channel', {}, h('legend', {}, 'Channel'), h('div.pg-segs', {}, channelRadios)),
    h('div.field.pg-user', {}, h('label', { for: 'pg-user' }, 'Test user'), userInput, userList,
      h('p.hint#pg-user-hint', {}, 'Pick one or type a new name: each is a separate Instagram user.')));
  const help = h('aside.pg-help', {},
    h('div.pg-try', {}, h('p.hint', {}, 'Try saying:'),
      h('div.pg-chips', {}, SUGGESTIONS.map((s) => h('button.pg-chip', { type: 'button', onclick: () => sendText(s) }, s)))),
    h('p.hint', {}, 'Through Meta, quick replies are buttons; through Zenvia they arrive as numbered text, as each channel shows them. ',
      'Saying “agent” hands the chat to a person: it appears in the agents’ Chats, and their answer comes back to this phone.'),
    h('p.hint', {}, 'Hover a message to react to it (Meta) or unsend it. Nothing here reaches Instagram: the built-in integrations talk to a fake of the provider.'));

  const head = h('div.page-head', {}, h('h1', {}, 'Playground'),
    h('span.badge.badge-playground', {}, 'Test phone'));
  const intro = ctx.alone
    ? h('div.banner', {}, h('strong', {}, 'No one can sign in yet. '),
      'This page is open to this computer only, until the first admin is created (with the setup link Conversa printed when it started). Then sign in to answer the chats as an agent.')
    : null;
  const el = h('div.page.pg-page', {}, head, intro, h('div.pg-layout', {}, setup, phone, help));

  userInput.addEventListener('change', () => {
    const u = normalizeUser(userInput.value);
    if (!USER_RE.test(u)) {
      showError('A test user’s name is up to 30 letters, digits, “.” or “_”, like an Instagram username.');
      userInput.setAttribute('aria-invalid', 'true');
      return;
    }
    userInput.removeAttribute('aria-invalid');
    userInput.value = u;
    switchTo(state.channel, u);
  });
  composer.addEventListener('submit', (e) => {
    e.preventDefault();
    if (text.value.trim()) sendText(text.value);
  });
  text.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || e.shiftKey || e.isComposing) return;
    e.preventDefault();
    if (text.value.trim()) sendText(text.value);
  });
  thread.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-action]');
    if (!b) return;
    const mid = b.closest('[data-mid]').dataset.mid;
    if (b.dataset.action === 'react') {
      state.picking = state.picking === mid ? '' : mid;
      render(true);
    } else if (b.dataset.action === 'emoji') {
      state.picking = '';
      act({ kind: 'reaction', mid, emoji: b.dataset.emoji });
    } else if (b.dataset.action === 'unsend') {
      act({ kind: 'unsend', mid });
    }
  });

  function toolButton(mode, label, hint) {
    return h('button.pg-tool', { type: 'button', title: hint, dataset: { mode }, 'aria-pressed': 'false',
      onclick: () => openPanel(state.mode === mode ? '' : mode) }, label);
  }

  function openPanel(mode) {
    state.mode = mode;
    for (const b of tools.querySelectorAll('.pg-tool')) b.setAttribute('aria-pressed', String(b.dataset.mode === mode));
    if (!mode) {
      panel.hidden = true;
      fill(panel);
      return;
    }
    const url = h('input#pg-url', { type: 'url', placeholder: 'https://… (or pick one above)', 'aria-label': 'Image address' });
    const reply = mode === 'story_reply' ? h('input#pg-story-text', { type: 'text', placeholder: 'Your reply to the story', maxlength: 1000, 'aria-label': 'Reply to the story' }) : null;
    const heading = { photo: 'Send a photo', story_mention: 'Mention the business in your story', story_reply: 'Reply to the business’s story' }[mode];
    const submit = (u) => {
      const kind = mode === 'photo' ? 'image' : mode;
      if (!u) {
        url.focus();
        return showError('Pick a sample or enter the address of an image.');
      }
      if (reply && !reply.value.trim()) {
        reply.focus();
        return showError('Write the reply to the story first.');
      }
      act({ kind, url: u, text: reply ? reply.value : undefined }).then((ok) => ok && openPanel(''));
    };
    fill(panel,
      h('div.pg-panel-head', {}, h('strong', {}, heading),
        h('button.link-button', { type: 'button', onclick: () => openPanel('') }, 'Close')),
      reply,
      h('div.pg-samples', {}, SAMPLES.map((s) => h('button.pg-sample', { type: 'button', title: s.name, dataset: { sample: s.name },
        onclick: () => submit(location.origin + s.path) }, h('img', { src: s.path, alt: s.name, width: 64, height: 64 })))),
      h('form.pg-url-row', { onsubmit: (e) => { e.preventDefault(); submit(url.value.trim()); } }, url,
        h('button.button.small', { type: 'submit' }, 'Send')));
    panel.hidden = false;
    (reply || url).focus();
  }

  async function sendText(value, payload) {
    const ok = await act({ kind: 'text', text: value, payload });
    if (ok && !payload) text.value = '';
    text.focus();
  }

  // act posts one action of the test user; true when it went through.
  async function act(body) {
    hideError();
    const my = state.gen;
    send.disabled = true;
    try {
      await post('/playground/messages', { channel: state.channel, user: state.user, ...body });
      if (my === state.gen) poll();
      return true;
    } catch (err) {
      showError(errorText(err));
      return false;
    } finally {
      send.disabled = false;
    }
  }

  function switchTo(channel, user) {
    if (channel === state.channel && user === state.user && state.sig) return;
    state.channel = channel;
    state.user = user;
    state.messages = [];
    state.sig = '';
    state.picking = '';
    state.gen++;
    writeSaved(state);
    hideError();
    render(true);
    poll();
  }

  async function poll() {
    clearTimeout(state.timer);
    if (state.stopped) return;
    if (!el.isConnected && state.sig) {
      // The page was replaced without destroy (the sign-in page took over).
      state.stopped = true;
      return;
    }
    const my = state.gen;
    try {
      const data = await get('/playground/messages' + query({ channel: state.channel, user: state.user }));
      if (my === state.gen && !state.stopped) {
        const sig = JSON.stringify(data);
        if (sig !== state.sig) {
          state.sig = sig;
          state.messages = data.messages || [];
          state.typing = !!data.typing;
          render(false);
        }
      }
    } catch (err) {
      if (err instanceof APIError && (err.status === 401 || err.status === 403 || err.status === 404)) {
        state.stopped = true;
        showError(err.status === 404 ? 'The playground is off.' : 'Sign in as an admin to use the playground.');
        return;
      }
      // A blip: the next round tries again.
    }
    if (!state.stopped) state.timer = setTimeout(poll, POLL_MS);
  }

  async function loadUsers() {
    try {
      const info = await get('/playground');
      state.users = info.users || state.users;
    } catch {
      return;
    }
    const names = new Set([...(state.users.meta || []), ...(state.users.zenvia || []), state.user]);
    fill(userList, [...names].map((u) => h('option', { value: u })));
  }

  function render(keepScroll) {
    title.textContent = `Instagram · through ${CHANNELS[state.channel]}`;
    who.textContent = '@' + state.user;
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    const items = state.messages.map((m) => messageItem(m, state));
    if (state.typing) items.push(h('li.pg-msg.pg-out.pg-typing', { 'aria-label': 'Typing' }, h('span.pg-bubble', {}, h('span.pg-dots', {}, '•••'))));
    if (!items.length) {
      items.push(h('li.pg-empty', {}, `Say something as @${state.user}: the demo assistant answers. Try “hi”.`));
    }
    fill(thread, items);
    renderQuickReplies();
    if (!keepScroll || atBottom) scroller.scrollTop = scroller.scrollHeight;
  }

  // Instagram shows a message's quick replies while it is the last one.
  function renderQuickReplies() {
    const last = state.messages[state.messages.length - 1];
    const qr = last && last.direction === 'out' ? (last.contents || []).find((c) => c.type === 'quick_replies') : null;
    if (!qr || !(qr.options || []).length) {
      quick.hidden = true;
      fill(quick);
      return;
    }
    fill(quick, qr.options.map((o) => h('button.pg-qr', { type: 'button', dataset: { payload: o.payload || o.title },
      onclick: () => sendText(o.title, o.payload || o.title) }, o.title)));
    quick.hidden = false;
  }

  function showError(msg) {
    error.textContent = msg;
    error.hidden = false;
  }

  function hideError() {
    error.hidden = true;
  }

  render(true);
  loadUsers();
  poll();

  return {
    el,
    destroy() {
      state.stopped = true;
      clearTimeout(state.timer);
    },
  };
}

function messageItem(m, state) {
  const mine = m.direction === 'in';
  const li = h(`li.pg-msg.${mine ? 'pg-in' : 'pg-out'}`, { dataset: { mid: m.mid, direction: m.direction }, title: new Date(m.at).toLocaleString() });
  if (m.deleted) {
    li.classList.add('pg-deleted');
    li.append(h('span.pg-bubble.pg-unsent', {}, mine ? 'You unsent a message' : 'Unsent message'));
    return li;
  }
  for (const c of m.contents || []) li.append(contentNode(c));
  if ((m.reactions || []).length) {
    li.append(h('span.pg-reactions', { 'aria-label': 'Reactions' }, m.reactions.map((r) => h('span', { title: r.by === 'user' ? 'You' : 'The business' }, r.emoji))));
  }
  // Zenvia delivers no reactions from Instagram.
  const actions = h('span.pg-actions', {},
    state.channel === 'meta' ? h('button.pg-act', { type: 'button', dataset: { action: 'react' }, 'aria-label': 'React', 'aria-expanded': String(state.picking === m.mid) }, '☺') : null,
    mine ? h('button.pg-act', { type: 'button', dataset: { action: 'unsend' }, 'aria-label': 'Unsend' }, 'Unsend') : null);
  li.append(actions);
  if (state.picking === m.mid) {
    li.append(h('span.pg-emojis', { role: 'group', 'aria-label': 'Pick a reaction' },
      EMOJIS.map((e) => h('button.pg-emoji', { type: 'button', dataset: { action: 'emoji', emoji: e }, 'aria-label': `React ${e}` }, e))));
  }
  return li;
}

function contentNode(c) {
  switch (c.type) {
    case 'text':
    case 'quick_replies':
    case 'select':
    case 'option_list':
      return h('span.pg-bubble.pg-text', {}, c.text || '');
    case 'image':
      return media(c.url, 'Photo');
    case 'story_mention':
      return h('span.pg-story', {}, h('span.pg-story-label', {}, 'Mentioned in a story'), media(c.url, 'Story'));
    case 'story_reply':
      return h('span.pg-story', {}, h('span.pg-story-label', {}, 'Replied to a story'), media(c.url, 'Story'),
        h('span.pg-bubble.pg-text', {}, c.text || ''));
    case 'audio':
    case 'video':
    case 'file': {
      const href = safeURL(c.url);
      return h('span.pg-bubble.pg-file', {}, href
        ? h('a', { href, target: '_blank', rel: 'noopener noreferrer' }, c.name || `${c.type[0].toUpperCase()}${c.type.slice(1)}`)
        : c.type);
    }
    default:
      return h('span.pg-bubble.pg-text.muted', {}, c.text || `(${c.type})`);
  }
}

function media(url, alt) {
  const src = safeURL(url);
  return src ? h('img.pg-media', { src, alt, loading: 'lazy' }) : h('span.pg-bubble.muted', {}, alt);
}

function errorText(err) {
  if (err instanceof APIError && err.status === 400) return err.message.replace(/^[a-z_]+: /, '');
  return err.message;
}

function normalizeUser(v) {
  return String(v || '').trim().replace(/^@/, '').toLowerCase();
}

function readSaved() {
  try {
    return JSON.parse(localStorage.getItem(SAVED) || '{}') || {};
  } catch {
    return {};
  }
}

function writeSaved(state) {
  try {
    localStorage.setItem(SAVED, JSON.stringify({ channel: state.channel, user: state.user }));
  } catch {
    // Private mode: the choice is not remembered.
  }
}

// The page's styles load with it, so the console's stylesheet stays as is.
function loadStyles() {
  if (document.querySelector('link[data-playground]')) return;
  document.head.append(h('link', { rel: 'stylesheet', href: '/static/playground.css', dataset: { playground: '' } }));
}
