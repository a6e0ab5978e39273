// Integrations (admins): list, create, edit, disable, delete. An
// integration's page leads with what the operator must copy into the
// provider's console: the webhook URL and its credentials.

import { del, get, post, put } from './api.js';
import { copyButton, fill, h } from './dom.js';
import { ask } from './dialog.js';
import { formatDateTime, plural } from './format.js';
import { fieldErrors, lines } from './forms.js';
import { deliveriesSection } from './logs.js';

// A channel's settings form is drawn from the form its plugin publishes
// (settings in GET /api/v1/channels). These are the forms of the built-in
// channels for a plugin that publishes none; any other channel gets a
// field for each setting its plugin names as required, secret or
// generated.
const CHANNEL_FIELDS = {
  zenvia: [
    { key: 'sender_id', label: 'Sender ID', required: true, hint: 'Identifies your Instagram account at Zenvia (the sender of the Instagram channel in Zenvia’s console).' },
    { key: 'api_token', label: 'API token', required: true, secret: true, hint: 'Zenvia API token: authenticates Conversa’s calls to Zenvia.' },
    { key: 'api_url', label: 'API URL', placeholder: 'https://api.zenvia.com', hint: 'Leave blank for Zenvia’s API.' },
    { key: 'webhook_username', label: 'Webhook username', hint: 'Leave blank to generate one. Zenvia sends it in the Username header.' },
    { key: 'webhook_token', label: 'Webhook token', secret: true, hint: 'Leave blank to generate one. Zenvia sends it in the AuthenticationToken header.' },
  ],
  meta: [
    { key: 'account_id', label: 'Instagram account ID', required: true, hint: 'The professional account id that Meta’s webhooks carry (entry.id).' },
    { key: 'login', label: 'Login type', type: 'select', options: [['instagram', 'Instagram Login (graph.instagram.com)'], ['facebook', 'Facebook Login (graph.facebook.com)']] },
    { key: 'access_token', label: 'Access token', required: true, secret: true, hint: 'Long-lived token with instagram_manage_messages (Instagram Login: instagram_business_manage_messages).' },
    { key: 'app_secret', label: 'App secret', required: true, secret: true, hint: 'Checks the X-Hub-Signature-256 of every webhook.' },
    { key: 'verify_token', label: 'Verify token', hint: 'Leave blank to generate one. Meta sends it when you save the callback URL.' },
    { key: 'graph_url', label: 'Graph API URL', placeholder: 'https://graph.instagram.com', hint: 'Leave blank for the default of the login type.' },
    { key: 'api_version', label: 'Graph API version', placeholder: 'v25.0' },
    { key: 'human_agent_tag', label: 'Let human agents answer up to 7 days after the user’s last message (HUMAN_AGENT tag; your app needs Meta’s Human Agent permission)', type: 'checkbox' },
  ],
};

const WEBHOOK_HELP = {
  zenvia: 'In Zenvia’s console, create two webhook subscriptions pointing at this URL, both with the two headers below (requests without them are refused): one with event type Message (version v2, channel Instagram, direction IN) for the messages, and one with event type Message status (MESSAGE_STATUS, channel Instagram) for the delivery and read reports of your replies.',
  meta: 'In your Meta app, under Instagram → Webhooks, set this callback URL and verify token and subscribe to messages, messaging_seen, message_reactions, messaging_postbacks and messaging_referral. Then subscribe the account itself: POST /me/subscribed_apps with those fields and the account’s token (graph.instagram.com; with Facebook Login, POST /<page id>/subscribed_apps with the Page token). Until then Meta delivers nothing.',
};

export function integrationsView(ctx) {
  const el = h('div.page');
  let gen = 0; // drops answers for a page that is no longer showing

  return {
    el,
    route(params) {
      gen++;
      if (!params.id) showList(ctx, el, gen, () => gen);
      else if (params.id === 'new') showEditor(ctx, el, null);
      else showDetail(ctx, el, decodeURIComponent(params.id), gen, () => gen);
    },
  };
}

async function showList(ctx, el, my, current) {
  fill(el, h('div.page-head', {}, h('h1', {}, 'Integrations'),
    h('a.button.primary', { href: '/integrations/new', 'data-nav': true }, 'New integration')),
  h('p.loading', {}, 'Loading…'));
  let integrations;
  try {
    ({ integrations } = await get('/integrations'));
  } catch (err) {
    if (my === current()) fill(el.lastChild, err.message);
    return;
  }
  if (my !== current()) return;
  const body = integrations.length
    ? h('div.table-wrap.card', {}, h('table.table', {},
      h('thead', {}, h('tr', {}, ['Integration', 'Channel', 'Assistant', 'Squad', 'Status', 'Defined in'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, integrations.map((i) => h('tr', { dataset: { integration: i.id } },
        h('td', {}, h('a', { href: `/integrations/${encodeURIComponent(i.id)}`, 'data-nav': true }, h('strong.truncate', {}, i.name)),
          i.playground ? h('span.badge.badge-playground', { title: 'Built in for the playground: it talks to a built-in fake, never to Instagram' }, 'Playground') : null,
          h('code.muted.small.block', {}, i.id)),
        h('td', {}, i.channel),
        h('td', {}, i.assistant || h('span.muted', {}, 'none')),
        h('td', {}, i.squad),
        h('td', {}, statusPills(i)),
        h('td', {}, i.playground ? 'built in' : i.source === 'config' ? 'configuration file' : 'console'))))))
    : h('div.card.empty-state', {}, h('p', {}, 'No integrations yet. An integration connects one Instagram account, through Zenvia or Meta, to an assistant and a squad.'),
      h('a.button.primary', { href: '/integrations/new', 'data-nav': true }, 'Create the first one'));
  el.replaceChild(body, el.lastChild);
}

function statusPills(i) {
  return [
    h(`span.pill.pill-${i.enabled ? 'ok' : 'muted'}`, {}, i.enabled ? 'Enabled' : 'Disabled'),
    i.needs_reauthorization ? h('span.pill.pill-bad', { title: i.needs_reauthorization }, 'Needs re-authorization') : null,
    i.enabled && i.available === false ? h('span.pill.pill-bad', { title: i.unavailable_reason || '' }, 'Unavailable') : null,
  ];
}

async function showDetail(ctx, el, id, my, current) {
  fill(el, h('p.loading', {}, 'Loading…'));
  let integ;
  try {
    integ = await get(`/integrations/${encodeURIComponent(id)}`);
  } catch (err) {
    if (my !== current()) return;
    fill(el, h('div.page-head', {}, backLink()), h('p.form-error', { role: 'alert' }, err.status === 404 ? 'No such integration.' : err.message));
    return;
  }
  if (my !== current()) return;
  renderDetail(ctx, el, integ);
}

function backLink() {
  return h('a.button.small', { href: '/integrations', 'data-nav': true }, '← Integrations');
}

function renderDetail(ctx, el, i) {
  const fromConfig = i.source === 'config' || i.playground;
  const banners = [];
  if (i.needs_reauthorization) {
    banners.push(h('div.banner.banner-bad', { role: 'alert' }, h('strong', {}, 'Needs re-authorization. '),
      `The provider refused the credentials: ${i.needs_reauthorization}. Until you enter a new token${fromConfig ? ' in the configuration file' : ' below'}, replies fail and are marked Not delivered. A new token does not resend them: agents press Retry on each one that still matters (admins can, from the conversation's transcript).`));
  }
  if (i.enabled && i.available === false) {
    banners.push(h('div.banner.banner-bad', { role: 'alert' }, h('strong', {}, 'Unavailable. '),
      `${i.unavailable_reason || 'Its channel plugin cannot run.'} The webhook answers 503 meanwhile, so the provider retries, and replies wait; nothing is lost. This clears once the plugin runs with settings it accepts.`));
  }
  if (!i.enabled) banners.push(h('div.banner.banner-muted', {}, h('strong', {}, 'Disabled. '), 'The webhook answers 404 and nothing is sent.'));
  if (i.playground) {
    banners.push(h('div.banner', {}, h('strong', {}, 'Playground. '), 'Built in for the test phone: it talks to a built-in fake of the provider, never to Instagram, and cannot be edited. ',
      h('a', { href: '/playground', 'data-nav': true }, 'Open the playground'), '. [server] playground = false removes it.'));
  } else if (fromConfig) banners.push(h('div.banner', {}, 'Defined in the configuration file: change it there and restart. Shown read-only.'));

  const toggle = h(`button.button${i.enabled ? '' : '.primary'}`, { type: 'button', onclick: () => setEnabled(ctx, el, i, !i.enabled) }, i.enabled ? 'Disable' : 'Enable');
  const remove = h('button.button.danger', { type: 'button', onclick: () => removeIntegration(ctx, i) }, 'Delete');
  fill(el,
    h('div.page-head', {}, backLink(), h('h1.truncate', {}, i.name), h('span.head-pills', {}, statusPills(i)),
      fromConfig ? null : h('span.head-actions', {}, toggle, remove)),
    banners,
    webhookCard(i),
    summaryCard(i),
    deliveriesSection(i.id, new URLSearchParams(location.search).get('message') || ''),
    h('section.card', { 'aria-labelledby': 'edit-title' }, h('h2#edit-title', {}, fromConfig ? 'Settings' : 'Edit'),
      editorForm(ctx, i, (saved) => {
        ctx.toast('Saved.');
        renderDetail(ctx, el, saved);
      })));
}

function webhookCard(i) {
  const w = i.webhook || {};
  const rows = [copyRow('Webhook URL', w.url, 'webhook-url')];
  for (const [name, value] of Object.entries(w.headers || {}).sort(([a], [b]) => (a === 'Username' ? -1 : b === 'Username' ? 1 : a.localeCompare(b)))) {
    rows.push(copyRow(`${name} header`, value, `webhook-header-${name}`));
  }
  if (w.verify_token) rows.push(copyRow('Verify token', w.verify_token, 'webhook-verify-token'));
  // Other plain fields a channel declares (its webhook_fields), such as a
  // signing secret the sender keys its signatures with.
  for (const [name, value] of Object.entries(w).sort(([a], [b]) => a.localeCompare(b))) {
    if (name === 'url' || name === 'headers' || name === 'verify_token' || typeof value !== 'string') continue;
    const label = name.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
    rows.push(copyRow(label, value, `webhook-field-${name}`));
  }
  return h('section.card.webhook', { 'aria-labelledby': 'webhook-title' },
    h('h2#webhook-title', {}, 'Webhook'),
    h('p', {}, WEBHOOK_HELP[i.channel] || 'Point the provider’s webhook at this URL.'),
    h('dl.copy-list', {}, rows));
}

function copyRow(label, value, id) {
  return h('div.copy-row', { dataset: { copy: id } },
    h('dt', { id: id + '-label' }, label),
    h('dd', {}, h('code.copy-value', { id, 'aria-labelledby': id + '-label' }, value || '—'),
      value ? copyButton(`Copy ${label}`, () => value) : null));
}

function summaryCard(i) {
  const inactivity = i.inactivity_minutes ? `After ${plural(i.inactivity_minutes, 'minute', 'minutes')} without a message from the user, the conversation ends; the user’s next message starts a new one, with a fresh assistant session.` : 'Off: conversations never end on their own.';
  return h('section.card', { 'aria-labelledby': 'service-title' },
    h('h2#service-title', {}, 'Service'),
    h('dl.facts', {},
      fact('Channel', i.channel),
      fact('Assistant', i.assistant || 'None: every conversation goes straight to the squad'),
      fact('Squad', i.squad),
      fact('Inactivity', inactivity, 'summary-inactivity'),
      fact('Homologation users', i.homologation_users.length
        ? h('ul.inline-list', {}, i.homologation_users.map((u) => h('li', {}, '@' + u)))
        : 'None: everyone is served by the assistant.', 'summary-homologation'),
      fact('Unsupported-media messages', i.unsupported_media_messages.length
        ? h('ul.plain-list', {}, i.unsupported_media_messages.map((m) => h('li', {}, m)))
        : 'None: unsupported content gets no answer.', 'summary-unsupported'),
      fact('Created', formatDateTime(i.created_at)),
      fact('Updated', formatDateTime(i.updated_at))));
}

function fact(label, value, id) {
  return h('div', { id }, h('dt', {}, label), h('dd', {}, value));
}

async function setEnabled(ctx, el, i, enabled) {
  if (!enabled) {
    const ok = await ask({
      title: `Disable ${i.name}?`,
      body: h('p', {}, 'Its webhook will answer 404 and nothing will be sent until you enable it again. Conversations and settings are kept.'),
      confirm: 'Disable', danger: true,
    });
    if (!ok) return;
  }
  try {
    const saved = await put(`/integrations/${encodeURIComponent(i.id)}`, { ...inputOf(i), enabled });
    ctx.toast(enabled ? `${i.name} is enabled.` : `${i.name} is disabled.`);
    renderDetail(ctx, el, saved);
  } catch (err) {
    ctx.toast(err.message, 'error');
  }
}

async function removeIntegration(ctx, i) {
  const ok = await ask({
    title: `Delete ${i.name}?`,
    body: h('p', {}, 'The integration and its settings are removed and its webhook stops answering. Past conversations stay searchable.'),
    confirm: 'Delete', danger: true,
  });
  if (!ok) return;
  try {
    await del(`/integrations/${encodeURIComponent(i.id)}`);
    ctx.toast(`${i.name} deleted.`);
    ctx.navigate('/integrations');
  } catch (err) {
    ctx.toast(err.message, 'error');
  }
}

// inputOf is what PUT takes back from what GET gave: secrets stay masked,
// which keeps them.
function inputOf(i) {
  return {
    id: i.id, name: i.name, channel: i.channel, assistant: i.assistant, squad: i.squad,
    inactivity_minutes: i.inactivity_minutes, unsupported_media_messages: i.unsupported_media_messages,
    homologation_users: i.homologation_users, settings: i.settings, enabled: i.enabled,
  };
}

function showEditor(ctx, el) {
  fill(el,
    h('div.page-head', {}, backLink(), h('h1', {}, 'New integration')),
    h('section.card', {}, editorForm(ctx, null, (saved) => {
      ctx.toast(`${saved.name} created. Copy its webhook details into ${saved.channel === 'meta' ? 'your Meta app' : 'the provider’s console'}.`);
      ctx.navigate(`/integrations/${encodeURIComponent(saved.id)}`);
    })));
}

// editorForm creates (i null) or edits an integration; onSaved gets the
// API's answer.
function editorForm(ctx, i, onSaved) {
  const creating = !i;
  const readOnly = !!i && (i.source === 'config' || !!i.playground);
  // A new integration starts with the server's defaults, the
  // unsupported-media reply included (config.DefaultUnsupportedMediaMessage):
  // a photo gets an answer unless the operator empties the field.
  const v = i || {
    id: '', name: '', channel: 'zenvia', assistant: '', squad: 'geral', inactivity_minutes: 60,
    unsupported_media_messages: ['Sorry, I can only read text, audio and video here.'], homologation_users: [], settings: {}, enabled: true,
  };
  const errors = fieldErrors();
  const f = {
    id: h('input#int-id', { name: 'id', value: v.id, readOnly: !creating, required: true, autocapitalize: 'none', spellcheck: 'false', pattern: '[a-z0-9_-]{1,63}' }),
    name: h('input#int-name', { name: 'name', value: v.name, required: true }),
    channel: h('select#int-channel', { name: 'channel', disabled: !creating },
      (creating ? Object.keys(CHANNEL_FIELDS) : [v.channel]).map((n) => h('option', { value: n, selected: n === v.channel }, n))),
    assistant: h('select#int-assistant', { name: 'assistant' }, h('option', { value: '' }, 'None: straight to the squad'),
      v.assistant ? h('option', { value: v.assistant, selected: true }, v.assistant) : null),
    squad: h('input#int-squad', { name: 'squad', value: v.squad, list: 'int-squads', autocapitalize: 'none' }),
    inactivity_minutes: h('input#int-inactivity_minutes', { name: 'inactivity_minutes', type: 'number', min: 0, max: 1440, step: 1, value: String(v.inactivity_minutes) }),
    unsupported_media_messages: h('textarea#int-unsupported_media_messages', { name: 'unsupported_media_messages', rows: 3 }, v.unsupported_media_messages.join('\n')),
    homologation_users: h('textarea#int-homologation_users', { name: 'homologation_users', rows: 2, placeholder: 'one username per line, without @' }, v.homologation_users.join('\n')),
    enabled: h('input#int-enabled', { name: 'enabled', type: 'checkbox', checked: v.enabled }),
  };
  const squadList = h('datalist#int-squads');
  const settingsBox = h('fieldset.settings', {}, h('legend', {}, 'Channel settings'));
  let channels = [];
  let settingInputs = {}; // key -> {def, input}
  let extra = null; // JSON textarea for settings no form knows

  // channelDef is the form for a channel and whether it is a whole form
  // (published or built in) rather than guessed from the setting names.
  function channelDef(name) {
    const ch = channels.find((c) => c.name === name);
    if (ch && ch.settings && ch.settings.length) return { defs: ch.settings.map((s) => schemaField(s, ch)), whole: true };
    if (CHANNEL_FIELDS[name]) return { defs: CHANNEL_FIELDS[name], whole: true };
    if (!ch) return { defs: [], whole: false };
    const keys = [...new Set([...ch.required_settings, ...ch.secret_settings, ...ch.generated_settings])];
    return {
      defs: keys.map((key) => ({
        key, label: key, required: ch.required_settings.includes(key), secret: ch.secret_settings.includes(key),
        hint: ch.generated_settings.includes(key) ? 'Leave blank to generate one.' : '',
      })),
      whole: false,
    };
  }

  let rendered = ''; // the channel whose form shows
  function renderSettings() {
    const channel = f.channel.value;
    const { defs, whole } = channelDef(channel);
    const current = i && i.channel === channel ? i.settings : {};
    // Drawn again for the same channel (its published form arrived): what
    // the operator typed meanwhile stays.
    const typed = rendered === channel ? typedSettings() : {};
    rendered = channel;
    settingInputs = {};
    const nodes = defs.map((d) => {
      const id = `int-set-${d.key}`;
      let input;
      if (d.type === 'select') {
        input = h('select', { id, name: d.key }, d.options.map(([val, label]) => h('option', { value: val, selected: (current[d.key] || d.options[0][0]) === val }, label)));
      } else if (d.type === 'checkbox') {
        input = h('input', { id, name: d.key, type: 'checkbox', checked: current[d.key] === true || current[d.key] === 'true' });
      } else {
        const masked = d.secret && typeof current[d.key] === 'string' && current[d.key] !== '';
        input = h('input', {
          id, name: d.key, value: masked ? '' : current[d.key] == null ? '' : String(current[d.key]),
          placeholder: masked ? `${current[d.key]} (unchanged)` : d.placeholder || '',
          autocomplete: d.secret ? 'new-password' : 'off', spellcheck: 'false', autocapitalize: 'none',
          type: d.secret ? 'password' : d.type === 'number' ? 'number' : d.type === 'url' ? 'url' : 'text',
        });
      }
      if (d.key in typed) {
        if (input.type === 'checkbox') input.checked = typed[d.key];
        else input.value = typed[d.key];
      }
      settingInputs[d.key] = { def: d, input };
      const hint = d.secret && current[d.key] ? 'Leave blank to keep the current value.' + (d.hint ? ' ' + d.hint : '') : d.hint;
      return errors.field(`settings.${d.key}`, d.label + (d.required ? '' : d.type === 'checkbox' ? '' : ' (optional)'), input, hint, [d.key]);
    });
    const known = new Set(defs.map((d) => d.key));
    const rest = Object.fromEntries(Object.entries(current).filter(([k]) => !known.has(k)));
    extra = null;
    if (!whole || Object.keys(rest).length) {
      extra = h('textarea#int-settings-extra', { rows: 3, spellcheck: 'false' }, Object.keys(rest).length ? JSON.stringify(rest, null, 2) : '');
      nodes.push(errors.field('settings', 'Other settings (JSON object)', extra, 'Handed to the channel plugin as they are.'));
    }
    fill(settingsBox, h('legend', {}, `${channel || 'Channel'} settings`), nodes);
    if (readOnly) {
      for (const { input } of Object.values(settingInputs)) input.disabled = true;
      if (extra) extra.disabled = true;
    }
  }

  // typedSettings is what the settings fields hold now.
  function typedSettings() {
    const out = {};
    for (const [key, { input }] of Object.entries(settingInputs)) out[key] = input.type === 'checkbox' ? input.checked : input.value;
    return out;
  }

  function collectSettings() {
    const channel = f.channel.value;
    const base = i && i.channel === channel ? { ...i.settings } : {};
    const problems = {};
    if (extra && extra.value.trim()) {
      try {
        const parsed = JSON.parse(extra.value);
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error();
        Object.assign(base, parsed);
      } catch {
        problems.settings = 'must be a JSON object, like {"key": "value"}';
      }
    }
    for (const [key, { def, input }] of Object.entries(settingInputs)) {
      if (def.type === 'checkbox') {
        base[key] = input.checked;
        continue;
      }
      const value = input.value.trim();
      // A number field sends a number; what is not one goes as typed, for
      // the channel to name.
      if (value && def.type === 'number' && Number.isFinite(Number(value))) base[key] = Number(value);
      else if (value) base[key] = value;
      else if (!(def.secret && base[key])) delete base[key]; // a blank secret keeps the stored one
      if (def.required && !base[key]) problems[`settings.${key}`] = 'is required';
    }
    return { settings: base, problems };
  }

  const submit = h('button.button.primary', { type: 'submit' }, creating ? 'Create integration' : 'Save changes');
  const form = h('form.form-grid.integration-form', { novalidate: true, 'aria-label': creating ? 'New integration' : 'Edit integration' },
    errors.top,
    h('div.form-row', {},
      errors.field('name', 'Name', f.name, 'Shown to operators; you can change it later.'),
      errors.field('id', 'ID', f.id, creating ? 'Lowercase letters, digits, - or _. Part of the webhook URL; it cannot change.' : 'Part of the webhook URL; it cannot change.')),
    h('div.form-row', {},
      errors.field('channel', 'Channel', f.channel, creating ? 'Zenvia (API v2) or Meta’s Instagram API.' : 'The channel cannot change.'),
      errors.field('assistant', 'Assistant', f.assistant, 'Answers first; hands over to the squad when the user asks for a person.')),
    h('div.form-row', {},
      errors.field('squad', 'Squad', f.squad, 'The team that receives conversations handed to humans (default geral).'),
      errors.field('inactivity_minutes', 'Inactivity (minutes)', f.inactivity_minutes, '0 turns it off; otherwise 10 to 1440. After that long without a message from the user the conversation ends (the next message starts a new one).')),
    squadList,
    errors.field('unsupported_media_messages', 'Unsupported-media messages', f.unsupported_media_messages, 'One message per line, sent when a user sends content this integration does not support (a photo, a location). Empty: no answer.'),
    errors.field('homologation_users', 'Homologation users', f.homologation_users, 'Instagram usernames, one per line. While the list has names, only they are served by the assistant; everyone else is recorded and left alone.'),
    settingsBox,
    errors.field('enabled', 'Enabled', f.enabled, 'A disabled integration’s webhook answers 404.'),
    readOnly ? null : h('div.form-actions', {}, submit));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (readOnly) return;
    errors.clear();
    const { settings, problems } = collectSettings();
    const body = {
      id: f.id.value.trim(),
      name: f.name.value.trim(),
      channel: f.channel.value,
      assistant: f.assistant.value,
      squad: f.squad.value.trim(),
      inactivity_minutes: f.inactivity_minutes.value.trim() === '' ? 0 : Number(f.inactivity_minutes.value),
      unsupported_media_messages: lines(f.unsupported_media_messages.value),
      homologation_users: lines(f.homologation_users.value).map((u) => u.replace(/^@/, '')),
      settings,
      enabled: f.enabled.checked,
    };
    if (!body.name) problems.name = 'is required';
    if (creating && !body.id) problems.id = 'is required';
    if (Object.keys(problems).length) {
      errors.show({ message: 'Check the highlighted settings.', fields: problems });
      return;
    }
    submit.disabled = true;
    try {
      const saved = creating ? await post('/integrations', body) : await put(`/integrations/${encodeURIComponent(i.id)}`, body);
      onSaved(saved);
    } catch (err) {
      errors.show(err);
    } finally {
      submit.disabled = false;
    }
  });

  f.channel.addEventListener('change', renderSettings);
  if (creating) {
    // Suggest an id from the name until the operator types one.
    let idTouched = false;
    f.id.addEventListener('input', () => { idTouched = true; });
    f.name.addEventListener('input', () => {
      if (!idTouched) f.id.value = slug(f.name.value);
    });
  }
  renderSettings();
  if (readOnly) {
    for (const input of Object.values(f)) input.disabled = true;
  }

  // Fill the choices once the server says what exists.
  Promise.allSettled([get('/channels'), get('/assistants'), get('/squads')]).then(([ch, as, sq]) => {
    if (ch.status === 'fulfilled') {
      channels = ch.value.channels;
      const chosen = f.channel.value;
      if (creating && channels.length) {
        fill(f.channel, channels.map((c) => h('option', { value: c.name, selected: c.name === chosen }, c.name + (c.available ? '' : ' (unavailable)'))));
      }
      // A form the plugin publishes replaces the built-in one (typing is
      // kept); a third-party channel's form needs what its plugin declared.
      const published = channels.some((c) => c.name === f.channel.value && c.settings && c.settings.length);
      if (f.channel.value !== chosen || !CHANNEL_FIELDS[f.channel.value] || published) renderSettings();
    }
    if (as.status === 'fulfilled') {
      for (const id of as.value.assistants) {
        if (id !== v.assistant) f.assistant.appendChild(h('option', { value: id, selected: creating && id === 'demo' }, id));
      }
    }
    if (sq.status === 'fulfilled') fill(squadList, sq.value.squads.map((s) => h('option', { value: s.name })));
  });

  if (creating) setTimeout(() => f.name.focus(), 0);
  return form;
}

// schemaField is a field of a channel's published form (SettingField) as
// the form draws it.
function schemaField(s, ch) {
  const generated = ch.generated_settings.includes(s.name);
  const d = {
    key: s.name, label: s.label || s.name, required: !!s.required, placeholder: s.placeholder || '',
    secret: s.type === 'secret' || ch.secret_settings.includes(s.name),
    hint: s.help || (generated ? 'Leave blank to generate one.' : ''), type: s.type,
  };
  if (s.type === 'bool') d.type = 'checkbox';
  if (s.type === 'select') {
    const choices = s.choices || [];
    if (choices.length) d.options = choices.map((c, n) => [c, (s.choice_labels || [])[n] || c]);
    else d.type = 'string'; // nothing to choose from: typed in
  }
  return d;
}

function slug(text) {
  return text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);
}
