// Names, dates and labels as people read them. Dates use the browser's
// locale and time zone (the API speaks UTC).

import { h, safeURL } from './dom.js';

// contactName: the name, else @username, else the channel's user id.
export function contactName(contact) {
  if (!contact) return 'Unknown contact';
  if (contact.name) return contact.name;
  if (contact.username) return '@' + contact.username;
  return contact.channel_user_id || 'Unknown contact';
}

export function initials(text) {
  const words = String(text || '?').replace(/^@/, '').split(/[\s._-]+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[words.length - 1]] : [words[0] || '?'];
  return letters.map((w) => Array.from(w)[0]).join('').toUpperCase();
}

// avatar shows the contact's picture, or their initials when there is none
// or it no longer loads (Instagram's CDN links expire).
export function avatar(contact, size = 'md') {
  const name = contactName(contact);
  const fallback = h('span.avatar-initials', { 'aria-hidden': 'true' }, initials(name));
  const box = h(`span.avatar.avatar-${size}`, { dataset: { hue: String(hue(name)) } }, fallback);
  if (contact && safeURL(contact.avatar_url)) {
    const img = h('img', { src: contact.avatar_url, alt: '', loading: 'lazy', referrerpolicy: 'no-referrer' });
    img.addEventListener('error', () => img.remove());
    img.addEventListener('load', () => box.classList.add('has-picture'));
    box.appendChild(img);
  }
  return box;
}

function hue(text) {
  let n = 0;
  for (const ch of text) n = (n * 31 + ch.codePointAt(0)) % 360;
  return Math.floor(n / 30);
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayOnly = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
const shortDay = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });

export const parseDate = (s) => (s ? new Date(s) : null);

// instant is an RFC 3339 time as milliseconds, for comparing: as text,
// "…:03Z" (a provider's whole second) sorts after "…:03.075Z" because "."
// comes before "Z". Missing or unreadable times count as the earliest.
export function instant(s) {
  const t = s ? Date.parse(s) : NaN;
  return Number.isNaN(t) ? 0 : t;
}

export function formatDateTime(s) {
  const d = parseDate(s);
  return d ? dateTime.format(d) : '—';
}

export function formatTime(s) {
  const d = parseDate(s);
  return d ? timeOnly.format(d) : '';
}

export function formatDay(s) {
  const d = parseDate(s);
  return d ? dayOnly.format(d) : '';
}

export function dayKey(s) {
  const d = parseDate(s);
  return d ? `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}` : '';
}

// formatRecent: the time for today, else a short date.
export function formatRecent(s) {
  const d = parseDate(s);
  if (!d) return '';
  return dayKey(s) === dayKey(new Date().toISOString()) ? timeOnly.format(d) : shortDay.format(d);
}

// timeTag is a <time> with the full date on hover.
export function timeTag(s, text) {
  return h('time', { datetime: s, title: formatDateTime(s) }, text === undefined ? formatRecent(s) : text);
}

export function formatDuration(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  if (seconds < 60) return `${seconds}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m ${String(seconds % 60).padStart(2, '0')}s`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(hrs / 24)}d ${hrs % 24}h`;
}

export const ORIGIN_LABELS = { story_mention: 'Story mention', story_reply: 'Story reply' };

export function originBadge(origin) {
  const label = ORIGIN_LABELS[origin];
  return label ? h('span.badge.badge-story', { title: `This conversation started with a ${label.toLowerCase()}` }, label) : null;
}

export const STATE_LABELS = { bot: 'With the assistant', queued: 'Waiting in queue', assigned: 'With an agent', ended: 'Ended' };

export function stateBadge(state) {
  return h(`span.badge.state-${state}`, {}, STATE_LABELS[state] || state);
}

export const END_REASONS = { agent: 'ended by the agent', inactivity: 'ended after inactivity', assistant: 'ended by the assistant', admin: 'ended by an admin' };

export const AGENT_STATUS_LABELS = { available: 'Available', paused: 'Paused', offline: 'Offline' };

export function statusDot(status) {
  return h(`span.status-dot.status-${status}`, {}, AGENT_STATUS_LABELS[status] || status);
}

export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}
