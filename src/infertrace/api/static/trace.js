// The trace view: a waterfall of the trace's spans and the details of each span.

import {getJSON} from './api.js';
import {
  attributesTable, clear, colorMap, errorBox, fmtDuration, fmtNumber, fmtPercent, fmtTime, fmtValue,
  h, kvTable, loading, serviceTag, statusBadge,
} from './dom.js';
import {hashFor, lastHash} from './route.js';

const MAX_ROWS = 5000;

/**
 * Spans in tree order: [{span, depth, childCount}], children by start time.
 * A span whose parent is not in the trace is a root; cycles cannot loop.
 */
export function treeRows(spans) {
  const byId = new Map(spans.map((sp) => [sp.span_id, sp]));
  const children = new Map();
  const roots = [];
  for (const sp of spans) {
    const parent = sp.parent_span_id;
    if (parent && parent !== sp.span_id && byId.has(parent)) {
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(sp);
    } else {
      roots.push(sp);
    }
  }
  const byStart = (a, b) => a.start_time_unix_nano - b.start_time_unix_nano;
  roots.sort(byStart);
  for (const list of children.values()) list.sort(byStart);
  const rows = [];
  const seen = new Set();
  const walk = (start) => {
    const stack = [[start, 0]];
    while (stack.length) {
      const [sp, depth] = stack.pop();
      if (seen.has(sp.span_id)) continue;
      seen.add(sp.span_id);
      const kids = children.get(sp.span_id) || [];
      rows.push({span: sp, depth, childCount: kids.length});
      for (let i = kids.length - 1; i >= 0; i -= 1) stack.push([kids[i], depth + 1]);
    }
  };
  for (const root of roots) walk(root);
  for (const sp of [...spans].sort(byStart)) if (!seen.has(sp.span_id)) walk(sp); // parent cycles
  return rows;
}

function hasModelFields(sp) {
  return ['model_name', 'model_version', 'batch_size', 'input_tokens', 'output_tokens', 'gpu_utilization', 'time_to_first_token_nanos']
    .some((k) => sp[k] !== null && sp[k] !== undefined);
}

function decodeRate(sp) {
  if (!sp.output_tokens) return null;
  const decode = sp.duration_nanos - (sp.time_to_first_token_nanos || 0);
  return decode > 0 ? sp.output_tokens / (decode / 1e9) : null;
}

function section(title, body) {
  return h('div', {class: 'detail-section'}, h('h4', {}, title), body);
}

function spanDetail(sp, trace) {
  const offset = sp.start_time_unix_nano - trace.start_time_unix_nano;
  const sections = [
    section('Span', kvTable([
      ['Service', sp.service_name],
      ['Operation', sp.operation_name],
      ['Kind', sp.kind],
      ['Span ID', h('code', {}, sp.span_id)],
      ['Parent span ID', sp.parent_span_id ? h('code', {}, sp.parent_span_id) : '— (root)'],
      ['Start', `${fmtTime(sp.start_time_unix_nano)}  (+${fmtDuration(offset)})`],
      ['Duration', fmtDuration(sp.duration_nanos)],
      ['Status', h('span', {}, statusBadge(sp.status_code), sp.status_message ? ` ${sp.status_message}` : '')],
    ])),
  ];
  if (hasModelFields(sp)) {
    const rate = decodeRate(sp);
    sections.push(section('Model', kvTable([
      ['Model', sp.model_name ?? '—'],
      ['Version', sp.model_version ?? '—'],
      ['Batch size', fmtNumber(sp.batch_size)],
      ['Input tokens', fmtNumber(sp.input_tokens)],
      ['Output tokens', fmtNumber(sp.output_tokens)],
      ['Time to first token', fmtDuration(sp.time_to_first_token_nanos)],
      ['Decode rate', rate === null ? '—' : `${fmtNumber(rate, 1)} tokens/s`],
      ['GPU utilization', fmtPercent(sp.gpu_utilization)],
    ])));
  }
  sections.push(section(`Attributes (${Object.keys(sp.attributes).length})`, attributesTable(sp.attributes)));
  sections.push(section(`Resource attributes (${Object.keys(sp.resource_attributes).length})`, attributesTable(sp.resource_attributes)));
  if (sp.events.length) {
    const body = h('tbody');
    for (const ev of sp.events) {
      const attrs = Object.entries(ev.attributes).map(([k, v]) => `${k}=${fmtValue(v)}`).join('  ');
      body.append(h('tr', {},
        h('td', {class: 'num nowrap'}, `+${fmtDuration(ev.time_unix_nano - sp.start_time_unix_nano)}`),
        h('td', {}, ev.name),
        h('td', {class: 'mono small'}, attrs)));
    }
    sections.push(section(`Events (${sp.events.length})`, h('table', {class: 'data compact'},
      h('thead', {}, h('tr', {}, h('th', {class: 'num'}, 'At'), h('th', {}, 'Name'), h('th', {}, 'Attributes'))), body)));
  }
  if (sp.links.length) {
    sections.push(section(`Links (${sp.links.length})`, h('ul', {class: 'links'}, sp.links.map((link) =>
      h('li', {}, h('a', {href: hashFor(`trace/${link.trace_id}`, {span: link.span_id})}, `${link.trace_id} / ${link.span_id}`))))));
  }
  return h('div', {class: 'span-detail'}, sections);
}

function ruler(total) {
  const ticks = h('div', {class: 'wf-ticks'});
  for (let i = 0; i <= 4; i += 1) {
    ticks.append(h('span', {class: 'wf-tick', style: {left: `${i * 25}%`}}, fmtDuration((total * i) / 4)));
  }
  return h('div', {class: 'wf-row wf-head'},
    h('div', {class: 'wf-name'}, 'Service · operation'), h('div', {class: 'wf-timeline'}, ticks));
}

function gridLines() {
  const lines = h('div', {class: 'wf-grid'});
  for (let i = 1; i < 4; i += 1) lines.append(h('span', {style: {left: `${i * 25}%`}}));
  return lines;
}

function waterfall(trace, selected) {
  const total = Math.max(1, trace.duration_nanos);
  const colors = colorMap(trace.services);
  const rows = treeRows(trace.spans);
  const collapsed = new Set();
  const open = new Set(selected ? [selected] : []);
  const body = h('div', {class: 'wf-body'});
  const note = h('div', {class: 'muted small'});

  const pct = (ns) => `${Math.min(100, Math.max(0, (ns / total) * 100)).toFixed(3)}%`;

  const rememberSelection = (spanId) => {
    const target = hashFor(`trace/${trace.trace_id}`, spanId ? {span: spanId} : {});
    window.history.replaceState(null, '', target);
  };

  const rowOf = ({span: sp, depth, childCount}) => {
    const color = colors.get(sp.service_name);
    const offset = sp.start_time_unix_nano - trace.start_time_unix_nano;
    const isError = sp.status_code === 'error';
    const toggle = childCount
      ? h('button', {
        type: 'button',
        class: 'wf-toggle',
        title: collapsed.has(sp.span_id) ? `Expand (${childCount})` : 'Collapse',
        'aria-expanded': String(!collapsed.has(sp.span_id)),
        onclick: (event) => {
          event.stopPropagation();
          if (collapsed.has(sp.span_id)) collapsed.delete(sp.span_id);
          else collapsed.add(sp.span_id);
          draw();
        },
      }, collapsed.has(sp.span_id) ? '▸' : '▾')
      : h('span', {class: 'wf-toggle-space'});
    const name = h('div', {class: 'wf-name', style: {'padding-left': `${8 + depth * 14}px`}},
      toggle,
      h('span', {class: 'swatch', style: {'background-color': color}}),
      h('span', {class: 'wf-service'}, sp.service_name),
      h('span', {class: 'wf-op'}, sp.operation_name),
      isError ? h('span', {class: 'wf-error', title: sp.status_message || 'error'}, '!') : null);
    const bar = h('div', {
      class: ['wf-bar', isError ? 'wf-bar-error' : null],
      style: {left: pct(offset), width: pct(sp.duration_nanos), 'background-color': color},
    });
    if (sp.time_to_first_token_nanos) {
      bar.append(h('span', {
        class: 'wf-ttft',
        title: `time to first token ${fmtDuration(sp.time_to_first_token_nanos)}`,
        style: {left: `${Math.min(100, (sp.time_to_first_token_nanos / Math.max(1, sp.duration_nanos)) * 100).toFixed(2)}%`},
      }));
    }
    // The duration label goes after the bar, before it when the bar ends near
    // the right edge, or inside it when the bar spans nearly the whole trace.
    const startFrac = offset / total;
    const endFrac = (offset + sp.duration_nanos) / total;
    let labelStyle = {left: `calc(${pct(offset + sp.duration_nanos)} + 4px)`};
    let labelClass = null;
    if (endFrac > 0.85 && startFrac > 0.15) {
      labelStyle = {right: `calc(${pct(total - offset)} + 4px)`};
    } else if (endFrac > 0.85) {
      labelStyle = {right: `calc(${pct(total - offset - sp.duration_nanos)} + 4px)`};
      labelClass = 'wf-label-inside';
    }
    const label = h('span', {class: ['wf-label', labelClass], style: labelStyle}, fmtDuration(sp.duration_nanos));
    const timeline = h('div', {class: 'wf-timeline'}, gridLines(), bar, label);
    for (const ev of sp.events) {
      timeline.append(h('span', {
        class: 'wf-event',
        title: `${ev.name} at +${fmtDuration(ev.time_unix_nano - trace.start_time_unix_nano)}`,
        style: {left: pct(ev.time_unix_nano - trace.start_time_unix_nano)},
      }));
    }
    const row = h('div', {
      class: ['wf-row', 'wf-span', open.has(sp.span_id) ? 'wf-open' : null, isError ? 'wf-row-error' : null],
      tabindex: 0,
      role: 'button',
      'aria-expanded': String(open.has(sp.span_id)),
      dataset: {spanId: sp.span_id},
    }, name, timeline);
    const flip = () => {
      if (open.has(sp.span_id)) open.delete(sp.span_id);
      else open.add(sp.span_id);
      rememberSelection(open.has(sp.span_id) ? sp.span_id : null);
      draw();
    };
    row.addEventListener('click', flip);
    row.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        flip();
      }
    });
    return row;
  };

  const draw = () => {
    clear(body);
    let hiddenUnder = null;
    let hiddenDepth = 0;
    let shown = 0;
    for (const row of rows) {
      if (hiddenUnder !== null) {
        if (row.depth > hiddenDepth) continue;
        hiddenUnder = null;
      }
      if (shown >= MAX_ROWS) break;
      body.append(rowOf(row));
      shown += 1;
      if (open.has(row.span.span_id)) body.append(h('div', {class: 'wf-detail'}, spanDetail(row.span, trace)));
      if (collapsed.has(row.span.span_id)) {
        hiddenUnder = row.span.span_id;
        hiddenDepth = row.depth;
      }
    }
    note.textContent = shown >= MAX_ROWS && rows.length > MAX_ROWS
      ? `Showing the first ${fmtNumber(MAX_ROWS)} rows; collapse spans to see the rest.`
      : '';
  };
  draw();

  const controls = h('div', {class: 'wf-controls'},
    h('button', {type: 'button', onclick: () => {
      collapsed.clear();
      draw();
    }}, 'Expand all'),
    h('button', {type: 'button', onclick: () => {
      for (const r of rows) if (r.childCount) collapsed.add(r.span.span_id);
      draw();
    }}, 'Collapse all'),
    h('button', {type: 'button', onclick: () => {
      open.clear();
      rememberSelection(null);
      draw();
    }}, 'Close details'));

  return {element: h('div', {class: 'card waterfall'}, controls, ruler(total), body, note), body};
}

function header(trace) {
  const rows = treeRows(trace.spans);
  const root = rows.length ? rows[0].span : null;
  const errors = trace.spans.filter((sp) => sp.status_code === 'error').length;
  const colors = colorMap(trace.services);
  const title = root ? `${root.service_name}: ${root.operation_name}` : trace.trace_id;
  return h('div', {class: 'trace-head card'},
    h('div', {class: 'trace-title'},
      h('h2', {}, title),
      h('div', {class: 'trace-actions'},
        h('a', {class: 'button', href: hashFor('logs', {trace_id: trace.trace_id, since: ''}, ['since'])}, 'Logs of this trace'),
        h('a', {class: 'button', href: lastHash('search')}, 'Back to search'))),
    h('div', {class: 'trace-meta'},
      h('span', {}, h('span', {class: 'muted'}, 'Trace ID '), h('code', {}, trace.trace_id)),
      h('span', {}, h('span', {class: 'muted'}, 'Started '), fmtTime(trace.start_time_unix_nano)),
      h('span', {}, h('span', {class: 'muted'}, 'Duration '), fmtDuration(trace.duration_nanos)),
      h('span', {}, h('span', {class: 'muted'}, 'Spans '), fmtNumber(trace.span_count)),
      h('span', {class: errors ? 'text-error' : null}, h('span', {class: 'muted'}, 'Errors '), fmtNumber(errors)),
      root && root.model_name ? h('span', {}, h('span', {class: 'muted'}, 'Model '), root.model_name) : null),
    h('div', {class: 'trace-services'}, trace.services.map((name) => serviceTag(name, colors.get(name)))));
}

export async function render(root, params, {signal, arg}) {
  const traceId = arg.trim();
  if (!traceId) {
    root.append(errorBox('No trace id in the address: open a trace from the search results.'));
    return;
  }
  root.append(loading('Loading trace…'));
  let trace;
  try {
    trace = await getJSON('/api/traces/{trace_id}', {params: {trace_id: traceId}, signal});
  } catch (err) {
    if (err.name === 'AbortError') return;
    clear(root).append(h('h2', {}, 'Trace ', h('code', {}, traceId)), errorBox(err));
    return;
  }
  document.title = `InferTrace — trace ${trace.trace_id.slice(0, 8)}`;
  clear(root);
  root.append(header(trace));
  if (trace.truncated) {
    root.append(h('div', {class: 'alert alert-info'},
      `This trace has ${fmtNumber(trace.span_count)} spans; the first ${fmtNumber(trace.spans.length)} are shown.`));
  }
  const selected = params.get('span');
  const fall = waterfall(trace, selected);
  root.append(fall.element);
  if (selected) {
    const row = [...fall.body.children].find((el) => el.dataset.spanId === selected);
    if (row && row.scrollIntoView) row.scrollIntoView({block: 'center'});
  }
}
