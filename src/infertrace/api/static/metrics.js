// The metrics view: one metric's points as lines per series and as a table.

import {getJSON} from './api.js';
import {legend, lineChart} from './chart.js';
import {
  clear, colorMap, emptyState, errorBox, field, fmtCompact, fmtNumber, fmtTime, fmtValue, h,
  infoBox, loading, select, serviceTag,
} from './dom.js';
import {go} from './route.js';
import {dataTable} from './table.js';
import {timeRange} from './timerange.js';

const MAX_SERIES = 12;
const MAX_TABLE_ROWS = 500;

function attrText(attrs) {
  return Object.keys(attrs).sort().map((k) => `${k}=${fmtValue(attrs[k])}`).join(' ');
}

/** A point's charted value: the value, or a histogram's mean. */
function valueOf(p) {
  if (p.value !== null && p.value !== undefined) return p.value;
  const hist = p.histogram;
  if (hist && hist.count && hist.sum !== null) return hist.sum / hist.count;
  return null;
}

/**
 * The keys that name series: those whose value varies, minus any key another
 * kept key determines (pod=x implies model=y and service=z: "pod=x" suffices).
 */
function namingKeys(points, keysOf, values) {
  const varying = [...values.keys()].filter((k) => values.get(k).size > 1)
    .sort((a, b) => values.get(b).size - values.get(a).size || (a < b ? -1 : 1));
  const determines = (j, k) => {
    const seen = new Map();
    for (const p of points) {
      const all = keysOf(p);
      const vj = fmtValue(all[j]);
      const vk = fmtValue(all[k]);
      if (seen.has(vj) && seen.get(vj) !== vk) return false;
      seen.set(vj, vk);
    }
    return true;
  };
  const kept = [];
  for (const k of varying) if (!kept.some((j) => determines(j, k))) kept.push(k);
  return kept.sort();
}

/** Series keyed by service and attributes, named by what differs between them. */
function seriesOf(points, metricName) {
  const values = new Map(); // key -> set of values seen
  const keysOf = (p) => ({'service': p.service_name, ...p.attributes});
  for (const p of points) {
    for (const [k, v] of Object.entries(keysOf(p))) {
      if (!values.has(k)) values.set(k, new Set());
      values.get(k).add(fmtValue(v));
    }
  }
  const varying = namingKeys(points, keysOf, values);
  const bySeries = new Map();
  for (const p of points) {
    const all = keysOf(p);
    const key = varying.map((k) => `${k}=${k in all ? fmtValue(all[k]) : ''}`).join(' ') || metricName;
    if (!bySeries.has(key)) bySeries.set(key, []);
    bySeries.get(key).push({t: p.time_unix_nano, v: valueOf(p)});
  }
  const names = [...bySeries.keys()].sort().slice(0, MAX_SERIES);
  const colors = colorMap(names);
  return {
    total: bySeries.size,
    series: names.map((name) => ({
      name,
      color: colors.get(name),
      points: bySeries.get(name).sort((a, b) => a.t - b.t),
    })),
  };
}

function pointsTable(points) {
  return dataTable({
    rows: points.slice(0, MAX_TABLE_ROWS),
    sortBy: 0,
    columns: [
      {label: 'Time', render: (p) => fmtTime(p.time_unix_nano), sort: (p) => p.time_unix_nano, className: 'nowrap'},
      {label: 'Service', render: (p) => serviceTag(p.service_name), sort: (p) => p.service_name},
      {label: 'Type', render: (p) => p.type, sort: (p) => p.type},
      {
        label: 'Value',
        align: 'right',
        sort: valueOf,
        className: 'nowrap',
        render: (p) => (p.histogram ? `count ${fmtNumber(p.histogram.count)}, mean ${fmtNumber(valueOf(p), 3)}` : fmtNumber(p.value, 3)),
      },
      {label: 'Unit', render: (p) => p.unit || ''},
      {label: 'Attributes', render: (p) => h('span', {class: 'mono small'}, attrText(p.attributes)), className: 'wide'},
    ],
  });
}

export async function render(root, params, {signal}) {
  const name = select('name', [['', 'Choose a metric…']], params.get('name'));
  const service = select('service', [['', 'All services']], params.get('service'));
  const range = timeRange(params, '1h');
  const limit = h('input', {name: 'limit', type: 'number', min: 1, max: 10000, value: params.get('limit') || 2000});
  const form = h('form', {class: 'toolbar card', autocomplete: 'off'},
    h('h2', {}, 'Metrics'), field('Metric', name), field('Service', service), range.element, field('Limit', limit),
    h('button', {type: 'submit', class: 'primary'}, 'Show'));
  const results = h('section', {});
  root.append(form, results);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const {since, until} = range.read();
    go('metrics', {name: name.value, service: service.value, since, until, limit: limit.value}, ['since']);
  });

  const fill = (el, values, current, allLabel) => {
    clear(el).append(h('option', {value: ''}, allLabel));
    const all = !current || values.includes(current) ? values : [...values, current];
    for (const v of all) el.append(h('option', {value: v, selected: v === current}, v));
  };
  try {
    const [names, services] = await Promise.all([
      getJSON('/api/metrics/names', {signal}),
      getJSON('/api/services', {signal}),
    ]);
    fill(name, names.names, params.get('name') || '', 'Choose a metric…');
    fill(service, services.services, params.get('service') || '', 'All services');
    if (!params.get('name')) {
      results.append(names.names.length
        ? infoBox('Choose a metric to chart its points.')
        : emptyState('No metrics stored yet.', 'Send OTLP metrics to /v1/metrics, or run `infertrace demo`.'));
      return;
    }
  } catch (err) {
    if (err.name !== 'AbortError') results.append(errorBox(err));
    return;
  }

  results.append(loading('Loading points…'));
  const query = {};
  for (const [k, v] of params.entries()) if (v !== '') query[k] = v;
  if (!params.has('since') && !params.has('until')) query.since = '1h';
  if (!query.limit) query.limit = '2000';
  try {
    const answer = await getJSON('/api/metrics', {query, signal});
    clear(results);
    const points = answer.points;
    results.append(h('div', {class: 'results-head'},
      h('h2', {}, `${fmtNumber(answer.count)} point${answer.count === 1 ? '' : 's'}`),
      answer.truncated ? h('span', {class: 'muted'}, `the newest ${fmtNumber(answer.limit)} (the limit)`) : null));
    if (points.length === 0) {
      results.append(emptyState('No points of this metric in the window.'));
      return;
    }
    const {series, total} = seriesOf(points, points[0].name);
    const t0 = Math.min(...points.map((p) => p.time_unix_nano));
    const t1 = Math.max(...points.map((p) => p.time_unix_nano));
    const first = points[0];
    const unit = first.unit && first.unit !== '1' ? ` (${first.unit})` : '';
    const histogram = points.some((p) => p.histogram);
    results.append(h('div', {class: 'card chart-card'},
      h('div', {class: 'card-title'}, `${first.name}${unit}`,
        h('span', {class: 'muted small'}, ` ${first.type}${histogram ? ', mean per point' : ''}`)),
      first.description ? h('div', {class: 'muted small'}, first.description) : null,
      legend(series),
      total > MAX_SERIES ? h('div', {class: 'muted small'}, `${MAX_SERIES} of ${total} series shown`) : null,
      lineChart({series, t0, t1: t1 > t0 ? t1 : t0 + 1e9, yFormat: fmtCompact, width: 1200, height: 260})));
    results.append(h('div', {class: 'card'},
      points.length > MAX_TABLE_ROWS ? h('div', {class: 'muted small'}, `The newest ${MAX_TABLE_ROWS} points:`) : null,
      pointsTable(points)));
  } catch (err) {
    if (err.name === 'AbortError') return;
    clear(results).append(errorBox(err));
  }
}
