#!/usr/bin/env node
// conversa-plugin-webhook: a generic webhook channel for Conversa, in Node.js.
//
// Any system (a web chat, a kiosk, another platform) POSTs a signed JSON
// message to Conversa's /webhooks/{integration}; Conversa's replies go out as
// JSON POSTs to the integration's callback_url. README.md describes the wire
// format both ways, the settings, and how to install and trust the plugin.
//
// The plugin speaks hashicorp/go-plugin's gRPC protocol as a non-Go plugin:
// it serves the services of plugins/proto/conversa.proto (Info and Channel),
// the gRPC health service, and go-plugin's GRPCController and GRPCStdio,
// then prints the handshake line on standard output. Everything it logs goes
// to standard error as hclog JSON lines, which Conversa re-emits in its own
// log.
//
// All of the plugin's own code is this one file, on purpose: `conversa
// plugins trust` pins the SHA-256 of the executable the host runs, which is
// this script (installed as a symlink), so the pin covers all of it.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');

const NAME = 'webhook';
const VERSION = '1.0.0';

// go-plugin's handshake, as Conversa's plugins/sdk declares it.
const COOKIE_KEY = 'CONVERSA_PLUGIN';
const COOKIE_VALUE = '5b0c9f4e-conversa-plugin';
const CORE_PROTOCOL = 1; // go-plugin's own protocol
const APP_PROTOCOL = 1; // Conversa's plugin protocol (sdk.ProtocolVersion)

// Setting names (an integration's [integrations.settings]).
const S_SECRET = 'secret';
const S_CALLBACK_URL = 'callback_url';
const S_CALLBACK_TOKEN = 'callback_token';
const S_TIMEOUT = 'timeout_seconds';

const SIGNATURE_HEADER = 'X-Webhook-Signature';
const SIGNATURE_PREFIX = 'sha256=';

const DEFAULT_TIMEOUT_S = 15;
const MAX_TIMEOUT_S = 60;
const MIN_SECRET = 16;
const MAX_BATCH = 100;
const MAX_ID = 256;
// What is read of a receiver's answer: an id, or an error a few KB long.
const MAX_RESPONSE_BYTES = 1 << 20;
// What the delivery log keeps of each body (sdk.MaxExchangeBody).
const MAX_EXCHANGE_BODY = 16 << 10;
// One gRPC message either way (sdk.MaxMessageBytes): a webhook body near
// the server's body limit must not be refused by the plugin.
const MAX_MESSAGE_BYTES = 32 << 20;
const REDACTED = '[redacted]';

const MEDIA_TYPES = ['image', 'audio', 'video', 'file'];
const STATUSES = ['sent', 'delivered', 'read', 'failed'];

// ---------------------------------------------------------------------------
// Logging: hclog's JSON format, which go-plugin parses on the host side
// (@level, @message, @timestamp with six fractional digits; every other key
// is a field of the line).

const LEVELS = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };
const logLevel = LEVELS.info;

function timestamp(d = new Date()) {
  // 2006-01-02T15:04:05.000000Z07:00, in UTC.
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function log(level, message, fields = {}) {
  if (LEVELS[level] < logLevel) return;
  const line = { '@level': level, '@message': String(message), '@timestamp': timestamp() };
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined && !k.startsWith('@')) line[k] = v instanceof Error ? v.message : v;
  }
  process.stderr.write(JSON.stringify(line) + '\n');
}

// Standard output carries the handshake and nothing else: whatever a
// dependency prints with console.* goes to the log instead.
for (const [fn, level] of [['log', 'info'], ['info', 'info'], ['debug', 'debug'], ['warn', 'warn'], ['error', 'error']]) {
  console[fn] = (...args) => log(level, args.map((a) => (typeof a === 'string' ? a : safeInspect(a))).join(' '));
}

function safeInspect(v) {
  try {
    return require('node:util').inspect(v, { depth: 3, breakLength: Infinity });
  } catch {
    return String(v);
  }
}

// ---------------------------------------------------------------------------
// Settings

// parseSettings reads an integration's settings_json: a JSON object, or null
// when it is not one.
function parseSettings(raw) {
  if (!raw || raw.length === 0) return {};
  try {
    const v = JSON.parse(Buffer.from(raw).toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

// str reads a text setting leniently: a number or boolean written without
// quotes counts as its text; anything else (an object) as absent.
function str(settings, key) {
  const v = settings ? settings[key] : undefined;
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '';
}

// problemsOf checks the form of the settings that are given (a missing
// required setting is the host's to report: it knows which are kept or
// generated). Each problem names its setting; Send refuses to call the
// receiver while any remains.
function problemsOf(settings) {
  if (settings === null) return [{ field: '', message: 'The settings are not a JSON object.' }];
  const problems = [];
  const bad = (field, message) => problems.push({ field, message });
  const notText = (k) => settings[k] !== undefined && settings[k] !== null && typeof settings[k] === 'object';
  for (const k of [S_SECRET, S_CALLBACK_URL, S_CALLBACK_TOKEN]) {
    if (notText(k)) bad(k, `${k} must be text, not a list or table.`);
  }
  const url = str(settings, S_CALLBACK_URL);
  if (url !== '' && !notText(S_CALLBACK_URL)) {
    const why = urlProblem(url);
    if (why) bad(S_CALLBACK_URL, why);
  }
  const token = str(settings, S_CALLBACK_TOKEN);
  if (token !== '' && !notText(S_CALLBACK_TOKEN)) {
    if (/[\s\x00-\x1f\x7f]/.test(token)) {
      bad(S_CALLBACK_TOKEN, 'The callback token has spaces or control characters, which cannot travel in an Authorization header.');
    } else if (token.length > 4096) {
      bad(S_CALLBACK_TOKEN, 'The callback token is longer than 4096 characters.');
    }
  }
  const secret = str(settings, S_SECRET);
  if (secret !== '' && !notText(S_SECRET) && secret.length < MIN_SECRET) {
    bad(S_SECRET, `The signing secret has ${secret.length} characters; use at least ${MIN_SECRET}, or leave it blank to have one generated.`);
  }
  const t = settings[S_TIMEOUT];
  if (t !== undefined && t !== null && String(t).trim() !== '') {
    const n = Number(typeof t === 'string' ? t.trim() : t);
    if (typeof t === 'object' || typeof t === 'boolean' || !Number.isFinite(n) || n < 1 || n > MAX_TIMEOUT_S) {
      bad(S_TIMEOUT, `The reply timeout must be a number of seconds from 1 to ${MAX_TIMEOUT_S}.`);
    }
  }
  return problems;
}

function urlProblem(s) {
  let u;
  try {
    u = new URL(s);
  } catch {
    // Not repeated: a URL may carry a credential in its query.
    return 'The callback URL is not an absolute URL (like https://chat.example.com/replies).';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `The callback URL must be http or https, not ${u.protocol.replace(/:$/, '')}.`;
  if (!u.hostname) return 'The callback URL has no host.';
  if (u.username || u.password) return 'The callback URL carries credentials; put the token in callback_token instead.';
  return '';
}

function timeoutOf(settings) {
  const n = Number(str(settings, S_TIMEOUT));
  return str(settings, S_TIMEOUT) !== '' && Number.isFinite(n) && n >= 1 && n <= MAX_TIMEOUT_S ? n : DEFAULT_TIMEOUT_S;
}

// ---------------------------------------------------------------------------
// Describe

function channelInfo() {
  return {
    name: NAME,
    version: VERSION,
    inbound_types: ['text', ...MEDIA_TYPES],
    // Select and option lists are not listed: the host turns them into text
    // (text_conversion.lua) before Send.
    outbound_types: ['text', ...MEDIA_TYPES, 'quick_replies'],
    max_quick_replies: 10,
    max_quick_reply_title: 100,
    secret_settings: [S_SECRET, S_CALLBACK_TOKEN],
    generated_settings: [S_SECRET],
    // The signing secret is shown to the operator as a plain field, not as
    // a header: the X-Webhook-Signature header carries an HMAC of each body
    // computed with it, never the secret itself.
    webhook_headers: {},
    webhook_fields: { [S_SECRET]: S_SECRET },
    account_setting: '',
    required_settings: [S_CALLBACK_URL, S_CALLBACK_TOKEN],
    echoes_sends: false,
    url_settings: [S_CALLBACK_URL],
    settings: [
      {
        name: S_CALLBACK_URL, label: 'Callback URL', type: 'url', required: true,
        help: 'Where Conversa POSTs each reply as JSON; your endpoint answers 2xx with {"id": "<your message id>"}.',
        placeholder: 'https://chat.example.com/conversa/replies',
      },
      {
        name: S_CALLBACK_TOKEN, label: 'Callback token', type: 'secret', required: true,
        help: 'Sent with every reply as Authorization: Bearer <token>; your endpoint refuses replies without it.',
      },
      {
        name: S_SECRET, label: 'Signing secret', type: 'secret', required: false,
        help: 'Leave blank to generate one. Your system signs each webhook body with it: X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the body>.',
      },
      {
        name: S_TIMEOUT, label: 'Reply timeout (seconds)', type: 'number', required: false,
        help: `How long a reply POST may take before it counts as failed (1 to ${MAX_TIMEOUT_S}; default ${DEFAULT_TIMEOUT_S}).`,
        placeholder: String(DEFAULT_TIMEOUT_S),
      },
    ],
  };
}

// ---------------------------------------------------------------------------
// HandleWebhook: the inbound wire format (README.md, "Receiving").

function header(headers, name) {
  const lower = name.toLowerCase();
  for (const h of headers || []) {
    if (String(h.name).toLowerCase() === lower) return String(h.value);
  }
  return '';
}

// verify checks the body's signature against the integration's secret, in
// constant time.
function verify(secret, headers, body) {
  const got = header(headers, SIGNATURE_HEADER).trim();
  if (!got) return `no ${SIGNATURE_HEADER} header`;
  if (!got.toLowerCase().startsWith(SIGNATURE_PREFIX)) return `${SIGNATURE_HEADER} is not ${SIGNATURE_PREFIX}<hex>`;
  const hex = got.slice(SIGNATURE_PREFIX.length);
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return `${SIGNATURE_HEADER} is not ${SIGNATURE_PREFIX}<64 hex digits>`;
  const want = crypto.createHmac('sha256', secret).update(body).digest();
  if (!crypto.timingSafeEqual(want, Buffer.from(hex, 'hex'))) return 'signature mismatch';
  return '';
}

class Malformed extends Error {}

function handleWebhook(req) {
  const integration = (req.integrations || [])[0];
  if (!integration) return { authenticated: false, error: 'no integration' };
  const settings = parseSettings(integration.settings_json);
  const secret = str(settings, S_SECRET);
  if (!secret) return { authenticated: false, error: 'the integration has no signing secret' };
  const body = Buffer.from(req.body || []);
  const why = verify(secret, req.headers, body);
  // The sender learns that the signature did not do, not why (the log has
  // the reason).
  if (why) return { authenticated: false, error: why, ...jsonBody({ error: `missing or invalid ${SIGNATURE_HEADER}` }) };
  if (req.method && req.method.toUpperCase() !== 'POST') {
    return { authenticated: true, malformed: true, error: `method ${req.method}`, ...jsonBody({ error: 'webhooks are POSTed' }) };
  }
  let events;
  try {
    events = parseBody(body);
  } catch (err) {
    if (err instanceof Malformed || err instanceof RangeError) {
      // The sender gets the plugin's own words; a parser's detail goes to
      // the log only.
      const reason = err instanceof Malformed ? err.message : 'the body nests too deeply';
      const detail = err.detail ? `${reason}: ${err.detail}` : reason;
      return { authenticated: true, malformed: true, error: detail.slice(0, 300), ...jsonBody({ error: reason.slice(0, 300) }) };
    }
    throw err;
  }
  return {
    authenticated: true,
    status: 200,
    content_type: 'application/json',
    body: Buffer.from(JSON.stringify({ received: events.length })),
    events,
  };
}

function jsonBody(v) {
  return { content_type: 'application/json', body: Buffer.from(JSON.stringify(v)) };
}

function parseBody(body) {
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new Malformed('the body is not UTF-8');
  }
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    if (err instanceof RangeError) throw err;
    const m = new Malformed('the body is not JSON');
    m.detail = err.message;
    throw m;
  }
  // One event, or a JSON array of them (all or nothing).
  const single = !Array.isArray(doc);
  const list = single ? [doc] : doc;
  if (list.length === 0) throw new Malformed('an empty array: no event');
  if (list.length > MAX_BATCH) throw new Malformed(`${list.length} events in one request; send at most ${MAX_BATCH}`);
  return list.map((item, i) => {
    const where = single ? '' : `[${i}] `;
    if (!item || typeof item !== 'object' || Array.isArray(item)) throw new Malformed(`${where}an event is a JSON object`);
    // The event as it came, for the record; a lone event is the body itself.
    const raw = single ? body : Buffer.from(JSON.stringify(item));
    try {
      return parseEvent(item, raw);
    } catch (err) {
      if (err instanceof Malformed) throw new Malformed(where + err.message);
      throw err;
    }
  });
}

// idOf reads an identifier: a non-empty string or an integer.
function idOf(v, what, required = true) {
  if (typeof v === 'number' && Number.isSafeInteger(v)) v = String(v);
  if (v === undefined || v === null || v === '') {
    if (required) throw new Malformed(`${what} is missing`);
    return '';
  }
  if (typeof v !== 'string') throw new Malformed(`${what} must be a string`);
  if (v.length > MAX_ID) throw new Malformed(`${what} is longer than ${MAX_ID} characters`);
  return v;
}

function optText(v, what) {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new Malformed(`${what} must be a string`);
  return v;
}

// timeOf reads a timestamp: milliseconds since the Unix epoch, or an RFC
// 3339 string; 0 (absent) lets the host use the time it received the event.
function timeOf(v) {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.round(v);
  if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v)) {
    const t = Date.parse(v);
    if (Number.isFinite(t)) return t;
  }
  throw new Malformed('timestamp must be milliseconds since 1970 or an RFC 3339 time');
}

function parseEvent(e, raw) {
  const type = e.type === undefined ? 'message' : e.type;
  if (type === 'message') return parseMessage(e, raw);
  if (type === 'status') return parseStatus(e, raw);
  // A type this version does not know (typing, a read receipt): accepted
  // and recorded, never acted on, so a sender adding one breaks nothing.
  const key = crypto.createHash('sha256').update(raw).digest('hex');
  return {
    kind: 'ignored',
    dedupe_key: 'ignored:' + key,
    note: `event type ${JSON.stringify(String(type)).slice(0, 80)} is not handled by the webhook channel`,
    raw,
  };
}

function parseMessage(e, raw) {
  const id = idOf(e.id, 'id');
  const from = e.from;
  if (!from || typeof from !== 'object' || Array.isArray(from)) throw new Malformed('from is missing (an object with the sender\'s id)');
  const contents = [];
  const text = optText(e.text, 'text');
  const payload = optText(e.payload, 'payload');
  if (text !== '' || payload !== '') contents.push({ type: 'text', text, payload });
  if (e.attachments !== undefined && e.attachments !== null) {
    if (!Array.isArray(e.attachments)) throw new Malformed('attachments must be an array');
    e.attachments.forEach((a, i) => contents.push(attachment(a, `attachments[${i}]`)));
  }
  if (contents.length === 0) throw new Malformed('the message has no text and no attachments');
  return {
    kind: 'message',
    dedupe_key: 'message:' + id,
    contact_id: idOf(from.id, 'from.id'),
    contact_name: optText(from.name, 'from.name'),
    contact_username: optText(from.username, 'from.username'),
    contact_avatar_url: optText(from.avatar_url, 'from.avatar_url'),
    message_id: id,
    timestamp_ms: timeOf(e.timestamp),
    reply_to: idOf(e.reply_to, 'reply_to', false),
    contents,
    raw,
  };
}

function attachment(a, what) {
  if (!a || typeof a !== 'object' || Array.isArray(a)) throw new Malformed(`${what} must be an object`);
  const type = optText(a.type, `${what}.type`);
  const url = optText(a.url, `${what}.url`);
  if (!/^https?:\/\//i.test(url)) throw new Malformed(`${what}.url must be an http(s) URL`);
  const c = {
    type: MEDIA_TYPES.includes(type) ? type : 'unsupported',
    url,
    mime_type: optText(a.mime_type, `${what}.mime_type`),
    name: optText(a.name, `${what}.name`),
    caption: optText(a.caption, `${what}.caption`),
    raw: Buffer.from(JSON.stringify(a)),
  };
  if (c.type === 'unsupported') c.original_type = type || '(none)';
  return c;
}

function parseStatus(e, raw) {
  const messageId = idOf(e.message_id, 'message_id');
  const status = optText(e.status, 'status');
  if (!STATUSES.includes(status)) throw new Malformed(`status must be one of ${STATUSES.join(', ')}`);
  const err = e.error && typeof e.error === 'object' ? e.error : {};
  const to = e.to && typeof e.to === 'object' ? e.to : {};
  return {
    kind: 'status',
    dedupe_key: `status:${messageId}:${status}`,
    contact_id: idOf(to.id, 'to.id', false),
    message_id: messageId,
    status,
    timestamp_ms: timeOf(e.timestamp),
    error_code: optText(err.code === undefined ? undefined : String(err.code), 'error.code'),
    error_message: optText(err.message, 'error.message'),
    raw,
  };
}

// ---------------------------------------------------------------------------
// Send: the outbound wire format (README.md, "Replies").

function sendError(code, message, flags = {}) {
  return {
    code,
    message,
    retryable: !!flags.retryable,
    retry_after_ms: flags.retry_after_ms || 0,
    reauthorize: !!flags.reauthorize,
    unknown_outcome: !!flags.unknown_outcome,
    refused: !!flags.refused,
  };
}

const refused = (code, message) => ({ message_ids: [], exchanges: [], error: sendError(code, message, { refused: true }) });

// prepare runs every check Send makes before calling the receiver and
// builds the request; it answers { refusal } when the send cannot go out.
function prepare(req) {
  const integration = req.integration || {};
  const settings = parseSettings(integration.settings_json);
  // A short signing secret is the webhooks' problem (ValidateSettings
  // reports it); replies still go out.
  const problems = problemsOf(settings).filter((p) => p.field !== S_SECRET);
  const missing = [S_CALLBACK_URL, S_CALLBACK_TOKEN].filter((k) => str(settings, k) === '');
  if (problems.length > 0 || missing.length > 0) {
    const what = [...missing.map((k) => `${k} is missing`), ...problems.map((p) => p.message)];
    return { refusal: refused('settings', 'The integration\'s settings cannot be used: ' + what.join(' ')) };
  }
  const contact = req.contact || {};
  if (!contact.id) return { refusal: refused('no_contact', 'The contact has no id to send to.') };
  let contents;
  try {
    contents = outContents(req.contents || []);
  } catch (err) {
    if (err instanceof Malformed) return { refusal: refused('unsupported_content', err.message) };
    throw err;
  }
  if (contents.length === 0) return { refusal: refused('empty_message', 'Nothing to send: every content is empty.') };
  const now = Number(req.now_ms) || Date.now();
  const message = {
    id: req.idempotency_key || '',
    integration: integration.id || '',
    to: { id: contact.id, username: contact.username || undefined, name: contact.name || undefined },
    author: req.author_kind || 'assistant',
    reply_to: req.reply_to || undefined,
    contents,
    timestamp: now,
  };
  return { settings, message };
}

function outContents(list) {
  const out = [];
  list.forEach((c, i) => {
    const type = c.type || 'text';
    if (type === 'text') {
      if ((c.text || '').trim() !== '') out.push({ type: 'text', text: c.text });
    } else if (MEDIA_TYPES.includes(type)) {
      if (!(c.url || '').trim()) throw new Malformed(`contents[${i}]: ${type} without a url`);
      out.push(strip({ type, url: c.url, mime_type: c.mime_type, name: c.name, caption: c.caption }));
    } else if (type === 'quick_replies') {
      if (!(c.text || '').trim()) throw new Malformed(`contents[${i}]: quick replies need a text`);
      const options = (c.options || []).map((o) => ({ title: o.title || '', payload: o.payload || o.title || '' }));
      out.push({ type: 'quick_replies', text: c.text, options });
    } else if ((c.text || '').trim() !== '') {
      // The host converts other components to text before Send; should one
      // slip through, its text still reaches the user.
      out.push({ type: 'text', text: c.text });
    } else {
      throw new Malformed(`contents[${i}]: type ${JSON.stringify(type)} cannot be sent and has no text`);
    }
  });
  return out;
}

function strip(o) {
  for (const k of Object.keys(o)) if (o[k] === undefined || o[k] === '') delete o[k];
  return o;
}

// remaining is how long a call may still take: until shortly before its
// gRPC deadline, so the answer (an error saying what happened) reaches the
// host before the deadline does.
function remaining(call) {
  const d = call.getDeadline();
  const at = d instanceof Date ? d.getTime() : Number(d);
  if (!Number.isFinite(at)) return Infinity;
  const left = at - Date.now();
  return left - Math.min(250, Math.max(0, left) / 10);
}

async function send(req, call) {
  const p = prepare(req);
  if (p.refusal) return p.refusal;
  const { settings, message } = p;
  const url = str(settings, S_CALLBACK_URL);
  const token = str(settings, S_CALLBACK_TOKEN);
  const secret = str(settings, S_SECRET);
  const body = Buffer.from(JSON.stringify(message));
  const headers = {
    'Content-Type': 'application/json',
    Accept: 'application/json',
    Authorization: 'Bearer ' + token,
    'User-Agent': `conversa-plugin-${NAME}/${VERSION}`,
  };
  if (message.id) headers['Idempotency-Key'] = message.id;
  if (secret) headers[SIGNATURE_HEADER] = SIGNATURE_PREFIX + crypto.createHmac('sha256', secret).update(body).digest('hex');

  const budget = Math.min(timeoutOf(settings) * 1000, remaining(call));
  const redactor = new Redactor([token, secret]);
  const exchange = {
    method: 'POST', url: redactor.url(url), request_headers: redactor.headers(headers),
    ...redactor.body(body, 'request'), status: 0, response_headers: [], response_body: Buffer.alloc(0),
    latency_ms: 0, error: '', response_truncated: false,
  };
  const started = Date.now();
  const controller = new AbortController();
  const onCancel = () => controller.abort(new Error('the host cancelled the call'));
  call.on('cancelled', onCancel);
  const timer = setTimeout(() => controller.abort(new TimeoutError(budget)), Math.max(0, budget));
  let result;
  try {
    if (budget <= 0) throw new TimeoutError(0);
    const resp = await post(url, headers, body, controller.signal);
    exchange.status = resp.status;
    exchange.response_headers = redactor.headers(resp.headers);
    Object.assign(exchange, redactor.body(resp.body, 'response'));
    exchange.response_truncated = exchange.response_truncated || resp.truncated;
    result = answer(resp, message.id);
  } catch (err) {
    exchange.error = redactor.text(errText(err));
    result = { message_ids: [], error: transportError(err) };
  } finally {
    clearTimeout(timer);
    call.removeListener('cancelled', onCancel);
  }
  exchange.latency_ms = Date.now() - started;
  result.exchanges = [exchange];
  const host = safeHost(url);
  if (result.error) {
    log('warn', 'reply not delivered', { receiver: host, status: exchange.status, code: result.error.code, retryable: result.error.retryable });
  } else {
    log('debug', 'reply delivered', { receiver: host, status: exchange.status, latency_ms: exchange.latency_ms });
  }
  return result;
}

class TimeoutError extends Error {
  constructor(ms) {
    super(`no answer within ${(Math.max(0, ms) / 1000).toFixed(1)} s`);
    this.name = 'TimeoutError';
  }
}

// post makes one HTTP call and reads at most MAX_RESPONSE_BYTES of the
// answer. Redirects are not followed: they would replay the token to
// another address. err.sent tells whether the whole request went out.
function post(url, headers, body, signal) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    let sent = false;
    const req = mod.request(u, { method: 'POST', headers: { ...headers, 'Content-Length': body.length }, signal });
    const fail = (err) => {
      const e = signal.aborted && signal.reason instanceof Error ? signal.reason : err;
      e.sent = sent;
      reject(e);
    };
    req.on('error', fail);
    req.on('finish', () => { sent = true; });
    req.on('response', (res) => {
      const chunks = [];
      let size = 0;
      let truncated = false;
      res.on('data', (chunk) => {
        if (truncated) return;
        if (size + chunk.length > MAX_RESPONSE_BYTES) {
          chunks.push(chunk.subarray(0, MAX_RESPONSE_BYTES - size));
          size = MAX_RESPONSE_BYTES;
          truncated = true;
          res.destroy();
          finish();
          return;
        }
        chunks.push(chunk);
        size += chunk.length;
      });
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        const hs = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) hs.push([res.rawHeaders[i], res.rawHeaders[i + 1]]);
        resolve({ status: res.statusCode, headers: hs, body: Buffer.concat(chunks), truncated });
      };
      res.on('end', finish);
      res.on('error', (err) => { if (!done) { done = true; fail(err); } });
      res.on('aborted', () => { if (!done) { done = true; fail(new Error('the answer was cut off')); } });
    });
    req.end(body);
  });
}

function errText(err) {
  const code = err && err.code && !String(err.message).includes(err.code) ? ` (${err.code})` : '';
  return String((err && err.message) || err) + code;
}

// Connection failures where the request never left: the receiver cannot
// have the message.
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

function transportError(err) {
  const unknown = !!err.sent && !NOT_CONNECTED.has(err.code);
  if (err instanceof TimeoutError) {
    // Once the whole request went out, the receiver may have acted on it.
    return sendError('timeout', `The receiver did not answer: ${err.message}.`, { retryable: true, unknown_outcome: !!err.sent });
  }
  return sendError('network', `The receiver could not be reached: ${errText(err)}.`, { retryable: true, unknown_outcome: unknown });
}

// answer maps the receiver's HTTP answer.
function answer(resp, fallbackID) {
  const s = resp.status;
  if (s >= 200 && s < 300) {
    const id = idFromBody(resp.body) || fallbackID;
    if (!id) {
      return { message_ids: [], error: sendError('no_message_id', `The receiver answered ${s} without an id.`, { retryable: true, unknown_outcome: true }) };
    }
    return { message_ids: [id] };
  }
  const detail = errorDetail(resp.body);
  const msg = `The receiver answered ${s}${detail ? ': ' + detail : ''}.`;
  const retryAfter = retryAfterMs(resp.headers);
  if (s === 401 || s === 403) return { message_ids: [], error: sendError(`http_${s}`, msg + ' Check callback_token.', { reauthorize: true }) };
  if (s === 429) return { message_ids: [], error: sendError('rate_limited', msg, { retryable: true, retry_after_ms: retryAfter }) };
  if (s === 408) return { message_ids: [], error: sendError('http_408', msg, { retryable: true, retry_after_ms: retryAfter }) };
  if (s >= 500) return { message_ids: [], error: sendError(`http_${s}`, msg, { retryable: true, unknown_outcome: true, retry_after_ms: retryAfter }) };
  if (s >= 300 && s < 400) {
    const loc = resp.headers.find(([k]) => k.toLowerCase() === 'location');
    return { message_ids: [], error: sendError(`http_${s}`, `The receiver redirected to ${JSON.stringify(loc ? loc[1] : '')}: check callback_url (redirects are not followed).`) };
  }
  return { message_ids: [], error: sendError(`http_${s}`, msg) };
}

function idFromBody(body) {
  try {
    const v = JSON.parse(body.toString('utf8'));
    let id = v && typeof v === 'object' ? v.id : undefined;
    if (typeof id === 'number' && Number.isSafeInteger(id)) id = String(id);
    return typeof id === 'string' && id !== '' && id.length <= MAX_ID ? id : '';
  } catch {
    return '';
  }
}

// errorDetail is the receiver's reason, from {"error": "..."} or {"error":
// {"message": "..."}} or {"message": "..."}, else the start of the body.
function errorDetail(body) {
  let text = '';
  try {
    const v = JSON.parse(body.toString('utf8'));
    const e = v && (v.error || v.message);
    text = typeof e === 'string' ? e : e && typeof e.message === 'string' ? e.message : '';
  } catch {
    /* not JSON */
  }
  if (!text) text = body.toString('utf8');
  text = text.replace(/\s+/g, ' ').trim();
  return text.length > 200 ? text.slice(0, 200) + '...' : text;
}

function retryAfterMs(headers) {
  const h = headers.find(([k]) => k.toLowerCase() === 'retry-after');
  if (!h) return 0;
  const v = String(h[1]).trim();
  const day = 24 * 3600 * 1000;
  if (/^\d+$/.test(v)) return Math.min(Number(v) * 1000, day);
  const t = Date.parse(v);
  return Number.isFinite(t) && t > Date.now() ? Math.min(t - Date.now(), day) : 0;
}

function safeHost(url) {
  try {
    return new URL(url).host;
  } catch {
    return '';
  }
}

// Redactor hides credentials in what the delivery log keeps: the
// Authorization and signature headers, credential-like query parameters,
// and the integration's secrets wherever they appear.
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-webhook-signature', 'x-api-key', 'x-api-token']);
const SECRET_PARAMS = new Set(['access_token', 'token', 'api_key', 'apikey', 'key', 'secret', 'client_secret', 'password', 'signature', 'sig']);

class Redactor {
  constructor(secrets) {
    this.secrets = [];
    for (const s of secrets) {
      if (s && s.length >= 6) {
        this.secrets.push(s);
        const q = encodeURIComponent(s);
        if (q !== s) this.secrets.push(q);
      }
    }
    this.secrets.sort((a, b) => b.length - a.length);
  }

  text(s) {
    let out = String(s);
    for (const secret of this.secrets) out = out.split(secret).join(REDACTED);
    return out;
  }

  url(s) {
    try {
      const u = new URL(s);
      for (const k of [...u.searchParams.keys()]) {
        if (SECRET_PARAMS.has(k.toLowerCase())) u.searchParams.set(k, REDACTED);
      }
      return this.text(u.toString());
    } catch {
      return this.text(s);
    }
  }

  // headers takes an object or [name, value] pairs.
  headers(hs) {
    const pairs = Array.isArray(hs) ? hs : Object.entries(hs);
    return pairs.map(([name, value]) => {
      let v = String(value);
      if (SECRET_HEADERS.has(name.toLowerCase())) {
        const scheme = v.match(/^(Bearer|Basic|Token)\s/i);
        v = scheme ? `${scheme[1]} ${REDACTED}` : REDACTED;
      }
      return { name, value: this.text(v) };
    });
  }

  body(buf, which) {
    const text = this.text(buf.toString('utf8'));
    let out = Buffer.from(text);
    const truncated = out.length > MAX_EXCHANGE_BODY;
    if (truncated) out = out.subarray(0, MAX_EXCHANGE_BODY);
    return { [`${which}_body`]: out, [`${which}_truncated`]: truncated };
  }
}

// ---------------------------------------------------------------------------
// ValidateSettings, Profile

function validateSettings(req) {
  const integration = req.integration || {};
  return { problems: problemsOf(parseSettings(integration.settings_json)) };
}

function profile() {
  // The sender's name and username come with every message (from).
  return { username: '', name: '', avatar_url: '', error_code: 'unsupported', error_message: 'the webhook channel has no profile lookup: names arrive with each message', retryable: false };
}

// ---------------------------------------------------------------------------
// The self-signed certificate go-plugin's AutoMTLS asks for. Node's crypto
// makes the key and the signature but cannot write an X.509 certificate, so
// this writes the DER of the one certificate needed: what go-plugin's own
// plugins make (CN and DNS name localhost, which the host checks; server
// and client auth; a CA of itself), with a P-256 key.

function derLength(n) {
  if (n < 0x80) return Buffer.from([n]);
  const bytes = [];
  for (; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function der(tag, ...parts) {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

const seq = (...parts) => der(0x30, ...parts);

function oid(dotted) {
  const arcs = dotted.split('.').map(Number);
  const out = [40 * arcs[0] + arcs[1]];
  for (const arc of arcs.slice(2)) {
    const b = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) b.unshift(0x80 | (v & 0x7f));
    out.push(...b);
  }
  return der(0x06, Buffer.from(out));
}

function derInteger(bytes) {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  let b = bytes.subarray(i);
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return der(0x02, b);
}

function derTime(d) {
  const p = (n) => String(n).padStart(2, '0');
  const y = d.getUTCFullYear();
  const rest = p(d.getUTCMonth() + 1) + p(d.getUTCDate()) + p(d.getUTCHours()) + p(d.getUTCMinutes()) + p(d.getUTCSeconds()) + 'Z';
  // UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5).
  return y < 2050 ? der(0x17, Buffer.from(String(y).slice(2) + rest)) : der(0x18, Buffer.from(String(y) + rest));
}

function extension(id, critical, value) {
  return seq(oid(id), ...(critical ? [der(0x01, Buffer.from([0xff]))] : []), der(0x04, value));
}

function selfSignedCertificate() {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecdsaWithSHA256 = seq(oid('1.2.840.10045.4.3.2'));
  const name = seq(der(0x31, seq(oid('2.5.4.3'), der(0x0c, Buffer.from('localhost')))));
  const now = Date.now();
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([2]))), // v3
    derInteger(crypto.randomBytes(16)),
    ecdsaWithSHA256,
    name,
    seq(derTime(new Date(now - 30_000)), derTime(new Date(now + 10 * 365 * 24 * 3600_000))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    der(0xa3, seq(
      extension('2.5.29.19', true, seq(der(0x01, Buffer.from([0xff])))), // CA
      extension('2.5.29.15', true, der(0x03, Buffer.from([0x02, 0x84]))), // digitalSignature, keyCertSign
      extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'), oid('1.3.6.1.5.5.7.3.2'))), // server, client auth
      extension('2.5.29.17', false, seq(der(0x82, Buffer.from('localhost')))), // DNS:localhost
    )),
  );
  const signature = crypto.sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' });
  const certDER = seq(tbs, ecdsaWithSHA256, der(0x03, Buffer.concat([Buffer.from([0]), signature])));
  // A certificate this code got wrong fails here, at start-up, with a
  // clear error, rather than as a TLS failure on the host's side.
  const x509 = new crypto.X509Certificate(certDER);
  if (!x509.checkPrivateKey(privateKey) || !x509.verify(publicKey) || !x509.checkHost('localhost')) {
    throw new Error('the generated TLS certificate does not check out');
  }
  return {
    der: certDER,
    certPEM: Buffer.from(x509.toString()),
    keyPEM: Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' })),
  };
}

// ---------------------------------------------------------------------------
// Serving: go-plugin's side of the handshake.

function fatal(message, err) {
  log('error', message, err ? { error: err } : {});
  process.exitCode = 1;
  // Let stderr drain before exiting.
  setImmediate(() => process.exit(1));
}

function main() {
  if (process.env[COOKIE_KEY] !== COOKIE_VALUE) {
    process.stderr.write(
      'This program is a Conversa plugin: Conversa starts it, it is not meant to be run by hand.\n' +
        'Install it in the plugins directory as conversa-plugin-webhook (see README.md).\n',
    );
    process.exit(1);
  }
  const versions = (process.env.PLUGIN_PROTOCOL_VERSIONS || String(APP_PROTOCOL)).split(',').map((v) => Number(v.trim()));
  if (!versions.includes(APP_PROTOCOL)) {
    return fatal(`the host speaks Conversa plugin protocol ${process.env.PLUGIN_PROTOCOL_VERSIONS}; this plugin speaks ${APP_PROTOCOL}`);
  }

  let grpc, protoLoader;
  try {
    grpc = require('@grpc/grpc-js');
    protoLoader = require('@grpc/proto-loader');
  } catch (err) {
    return fatal('cannot load @grpc/grpc-js: run npm ci --omit=dev in the plugin\'s directory', err);
  }
  const loadOptions = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: false };
  const load = (file) => grpc.loadPackageDefinition(protoLoader.loadSync(file, loadOptions));
  let conversa, health, goplugin;
  try {
    conversa = load(path.join(__dirname, '..', '..', 'proto', 'conversa.proto')).conversa.plugin.v1;
    health = load(path.join(__dirname, 'proto', 'health.proto')).grpc.health.v1;
    goplugin = load(path.join(__dirname, 'proto', 'goplugin.proto')).plugin;
  } catch (err) {
    return fatal('cannot load the plugin contract (plugins/proto/conversa.proto beside plugins/examples)', err);
  }

  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  });

  // unary wraps a handler: its result is the answer, a throw becomes an
  // Internal error whose detail stays in the plugin's log.
  const unary = (method, fn) => async (call, callback) => {
    try {
      callback(null, await fn(call.request, call));
    } catch (err) {
      log('error', `${method} failed`, { error: err, stack: err && err.stack });
      callback({ code: grpc.status.INTERNAL, details: `${method} failed inside the plugin` });
    }
  };
  const unimplemented = (method) => (call, callback) =>
    callback({ code: grpc.status.UNIMPLEMENTED, details: `${method} is not implemented by the webhook channel` });

  server.addService(conversa.Info.service, {
    Describe: unary('Describe', () => ({ name: NAME, version: VERSION, kinds: ['channel'] })),
  });
  server.addService(conversa.Channel.service, {
    Describe: unary('Describe', channelInfo),
    HandleWebhook: unary('HandleWebhook', handleWebhook),
    Send: unary('Send', send),
    CheckSend: unary('CheckSend', (req) => prepare(req).refusal || { message_ids: [], exchanges: [] }),
    Profile: unary('Profile', profile),
    ValidateSettings: unary('ValidateSettings', validateSettings),
    // No typing indicator or read receipt to show in a generic webhook.
    Action: unimplemented('Action'),
  });

  // Health: "plugin" (what go-plugin asks) and "" (the whole server).
  const watchers = new Set();
  let serving = 'SERVING';
  const known = (service) => service === '' || service === 'plugin';
  server.addService(health.Health.service, {
    Check: (call, callback) => {
      if (!known(call.request.service)) return callback({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
      callback(null, { status: serving });
    },
    Watch: (call) => {
      call.write({ status: known(call.request.service) ? serving : 'SERVICE_UNKNOWN' });
      watchers.add(call);
      call.on('cancelled', () => watchers.delete(call));
    },
  });

  // Nothing of this plugin's goes to stdout after the handshake (console.*
  // is logged on stderr), so the stdio stream stays open and quiet until
  // the end.
  const stdioStreams = new Set();
  let stopping = false;
  const stop = (why) => {
    if (stopping) return;
    stopping = true;
    log('info', 'stopping', { reason: why });
    serving = 'NOT_SERVING';
    for (const w of watchers) w.end();
    for (const s of stdioStreams) s.end();
    // Calls in flight may finish; a stuck one does not hold the exit.
    setTimeout(() => process.exit(0), 2000).unref();
    server.tryShutdown(() => process.exit(0));
  };

  server.addService(goplugin.GRPCController.service, {
    Shutdown: (call, callback) => {
      callback(null, {});
      setImmediate(() => stop('the host asked'));
    },
  });
  server.addService(goplugin.GRPCStdio.service, {
    StreamStdio: (call) => {
      stdioStreams.add(call);
      call.on('cancelled', () => stdioStreams.delete(call));
    },
  });

  let credentials = grpc.ServerCredentials.createInsecure();
  let cert = null;
  const clientCert = process.env.PLUGIN_CLIENT_CERT;
  if (clientCert) {
    // AutoMTLS: the host sent its certificate; the plugin answers with its
    // own in the handshake and accepts only connections that present the
    // host's.
    try {
      cert = selfSignedCertificate();
      credentials = grpc.ServerCredentials.createSsl(Buffer.from(clientCert), [{ private_key: cert.keyPEM, cert_chain: cert.certPEM }], true);
    } catch (err) {
      return fatal('cannot set up mutual TLS', err);
    }
  }

  const dir = process.env.PLUGIN_UNIX_SOCKET_DIR || os.tmpdir();
  const socket = path.join(dir, `plugin-${NAME}-${process.pid}-${crypto.randomBytes(4).toString('hex')}.sock`);
  server.bindAsync('unix:' + socket, credentials, (err) => {
    if (err) return fatal(`cannot listen on ${socket}`, err);
    // Only the host's user may connect.
    try {
      fs.chmodSync(socket, 0o600);
    } catch {
      /* the directory go-plugin made is 0700 already */
    }
    const fields = [CORE_PROTOCOL, APP_PROTOCOL, 'unix', socket, 'grpc'];
    // go-plugin reads the certificate as base64 without padding (Go's
    // RawStdEncoding).
    if (cert) fields.push(cert.der.toString('base64').replace(/=+$/, ''));
    process.stdout.write(fields.join('|') + '\n');
    log('info', 'plugin started', { version: VERSION, tls: !!cert });
  });

  const cleanup = () => {
    try {
      fs.unlinkSync(socket);
    } catch {
      /* already gone */
    }
  };
  process.on('exit', cleanup);
  process.on('SIGTERM', () => stop('SIGTERM'));
  // The host's Ctrl-C reaches its whole process group; the host stops its
  // plugins itself, as go-plugin's Go plugins expect.
  process.on('SIGINT', () => log('debug', 'interrupt ignored: the host stops its plugins'));
  process.on('uncaughtException', (err) => {
    log('error', 'uncaught exception', { error: err, stack: err && err.stack });
    process.exit(2);
  });
  // A host killed without a chance to stop its plugins leaves them
  // re-parented: exit then, so no orphan remains.
  const parent = process.ppid;
  setInterval(() => {
    if (!parentAlive(parent)) {
      log('warn', 'the host is gone; exiting');
      process.exit(2);
    }
  }, 1000).unref();
}

// parentAlive tells whether parent is still this process's parent.
// (process.ppid is read once, at start-up: it never changes.)
function parentAlive(parent) {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent;
  } catch {
    // No /proc (macOS, the BSDs): a signal 0 finds whether it exists.
    try {
      process.kill(parent, 0);
      return true;
    } catch (err) {
      return err.code === 'EPERM';
    }
  }
}

if (require.main === module) {
  main();
}
