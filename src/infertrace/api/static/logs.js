// The logs view: filters in a bar, newest records first; a row opens its attributes.

import {getJSON} from './api.js';
import {
  attributesTable, clear, emptyState, errorBox, field, fmtNumber, fmtTime, h, loading, select,
  serviceTag,
} from './dom.js';
import {go, hashFor} from './route.js';
import {dataTable} from './table.js';
import {timeRange} from './timerange.js';

/** OTLP severity number ranges: 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL. */
export const SEVERITIES = [['', 'Any'], ['5', 'DEBUG and up'], ['9', 'INFO and up'], ['13', 'WARN and up'], ['17', 'ERROR and up'], ['21', 'FATAL']];

function severityName(n) {
  if (!n) return 'UNSET';
  return ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'][Math.min(5, Math.floor((n - 1) / 4))];
}

function severityBadge(record) {
  const name = severityName(record.severity_number);
  return h('span', {class: ['badge', `sev-${name.toLowerCase()}`], title: `severity ${record.severity_number}`},
    record.severity_text || name);
}

function detail(record) {
  return h('div', {class: 'log-detail'},
    h('div', {class: 'detail-section'}, h('h4', {}, 'Body'), h('pre', {class: 'log-body'}, record.body)),
    h('div', {class: 'detail-columns'},
      h('div', {class: 'detail-section'}, h('h4', {}, 'Attributes'), attributesTable(record.attributes)),
      h('div', {class: 'detail-section'}, h('h4', {}, 'Resource attributes'), attributesTable(record.resource_attributes))));
}

function table(records) {
  return dataTable({
    rows: records,
    expand: detail,
    sortBy: 0,
    rowClass: (r) => (r.severity_number >= 17 ? 'row-error' : r.severity_number >= 13 ? 'row-warn' : null),
    columns: [
      {label: 'Time', render: (r) => fmtTime(r.time_unix_nano), sort: (r) => r.time_unix_nano, className: 'nowrap'},
      {label: 'Service', render: (r) => serviceTag(r.service_name), sort: (r) => r.service_name},
      {label: 'Severity', render: severityBadge, sort: (r) => r.severity_number},
      {label: 'Message', render: (r) => h('span', {class: 'log-line'}, r.body), className: 'wide'},
      {
        label: 'Trace',
        render: (r) => (r.trace_id
          ? h('a', {href: hashFor(`trace/${r.trace_id}`, r.span_id ? {span: r.span_id} : {}), class: 'mono'}, r.trace_id.slice(0, 8))
          : '—'),
      },
    ],
  });
}

export async function render(root, params, {signal}) {
  const service = select('service', [['', 'All services']], params.get('service'));
  const severity = select('min_severity', SEVERITIES, params.get('min_severity'));
  const traceId = h('input', {name: 'trace_id', placeholder: '32 hex characters', value: params.get('trace_id') || '', class: 'mono', size: 34});
  const contains = h('input', {name: 'contains', placeholder: 'text in the message', value: params.get('contains') || ''});
  const range = timeRange(params, '1h');
  const limit = h('input', {name: 'limit', type: 'number', min: 1, max: 10000, value: params.get('limit') || 200});
  const form = h('form', {class: 'toolbar card', autocomplete: 'off'},
    h('h2', {}, 'Logs'),
    field('Service', service), field('Min severity', severity), field('Trace ID', traceId),
    field('Contains', contains), range.element, field('Limit', limit),
    h('button', {type: 'submit', class: 'primary'}, 'Search'));
  const results = h('section', {}, loading('Searching logs…'));
  root.append(form, results);

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const {since, until} = range.read();
    go('logs', {
      service: service.value, min_severity: severity.value, trace_id: traceId.value.trim(),
      contains: contains.value, since, until, limit: limit.value,
    }, ['since']);
  });

  getJSON('/api/services', {signal}).then((a) => {
    const current = params.get('service') || '';
    clear(service).append(h('option', {value: ''}, 'All services'));
    const names = a.services.includes(current) || !current ? a.services : [...a.services, current];
    for (const name of names) service.append(h('option', {value: name, selected: name === current}, name));
  }).catch(() => {
    // the search below reports API errors
  });

  const query = {};
  for (const [k, v] of params.entries()) if (v !== '') query[k] = v;
  if (!params.has('since') && !params.has('until')) query.since = '1h';
  if (!query.limit) query.limit = '200';
  try {
    const answer = await getJSON('/api/logs', {query, signal});
    clear(results);
    results.append(h('div', {class: 'results-head'},
      h('h2', {}, `${fmtNumber(answer.count)} record${answer.count === 1 ? '' : 's'}`),
      answer.truncated ? h('span', {class: 'muted'}, `the newest ${fmtNumber(answer.limit)} (the limit)`) : null,
      params.get('trace_id') ? h('a', {href: hashFor(`trace/${params.get('trace_id')}`)}, 'Open the trace') : null));
    if (answer.logs.length === 0) {
      results.append(emptyState('No log records match.', 'Widen the time range or remove a filter.'));
      return;
    }
    results.append(h('div', {class: 'card'}, table(answer.logs)));
  } catch (err) {
    if (err.name === 'AbortError') return;
    clear(results).append(errorBox(err));
  }
}
