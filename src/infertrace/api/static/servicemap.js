// The service map: services as nodes on a circle, calls between them as labelled arrows,
// from the Jaeger dependencies route (cross-service parent/child spans in the window).

import {getJSON} from './api.js';
import {clear, emptyState, errorBox, field, fmtNumber, h, hashColor, loading, s, select} from './dom.js';
import {go} from './route.js';

const WINDOWS = [
  ['15m', 'Last 15 minutes', 15 * 60e3],
  ['1h', 'Last hour', 3600e3],
  ['6h', 'Last 6 hours', 6 * 3600e3],
  ['24h', 'Last 24 hours', 24 * 3600e3],
  ['7d', 'Last 7 days', 7 * 24 * 3600e3],
];
const SIZE = 640;
const NODE_R = 18;

/** Where each service sits: evenly on a circle, in name order, the first at the top. */
function layout(services) {
  const centre = SIZE / 2;
  const radius = services.length === 1 ? 0 : SIZE / 2 - 90;
  const at = new Map();
  services.forEach((name, i) => {
    const angle = -Math.PI / 2 + (2 * Math.PI * i) / services.length;
    at.set(name, {x: centre + radius * Math.cos(angle), y: centre + radius * Math.sin(angle)});
  });
  return at;
}

/** One call edge: a slight curve (so a→b and b→a do not overlap), its call count at the bend. */
function edge(link, at) {
  const a = at.get(link.parent);
  const b = at.get(link.child);
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const len = Math.hypot(dx, dy) || 1;
  const ux = dx / len;
  const uy = dy / len;
  const bend = 0.12 * len;
  const mx = (a.x + b.x) / 2 - uy * bend;
  const my = (a.y + b.y) / 2 + ux * bend;
  const x0 = a.x + ux * NODE_R;
  const y0 = a.y + uy * NODE_R;
  const x1 = b.x - ux * (NODE_R + 4);
  const y1 = b.y - uy * (NODE_R + 4);
  const data = {'data-parent': link.parent, 'data-child': link.child};
  const title = `${link.parent} → ${link.child}: ${fmtNumber(link.callCount)} call${link.callCount === 1 ? '' : 's'}`;
  return s('g', {class: 'map-link', ...data},
    s('title', {}, title),
    s('path', {class: 'map-edge', d: `M${x0},${y0} Q${mx},${my} ${x1},${y1}`, 'marker-end': 'url(#map-arrow)', ...data}),
    s('text', {class: 'map-edge-label', x: (a.x + b.x) / 2 - uy * bend * 0.5, y: (a.y + b.y) / 2 + ux * bend * 0.5, ...data},
      String(link.callCount)));
}

/** The SVG drawing of the call graph ``links`` ([{parent, child, callCount}]). */
export function serviceMap(links) {
  const services = [...new Set(links.flatMap((l) => [l.parent, l.child]))].sort();
  const at = layout(services);
  const svg = s('svg', {class: 'service-map', viewBox: `0 0 ${SIZE} ${SIZE}`, role: 'img', 'aria-label': 'Service map'},
    s('defs', {}, s('marker', {id: 'map-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse'},
      s('path', {d: 'M0,0 L10,5 L0,10 z', fill: '#8b949e'}))));
  for (const link of links) svg.append(edge(link, at));
  for (const name of services) {
    const {x, y} = at.get(name);
    svg.append(s('g', {class: 'map-node', 'data-service': name},
      s('title', {}, name),
      s('circle', {cx: x, cy: y, r: NODE_R, fill: hashColor(name)}),
      s('text', {x, y: y + NODE_R + 16}, name)));
  }
  return svg;
}

export async function render(root, params, {signal}) {
  const chosen = WINDOWS.find(([key]) => key === params.get('window')) || WINDOWS[1];
  const windowSelect = select('window', WINDOWS.map(([key, label]) => [key, label]), chosen[0]);
  windowSelect.addEventListener('change', () => go('map', {window: windowSelect.value}));
  const body = h('section', {class: 'results'});
  root.append(h('div', {class: 'section-head'}, h('h2', {}, 'Service map'), field('Window', windowSelect)), body);
  body.append(loading('Loading the call graph…'));
  try {
    const answer = await getJSON('/jaeger/api/dependencies', {query: {endTs: Date.now(), lookback: chosen[2]}, signal});
    clear(body);
    const links = answer.data || [];
    if (links.length === 0) {
      body.append(emptyState('No calls between services in this window.', 'Spans whose parent is another service\'s span draw an arrow here.'));
      return;
    }
    const services = new Set(links.flatMap((l) => [l.parent, l.child]));
    body.append(h('div', {class: 'results-head'},
      h('span', {class: 'muted'}, `${fmtNumber(services.size)} services, ${fmtNumber(links.length)} caller → callee pairs; labels are call counts`)));
    body.append(h('div', {class: 'card'}, serviceMap(links)));
  } catch (err) {
    if (err.name === 'AbortError') return;
    clear(body).append(errorBox(err));
  }
}
