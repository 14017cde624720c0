// The search view: filters on the left; on the right the matching traces (one row each,
// from /api/trace-summaries) or, toggled, the matching spans, with a duration scatter.

import {getJSON} from './api.js';
import {scatterChart} from './chart.js';
import {
  clear, emptyState, errorBox, field, fmtDuration, fmtNumber, fmtTime, h, hashColor, loading,
  select, serviceTag, statusBadge,
} from './dom.js';
import {go, hashFor} from './route.js';
import {dataTable} from './table.js';
import {parseAttributeLines, timeRange} from './timerange.js';

const DEFAULT_LIMIT = 100;
const ATTR = 'attr.';
/** The `show` parameter: what the results list. Not sent to the API. */
const SHOW = ['traces', 'spans'];

function optionsOf(values, allLabel, selected) {
  const list = [['', allLabel], ...values.map((v) => [v, v])];
  if (selected && !values.includes(selected)) list.push([selected, selected]);
  return list;
}

function fillSelect(el, values, allLabel, selected) {
  clear(el);
  for (const [value, label] of optionsOf(values, allLabel, selected)) {
    el.append(h('option', {value, selected: value === (selected || '')}, label));
  }
}

/** The trace link of a span, selecting that span. */
export function spanHref(span) {
  return hashFor(`trace/${span.trace_id}`, {span: span.span_id});
}

function tokens(span) {
  if (span.input_tokens === null && span.output_tokens === null) return '—';
  return `${fmtNumber(span.input_tokens)} → ${fmtNumber(span.output_tokens)}`;
}

function resultsTable(spans) {
  const longest = Math.max(1, ...spans.map((sp) => sp.duration_nanos));
  return dataTable({
    rows: spans,
    rowHref: spanHref,
    rowClass: (sp) => (sp.status_code === 'error' ? 'row-error' : null),
    sortBy: 0,
    columns: [
      {label: 'Start time', render: (sp) => fmtTime(sp.start_time_unix_nano), sort: (sp) => sp.start_time_unix_nano, className: 'nowrap'},
      {label: 'Service', render: (sp) => serviceTag(sp.service_name), sort: (sp) => sp.service_name},
      {label: 'Operation', render: (sp) => h('a', {href: spanHref(sp)}, sp.operation_name), sort: (sp) => sp.operation_name},
      {label: 'Model', render: (sp) => sp.model_name || '—', sort: (sp) => sp.model_name || ''},
      {
        label: 'Duration',
        align: 'right',
        sort: (sp) => sp.duration_nanos,
        render: (sp) => h('div', {class: 'duration-cell'},
          h('span', {class: 'duration-bar', style: {width: `${Math.max(1, (sp.duration_nanos / longest) * 100).toFixed(1)}%`}}),
          h('span', {}, fmtDuration(sp.duration_nanos))),
      },
      {label: 'Status', render: (sp) => statusBadge(sp.status_code), sort: (sp) => sp.status_code},
      {label: 'Tokens in → out', align: 'right', render: tokens, sort: (sp) => sp.output_tokens},
    ],
  });
}

function scatter(spans) {
  let t0 = Infinity;
  let t1 = -Infinity;
  for (const sp of spans) {
    t0 = Math.min(t0, sp.start_time_unix_nano);
    t1 = Math.max(t1, sp.start_time_unix_nano);
  }
  const pad = Math.max((t1 - t0) * 0.03, 1e9);
  return scatterChart({
    t0: t0 - pad,
    t1: t1 + pad,
    yFormat: fmtDuration,
    points: spans.map((sp) => ({
      t: sp.start_time_unix_nano,
      v: sp.duration_nanos,
      color: hashColor(sp.service_name),
      error: sp.status_code === 'error',
      label: `${sp.service_name}: ${sp.operation_name}\n${fmtDuration(sp.duration_nanos)} at ${fmtTime(sp.start_time_unix_nano)}`,
      onClick: () => {
        window.location.hash = spanHref(sp);
      },
    })),
  });
}

/** The trace link of a trace summary row. */
export function traceHref(row) {
  return hashFor(`trace/${row.trace_id}`);
}

function traceTable(rows) {
  const longest = Math.max(1, ...rows.map((r) => r.duration_nanos));
  return dataTable({
    rows,
    rowHref: traceHref,
    rowClass: (r) => (r.error_count > 0 ? 'row-error' : null),
    sortBy: 0,
    columns: [
      {label: 'Start time', render: (r) => fmtTime(r.start_time_unix_nano), sort: (r) => r.start_time_unix_nano, className: 'nowrap'},
      {label: 'Trace', render: (r) => h('a', {href: traceHref(r), class: 'mono', title: r.trace_id}, r.trace_id.slice(0, 8)), sort: (r) => r.trace_id},
      {label: 'Root service', render: (r) => serviceTag(r.root_service_name), sort: (r) => r.root_service_name},
      {label: 'Root operation', render: (r) => r.root_operation_name, sort: (r) => r.root_operation_name},
      {label: 'Services', render: (r) => r.services.join(', '), sort: (r) => r.services.length},
      {label: 'Spans', align: 'right', render: (r) => fmtNumber(r.span_count), sort: (r) => r.span_count},
      {label: 'Errors', align: 'right', render: (r) => fmtNumber(r.error_count), sort: (r) => r.error_count},
      {
        label: 'Duration',
        align: 'right',
        sort: (r) => r.duration_nanos,
        render: (r) => h('div', {class: 'duration-cell'},
          h('span', {class: 'duration-bar', style: {width: `${Math.max(1, (r.duration_nanos / longest) * 100).toFixed(1)}%`}}),
          h('span', {}, fmtDuration(r.duration_nanos))),
      },
    ],
  });
}

/** Links between the two lists, keeping the filters; the current one is marked. */
function showToggle(params, show) {
  const links = SHOW.map((name) => {
    const query = new URLSearchParams(params);
    query.set('show', name);
    const current = name === show;
    return h('a', {
      href: hashFor('search', query),
      class: ['toggle-option', current ? 'active' : null],
      'data-show': name,
      'aria-current': current ? 'true' : null,
    }, name === 'traces' ? 'Traces' : 'Spans');
  });
  return h('nav', {class: 'show-toggle', 'aria-label': 'List traces or spans'}, ...links);
}

async function runSearch(results, query, signal, {show, toggle}) {
  const traces = show === 'traces';
  clear(results).append(loading(traces ? 'Searching traces…' : 'Searching spans…'));
  try {
    const answer = await getJSON(traces ? '/api/trace-summaries' : '/api/spans', {query, signal});
    clear(results);
    const rows = traces ? answer.traces : answer.spans;
    const noun = traces ? 'trace' : 'span';
    const summary = h('div', {class: 'results-head'},
      h('h2', {}, `${fmtNumber(answer.count)} ${noun}${answer.count === 1 ? '' : 's'}`),
      toggle,
      answer.truncated ? h('span', {class: 'muted'}, `the newest ${fmtNumber(answer.limit)} (the limit); narrow the search or raise the limit`) : null);
    results.append(summary);
    if (rows.length === 0) {
      results.append(emptyState(`No ${noun}s match these filters.`, 'Widen the time range or remove a filter.'));
      return;
    }
    if (traces) {
      results.append(h('div', {class: 'card'}, traceTable(rows)));
      return;
    }
    results.append(h('div', {class: 'card chart-card'}, h('div', {class: 'card-title'}, 'Duration over time'), scatter(rows)));
    results.append(h('div', {class: 'card'}, resultsTable(rows)));
  } catch (err) {
    if (err.name === 'AbortError') return;
    clear(results).append(errorBox(err));
  }
}

export async function render(root, params, {signal}) {
  const show = SHOW.includes(params.get('show')) ? params.get('show') : SHOW[0];
  const service = select('service', [['', 'All services']], params.get('service'));
  const operation = select('operation', [['', 'All operations']], params.get('operation'));
  const model = select('model', [['', 'All models']], params.get('model'));
  const range = timeRange(params, '1h');
  const minDuration = h('input', {name: 'min_duration', placeholder: 'e.g. 100ms', value: params.get('min_duration') || ''});
  const maxDuration = h('input', {name: 'max_duration', placeholder: 'e.g. 2s', value: params.get('max_duration') || ''});
  const status = select('status', [['', 'Any'], ['ok', 'OK'], ['error', 'Error'], ['unset', 'Unset']], params.get('status'));
  const attrLines = [...params.entries()].filter(([k]) => k.startsWith(ATTR)).map(([k, v]) => `${k.slice(ATTR.length)}=${v}`);
  const attributes = h('textarea', {name: 'attributes', rows: 3, placeholder: 'gen_ai.system=vllm\nhttp.status_code=500', spellcheck: 'false'});
  attributes.value = attrLines.join('\n');
  const limit = h('input', {name: 'limit', type: 'number', min: 1, max: show === 'traces' ? 1000 : 10000, value: params.get('limit') || DEFAULT_LIMIT});
  const formError = h('div', {class: 'form-error', role: 'alert'});

  const form = h('form', {class: 'filters', autocomplete: 'off'},
    h('h2', {}, 'Search'),
    field('Service', service),
    field('Operation', operation),
    field('Model', model),
    range.element,
    h('div', {class: 'field-row'}, field('Min duration', minDuration), field('Max duration', maxDuration)),
    field('Status', status),
    field('Attributes', attributes, 'key=value, one per line; quote a value to match it as text'),
    field('Limit', limit),
    formError,
    h('button', {type: 'submit', class: 'primary'}, show === 'traces' ? 'Find traces' : 'Find spans'));

  const results = h('section', {class: 'results'});
  root.append(h('div', {class: 'with-sidebar'}, h('aside', {class: 'card sidebar'}, form), results));

  const loadOperations = async (selected) => {
    const name = service.value;
    operation.disabled = !name;
    if (!name) {
      fillSelect(operation, [], 'All operations', '');
      return;
    }
    try {
      const answer = await getJSON('/api/services/{service}/operations', {params: {service: name}, signal});
      fillSelect(operation, answer.operations, 'All operations', selected);
    } catch (err) {
      if (err.name !== 'AbortError') formError.textContent = `Operations: ${err.message}`;
    }
  };
  service.addEventListener('change', () => loadOperations(''));

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    formError.textContent = '';
    let pairs;
    try {
      pairs = parseAttributeLines(attributes.value);
    } catch (err) {
      formError.textContent = err.message;
      return;
    }
    const {since, until} = range.read();
    const query = new URLSearchParams();
    const put = (k, v) => {
      if (v) query.append(k, v);
    };
    put('service', service.value);
    put('operation', operation.value);
    put('model', model.value);
    query.append('since', since);
    put('until', until);
    put('min_duration', minDuration.value.trim());
    put('max_duration', maxDuration.value.trim());
    put('status', status.value);
    for (const [k, v] of pairs) query.append(`${ATTR}${k}`, v);
    put('limit', limit.value);
    if (show !== SHOW[0]) query.append('show', show);
    go('search', query, ['since']);
  });

  const lists = Promise.all([
    getJSON('/api/services', {signal}).then((a) => fillSelect(service, a.services, 'All services', params.get('service'))),
    getJSON('/api/models', {signal}).then((a) => fillSelect(model, a.models, 'All models', params.get('model'))),
  ]).then(() => loadOperations(params.get('operation'))).catch((err) => {
    if (err.name !== 'AbortError') formError.textContent = err.message;
  });

  const query = new URLSearchParams();
  for (const [k, v] of params.entries()) if (v !== '' && k !== 'show') query.append(k, v);
  if (!params.has('since') && !params.has('until')) query.set('since', '1h');
  if (!query.has('limit')) query.set('limit', String(DEFAULT_LIMIT));
  const toggle = showToggle(params, show);
  await Promise.all([lists, runSearch(results, query, signal, {show, toggle})]);
}
