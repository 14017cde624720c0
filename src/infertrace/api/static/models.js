// The models dashboard: totals, charts per model over time, the analytics table and a leaderboard.
// Rows come from spans, or (for a model without requests from spans) from its metrics: the
// Source column says which, and the gauge columns show running/waiting requests and KV-cache use.

import {getJSON} from './api.js';
import {legend, lineChart} from './chart.js';
import {
  clear, colorMap, emptyState, errorBox, field, fmtCompact, fmtDuration, fmtNumber, fmtPercent, h,
  loading, select,
} from './dom.js';
import {go, hashFor} from './route.js';
import {dataTable} from './table.js';

const WINDOWS = [
  ['15m', 'Last 15 minutes', '15s'],
  ['1h', 'Last hour', '1m'],
  ['6h', 'Last 6 hours', '5m'],
  ['24h', 'Last 24 hours', '15m'],
  ['7d', 'Last 7 days', '2h'],
];

const GROUPS = [['model', 'Model'], ['service', 'Service'], ['operation', 'Operation'], ['pod', 'Pod']];

const tokensPerSecond = (v) => `${fmtNumber(v, 1)} tok/s`;

export const MEASURES = {
  requests: {label: 'Requests', format: fmtNumber, axis: fmtCompact},
  errors: {label: 'Errors', format: fmtNumber, axis: fmtCompact},
  latency_p50: {label: 'Latency p50', format: fmtDuration, axis: fmtDuration},
  latency_p95: {label: 'Latency p95', format: fmtDuration, axis: fmtDuration},
  latency_p99: {label: 'Latency p99', format: fmtDuration, axis: fmtDuration},
  tokens_out: {label: 'Output tokens', format: fmtNumber, axis: fmtCompact},
  tokens_per_second: {label: 'Output tokens per second', format: tokensPerSecond, axis: fmtCompact},
  queue_p50: {label: 'Queue time p50', format: fmtDuration, axis: fmtDuration},
  queue_p95: {label: 'Queue time p95', format: fmtDuration, axis: fmtDuration},
  ttft_p50: {label: 'Time to first token p50', format: fmtDuration, axis: fmtDuration},
  ttft_p95: {label: 'Time to first token p95', format: fmtDuration, axis: fmtDuration},
  tpot_p50: {label: 'Time per output token p50', format: fmtDuration, axis: fmtDuration},
  tpot_p95: {label: 'Time per output token p95', format: fmtDuration, axis: fmtDuration},
};

// Queue time, TTFT and TPOT percentiles per row: over the requests that report the value
// (TPOT: decode time / (output tokens - 1)); '—' when none does.
const TIMINGS = [['queue', 'Queue'], ['ttft', 'TTFT'], ['tpot', 'TPOT']].flatMap(([key, label]) =>
  ['p50', 'p95'].map((q) => ({
    label: `${label} ${q}`,
    align: 'right',
    render: (g) => fmtDuration(g[`${key}_${q}_ns`]),
    sort: (g) => g[`${key}_${q}_ns`],
  })));

// What a model's gauges say (vLLM, SGLang): summed over its pods; KV cache is their mean use.
const GAUGES = [
  {label: 'Running', align: 'right', render: (g) => fmtNumber(g.running_requests), sort: (g) => g.running_requests},
  {label: 'Waiting', align: 'right', render: (g) => fmtNumber(g.waiting_requests), sort: (g) => g.waiting_requests},
  {label: 'KV cache', align: 'right', render: (g) => fmtPercent(g.kv_cache_usage, 0), sort: (g) => g.kv_cache_usage},
];

const CHARTS = ['requests', 'errors', 'latency_p95', 'tokens_out'];
const MAX_MODELS = 8;
const REFRESH_MS = 30000;

function tiles(groups, groupLabel) {
  // A row from metrics may not know a count (null): it adds nothing.
  const total = (field) => groups.reduce((a, g) => a + (g[field] || 0), 0);
  const requests = total('requests');
  const errors = total('errors');
  const tokensIn = total('input_tokens');
  const tokensOut = total('output_tokens');
  const tile = (label, value, sub, cls) => h('div', {class: ['tile', cls]},
    h('div', {class: 'tile-label'}, label), h('div', {class: 'tile-value'}, value), sub ? h('div', {class: 'tile-sub'}, sub) : null);
  return h('div', {class: 'tiles'},
    tile('Requests', fmtNumber(requests), `${fmtNumber(groups.length)} ${groupLabel.toLowerCase()}${groups.length === 1 ? '' : 's'}`),
    tile('Errors', fmtNumber(errors), `${fmtPercent(requests ? errors / requests : null, 2)} error rate`, errors ? 'tile-bad' : null),
    tile('Input tokens', fmtCompact(tokensIn), fmtNumber(tokensIn)),
    tile('Output tokens', fmtCompact(tokensOut), fmtNumber(tokensOut)));
}

function analyticsTable(groups, groupBy, groupLabel, range) {
  const filterKey = {model: 'model', service: 'service', operation: 'operation'}[groupBy];
  return dataTable({
    rows: groups,
    sortBy: 2,  // Requests
    rowHref: filterKey ? (g) => hashFor('search', {[filterKey]: g.key, since: range}) : undefined,
    columns: [
      {label: groupLabel, render: (g) => g.key || '(none)', sort: (g) => g.key, className: 'nowrap'},
      {label: 'Source', render: (g) => h('span', {class: ['badge', `source-${g.source}`], title: g.source === 'metrics'
        ? `From metrics: ${(g.metric_names || []).join(', ')}` : 'From spans'}, g.source), sort: (g) => g.source},
      {label: 'Requests', align: 'right', render: (g) => fmtNumber(g.requests), sort: (g) => g.requests},
      {label: 'Errors', align: 'right', render: (g) => fmtNumber(g.errors), sort: (g) => g.errors},
      {label: 'Error rate', align: 'right', render: (g) => fmtPercent(g.error_rate, 2), sort: (g) => g.error_rate},
      {label: 'p50', align: 'right', render: (g) => fmtDuration(g.latency_p50_ns), sort: (g) => g.latency_p50_ns},
      {label: 'p95', align: 'right', render: (g) => fmtDuration(g.latency_p95_ns), sort: (g) => g.latency_p95_ns},
      {label: 'p99', align: 'right', render: (g) => fmtDuration(g.latency_p99_ns), sort: (g) => g.latency_p99_ns},
      {label: 'Max', align: 'right', render: (g) => fmtDuration(g.latency_max_ns), sort: (g) => g.latency_max_ns},
      ...TIMINGS,
      {label: 'Tokens in', align: 'right', render: (g) => fmtNumber(g.input_tokens), sort: (g) => g.input_tokens},
      {label: 'Tokens out', align: 'right', render: (g) => fmtNumber(g.output_tokens), sort: (g) => g.output_tokens},
      {label: 'Tokens/s', align: 'right', render: (g) => fmtNumber(g.output_tokens_per_second, 1), sort: (g) => g.output_tokens_per_second},
      {label: 'Batch', align: 'right', render: (g) => fmtNumber(g.mean_batch_size, 1), sort: (g) => g.mean_batch_size},
      {label: 'GPU', align: 'right', render: (g) => fmtPercent(g.mean_gpu_utilization, 0), sort: (g) => g.mean_gpu_utilization},
      ...GAUGES,
    ],
  });
}

function leaderboardList(entries, by) {
  if (entries.length === 0) return emptyState('No model has a value for this measure in the window.');
  const measure = MEASURES[by];
  const top = Math.max(...entries.map((e) => e.value), 0) || 1;
  return h('ol', {class: 'leaderboard'}, entries.map((e, i) => h('li', {},
    h('span', {class: 'lb-rank'}, String(i + 1)),
    h('span', {class: 'lb-name', title: e.model_name}, e.model_name),
    h('span', {class: 'lb-bar'}, h('span', {style: {width: `${((e.value / top) * 100).toFixed(1)}%`}})),
    h('span', {class: 'lb-value'}, measure.format(e.value)))));
}

async function chartCard(metric, models, colors, bounds, step, signal) {
  const measure = MEASURES[metric];
  const answers = await Promise.all(models.map((model) => getJSON('/api/analytics/timeseries', {
    query: {metric, step, model, since: bounds.since, until: bounds.until},
    signal,
  })));
  const series = answers.map((a, i) => ({
    name: models[i],
    color: colors.get(models[i]),
    points: a.points.map((p) => ({t: p.bucket_start_unix_nano, v: p.value})),
  }));
  const points = series.length ? series[0].points : [];
  const stepNs = answers.length ? answers[0].step_nanos : 0;
  const t0 = points.length ? points[0].t : 0;
  const t1 = points.length ? points[points.length - 1].t + stepNs : 1;
  return h('div', {class: 'card chart-card'},
    h('div', {class: 'card-title'}, measure.label, h('span', {class: 'muted small'}, ` per ${step}`)),
    lineChart({series, t0, t1, step: stepNs, yFormat: measure.axis}));
}

async function load(body, state, signal) {
  const {range, groupBy, by} = state;
  const step = (WINDOWS.find(([w]) => w === range) || WINDOWS[1])[2];
  const groupLabel = (GROUPS.find(([g]) => g === groupBy) || GROUPS[0])[1];
  // One request fixes the window in server time, so every chart shares its buckets.
  const first = await getJSON('/api/analytics/timeseries', {query: {metric: 'requests', step, since: range}, signal});
  const bounds = {since: String(first.since_unix_nano), until: String(first.until_unix_nano)};
  const [analytics, board, top] = await Promise.all([
    getJSON('/api/analytics/models', {query: {group_by: groupBy, ...bounds}, signal}),
    getJSON('/api/analytics/leaderboard', {query: {by, limit: 10, ...bounds}, signal}),
    getJSON('/api/analytics/leaderboard', {query: {by: 'requests', limit: MAX_MODELS, ...bounds}, signal}),
  ]);
  const models = top.entries.map((e) => e.model_name);
  const colors = colorMap(models);
  const charts = models.length
    ? await Promise.all(CHARTS.map((metric) => chartCard(metric, models, colors, bounds, step, signal)))
    : [];

  clear(body);
  body.append(tiles(analytics.groups, groupLabel));
  if (models.length === 0) {
    body.append(emptyState('No model spans or model metrics in this window.',
      'Analytics count spans that carry a model name (gen_ai.request.model), or read vLLM, SGLang and GenAI metrics. Run `infertrace demo` for sample data.'));
    return;
  }
  body.append(h('div', {class: 'section-head'}, h('h3', {}, 'Over time'),
    legend(models.map((name) => ({name, color: colors.get(name)}))),
    models.length === MAX_MODELS ? h('span', {class: 'muted small'}, `the ${MAX_MODELS} busiest models`) : null));
  body.append(h('div', {class: 'chart-grid'}, charts));
  body.append(h('div', {class: 'dash-bottom'},
    h('div', {class: 'card'}, h('div', {class: 'card-title'}, `By ${groupLabel.toLowerCase()}`),
      analytics.groups.length ? analyticsTable(analytics.groups, groupBy, groupLabel, range) : emptyState('No rows.')),
    h('div', {class: 'card leaderboard-card'},
      h('div', {class: 'card-title'}, `Leaderboard: ${MEASURES[board.by].label.toLowerCase()}`),
      leaderboardList(board.entries, board.by))));
}

export async function render(root, params, {signal}) {
  const state = {
    range: params.get('window') || '1h',
    groupBy: params.get('group_by') || 'model',
    by: params.get('by') || 'latency_p95',
  };
  const auto = params.get('refresh') === '1';
  const windowSel = select('window', WINDOWS.map(([w, label]) => [w, label]), state.range);
  const groupSel = select('group_by', GROUPS, state.groupBy);
  const bySel = select('by', Object.entries(MEASURES).map(([k, m]) => [k, m.label]), state.by);
  const autoBox = h('input', {type: 'checkbox', name: 'refresh', checked: auto});
  const apply = () => go('models', {
    window: windowSel.value, group_by: groupSel.value, by: bySel.value, refresh: autoBox.checked ? '1' : '',
  });
  for (const el of [windowSel, groupSel, bySel, autoBox]) el.addEventListener('change', apply);
  const body = h('div', {class: 'dash-body'}, loading('Loading analytics…'));
  const status = h('span', {class: 'muted small'});
  const refresh = async () => {
    status.textContent = 'Refreshing…';
    try {
      await load(body, state, signal);
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      if (err.name === 'AbortError') return;
      status.textContent = '';
      clear(body).append(errorBox(err));
    }
  };
  root.append(
    h('div', {class: 'toolbar card'},
      h('h2', {}, 'Models'),
      field('Window', windowSel),
      field('Group table by', groupSel),
      field('Leaderboard', bySel),
      h('label', {class: 'check'}, autoBox, ' Auto-refresh (30 s)'),
      h('button', {type: 'button', onclick: refresh}, 'Refresh'),
      status),
    body);
  if (auto) {
    const timer = setInterval(refresh, REFRESH_MS);
    signal.addEventListener('abort', () => clearInterval(timer));
  }
  await refresh();
}
