// Building the DOM without innerHTML: everything that comes from the API
// (names, messages, error texts) reaches the page as text nodes, so nothing a
// user sends can become markup.

// h creates an element. tag may carry an id and classes:
// "textarea#reply-text", "li.msg.out".
// props: "class", "text", "on<event>" (functions, added as listeners),
// "dataset" (object), DOM properties that are booleans or values
// (hidden, disabled, checked, value, selected), and any other key as an
// attribute. children: nodes, strings, numbers, arrays; null and false are
// skipped.
export function h(tag, props, ...children) {
  const [name, ...parts] = tag.split(/(?=[.#])/);
  const el = document.createElement(name);
  const classes = [];
  for (const p of parts) {
    if (p[0] === '#') el.id = p.slice(1);
    else classes.push(p.slice(1));
  }
  if (classes.length) el.className = classes.join(' ');
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') {
      el.className = [el.className, value].filter(Boolean).join(' ');
    } else if (key === 'text') {
      el.textContent = value;
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key in PROPS) {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

const PROPS = { hidden: 1, disabled: 1, checked: 1, value: 1, selected: 1, required: 1, readOnly: 1, multiple: 1 };

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// fill empties el and appends children.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// safeURL passes only web addresses: a link or media source from a message
// must never be a javascript: or data: URL.
export function safeURL(url) {
  return /^https?:\/\//i.test(String(url || '')) ? url : null;
}

// linkify turns the URLs in a text into links, the rest into text nodes.
export function linkify(text) {
  const out = [];
  const re = /\bhttps?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]'}]/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(h('a', { href: m[0], target: '_blank', rel: 'noopener noreferrer' }, m[0]));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

// copyText puts text on the clipboard. navigator.clipboard needs a secure
// context (https or localhost); elsewhere a selected textarea and the older
// copy command do the job.
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Permission refused: try the other way.
    }
  }
  const ta = h('textarea', { class: 'clipboard-scratch', readOnly: true, 'aria-hidden': 'true' }, text);
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}

// copyButton copies value() when pressed and says so.
export function copyButton(label, value) {
  const b = h('button.button.small.copy', { type: 'button', 'aria-label': label }, 'Copy');
  b.addEventListener('click', async () => {
    const ok = await copyText(value());
    b.textContent = ok ? 'Copied' : 'Select and copy';
    b.classList.toggle('copied', ok);
    setTimeout(() => { b.textContent = 'Copy'; b.classList.remove('copied'); }, 1600);
  });
  return b;
}
