// The pods view: the registry's model-serving pods, their health and a link to their traces.
//
// Live: the view polls /api/registry/events/recent for events after the last one it saw
// (EventSource cannot send the API's bearer token) and reloads the pods when any arrive;
// it also redraws every few seconds so "last seen" ages stay true.

import {ApiError, getJSON} from './api.js';
import {
  clear, emptyState, errorBox, field, fmtPercent, fmtTime, h, loading, select, serviceTag,
} from './dom.js';
import {go, hashFor} from './route.js';
import {dataTable} from './table.js';

const STATUSES = ['healthy', 'degraded', 'unhealthy', 'draining', 'unknown'];
const POLL_MS = 2000;
const REDRAW_MS = 10000;
/** The resource attribute that names a pod in OpenTelemetry SDKs; the traces link filters on it. */
const INSTANCE_ATTR = 'service.instance.id';

/** "5s ago", "3m ago", "2h ago", "4d ago"; "never" without a time. */
export function ago(unixNano, nowMs = Date.now()) {
  if (unixNano === null || unixNano === undefined) return 'never';
  const seconds = Math.max(0, Math.floor((nowMs - unixNano / 1e6) / 1000));
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]]) {
    if (seconds >= size) return `${Math.floor(seconds / size)}${unit} ago`;
  }
  return `${seconds}s ago`;
}

/** The search view of a pod's recent traces: its service, and its instance attribute. */
export function tracesHref(pod) {
  return hashFor('search', {service: pod.service_name, [`attr.${INSTANCE_ATTR}`]: `"${pod.pod_name}"`});
}

function statusBadge(status) {
  return h('span', {class: ['badge', 'pod-status', `pod-${status}`]}, status);
}

function addressOf(pod) {
  if (!pod.address) return pod.port ? `:${pod.port}` : '—';
  return pod.port ? `${pod.address}:${pod.port}` : pod.address;
}

function podsTable(pods) {
  return dataTable({
    rows: pods,
    sortBy: 0,
    descending: false,
    rowClass: (p) => `pod-row pod-row-${p.status}`,
    columns: [
      {label: 'Pod', render: (p) => h('span', {class: 'mono', title: p.key}, p.key), sort: (p) => p.key},
      {label: 'Service', render: (p) => serviceTag(p.service_name), sort: (p) => p.service_name},
      {label: 'Status', render: (p) => statusBadge(p.status), sort: (p) => STATUSES.indexOf(p.status)},
      {label: 'Providers', render: (p) => p.providers.join(', ') || '—', sort: (p) => p.providers.join(',')},
      {label: 'Address', render: addressOf, sort: (p) => addressOf(p), className: 'mono'},
      {
        label: 'Last seen',
        render: (p) => h('span', {title: fmtTime(p.last_seen_unix_nano)}, ago(p.last_seen_unix_nano)),
        sort: (p) => p.last_seen_unix_nano,
      },
      {label: 'Error rate', align: 'right', render: (p) => fmtPercent(p.error_rate, 1), sort: (p) => p.error_rate},
      {label: 'Origin', render: (p) => p.origin, sort: (p) => p.origin},
      {label: 'Traces', render: (p) => h('a', {href: tracesHref(p), class: 'pod-traces'}, 'Recent traces')},
    ],
  });
}

function counts(pods) {
  const by = new Map(STATUSES.map((s) => [s, 0]));
  for (const p of pods) by.set(p.status, (by.get(p.status) || 0) + 1);
  return h('div', {class: 'pod-counts'}, h('span', {}, `${pods.length} pods`),
    STATUSES.filter((s) => by.get(s) > 0).map((s) => h('span', {}, statusBadge(s), ` ${by.get(s)}`)));
}

export async function render(root, params, {signal}) {
  const filters = {name: params.get('name') || '', provider: params.get('model') || '', status: params.get('status') || ''};
  const nameIn = h('input', {name: 'name', value: filters.name, placeholder: 'any service', spellcheck: 'false'});
  const modelIn = h('input', {name: 'model', value: filters.provider, placeholder: 'any model', spellcheck: 'false'});
  const statusSel = select('status', [['', 'Any status'], ...STATUSES.map((s) => [s, s])], filters.status);
  const apply = (event) => {
    if (event) event.preventDefault();
    go('pods', {name: nameIn.value.trim(), model: modelIn.value.trim(), status: statusSel.value});
  };
  statusSel.addEventListener('change', apply);
  const form = h('form', {class: 'toolbar card', onsubmit: apply},
    h('h2', {}, 'Pods'),
    field('Service', nameIn), field('Model', modelIn), field('Status', statusSel),
    h('button', {type: 'submit'}, 'Apply'));
  const live = h('span', {class: 'muted small pod-live'});
  form.append(live);
  const body = h('div', {class: 'pods-body'}, loading('Loading pods…'));
  root.append(form, body);

  let pods = [];
  let lastId = null;
  const draw = () => {
    clear(body);
    if (pods.length === 0) {
      body.append(emptyState('No pods match.',
        'Pods appear when they send telemetry (service.name + service.instance.id) or register with POST /api/registry/pods.'));
      return;
    }
    body.append(h('div', {class: 'card'}, counts(pods), podsTable(pods)));
  };
  const reload = async () => {
    const doc = await getJSON('/api/registry/pods', {query: filters, signal});
    pods = doc.pods;
    draw();
    live.textContent = `Live · updated ${new Date().toLocaleTimeString()}`;
  };

  // Remember the newest event before the first load, so no change between the two is missed.
  try {
    const page = await getJSON('/api/registry/events/recent', {query: {after: 0, limit: 1}, signal});
    lastId = page.last_id;
    await reload();
  } catch (err) {
    if (err.name === 'AbortError') return;
    clear(body).append(errorBox(err));
    if (err instanceof ApiError && err.status === 404) return; // this server runs no registry
  }

  let timer = null;
  let redrawn = Date.now();
  const poll = async () => {
    timer = null;
    try {
      const page = await getJSON('/api/registry/events/recent', {query: {after: lastId ?? 0}, signal});
      const changed = page.reset || page.events.length > 0;
      if (page.events.length) lastId = page.events[page.events.length - 1].id;
      if (page.reset) lastId = page.last_id;
      if (changed) {
        await reload();
        redrawn = Date.now();
      } else if (Date.now() - redrawn >= REDRAW_MS) {
        await reload(); // the ages of "last seen" move on, and the sweeper may have acted
        redrawn = Date.now();
      }
    } catch (err) {
      if (err.name === 'AbortError') return;
      live.textContent = `Live updates paused: ${err.message}`;
    }
    if (!signal.aborted) timer = setTimeout(poll, POLL_MS);
  };
  signal.addEventListener('abort', () => {
    if (timer !== null) clearTimeout(timer);
  });
  timer = setTimeout(poll, POLL_MS);
}
