// Search results as people read them: the message a search found a
// conversation by, with the words searched for marked, and the agent's
// search box over their own chats. Words match as the server matches them
// (core/store/internal/fulltext): runs of letters and digits, case and
// accents ignored, the last word also as the start of a word.

import { get, query } from './api.js';
import { fill, h } from './dom.js';
import { avatar, contactName, timeTag } from './format.js';

const WORD = /[\p{L}\p{N}\p{Mn}]+/gu;

// fold: lower case, without diacritics ("Não" -> "nao").
function fold(word) {
  return word.normalize('NFD').replace(/\p{Mn}/gu, '').toLowerCase();
}

// searchWords are the folded words of what was typed (at most 8, as the
// server reads them).
export function searchWords(text) {
  return (String(text || '').match(WORD) || []).map(fold).filter(Boolean).slice(0, 8);
}

// highlight returns text as nodes for h() or fill(): the words the search
// matches inside <mark>, everything else as text (never markup).
export function highlight(text, search) {
  text = String(text || '');
  const words = searchWords(search);
  const out = [];
  let last = 0;
  if (words.length) {
    for (const m of text.matchAll(WORD)) {
      const w = fold(m[0]);
      if (!words.some((t, i) => w === t || (i === words.length - 1 && w.startsWith(t)))) continue;
      if (m.index > last) out.push(text.slice(last, m.index));
      out.push(h('mark', {}, m[0]));
      last = m.index + m[0].length;
    }
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

// matchLine shows the message a search found conversation c by (its
// "match"), words marked; null when it was found by the contact alone.
export function matchLine(c, search) {
  const m = c && c.match;
  return m ? h('span.search-match', { title: m.text }, highlight(m.text, search)) : null;
}

// chatSearch is a search box over the agent's chats, open and ended (the
// server searches an agent's own conversations only). While something is
// typed its results take the place of the list that follows it in the
// page (the stylesheet hides that list).
export function chatSearch() {
  const input = h('input#chat-search-q', {
    type: 'search', autocomplete: 'off', placeholder: 'Search chats and messages', 'aria-label': 'Search your chats',
  });
  const results = h('ul.chat-search-results', { 'aria-label': 'Search results', 'aria-live': 'polite', hidden: true });
  const el = h('div.chat-search', { role: 'search' }, input, results);
  let timer = 0;
  let seq = 0; // the answer to an older search must not replace a newer one

  async function run() {
    const q = input.value.trim();
    const mine = ++seq;
    el.classList.toggle('active', q !== '');
    results.hidden = q === '';
    if (!q) {
      results.replaceChildren();
      return;
    }
    try {
      const { conversations } = await get('/conversations' + query({ q, limit: 50 }));
      if (mine !== seq) return;
      fill(results, conversations.length ? conversations.map((c) => h('li', { dataset: { conversation: String(c.id) } },
        h('a.chat-item', { href: `/chats/${c.id}`, 'data-nav': true },
          avatar(c.contact),
          h('span.chat-item-main', {},
            h('span.chat-item-name', {}, highlight(contactName(c.contact), q)),
            matchLine(c, q) || h('span.chat-item-sub', {}, c.contact && c.contact.username ? '@' + c.contact.username : c.integration)),
          h('span.chat-item-side', {}, timeTag(c.last_activity_at)))))
        : h('li.list-hint', {}, 'No chat matches.'));
    } catch (err) {
      if (mine === seq) fill(results, h('li.form-error', { role: 'alert' }, err.message));
    }
  }

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(run, 250);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && input.value) {
      input.value = '';
      run();
    }
  });
  return { el, input };
}
