// The stats view: records and bytes the store holds per signal.

import {getJSON} from './api.js';
import {clear, errorBox, fmtBytes, fmtNumber, fmtPercent, h, loading} from './dom.js';

const SIGNALS = [['spans', 'Spans'], ['logs', 'Log records'], ['metrics', 'Metric points']];

function fill(count, capacity) {
  if (!capacity) return '—';
  const frac = Math.min(1, count / capacity);
  return h('div', {class: 'fill'},
    h('span', {class: 'fill-bar'}, h('span', {class: frac > 0.9 ? 'fill-high' : null, style: {width: `${(frac * 100).toFixed(1)}%`}})),
    h('span', {}, fmtPercent(frac, 0)));
}

function statsTable(stats) {
  const cols = ['Signal', 'Stored', 'Capacity', 'Fill', 'Evicted', 'Traces', 'Index entries', 'Data', 'Index', 'Total'];
  const body = h('tbody');
  for (const [key, label] of SIGNALS) {
    const s = stats[key];
    body.append(h('tr', {},
      h('td', {}, label),
      h('td', {class: 'num'}, fmtNumber(s.count)),
      h('td', {class: 'num'}, s.capacity ? fmtNumber(s.capacity) : '—'),
      h('td', {}, fill(s.count, s.capacity)),
      h('td', {class: 'num'}, fmtNumber(s.evicted)),
      h('td', {class: 'num'}, key === 'spans' ? fmtNumber(s.distinct_traces) : ''),
      h('td', {class: 'num'}, fmtNumber(s.index_entries)),
      h('td', {class: 'num'}, fmtBytes(s.data_bytes)),
      h('td', {class: 'num'}, fmtBytes(s.index_bytes)),
      h('td', {class: 'num'}, fmtBytes(s.total_bytes))));
  }
  body.append(h('tr', {class: 'total-row'},
    h('td', {}, 'All'), ...cols.slice(1, -1).map(() => h('td')), h('td', {class: 'num'}, fmtBytes(stats.total_bytes))));
  return h('div', {class: 'table-wrap'}, h('table', {class: 'data'},
    h('thead', {}, h('tr', {}, cols.map((c, i) => h('th', {class: i === 0 || i === 3 ? null : 'num'}, c)))), body));
}

export async function render(root, params, {signal}) {
  const body = h('div', {class: 'dash-body'}, loading());
  const updated = h('span', {class: 'muted small'});
  const refresh = async () => {
    try {
      const stats = await getJSON('/api/stats', {signal});
      clear(body).append(
        h('div', {class: 'tiles'}, SIGNALS.map(([key, label]) => h('div', {class: 'tile'},
          h('div', {class: 'tile-label'}, label), h('div', {class: 'tile-value'}, fmtNumber(stats[key].count)),
          h('div', {class: 'tile-sub'}, fmtBytes(stats[key].total_bytes)))),
        h('div', {class: 'tile'}, h('div', {class: 'tile-label'}, 'Memory / disk'),
          h('div', {class: 'tile-value'}, fmtBytes(stats.total_bytes)), h('div', {class: 'tile-sub'}, 'data and indexes'))),
        h('div', {class: 'card'}, statsTable(stats)));
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      if (err.name !== 'AbortError') clear(body).append(errorBox(err));
    }
  };
  root.append(h('div', {class: 'toolbar card'}, h('h2', {}, 'Store'),
    h('button', {type: 'button', onclick: refresh}, 'Refresh'), updated), body);
  await refresh();
}
