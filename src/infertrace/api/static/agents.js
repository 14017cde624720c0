// The Agents view: who uses coding agents, how much of their work is accepted, what share of
// commits they touch, by team and region, at what cost. Everything comes from /api/activity
// over UTC days; the range is the date picker's (from/to in the address, so a view can be shared).

import {getJSON} from './api.js';
import {legend, lineChart} from './chart.js';
import {
  clear, emptyState, errorBox, field, fmtCompact, fmtNumber, fmtPercent, h, loading, select,
} from './dom.js';
import {go} from './route.js';
import {dataTable} from './table.js';

const DAY_NS = 86400e9;
const DAY_MS = 86400e3;
const TOP_COST = 10;

const usd = (v) => (v === null || v === undefined ? '—' : `$${fmtNumber(v, 2)}`);
const percentAxis = (v) => fmtPercent(v, 0);

/** Leaderboard metrics: the API's names, with a label and a format. */
export const METRICS = {
  agent_edits: {label: 'Agent edits', format: fmtNumber},
  accepted_edits: {label: 'Accepted edits', format: fmtNumber},
  acceptance_rate: {label: 'Acceptance rate', format: (v) => fmtPercent(v)},
  agent_lines_added: {label: 'Lines added by agents', format: fmtNumber},
  commits: {label: 'Commits', format: fmtNumber},
  ai_assisted_commits: {label: 'AI-assisted commits', format: fmtNumber},
  ai_commit_share: {label: 'AI-assisted commit share', format: (v) => fmtPercent(v)},
  sessions: {label: 'Agent sessions', format: fmtNumber},
  tokens: {label: 'Tokens', format: fmtCompact},
  cost_usd: {label: 'Cost', format: usd},
};

const BY = [['developer', 'Developer'], ['team', 'Team'], ['region', 'Region']];
const PRESETS = [['7', 'Last 7 days'], ['30', 'Last 30 days'], ['90', 'Last 90 days'], ['custom', 'Custom']];

/** YYYY-MM-DD of a Date, in UTC (the activity API's days are UTC days). */
export function dayText(date) {
  return date.toISOString().slice(0, 10);
}

/** {from, to} of the last `days` days up to today (UTC). */
export function lastDays(days, now = new Date()) {
  const to = dayText(now);
  return {from: dayText(new Date(now.getTime() - (days - 1) * DAY_MS)), to};
}

/** Unix ns of the start of a YYYY-MM-DD UTC day. */
function dayNs(text) {
  return Date.parse(`${text}T00:00:00Z`) * 1e6;
}

function tiles(total, days) {
  const tile = (label, value, sub) => h('div', {class: 'tile'},
    h('div', {class: 'tile-label'}, label), h('div', {class: 'tile-value'}, value),
    sub ? h('div', {class: 'tile-sub'}, sub) : null);
  const peak = Math.max(0, ...days.map((d) => d.active_developers));
  return h('div', {class: 'tiles agents-tiles'},
    tile('Active developers', fmtNumber(total.active_developers), `peak ${fmtNumber(peak)} in a day`),
    tile('Agent edits', fmtNumber(total.agent_edits), `${fmtPercent(total.acceptance_rate)} accepted`),
    tile('Commits', fmtNumber(total.commits), `${fmtPercent(total.ai_commit_share)} AI-assisted`),
    tile('Agent cost', usd(total.cost_usd), `${fmtCompact(total.tokens)} tokens in ${fmtNumber(total.sessions)} sessions`));
}

function chartCard(title, series, days, yFormat) {
  const t0 = dayNs(days[0].day);
  const t1 = dayNs(days[days.length - 1].day) + DAY_NS;
  return h('div', {class: 'card chart-card'},
    h('div', {class: 'card-title'}, title, h('span', {class: 'muted small'}, ' per day (UTC)')),
    legend(series.map((one) => ({name: one.name, color: one.color}))),
    lineChart({series, t0, t1, step: DAY_NS, yFormat}));
}

function dailyCharts(days) {
  const points = (key) => days.map((d) => ({t: dayNs(d.day), v: d[key]}));
  return h('div', {class: 'chart-grid agents-charts'},
    chartCard('Adoption', [
      {name: 'Active developers', color: '#3b82f6', points: points('active_developers')},
      {name: 'Agent edits', color: '#f59e0b', points: points('agent_edits')},
    ], days, fmtCompact),
    chartCard('AI-assisted commit share', [
      {name: 'AI-assisted commits / commits', color: '#8b5cf6',
        points: days.map((d) => ({t: dayNs(d.day), v: d.commits ? d.ai_commit_share : null}))},
    ], days, percentAxis),
    chartCard('Acceptance rate', [
      {name: 'Accepted / agent edits', color: '#10b981',
        points: days.map((d) => ({t: dayNs(d.day), v: d.agent_edits ? d.acceptance_rate : null}))},
    ], days, percentAxis));
}

/** Horizontal bars: rows [{key, name, value}] scaled to the largest. */
function bars(rows, format, className) {
  const top = Math.max(0, ...rows.map((r) => r.value)) || 1;
  return h('ol', {class: ['leaderboard', className]}, rows.map((r, i) => h('li', {},
    h('span', {class: 'lb-rank'}, String(i + 1)),
    h('span', {class: 'lb-name', title: r.key}, r.name),
    h('span', {class: 'lb-bar'}, h('span', {style: {width: `${((r.value / top) * 100).toFixed(1)}%`}})),
    h('span', {class: 'lb-value'}, format(r.value)))));
}

function groupCard(title, groups) {
  const active = groups.filter((g) => g.active_developers > 0 || g.developers > 0);
  const rows = active.map((g) => ({key: g.group, name: g.group, value: g.acceptance_rate}));
  return h('div', {class: 'card agents-group'},
    h('div', {class: 'card-title'}, title),
    rows.length ? bars(rows.sort((a, b) => b.value - a.value || a.key.localeCompare(b.key)),
      (v) => fmtPercent(v), 'agents-acceptance') : emptyState('No groups.'),
    active.length ? dataTable({
      rows: active,
      sortBy: 2,
      columns: [
        {label: 'Group', render: (g) => g.group, sort: (g) => g.group},
        {label: 'Developers', align: 'right', render: (g) => fmtNumber(g.developers), sort: (g) => g.developers},
        {label: 'Active', align: 'right', render: (g) => fmtNumber(g.active_developers), sort: (g) => g.active_developers},
        {label: 'Agent edits', align: 'right', render: (g) => fmtNumber(g.agent_edits), sort: (g) => g.agent_edits},
        {label: 'Accepted', align: 'right', render: (g) => fmtPercent(g.acceptance_rate), sort: (g) => g.acceptance_rate},
        {label: 'AI commits', align: 'right', render: (g) => fmtPercent(g.ai_commit_share), sort: (g) => g.ai_commit_share},
        {label: 'Cost', align: 'right', render: (g) => usd(g.cost_usd), sort: (g) => g.cost_usd},
      ],
    }) : null);
}

async function load(body, state, signal) {
  const range = {from: state.from, to: state.to};
  const [daily, total, teams, regions, board] = await Promise.all([
    getJSON('/api/activity/metrics/daily', {query: range, signal}),
    getJSON('/api/activity/metrics/range', {query: range, signal}),
    getJSON('/api/activity/stats/teams', {query: range, signal}),
    getJSON('/api/activity/stats/regions', {query: range, signal}),
    getJSON('/api/activity/leaderboard', {query: {...range, metric: state.metric, by: state.by, limit: 10}, signal}),
  ]);
  // After the first leaderboard: the server ranks every developer once per range and
  // caches it, so asking for the cost board next is a cache hit, not a second tally.
  const cost = await getJSON('/api/activity/leaderboard',
    {query: {...range, metric: 'cost_usd', by: 'developer', limit: TOP_COST}, signal});
  clear(body);
  body.dataset.from = range.from;
  body.dataset.to = range.to;
  const quiet = total.active_developers === 0;
  if (quiet) {
    body.append(emptyState(`No coding-agent activity from ${range.from} to ${range.to}.`,
      'Activity comes from coding agents sending OpenTelemetry (Claude Code: CLAUDE_CODE_ENABLE_TELEMETRY=1 and '
      + 'OTEL_EXPORTER_OTLP_ENDPOINT at this server), from `infertrace activity import-git PATH`, '
      + '`infertrace activity import-roster FILE.csv` and `infertrace activity generate`.'));
    return;
  }
  const metric = METRICS[board.metric] || METRICS.agent_edits;
  const byLabel = (BY.find(([b]) => b === board.by) || BY[0])[1].toLowerCase();
  body.append(
    tiles(total, daily.days),
    h('div', {class: 'section-head'}, h('h3', {}, 'Over time')),
    dailyCharts(daily.days),
    h('div', {class: 'agents-grid'},
      groupCard('Acceptance rate by team', teams.groups),
      groupCard('Acceptance rate by region', regions.groups)),
    h('div', {class: 'agents-grid'},
      h('div', {class: 'card leaderboard-card'},
        h('div', {class: 'card-title'}, `Leaderboard: ${metric.label.toLowerCase()} by ${byLabel}`),
        board.entries.length
          ? bars(board.entries.map((e) => ({key: e.key, name: e.name, value: e.value})), metric.format, 'agents-leaderboard')
          : emptyState('Nobody has a value for this metric in the range.')),
      h('div', {class: 'card leaderboard-card'},
        h('div', {class: 'card-title'}, `Cost per developer (top ${TOP_COST})`),
        cost.entries.some((e) => e.value > 0)
          ? bars(cost.entries.filter((e) => e.value > 0).map((e) => ({key: e.key, name: e.name, value: e.value})), usd, 'agents-cost')
          : emptyState('No agent sessions with a cost in the range.'))));
}

export async function render(root, params, {signal}) {
  const preset = params.get('days') || (params.get('from') || params.get('to') ? 'custom' : '30');
  const chosen = preset === 'custom'
    ? {from: params.get('from') || lastDays(30).from, to: params.get('to') || dayText(new Date())}
    : lastDays(Number(preset) || 30);
  const state = {...chosen, metric: params.get('metric') || 'agent_edits', by: params.get('by') || 'developer'};
  const presetSel = select('days', PRESETS, preset);
  const fromInput = h('input', {type: 'date', name: 'from', value: state.from, max: state.to});
  const toInput = h('input', {type: 'date', name: 'to', value: state.to, min: state.from});
  // As attributes too, so the page's markup says which range it shows.
  fromInput.setAttribute('value', state.from);
  toInput.setAttribute('value', state.to);
  const metricSel = select('metric', Object.entries(METRICS).map(([k, m]) => [k, m.label]), state.metric);
  const bySel = select('by', BY, state.by);
  const shared = () => ({metric: metricSel.value, by: bySel.value});
  presetSel.addEventListener('change', () => {
    if (presetSel.value === 'custom') go('agents', {from: fromInput.value, to: toInput.value, ...shared()});
    else go('agents', {days: presetSel.value, ...shared()});
  });
  // Picking a date makes a custom range: the address (and so the requests) carry from/to.
  const pick = () => go('agents', {from: fromInput.value, to: toInput.value, ...shared()});
  fromInput.addEventListener('change', pick);
  toInput.addEventListener('change', pick);
  const keep = () => (presetSel.value === 'custom' ? pick() : go('agents', {days: presetSel.value, ...shared()}));
  metricSel.addEventListener('change', keep);
  bySel.addEventListener('change', keep);

  const body = h('div', {class: 'dash-body agents-body'}, loading('Loading activity…'));
  root.append(
    h('div', {class: 'toolbar card'},
      h('h2', {}, 'Agents'),
      field('Range', presetSel),
      field('From (UTC)', fromInput),
      field('To (UTC)', toInput),
      field('Leaderboard', metricSel),
      field('By', bySel)),
    body);
  try {
    await load(body, state, signal);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    clear(body).append(errorBox(err));
  }
}
