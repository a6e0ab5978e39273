// System: the plugin processes with their health, and the operator's Lua
// scripts with their last error. Refreshed every few seconds.

import { get } from './api.js';
import { fill, h } from './dom.js';
import { formatDateTime } from './format.js';

const REFRESH_MS = 8000;

const PLUGIN_STATES = {
  running: ['ok', 'Running'],
  restarting: ['warn', 'Restarting'],
  failing: ['bad', 'Failing'],
  untrusted: ['bad', 'Not trusted'],
  stopped: ['muted', 'Stopped'],
};

export function systemView() {
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
      scripts));
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
      h('thead', {}, h('tr', {}, ['Script', 'Source', 'Version', 'Loaded', 'Last error'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, list.map((sc) => h('tr', { dataset: { script: sc.name } },
        h('td', {}, h('code', {}, sc.name)),
        h('td', {}, sc.source === 'file' ? 'file' : 'built-in default'),
        h('td', {}, String(sc.version || '—')),
        h('td', {}, sc.loaded_at && !sc.loaded_at.startsWith('0001') ? formatDateTime(sc.loaded_at) : '—'),
        h('td.error-cell', {}, sc.last_error ? h('span.pill.pill-bad', {}, sc.last_error) : h('span.pill.pill-ok', {}, 'OK'))))))));
  }

  load();
  return {
    el,
    destroy() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
