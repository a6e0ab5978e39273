// System: the plugin processes with their health, and the operator's Lua
// scripts with their last error, refreshed every few seconds. A script opens
// in an editor that checks it as the admin types, saves it into the scripts
// directory, and runs the case files.

import { get, post, put } from './api.js';
import { fill, h } from './dom.js';
import { formatDateTime } from './format.js';

// CHECK_DELAY_MS: how long typing pauses before the source is checked.
const CHECK_DELAY_MS = 400;

const REFRESH_MS = 8000;

const PLUGIN_STATES = {
  running: ['ok', 'Running'],
  restarting: ['warn', 'Restarting'],
  failing: ['bad', 'Failing'],
  untrusted: ['bad', 'Not trusted'],
  stopped: ['muted', 'Stopped'],
};

export function systemView() {
  const editor = scriptEditor(() => load());
  const cases = caseRunner();
  const plugins = h('div', {}, h('p.loading', {}, 'Loading plugins…'));
  const scripts = h('div', {}, h('p.loading', {}, 'Loading scripts…'));
  const el = h('div.page', {},
    h('div.page-head', {}, h('h1', {}, 'System')),
    h('section.card', { 'aria-labelledby': 'plugins-title' },
      h('h2#plugins-title', {}, 'Plugins'),
      h('p.muted', {}, 'Channel adapters and assistants run as separate processes. A crashed plugin is restarted with backoff; messages wait meanwhile, nothing is lost. A third-party plugin starts only once its executable is trusted (conversa plugins trust NAME), and stops if the file changes.'),
      plugins),
    h('section.card', { 'aria-labelledby': 'scripts-title' },
      h('h2#scripts-title', {}, 'Scripts'),
      h('p.muted', {}, 'Lua hooks from the scripts directory. Saving a file reloads it; a script that fails to load keeps the previous version running, and a run-time error falls back to the built-in default.'),
      scripts,
      editor.el,
      cases.el));
  let timer = 0;
  let stopped = false;

  async function load() {
    clearTimeout(timer);
    const [p, s] = await Promise.allSettled([get('/plugins'), get('/scripts')]);
    if (stopped) return;
    if (p.status === 'fulfilled') renderPlugins(p.value.plugins || []);
    else fill(plugins, h('p.form-error', { role: 'alert' }, p.reason.message));
    if (s.status === 'fulfilled') renderScripts(s.value.scripts || []);
    else fill(scripts, h('p.form-error', { role: 'alert' }, s.reason.message));
    timer = setTimeout(load, REFRESH_MS);
  }

  function renderPlugins(list) {
    if (!list.length) {
      fill(plugins, h('p.empty', {}, 'No plugins.'));
      return;
    }
    fill(plugins, h('div.table-wrap', {}, h('table.table', {},
      h('thead', {}, h('tr', {}, ['Plugin', 'Kind', 'Version', 'State', 'Restarts', 'Process', 'Last error'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, list.map((pl) => {
        const [tone, label] = PLUGIN_STATES[pl.state] || ['muted', pl.state];
        return h('tr', { dataset: { plugin: pl.name } },
          h('td', {}, h('strong', {}, pl.name), pl.builtin ? h('span.badge', {}, 'built-in') : h('span.muted.small.block', {}, pl.path || ''),
            pl.sha256 ? h('span.muted.small.block', { title: `sha256 ${pl.sha256}` }, `sha256 ${pl.sha256.slice(0, 12)}…`) : null),
          h('td', {}, (pl.kinds && pl.kinds.length ? pl.kinds : [pl.kind]).join(', ')),
          h('td', {}, pl.version || '—'),
          h('td', {}, h(`span.pill.pill-${tone}`, {}, label)),
          h('td', {}, String(pl.restarts || 0)),
          h('td', {}, pl.pid ? `pid ${pl.pid}` : '—'),
          h('td.error-cell', {}, pl.last_error || '—'));
      })))));
  }

  function renderScripts(list) {
    if (!list.length) {
      fill(scripts, h('p.empty', {}, 'No scripts.'));
      return;
    }
    fill(scripts, h('div.table-wrap', {}, h('table.table', {},
      h('thead', {}, h('tr', {}, ['Script', 'Source', 'Version', 'Loaded', 'Last error', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, list.map((sc) => h('tr', { dataset: { script: sc.name } },
        h('td', {}, h('code', {}, sc.name)),
        h('td', {}, sc.source === 'file' ? 'file' : 'built-in default'),
        h('td', {}, String(sc.version || '—')),
        h('td', {}, sc.loaded_at && !sc.loaded_at.startsWith('0001') ? formatDateTime(sc.loaded_at) : '—'),
        h('td.error-cell', {}, sc.last_error ? h('span.pill.pill-bad', {}, sc.last_error) : h('span.pill.pill-ok', {}, 'OK')),
        h('td', {}, h('button.button.small', { type: 'button', dataset: { edit: sc.name }, onclick: () => editor.open(sc.name) }, 'Edit'))))))),
    h('div.script-actions', {},
      h('button.button.small#run-cases', { type: 'button', onclick: () => cases.run() }, 'Run cases')));
  }

  load();
  return {
    el,
    destroy() {
      stopped = true;
      clearTimeout(timer);
      editor.destroy();
    },
  };
}

// scriptEditor is the editor of one hook script: a textarea with line
// numbers, the problems of the source as typed (each with its line, marked
// in the gutter), and Save. saved is called after a save.
function scriptEditor(saved) {
  const title = h('h3#script-editor-title', {}, '');
  const gutter = h('div.code-gutter', { 'aria-hidden': 'true' });
  const text = h('textarea.code-text#script-source', {
    spellcheck: 'false', autocapitalize: 'off', autocomplete: 'off', wrap: 'off',
    'aria-labelledby': 'script-editor-title', 'aria-describedby': 'script-problems',
  });
  const problems = h('ul.script-problems#script-problems', { 'aria-live': 'polite' });
  const status = h('p.muted.small#script-status', { role: 'status' }, '');
  const save = h('button.button.primary#script-save', { type: 'button' }, 'Save');
  const close = h('button.button#script-close', { type: 'button' }, 'Close');
  const el = h('section.script-editor', { hidden: true, 'aria-labelledby': 'script-editor-title' },
    title,
    h('div.code-editor', {}, gutter, text),
    problems,
    h('div.script-actions', {}, save, close, status));
  let name = '';
  let timer = 0;
  let seq = 0; // the latest check; older answers are dropped
  let bad = new Set();

  function numberLines() {
    const n = text.value.split('\n').length;
    const rows = [];
    for (let i = 1; i <= n; i++) rows.push(h(bad.has(i) ? 'div.bad' : 'div', {}, String(i)));
    fill(gutter, rows);
    gutter.scrollTop = text.scrollTop;
  }

  function showProblems(list, intro) {
    bad = new Set(list.map((p) => p.line));
    numberLines();
    if (!list.length) {
      fill(problems, h('li.ok', {}, intro || 'No problems found.'));
      return;
    }
    fill(problems, list.map((p) => h('li.bad', { dataset: { line: String(p.line) } },
      h('button.linkish', { type: 'button', onclick: () => goToLine(p.line) }, `Line ${p.line}`), ': ', p.message)));
  }

  function goToLine(line) {
    const lines = text.value.split('\n');
    let at = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) at += lines[i].length + 1;
    text.focus();
    text.setSelectionRange(at, at + (lines[line - 1] || '').length);
  }

  async function check() {
    const mine = ++seq;
    try {
      const r = await post('/scripts/check', { name, source: text.value });
      if (mine === seq) showProblems(r.problems || []);
    } catch (err) {
      if (mine === seq) fill(problems, h('li.bad', {}, err.message));
    }
  }

  text.addEventListener('input', () => {
    numberLines();
    status.textContent = 'Not saved';
    clearTimeout(timer);
    timer = setTimeout(check, CHECK_DELAY_MS);
  });
  text.addEventListener('scroll', () => { gutter.scrollTop = text.scrollTop; });
  text.addEventListener('keydown', (ev) => {
    // Tab indents instead of leaving the editor; Escape then Tab leaves.
    if (ev.key === 'Tab' && !ev.shiftKey && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      text.setRangeText('  ', text.selectionStart, text.selectionEnd, 'end');
      text.dispatchEvent(new Event('input'));
    }
  });

  save.addEventListener('click', async () => {
    clearTimeout(timer);
    save.disabled = true;
    status.textContent = 'Saving…';
    try {
      const r = await put('/scripts/' + encodeURIComponent(name), { source: text.value });
      status.textContent = `Saved: version ${r.status.version} is running.`;
      showProblems(r.problems || [], 'Saved without problems.');
      saved();
    } catch (err) {
      status.textContent = 'Not saved: ' + err.message;
      // A refused script: its problems, with their lines, as a check shows them.
      if (err.status === 422) await check();
      else fill(problems, h('li.bad', { role: 'alert' }, err.message));
    } finally {
      save.disabled = false;
    }
  });
  close.addEventListener('click', () => {
    clearTimeout(timer);
    el.hidden = true;
    name = '';
  });

  return {
    el,
    async open(scriptName) {
      clearTimeout(timer);
      name = scriptName;
      el.hidden = false;
      title.textContent = scriptName;
      status.textContent = 'Loading…';
      fill(problems);
      try {
        const r = await get('/scripts/' + encodeURIComponent(scriptName));
        if (name !== scriptName) return;
        text.value = r.source;
        status.textContent = r.file ? 'From the scripts directory.' : 'The built-in default: saving writes it to the scripts directory.';
        bad = new Set();
        numberLines();
        check();
        text.focus();
      } catch (err) {
        status.textContent = err.message;
      }
    },
    destroy() { clearTimeout(timer); },
  };
}

// caseRunner runs the case files and lists each file's outcome.
function caseRunner() {
  const list = h('ul.case-results#case-results', { 'aria-live': 'polite' });
  const summary = h('p.muted.small', {}, '');
  const el = h('div.case-runner', { hidden: true }, h('h3', {}, 'Cases'), summary, list);
  return {
    el,
    async run() {
      el.hidden = false;
      summary.textContent = 'Running…';
      fill(list);
      try {
        const r = await post('/scripts/test');
        const from = r.from === 'tests' ? 'the tests folder of the scripts directory' : 'the cases shipped for the built-in scripts';
        summary.textContent = r.results.length
          ? `${r.results.length - r.failed} of ${r.results.length} case files pass (from ${from}).`
          : `No case files in ${from}.`;
        fill(list, r.results.map((c) => h(c.ok ? 'li.ok' : 'li.bad', { dataset: { file: c.file } },
          h('code', {}, c.file), c.ok ? ': ok' : `: FAIL ${c.problem}`)));
      } catch (err) {
        summary.textContent = err.message;
      }
    },
  };
}
