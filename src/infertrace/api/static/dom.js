// DOM building and formatting helpers shared by every view.
//
// Text from the API only ever reaches the page through textContent or
// attribute values set with setAttribute: nothing here parses HTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

function apply(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'style') for (const [p, v] of Object.entries(value)) el.style.setProperty(p, v);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'value' || key === 'checked' || key === 'selected' || key === 'disabled') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An HTML element: h('a', {href: '#/x', class: 'link'}, 'text', otherNode). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element, same calling convention as h(). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

/** Remove every child of a node. */
export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/** A visible error box; err may be an ApiError, an Error or a string. */
export function errorBox(err) {
  const title = err && err.status ? `Request failed (${err.status})` : 'Something went wrong';
  const message = err && err.message ? err.message : String(err);
  const hint = err && err.status === 401 ? 'Set the token with the “API token” button in the top bar.' : null;
  return h('div', {class: 'alert alert-error', role: 'alert'},
    h('strong', {}, title), h('span', {}, message), hint ? h('span', {class: 'muted'}, hint) : null);
}

export function infoBox(text) {
  return h('div', {class: 'alert alert-info'}, text);
}

export function loading(text = 'Loading…') {
  return h('div', {class: 'loading'}, h('span', {class: 'spinner'}), text);
}

export function emptyState(title, hint) {
  return h('div', {class: 'empty'}, h('div', {class: 'empty-title'}, title), hint ? h('div', {}, hint) : null);
}

// ---- time zone preference ------------------------------------------------

const TZ_KEY = 'infertrace.utc';

export function useUTC() {
  try {
    return localStorage.getItem(TZ_KEY) === '1';
  } catch {
    return false;
  }
}

export function setUTC(on) {
  try {
    localStorage.setItem(TZ_KEY, on ? '1' : '0');
  } catch {
    // storage unavailable (private mode): the choice lasts for this page only
  }
}

// ---- formatting ------------------------------------------------------------

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** A unix-nanosecond time as "2026-11-22 10:00:00.123" in local time or UTC. */
export function fmtTime(unixNano, {date = true, ms = true} = {}) {
  if (unixNano === null || unixNano === undefined) return '—';
  const d = new Date(unixNano / 1e6);
  if (Number.isNaN(d.getTime())) return '—';
  const utc = useUTC();
  const parts = utc
    ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()]
    : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds()];
  const [y, mo, da, hh, mi, ss, mss] = parts;
  let text = `${pad(hh)}:${pad(mi)}:${pad(ss)}`;
  if (ms) text += `.${pad(mss, 3)}`;
  if (date) text = `${y}-${pad(mo)}-${pad(da)} ${text}`;
  return text;
}

/** A short axis label for a time: "10:05" (or "11-22 10:05" across days). */
export function fmtAxisTime(unixNano, spanNano) {
  const d = new Date(unixNano / 1e6);
  const utc = useUTC();
  const hh = utc ? d.getUTCHours() : d.getHours();
  const mi = utc ? d.getUTCMinutes() : d.getMinutes();
  const ss = utc ? d.getUTCSeconds() : d.getSeconds();
  let text = `${pad(hh)}:${pad(mi)}`;
  if (spanNano < 10 * 60e9) text += `:${pad(ss)}`;
  if (spanNano > 36 * 3600e9) {
    const mo = (utc ? d.getUTCMonth() : d.getMonth()) + 1;
    const da = utc ? d.getUTCDate() : d.getDate();
    text = `${pad(mo)}-${pad(da)} ${text}`;
  }
  return text;
}

/** A duration in nanoseconds as "850µs", "12.3ms", "1.25s", "2m 5s". */
export function fmtDuration(ns) {
  if (ns === null || ns === undefined || Number.isNaN(ns)) return '—';
  if (ns === 0) return '0';
  const abs = Math.abs(ns);
  if (abs < 1e3) return `${Math.round(ns)}ns`;
  if (abs < 1e6) return `${trim(ns / 1e3)}µs`;
  if (abs < 1e9) return `${trim(ns / 1e6)}ms`;
  if (abs < 60e9) return `${trim(ns / 1e9)}s`;
  const totalS = Math.round(ns / 1e9);
  const m = Math.floor(totalS / 60);
  if (m < 60) return `${m}m ${totalS % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

function trim(x) {
  const digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2;
  return x.toFixed(digits).replace(/\.0+$|(\.\d*?)0+$/, '$1');
}

/** A number with thousands separators; null as a dash. */
export function fmtNumber(x, digits = 0) {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  return Number(x).toLocaleString('en-US', {maximumFractionDigits: digits, minimumFractionDigits: 0});
}

/** A compact number: 1.2k, 3.4M. */
export function fmtCompact(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  const abs = Math.abs(x);
  if (abs >= 1e9) return `${trim(x / 1e9)}G`;
  if (abs >= 1e6) return `${trim(x / 1e6)}M`;
  if (abs >= 1e3) return `${trim(x / 1e3)}k`;
  return trim(x);
}

export function fmtPercent(fraction, digits = 1) {
  if (fraction === null || fraction === undefined || Number.isNaN(fraction)) return '—';
  return `${(fraction * 100).toFixed(digits)}%`;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** An attribute value as display text: strings as they are, the rest as JSON. */
export function fmtValue(v) {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return 'null';
  return JSON.stringify(v);
}

// ---- colours -----------------------------------------------------------------

export const PALETTE = [
  '#3b82f6', '#f59e0b', '#10b981', '#8b5cf6', '#ec4899', '#06b6d4',
  '#84cc16', '#f97316', '#6366f1', '#14b8a6', '#a855f7', '#eab308',
];

/** A stable colour for a name (same name, same colour, on every page). */
export function hashColor(name) {
  let hash = 2166136261;
  for (let i = 0; i < name.length; i += 1) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 16777619);
  }
  return PALETTE[(hash >>> 0) % PALETTE.length];
}

/** Distinct colours for a list of names, in order (wrapping after the palette). */
export function colorMap(names) {
  const map = new Map();
  names.forEach((name, i) => map.set(name, PALETTE[i % PALETTE.length]));
  return map;
}

// ---- small widgets -------------------------------------------------------------

export function statusBadge(status) {
  const code = status || 'unset';
  return h('span', {class: ['badge', `badge-${code}`]}, code);
}

export function serviceTag(name, color) {
  return h('span', {class: 'service-tag'},
    h('span', {class: 'swatch', style: {'background-color': color || hashColor(name)}}), name);
}

/** A two-column table of key/value pairs; values may be nodes or text. */
export function kvTable(rows, {mono = false} = {}) {
  const body = h('tbody');
  for (const [key, value] of rows) {
    if (value === undefined) continue;
    body.append(h('tr', {},
      h('th', {}, key),
      h('td', {class: mono ? 'mono' : null}, value instanceof Node ? value : fmtValue(value))));
  }
  return h('table', {class: 'kv'}, body);
}

/** A key/value table of an attribute map, keys sorted; "none" when empty. */
export function attributesTable(attrs) {
  const keys = Object.keys(attrs || {}).sort();
  if (keys.length === 0) return h('div', {class: 'muted small'}, 'none');
  return kvTable(keys.map((k) => [k, fmtValue(attrs[k])]), {mono: true});
}

/** A labelled form field. */
export function field(label, control, hint) {
  return h('label', {class: 'field'}, h('span', {class: 'field-label'}, label), control,
    hint ? h('span', {class: 'field-hint'}, hint) : null);
}

/** A <select> from [value, label] pairs, with `selected` chosen. */
export function select(name, options, selected, attrs = {}) {
  const el = h('select', {name, ...attrs});
  for (const [value, label] of options) {
    el.append(h('option', {value, selected: String(value) === String(selected ?? '')}, label));
  }
  return el;
}
