// The API reference at /docs: the server's OpenAPI document drawn as a page,
// with a "Try it" form on every GET operation.
//
// It replaces FastAPI's Swagger page, whose scripts come from a CDN and so stay
// blank on an offline cluster. outline() turns the document into plain data and
// touches no DOM, so a test runs it under node against the served document;
// the rest draws that data with textContent only.

import {apiUrl, describeDetail, getToken, onTokenChange, setToken} from './api.js';
import {clear, errorBox, fmtBytes, h, loading} from './dom.js';

const METHODS = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options', 'trace'];
const UNTAGGED = 'other';
const MAX_SHOWN_BYTES = 1 << 20; // a Try-it answer is read up to this much, then cut
const METHOD_COLORS = {
  get: ['#ddf4ff', '#0969da'],
  post: ['#dafbe1', '#1a7f37'],
  put: ['#fff8c5', '#9a6700'],
  patch: ['#fff8c5', '#9a6700'],
  delete: ['#ffebe9', '#cf222e'],
};

// ---- the document as plain data ---------------------------------------------

/** The schema a local reference ('#/components/schemas/X') names, siblings kept. */
function resolve(spec, schema, depth = 0) {
  if (!schema || typeof schema !== 'object') return {};
  const ref = schema.$ref;
  if (typeof ref !== 'string' || !ref.startsWith('#/') || depth > 16) return schema;
  let target = spec;
  for (const part of ref.slice(2).split('/')) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    target = target && typeof target === 'object' ? target[key] : undefined;
  }
  const {$ref: _, ...siblings} = schema;
  return {...resolve(spec, target, depth + 1), ...siblings, refName: ref.split('/').pop()};
}

/** The alternatives of a schema (anyOf/oneOf), resolved, the JSON null one left out. */
function alternatives(spec, schema) {
  const s = resolve(spec, schema);
  const list = s.anyOf || s.oneOf;
  if (!Array.isArray(list)) return [s];
  const kept = list.map((x) => resolve(spec, x)).filter((x) => x.type !== 'null');
  return kept.length ? kept : [s];
}

/** A short type text: "string", "integer, 1 to 10000", "array of string". */
function typeText(spec, schema) {
  const texts = alternatives(spec, schema).map((s) => {
    let text = Array.isArray(s.type) ? s.type.filter((t) => t !== 'null').join(' | ') : (s.type || s.refName || 'any');
    if (s.type === 'array') text = `array of ${typeText(spec, s.items)}`;
    if (s.format) text += ` (${s.format})`;
    const bounds = [];
    if (s.minimum !== undefined) bounds.push(`≥ ${s.minimum}`);
    if (s.maximum !== undefined) bounds.push(`≤ ${s.maximum}`);
    if (s.minLength !== undefined) bounds.push(`length ≥ ${s.minLength}`);
    if (s.maxLength !== undefined) bounds.push(`length ≤ ${s.maxLength}`);
    if (s.maxProperties !== undefined) bounds.push(`≤ ${s.maxProperties} keys`);
    return bounds.length ? `${text}, ${bounds.join(', ')}` : text;
  });
  return [...new Set(texts)].join(' | ');
}

/** One parameter as the table and the Try-it form show it. */
function parameterOutline(spec, raw) {
  const param = resolve(spec, raw);
  // A parameter has either a schema or a content map holding one (JSON-encoded values).
  const media = param.content && typeof param.content === 'object' ? Object.keys(param.content)[0] : undefined;
  const schema = resolve(spec, param.schema || (media ? param.content[media].schema : undefined));
  const alts = alternatives(spec, schema);
  const pick = (key) => (schema[key] !== undefined ? schema[key] : alts.map((a) => a[key]).find((v) => v !== undefined));
  const choices = pick('enum');
  const fallback = pick('default');
  const simple = alts.length === 1 ? alts[0].type : undefined;
  return {
    name: String(param.name ?? ''),
    in: String(param.in ?? ''),
    required: Boolean(param.required),
    type: typeText(spec, schema) + (media ? ` as ${media}` : ''),
    input: Array.isArray(choices) ? 'choice' : (simple === 'integer' || simple === 'number' || simple === 'boolean' ? simple : 'text'),
    choices: Array.isArray(choices) ? choices.map(String) : [],
    minimum: pick('minimum'),
    maximum: pick('maximum'),
    pattern: pick('pattern') ?? '',
    default: fallback === undefined ? '' : (typeof fallback === 'string' ? fallback : JSON.stringify(fallback)),
    description: String(param.description || schema.description || ''),
    deprecated: Boolean(param.deprecated),
  };
}

/** Path-level parameters overridden by the operation's own (same name and place). */
function mergedParameters(spec, pathItem, operation) {
  const byKey = new Map();
  for (const raw of [...(pathItem.parameters || []), ...(operation.parameters || [])]) {
    const p = parameterOutline(spec, raw);
    byKey.set(`${p.in}:${p.name}`, p);
  }
  return [...byKey.values()];
}

function anchorOf(method, path, operation) {
  const base = operation.operationId || `${method}${path}`;
  return `op-${String(base).replace(/[^\w-]+/g, '-')}`;
}

/**
 * The OpenAPI document as {title, version, summary, description, openapi,
 * count, groups: [{tag, description, operations: [{anchor, method, path,
 * summary, description, deprecated, parameters, responses}]}]}, groups and
 * operations in document order. Pure: no DOM, no network.
 */
export function outline(spec) {
  const info = spec.info || {};
  const tagInfo = new Map((spec.tags || []).map((t) => [t.name, t.description || '']));
  const groups = new Map([...tagInfo.keys()].map((name) => [name, []]));
  let count = 0;
  for (const [path, rawItem] of Object.entries(spec.paths || {})) {
    const pathItem = resolve(spec, rawItem);
    for (const method of METHODS) {
      const operation = pathItem[method];
      if (!operation) continue;
      count += 1;
      const entry = {
        anchor: anchorOf(method, path, operation),
        method,
        path,
        summary: String(operation.summary || ''),
        description: String(operation.description || ''),
        deprecated: Boolean(operation.deprecated),
        parameters: mergedParameters(spec, pathItem, operation),
        responses: Object.entries(operation.responses || {}).map(([status, raw]) => {
          const response = resolve(spec, raw);
          return {status, description: String(response.description || ''), contentTypes: Object.keys(response.content || {})};
        }).sort((a, b) => a.status.localeCompare(b.status)),
      };
      const tags = Array.isArray(operation.tags) && operation.tags.length ? operation.tags : [UNTAGGED];
      for (const tag of tags) {
        if (!groups.has(tag)) groups.set(tag, []);
        groups.get(tag).push(entry);
      }
    }
  }
  return {
    title: String(info.title || 'API'),
    version: String(info.version || ''),
    summary: String(info.summary || ''),
    description: String(info.description || ''),
    openapi: String(spec.openapi || ''),
    count,
    groups: [...groups].filter(([, ops]) => ops.length)
      .map(([tag, operations]) => ({tag, description: tagInfo.get(tag) || '', operations})),
  };
}

// ---- drawing -------------------------------------------------------------------

function methodBadge(method) {
  const [background, color] = METHOD_COLORS[method] || ['#eaeef2', '#57606a'];
  return h('span', {class: 'badge mono', style: {background, color, 'min-width': '4.2em', 'text-align': 'center'}}, method);
}

function paragraph(text) {
  return text ? h('p', {style: {'white-space': 'pre-line', margin: '6px 0'}}, text) : null;
}

function parametersTable(params) {
  if (!params.length) return h('div', {class: 'muted small'}, 'No parameters.');
  const cols = ['Name', 'In', 'Required', 'Type', 'Pattern', 'Default', 'Description'];
  const body = h('tbody');
  for (const p of params) {
    body.append(h('tr', {},
      h('td', {class: 'mono nowrap'}, p.name, p.deprecated ? h('span', {class: 'muted'}, ' (deprecated)') : null),
      h('td', {}, p.in),
      h('td', {class: p.required ? null : 'muted'}, p.required ? 'yes' : 'no'),
      h('td', {class: 'mono'}, p.type, p.choices.length ? h('div', {class: 'muted'}, p.choices.join(' | ')) : null),
      h('td', {class: 'mono small', style: {'word-break': 'break-all', 'max-width': '22em'}}, p.pattern),
      h('td', {class: 'mono'}, p.default),
      h('td', {}, p.description)));
  }
  return h('div', {class: 'table-wrap'}, h('table', {class: 'data compact'},
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', {}, c)))), body));
}

function responsesTable(responses) {
  if (!responses.length) return h('div', {class: 'muted small'}, 'No responses documented.');
  const body = h('tbody');
  for (const r of responses) {
    body.append(h('tr', {},
      h('td', {}, h('span', {class: ['badge', r.status.startsWith('2') ? 'badge-ok' : 'badge-error']}, r.status)),
      h('td', {class: 'wide'}, r.description),
      h('td', {class: 'mono small'}, r.contentTypes.join(', '))));
  }
  return h('div', {class: 'table-wrap'}, h('table', {class: 'data compact'},
    h('thead', {}, h('tr', {}, ['Status', 'Description', 'Content'].map((c) => h('th', {}, c)))), body));
}

function inputFor(p) {
  const attrs = {name: p.name, required: p.required, 'aria-label': p.name, spellcheck: 'false'};
  if (p.input === 'choice' || p.input === 'boolean') {
    const choices = p.input === 'boolean' ? ['true', 'false'] : p.choices;
    const el = h('select', attrs, h('option', {value: ''}, p.default ? `default (${p.default})` : '—'));
    for (const c of choices) el.append(h('option', {value: c}, c));
    return el;
  }
  if (p.input === 'integer' || p.input === 'number') {
    return h('input', {...attrs, type: 'number', step: p.input === 'integer' ? '1' : 'any', min: p.minimum, max: p.maximum,
      placeholder: p.default});
  }
  return h('input', {...attrs, type: 'text', placeholder: p.default || (p.in === 'path' ? 'required' : '')});
}

/** The answer's body as text, read up to MAX_SHOWN_BYTES: [text, bytesRead, cut]. */
async function readCapped(response) {
  if (!response.body || !response.body.getReader) {
    const buf = new Uint8Array(await response.arrayBuffer());
    return [buf.subarray(0, MAX_SHOWN_BYTES), buf.length, buf.length > MAX_SHOWN_BYTES];
  }
  const reader = response.body.getReader();
  const chunks = [];
  let size = 0;
  let cut = false;
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
    if (size >= MAX_SHOWN_BYTES) {
      cut = true;
      await reader.cancel();
      break;
    }
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return [all.subarray(0, MAX_SHOWN_BYTES), size, cut];
}

const TEXTUAL = /^(text\/|application\/(json|x-ndjson|[\w.+-]*\+json)\b)/;

/** The Try-it result panel's content for one answer. */
async function describeAnswer(response, started) {
  const ms = Math.round(performance.now() - started);
  const type = response.headers.get('content-type') || '';
  const [bytes, size, cut] = await readCapped(response);
  const status = h('div', {class: 'results-head'},
    h('span', {class: ['badge', response.ok ? 'badge-ok' : 'badge-error']}, String(response.status)),
    h('span', {}, response.statusText),
    h('span', {class: 'muted small'}, `${ms} ms · ${type || 'no content type'} · ${cut ? 'over ' : ''}${fmtBytes(size)}`));
  let text;
  let note = null;
  if (!TEXTUAL.test(type) && size > 0) {
    text = `(${fmtBytes(size)} of ${type || 'binary data'}, not shown)`;
  } else {
    text = new TextDecoder().decode(bytes);
    if (!cut && type.includes('json') && !type.includes('ndjson')) {
      try {
        const parsed = JSON.parse(text);
        text = JSON.stringify(parsed, null, 2);
        if (!response.ok && parsed && parsed.detail !== undefined) note = describeDetail(parsed.detail);
      } catch {
        // not valid JSON after all: show it as it came
      }
    }
    if (cut) note = `Only the first ${fmtBytes(MAX_SHOWN_BYTES)} is shown.`;
  }
  if (response.status === 401) note = 'The server wants an API token: enter it in the top bar (it is shared with the web UI).';
  return [status, note ? h('div', {class: 'muted small'}, note) : null,
    h('pre', {class: 'log-body card', style: {'max-height': '480px', overflow: 'auto', 'margin-top': '8px'}}, text || '(empty body)')];
}

/** The request as a shell command; the token itself stays out of the page. */
function curlLine(url, token) {
  const quoted = `'${url.href.replace(/'/g, "'\\''")}'`;
  return `curl ${token ? '-H "Authorization: Bearer $INFERTRACE_API_TOKEN" ' : ''}${quoted}`;
}

function tryIt(op) {
  const result = h('div', {'aria-live': 'polite'});
  const fields = op.parameters.map((p) => h('label', {class: 'field'},
    h('span', {class: 'field-label mono'}, p.required ? `${p.name} *` : p.name), inputFor(p)));
  const send = h('button', {type: 'submit', class: 'primary'}, 'Send');
  let inflight = null;
  const form = h('form', {class: 'toolbar', autocomplete: 'off', novalidate: true}, fields, send);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (inflight) inflight.abort();
    const controller = new AbortController();
    inflight = controller;
    const pathParams = {};
    const query = [];
    const headers = {};
    for (const p of op.parameters) {
      const value = form.elements.namedItem(p.name)?.value?.trim() ?? '';
      if (p.in === 'path') pathParams[p.name] = value || null;
      else if (p.in === 'query' && value !== '') query.push([p.name, value]);
      else if (p.in === 'header' && value !== '') headers[p.name] = value;
    }
    clear(result);
    let url;
    try {
      url = apiUrl(op.path, pathParams, new URLSearchParams(query));
    } catch (err) {
      result.append(errorBox(err));
      return;
    }
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    const pending = loading('Waiting for the answer…');
    result.append(h('div', {class: 'mono small', style: {'word-break': 'break-all', margin: '8px 0'}}, curlLine(url, token)), pending);
    const started = performance.now();
    try {
      const response = await fetch(url, {headers, signal: controller.signal, cache: 'no-store'});
      const parts = await describeAnswer(response, started);
      pending.replaceWith(h('div', {}, parts));
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      pending.replaceWith(errorBox(`cannot reach the server (${err && err.message ? err.message : err})`));
    } finally {
      if (inflight === controller) inflight = null;
    }
  });
  return h('details', {class: 'try-it', style: {'margin-top': '12px'}},
    h('summary', {style: {cursor: 'pointer', 'font-weight': '600'}}, 'Try it'),
    h('div', {style: {'margin-top': '8px'}}, form, result));
}

function operationCard(op) {
  // scroll-margin: a jump to the card's anchor stops below the sticky top bar.
  return h('section', {class: 'card', id: op.anchor, style: {'scroll-margin-top': '62px'}},
    h('div', {class: 'section-head'}, methodBadge(op.method),
      h('h3', {class: 'mono', style: {'word-break': 'break-all'}}, op.path),
      op.deprecated ? h('span', {class: 'badge'}, 'deprecated') : null,
      h('span', {class: 'muted'}, op.summary)),
    paragraph(op.description),
    h('h4', {style: {'margin-top': '12px'}}, 'Parameters'), parametersTable(op.parameters),
    h('h4', {style: {'margin-top': '12px'}}, 'Responses'), responsesTable(op.responses),
    op.method === 'get' ? tryIt(op) : null);
}

function contents(doc) {
  const list = h('nav', {'aria-label': 'Operations'});
  for (const group of doc.groups) {
    list.append(h('h4', {style: {'margin-top': '10px'}}, group.tag));
    for (const op of group.operations) {
      list.append(h('div', {style: {display: 'flex', gap: '6px', 'align-items': 'baseline', padding: '2px 0'}},
        methodBadge(op.method),
        h('a', {href: `#${op.anchor}`, class: 'mono small', title: op.summary, style: {'word-break': 'break-all'}}, op.path)));
    }
  }
  return h('aside', {class: 'card', style: {position: 'sticky', top: '62px', 'max-height': 'calc(100vh - 80px)', overflow: 'auto'}},
    list);
}

function page(doc) {
  const head = h('div', {class: 'card'},
    h('div', {class: 'results-head'}, h('h2', {}, doc.title), doc.version ? h('span', {class: 'badge'}, doc.version) : null,
      h('span', {class: 'muted small'}, `OpenAPI ${doc.openapi} · ${doc.count} operations`)),
    paragraph(doc.summary), paragraph(doc.description),
    h('p', {class: 'muted small', style: {margin: '6px 0 0'}},
      'Every path is relative to this server. "Try it" sends the API token saved in this browser (the web UI\'s) as a bearer token.'));
  const sections = doc.groups.map((group, i) => h('div', {class: 'view', style: {'padding-top': i ? '10px' : '0'}},
    h('h2', {style: {margin: '0'}}, group.tag), paragraph(group.description), group.operations.map(operationCard)));
  return [head, h('div', {class: 'with-sidebar'}, contents(doc), h('div', {class: 'results'}, sections))];
}

// ---- the page ------------------------------------------------------------------

function tokenBar() {
  const form = document.getElementById('token-form');
  const forget = document.getElementById('token-forget');
  if (!form || !forget) return;
  const input = form.elements.namedItem('token');
  const show = (has) => {
    input.placeholder = has ? 'API token saved ✓' : 'API token…';
    forget.hidden = !has;
  };
  onTokenChange(show);
  show(Boolean(getToken()));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const given = input.value.trim();
    input.value = '';
    if (given) setToken(given);
  });
  forget.addEventListener('click', () => setToken(''));
}

async function start() {
  tokenBar();
  const main = document.getElementById('docs');
  clear(main).append(loading('Loading the OpenAPI document…'));
  try {
    const response = await fetch(new URL('openapi.json', document.baseURI), {cache: 'no-store'});
    if (!response.ok) throw new Error(`openapi.json answered ${response.status} ${response.statusText}`.trim());
    const doc = outline(await response.json());
    document.title = `${doc.title} — API reference`;
    clear(main).append(...page(doc));
    const target = window.location.hash ? document.getElementById(decodeURIComponent(window.location.hash.slice(1))) : null;
    if (target) target.scrollIntoView();
  } catch (err) {
    clear(main).append(errorBox(err));
  }
}

if (typeof document !== 'undefined') start();
