"""Time series of one measure from metrics: the span time series' buckets, for models
known from their metrics.

Buckets are ``[b, b + step)`` with ``b`` a multiple of ``step``, as for spans. Each
point of a series gives its bucket what the series gained since the point before it
(:func:`metric_window.counter_steps`, :func:`metric_window.histogram_steps`), so the
buckets of a window add up to the window's increase. Per model, a measure comes
from the first of its sources with a series of that model (the rule of
:mod:`metric_analytics`); with no model named, every model's contribution is added
(quantiles: their bucket counts merged). Counts are the bucket's increase;
percentiles interpolate within the bucket's merged histogram buckets (the most
observed bounds); output tokens per second is the bucket's output tokens over its
decode time (vLLM's decode-time sum, else the latency sum less the TTFT sum).
A bucket is answered when its points give it a value (a count, possibly 0; a
percentile of at least one observation), as span buckets are when they hold a request.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from infertrace.errors import InvalidFilter
from infertrace.telemetry.analytics import QUANTILES, SeriesMetric, SeriesPoint
from infertrace.telemetry.filters import TimeBound, window
from infertrace.telemetry.metric_names import (
    SOURCES,
    UNIT_NANOS,
    Measure,
    Source,
    Stat,
    sources_of,
    stored_names,
)
from infertrace.telemetry.metric_read import SeriesReader, reader_for
from infertrace.telemetry.metric_window import (
    F64,
    I64,
    Increase,
    Series,
    counter_steps,
    histogram_quantile,
    histogram_steps,
    merge,
    model_of,
)
from infertrace.telemetry.protocols import MetricStore

_COUNTS = {
    SeriesMetric.REQUESTS: Measure.REQUESTS,
    SeriesMetric.ERRORS: Measure.ERRORS,
    SeriesMetric.TOKENS_OUT: Measure.OUTPUT_TOKENS,
}
_QUANTILE_MEASURE = {"latency": Measure.LATENCY, "queue": Measure.QUEUE, "ttft": Measure.TTFT,
                     "tpot": Measure.TPOT}  # fmt: skip
_PER_SECOND = (Measure.OUTPUT_TOKENS, Measure.DECODE_SECONDS, Measure.LATENCY, Measure.TTFT)

Buckets = dict[int, float]


def _chosen(series: list[Series], measure: Measure) -> tuple[Source, list[Series]] | None:
    """The first source of ``measure`` with a series among ``series`` (one model's)."""
    for src in SOURCES[measure]:
        found = [
            s for s in series if src in sources_of(s.name, s.type) and src.accepts(s.attributes)
        ]
        if found:
            return src, found
    return None


def _add(out: Buckets, times: I64, values: F64, step: int) -> None:
    if not len(times):
        return
    b = times - times % step
    keys, inverse = np.unique(b, return_inverse=True)
    sums = np.bincount(inverse, weights=values, minlength=len(keys))
    for k, v in zip(keys.tolist(), sums.tolist(), strict=True):
        out[k] = out.get(k, 0.0) + v


def _scale(s: Series) -> float:
    return UNIT_NANOS.get(s.unit, 1e9)


def _totals(src: Source, series: Iterable[Series], since: int, step: int) -> Buckets:
    """Per bucket, the source's statistic: a count, tokens, or seconds (a timing sum)."""
    out: Buckets = {}
    for s in series:
        if src.stat is Stat.INCREASE:
            _add(out, s.times, counter_steps(s, since), step)
            continue
        seconds = _scale(s) / 1e9
        for st in histogram_steps(s, since):
            if src.stat is Stat.COUNT:
                _add(out, st.times, st.counts, step)
            elif src.measure in (Measure.INPUT_TOKENS, Measure.OUTPUT_TOKENS):
                _add(out, st.times, st.sums, step)
            else:
                _add(out, st.times, st.sums * seconds, step)
    return out


def _distributions(series: Iterable[Series], since: int, step: int) -> dict[int, list[Increase]]:
    """Per bucket, the bucket-count increases of ``series`` (bounds in nanoseconds)."""
    out: dict[int, list[Increase]] = defaultdict(list)
    for s in series:
        scale = _scale(s)
        for st in histogram_steps(s, since):
            bounds = tuple(b * scale for b in st.bounds)
            b = st.times - st.times % step
            keys, first = np.unique(b, return_index=True)
            rows = np.add.reduceat(st.buckets, first, axis=0)
            counts = np.add.reduceat(st.counts, first)
            for k, row, c in zip(keys.tolist(), rows, counts.tolist(), strict=True):
                out[k].append(Increase(bounds, int(c), 0.0, row))
    return out


def _seconds(src: Source) -> Source:
    """The timing histogram of ``src`` read for its sum of seconds."""
    return Source(src.name, Measure.DECODE_SECONDS, Stat.SUM)


def _plus(a: Buckets, b: Buckets) -> Buckets:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0.0) + v
    return out


def _series_value(
    metric: SeriesMetric, models: dict[str, list[Series]], since: int, step: int
) -> dict[int, float | None]:
    if metric in _COUNTS:
        total: Buckets = {}
        for series in models.values():
            hit = _chosen(series, _COUNTS[metric])
            if hit is not None:
                total = _plus(total, _totals(hit[0], hit[1], since, step))
        return dict(total)
    if metric is SeriesMetric.TOKENS_PER_SECOND:
        tokens: Buckets = {}
        decode: Buckets = {}
        for series in models.values():
            out, dec = (
                _chosen(series, Measure.OUTPUT_TOKENS),
                _chosen(series, Measure.DECODE_SECONDS),
            )
            lat, ttft = _chosen(series, Measure.LATENCY), _chosen(series, Measure.TTFT)
            if out is None:
                continue
            if dec is not None:
                d = _totals(dec[0], dec[1], since, step)
            elif lat is not None and ttft is not None:  # the latency sum less the TTFT sum
                d = _totals(_seconds(lat[0]), lat[1], since, step)
                first = _totals(_seconds(ttft[0]), ttft[1], since, step)
                d = {k: v - first.get(k, 0.0) for k, v in d.items()}
            else:
                continue
            tokens = _plus(tokens, _totals(out[0], out[1], since, step))
            decode = _plus(decode, d)
        return {k: (v / decode[k] if decode.get(k, 0.0) > 0 else None) for k, v in tokens.items()}
    what, pct = QUANTILES[metric]
    merged: dict[int, list[Increase]] = defaultdict(list)
    for series in models.values():
        hit = _chosen(series, _QUANTILE_MEASURE[what])
        if hit is not None:
            for k, incs in _distributions(hit[1], since, step).items():
                merged[k] += incs
    out_q: dict[int, float | None] = {}
    for k, incs in merged.items():
        top = merge(incs)[0]
        out_q[k] = histogram_quantile(pct / 100, top.bounds, top.buckets)
    return out_q


def metric_timeseries(
    store: MetricStore,
    metric: SeriesMetric,
    step_ns: int,
    since: TimeBound = None,
    until: TimeBound = None,
    model_name: str | None = None,
    read: SeriesReader | None = None,
) -> list[SeriesPoint]:
    """Buckets of ``step_ns`` holding points of the measure's metrics in
    ``[since, until)`` (``model_name``: that model's only), by time. O(points)."""
    if isinstance(step_ns, bool) or not isinstance(step_ns, int) or step_ns <= 0:
        raise InvalidFilter(f"step must be a positive number of nanoseconds, got {step_ns!r}")
    metric = SeriesMetric(metric)
    lo, hi = window(since, until)
    if metric in _COUNTS:
        measures: tuple[Measure, ...] = (_COUNTS[metric],)
    elif metric is SeriesMetric.TOKENS_PER_SECOND:
        measures = _PER_SECOND
    else:
        measures = (_QUANTILE_MEASURE[QUANTILES[metric][0]],)
    wanted = {src.name for m in measures for src in SOURCES[m]}
    names = [
        n
        for n in stored_names(store.metric_names())
        if n in wanted or n[: -len("_total")] in wanted
    ]
    if not names:
        return []
    models: dict[str, list[Series]] = defaultdict(list)
    for s in (read or reader_for(store))(names, lo, hi):
        m = model_of(s)
        if m is not None and (model_name is None or m == model_name) and len(s.times):
            models[m].append(s)
    values = _series_value(metric, models, lo, step_ns)
    return [SeriesPoint(k, values[k]) for k in sorted(values) if values[k] is not None]


__all__ = ["metric_timeseries"]
