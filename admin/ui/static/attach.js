// Attachments and the typing indicator of the reply box. attachTo adds a
// paperclip button to a chat's composer, and takes files dropped on the
// chat or images pasted into the reply box: each is uploaded (with its
// progress shown), then sent to the contact as an image, audio, video or
// file message. typingNotifier tells the server the agent is typing, so
// the contact sees "typing…" where Instagram shows it.

import { APIError, csrf, post } from './api.js';
import { h, fill } from './dom.js';

// What the file picker offers; the server decides from the bytes anyway.
const ACCEPT = 'image/jpeg,image/png,image/gif,image/webp,audio/*,video/mp4,application/pdf,'
  + '.doc,.docx,.xls,.xlsx,.ppt,.pptx,.odt,.ods,.odp,.txt,.csv';

let styled = false;
function style() {
  if (styled) return;
  styled = true;
  document.head.appendChild(h('link', { rel: 'stylesheet', href: '/static/attach.css' }));
}

// paperclip is the button's icon (SVG: no emoji font needed).
function paperclip() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'attach-clip');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '16');
  svg.setAttribute('height', '16');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('fill', 'none');
  path.setAttribute('stroke', 'currentColor');
  path.setAttribute('stroke-width', '2');
  path.setAttribute('stroke-linecap', 'round');
  path.setAttribute('d', 'M21 11.5l-8.6 8.6a5.5 5.5 0 0 1-7.8-7.8l8.6-8.6a3.7 3.7 0 0 1 5.2 5.2l-8.6 8.6a1.8 1.8 0 0 1-2.6-2.6l7.9-7.9');
  svg.appendChild(path);
  return svg;
}

// kindOf is the content type a message carries a file as.
export function kindOf(mimeType) {
  const major = String(mimeType || '').split('/')[0];
  return ['image', 'audio', 'video'].includes(major) ? major : 'file';
}

// attachTo wires attachments into composer (the reply form). opts:
// conversationId; onSent(message) with each message sent; dropZone, an
// element besides the composer where files may be dropped (the thread).
// Nothing happens while the composer is hidden (the chat is not the
// agent's to answer).
export function attachTo(composer, { conversationId, onSent, dropZone }) {
  style();
  const input = h('input.attach-input#reply-file', {
    type: 'file', multiple: true, accept: ACCEPT, tabindex: '-1', 'aria-hidden': 'true',
  });
  const button = h('button.button.attach-file', {
    type: 'button', title: 'Attach a photo or file (or drop it on the chat, or paste an image)', 'aria-label': 'Attach a file',
  }, paperclip(), h('span.attach-label', {}, 'Attach'));
  const status = h('div.attach-status', { role: 'status', 'aria-live': 'polite', hidden: true });
  const row = composer.querySelector('.composer-row');
  const text = composer.querySelector('textarea');
  if (row) row.prepend(button, input);
  else composer.append(button, input);
  composer.insertBefore(status, row || null);

  button.addEventListener('click', () => input.click());
  input.addEventListener('change', () => {
    const files = [...input.files];
    input.value = '';
    send(files);
  });

  if (text) {
    text.addEventListener('paste', (e) => {
      const files = [...(e.clipboardData ? e.clipboardData.files : [])];
      if (!files.length) return; // plain text pastes as usual
      e.preventDefault();
      send(files);
    });
  }

  for (const zone of [composer, dropZone].filter(Boolean)) {
    let depth = 0;
    const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
    zone.addEventListener('dragenter', (e) => {
      if (!hasFiles(e) || composer.hidden) return;
      e.preventDefault();
      depth++;
      zone.classList.add('drop-target');
    });
    zone.addEventListener('dragover', (e) => {
      if (!hasFiles(e) || composer.hidden) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
    });
    zone.addEventListener('dragleave', () => {
      if (depth > 0 && --depth === 0) zone.classList.remove('drop-target');
    });
    zone.addEventListener('drop', (e) => {
      depth = 0;
      zone.classList.remove('drop-target');
      if (!hasFiles(e) || composer.hidden) return;
      e.preventDefault();
      send([...e.dataTransfer.files]);
    });
  }

  // One at a time, in order: each file is its own message.
  let queue = Promise.resolve();
  function send(files) {
    for (const file of files) queue = queue.then(() => sendOne(file));
  }

  async function sendOne(file) {
    const name = file.name || 'pasted image';
    const bar = h('progress.attach-progress', { max: 100, value: 0, 'aria-label': `Uploading ${name}` });
    const label = h('span.attach-what', {}, `Uploading ${name}…`);
    fill(status, label, bar);
    status.className = 'attach-status';
    status.setAttribute('role', 'status');
    status.hidden = false;
    button.disabled = true;
    try {
      const up = await upload(file, (pct) => {
        bar.value = pct;
        label.textContent = pct < 100 ? `Uploading ${name}… ${pct}%` : `Sending ${name}…`;
      });
      const m = await post(`/conversations/${conversationId}/messages`, {
        contents: [{ type: kindOf(up.mime_type), url: up.url, mime_type: up.mime_type, name: up.name }],
      });
      status.hidden = true;
      fill(status);
      if (m && onSent) onSent(m);
    } catch (err) {
      showError(name, err);
    } finally {
      button.disabled = false;
    }
  }

  function showError(name, err) {
    let why;
    switch (err.status === 413 ? 'too_large' : err.code) {
      case 'too_large':
        why = `${name} is too large to send: ${err.message}.`;
        break;
      case 'unsupported_type':
        why = `${name} cannot be sent: ${err.message}.`;
        break;
      case 'network':
        why = `The upload of ${name} was cut off. Check your connection; a very large file may be over the server's limit.`;
        break;
      case 'outside_window':
        why = `${name} was uploaded but not sent: the messaging window has closed (${err.message}).`;
        break;
      default:
        why = `${name} was not sent: ${err.message}`;
    }
    fill(status, h('span.attach-error-text', {}, why),
      h('button.link-button.attach-dismiss', { type: 'button', onclick: () => { status.hidden = true; } }, 'Dismiss'));
    status.className = 'attach-status attach-error';
    status.setAttribute('role', 'alert');
    status.hidden = false;
  }

  return { input, button, send };
}

// upload sends one file to POST /api/v1/uploads and resolves with
// {url, mime_type, name, size}. XMLHttpRequest, not fetch: it reports the
// upload's progress.
export function upload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/v1/uploads');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('X-CSRF-Token', csrf());
    xhr.responseType = 'text';
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable && onProgress) onProgress(Math.min(100, Math.round((e.loaded / e.total) * 100)));
    });
    xhr.addEventListener('load', () => {
      let data = null;
      try {
        data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        data = null;
      }
      if (xhr.status === 201 && data) resolve(data);
      else reject(new APIError(xhr.status, data));
    });
    const cut = () => reject(new APIError(0, { error: { code: 'network', message: 'The upload was cut off.' } }));
    xhr.addEventListener('error', cut);
    xhr.addEventListener('abort', cut);
    const form = new FormData();
    form.append('file', file, file.name || 'pasted-image');
    xhr.send(form);
  });
}

// typingNotifier returns an input handler for the reply box: while the
// agent types, the server hears of it every few seconds at most (it tells
// the contact's Instagram "typing…"). Failures are ignored: it is a nicety.
export function typingNotifier(conversationId, every = 4000) {
  let last = 0;
  return (e) => {
    const box = e && e.target;
    if (box && 'value' in box && !box.value.trim()) return;
    const now = Date.now();
    if (now - last < every) return;
    last = now;
    post(`/conversations/${conversationId}/typing`, {}).catch(() => {});
  };
}
