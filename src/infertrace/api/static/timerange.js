// The time-range control shared by the search views: presets or custom dates.
//
// Presets are passed to the API as they are ("1h" means the last hour: the API
// reads relative times); custom ranges become RFC 3339 times.

import {field, h, select, useUTC} from './dom.js';

export const PRESETS = [
  ['5m', 'Last 5 minutes'],
  ['15m', 'Last 15 minutes'],
  ['1h', 'Last hour'],
  ['6h', 'Last 6 hours'],
  ['24h', 'Last 24 hours'],
  ['7d', 'Last 7 days'],
];

const ANY = 'any';
const CUSTOM = 'custom';

const pad = (n) => String(n).padStart(2, '0');

/** RFC 3339 text as the value of a datetime-local input, in the display zone. */
function toLocalInput(text) {
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) return '';
  if (useUTC()) return d.toISOString().slice(0, 16);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A datetime-local value as RFC 3339 (UTC), read in the display zone. */
function fromLocalInput(value) {
  if (!value) return '';
  const d = new Date(useUTC() ? `${value}Z` : value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

/**
 * The control for params.since / params.until; read() returns {since, until}
 * for the API (empty strings when unbounded).
 */
export function timeRange(params, fallback = '1h', {allowAny = true} = {}) {
  const since = params.get('since') ?? (params.has('until') ? '' : fallback);
  const until = params.get('until') || '';
  const preset = PRESETS.some(([v]) => v === since) && !until ? since : since || until ? CUSTOM : ANY;
  const options = [...PRESETS, ...(allowAny ? [[ANY, 'Any time']] : []), [CUSTOM, 'Custom range…']];
  const choice = select('range', options, preset);
  const zone = useUTC() ? 'UTC' : 'local time';
  const from = h('input', {type: 'datetime-local', name: 'since', value: preset === CUSTOM ? toLocalInput(since) : ''});
  const to = h('input', {type: 'datetime-local', name: 'until', value: preset === CUSTOM ? toLocalInput(until) : ''});
  const custom = h('div', {class: 'custom-range'},
    field(`From (${zone})`, from), field(`To (${zone}, empty: now)`, to));
  const sync = () => {
    custom.hidden = choice.value !== CUSTOM;
  };
  choice.addEventListener('change', sync);
  sync();
  return {
    element: h('div', {class: 'time-range'}, field('Time range', choice), custom),
    read() {
      if (choice.value === ANY) return {since: '', until: ''};
      if (choice.value !== CUSTOM) return {since: choice.value, until: ''};
      return {since: fromLocalInput(from.value), until: fromLocalInput(to.value)};
    },
  };
}

/** "key=value" lines as [key, value] pairs; throws on a line without "=". */
export function parseAttributeLines(text) {
  const pairs = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`attribute filter line ${i + 1} ("${line}") is not key=value`);
    pairs.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  });
  return pairs;
}
