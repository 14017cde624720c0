// Charts drawn as inline SVG: a time-series line chart and a scatter plot.
//
// Both take times in unix nanoseconds and draw into a fixed viewBox that
// scales with its container; hovering shows the values under the pointer.

import {clear, fmtAxisTime, fmtCompact, fmtTime, h, s} from './dom.js';

const WIDTH = 720;
const PAD = {left: 56, right: 14, top: 12, bottom: 26};

function niceStep(range, count) {
  const raw = range / count;
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
  return step * mag;
}

function yScale(minValue, maxValue, height) {
  const low = Math.min(0, minValue);
  const high = Math.max(0, maxValue);
  const step = niceStep(high - low > 0 ? high - low : 1, 4);
  const bottom = Math.floor(low / step) * step;
  const top = Math.max(bottom + step, Math.ceil(high / step) * step);
  const ticks = [];
  for (let v = bottom; v <= top + step / 2; v += step) ticks.push(Math.abs(v) < step / 1e6 ? 0 : v);
  const plotH = height - PAD.top - PAD.bottom;
  return {ticks, y: (v) => PAD.top + plotH - ((v - bottom) / (top - bottom)) * plotH};
}

function xScale(t0, t1, W) {
  const plotW = W - PAD.left - PAD.right;
  const span = Math.max(1, t1 - t0);
  return (t) => PAD.left + ((t - t0) / span) * plotW;
}

function axes(svg, W, height, t0, t1, ys, yFormat) {
  const x = xScale(t0, t1, W);
  for (const v of ys.ticks) {
    const y = ys.y(v);
    svg.append(s('line', {class: 'grid', x1: PAD.left, x2: W - PAD.right, y1: y, y2: y}));
    svg.append(s('text', {class: 'tick', x: PAD.left - 6, y: y + 4, 'text-anchor': 'end'}, yFormat(v)));
  }
  const count = 5;
  for (let i = 0; i <= count; i += 1) {
    const t = t0 + ((t1 - t0) * i) / count;
    const anchor = i === 0 ? 'start' : i === count ? 'end' : 'middle';
    svg.append(s('text', {class: 'tick', x: x(t), y: height - 8, 'text-anchor': anchor}, fmtAxisTime(t, t1 - t0)));
  }
  svg.append(s('line', {class: 'axis', x1: PAD.left, x2: W - PAD.right, y1: ys.y(0), y2: ys.y(0)}));
}

/** The index of the value in sorted `values` nearest to `target`. O(log n). */
export function nearestIndex(values, target) {
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (values[m] < target) lo = m + 1;
    else hi = m;
  }
  if (lo > 0 && Math.abs(values[lo - 1] - target) <= Math.abs(values[lo] - target)) return lo - 1;
  return lo;
}

/** The viewBox x of a pointer event over the svg. */
function pointerX(svg, event, W) {
  const rect = svg.getBoundingClientRect();
  if (rect.width === 0) return 0;
  return ((event.clientX - rect.left) / rect.width) * W;
}

/**
 * A line chart: series = [{name, color, points: [{t, v}]}], points sorted by t;
 * v null leaves a gap. With step > 0 the points are buckets [t, t + step),
 * drawn at their middle. yFormat formats axis and tooltip values.
 */
export function lineChart({series, t0, t1, yFormat = fmtCompact, width = WIDTH, height = 200, step = 0}) {
  const W = width;
  const svg = s('svg', {class: 'chart-svg', viewBox: `0 0 ${W} ${height}`, role: 'img'});
  const wrap = h('div', {class: 'chart'}, svg);
  let minValue = 0;
  let maxValue = 0;
  for (const one of series) {
    for (const p of one.points) {
      if (p.v === null || p.v === undefined) continue;
      if (p.v > maxValue) maxValue = p.v;
      if (p.v < minValue) minValue = p.v;
    }
  }
  const ys = yScale(minValue, maxValue, height);
  const end = t1;
  axes(svg, W, height, t0, end, ys, yFormat);
  const x = xScale(t0, end, W);
  const mid = step / 2;
  for (const one of series) {
    let d = '';
    let run = [];
    const flush = () => {
      if (run.length === 1) {
        svg.append(s('circle', {cx: run[0][0], cy: run[0][1], r: 2.5, fill: one.color}));
      } else if (run.length > 1) {
        d += run.map(([px, py], i) => `${i ? 'L' : 'M'}${px.toFixed(1)},${py.toFixed(1)}`).join('');
      }
      run = [];
    };
    for (const p of one.points) {
      if (p.v === null || p.v === undefined) flush();
      else run.push([x(p.t + mid), ys.y(p.v)]);
    }
    flush();
    if (d) svg.append(s('path', {class: 'line', d, stroke: one.color}));
  }
  const times = [...new Set(series.flatMap((one) => one.points.map((p) => p.t)))].sort((a, b) => a - b);
  if (times.length === 0) return wrap;
  const near = Math.max(step, (end - t0) / 50);

  const guide = s('line', {class: 'guide', y1: PAD.top, y2: height - PAD.bottom, visibility: 'hidden'});
  svg.append(guide);
  const tip = h('div', {class: 'chart-tip', hidden: true});
  wrap.append(tip);
  svg.addEventListener('mousemove', (event) => {
    const px = pointerX(svg, event, W);
    const span = Math.max(1, end - t0);
    const t = t0 + ((px - PAD.left) / (W - PAD.left - PAD.right)) * span - mid;
    const at = times[nearestIndex(times, t)];
    const gx = x(at + mid);
    guide.setAttribute('x1', gx);
    guide.setAttribute('x2', gx);
    guide.setAttribute('visibility', 'visible');
    const rows = series
      .map((one) => {
        const ts = one.points.map((p) => p.t);
        const p = ts.length ? one.points[nearestIndex(ts, at)] : null;
        return {one, v: p && Math.abs(p.t - at) <= near ? p.v : null};
      })
      .sort((a, b) => (b.v ?? -Infinity) - (a.v ?? -Infinity));
    clear(tip).append(
      h('div', {class: 'chart-tip-time'}, fmtTime(at, {ms: step === 0})),
      ...rows.map(({one, v}) => h('div', {class: 'chart-tip-row'},
        h('span', {class: 'swatch', style: {'background-color': one.color}}),
        h('span', {class: 'chart-tip-name'}, one.name),
        h('span', {class: 'chart-tip-value'}, v === null || v === undefined ? '—' : yFormat(v)))),
    );
    tip.hidden = false;
    const frac = gx / W;
    tip.style.setProperty('left', frac < 0.6 ? `calc(${(frac * 100).toFixed(2)}% + 12px)` : 'auto');
    tip.style.setProperty('right', frac < 0.6 ? 'auto' : `calc(${((1 - frac) * 100).toFixed(2)}% + 12px)`);
  });
  svg.addEventListener('mouseleave', () => {
    guide.setAttribute('visibility', 'hidden');
    tip.hidden = true;
  });
  return wrap;
}

/** A legend of coloured names. */
export function legend(items) {
  return h('div', {class: 'legend'}, items.map(({name, color}) =>
    h('span', {class: 'legend-item'}, h('span', {class: 'swatch', style: {'background-color': color}}), name)));
}

/**
 * A scatter plot of points [{t, v, color, error, label, onClick}] over [t0, t1]:
 * each point is a circle with a native tooltip; clicking calls onClick.
 */
export function scatterChart({points, t0, t1, yFormat = fmtCompact, width = 1000, height = 170}) {
  const W = width;
  const svg = s('svg', {class: 'chart-svg scatter', viewBox: `0 0 ${W} ${height}`, role: 'img'});
  let maxValue = 0;
  for (const p of points) if (p.v > maxValue) maxValue = p.v;
  const ys = yScale(0, maxValue, height);
  axes(svg, W, height, t0, t1, ys, yFormat);
  const x = xScale(t0, t1, W);
  for (const p of points) {
    const dot = s('circle', {
      class: ['dot', p.error ? 'dot-error' : null],
      cx: x(p.t).toFixed(1),
      cy: ys.y(p.v).toFixed(1),
      r: 4,
      fill: p.color,
      onclick: p.onClick,
    }, s('title', {}, p.label));
    svg.append(dot);
  }
  return h('div', {class: 'chart'}, svg);
}
