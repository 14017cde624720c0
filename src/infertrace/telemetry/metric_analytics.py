"""Per-model (per-pod, per-service) analytics computed from metrics, not spans.

Most vLLM, SGLang and GenAI-instrumented deployments export metrics rather than
traces. This module gives them the span analytics' rows (see
:mod:`infertrace.telemetry.analytics`) from the metrics named in
:mod:`infertrace.telemetry.metric_names`, with the window rules of
:mod:`infertrace.telemetry.metric_window`. It only reads series, through
:data:`metric_read.SeriesReader`, so every store gives the same answers.

Per group, each measure comes from the first of its sources with a series in the
group:

- ``requests``: the count increase of the end-to-end latency histogram (vLLM,
  SGLang, GenAI server, GenAI client), else a finished-requests counter;
  ``errors``: vLLM's ``request_success`` with ``finished_reason`` abort or error,
  SGLang's aborted requests, or the GenAI histogram's count over series with
  ``error.type``; None when no source says.
- latency p50/p90/p95/p99, queue, TTFT and TPOT p50/p95: quantiles (nanoseconds) of
  the group's merged bucket increases; series whose bucket bounds differ from the
  most observed bounds of the group are left out of the quantiles (not the counts).
- tokens in/out: counter increases, or the GenAI token-usage histogram's sum
  increase by ``gen_ai.token.type``.
- output tokens per second: output tokens over decode time, vLLM's decode-time
  histogram sum, else the latency sum less the TTFT sum (the span rule's "time less
  TTFT", summed); None when that time is not positive.
- ``request_rate``, ``output_token_rate``: the increase over the window's seconds
  (an open end of the window is the oldest or newest point read).
- running and waiting requests: the latest gauge value of each series, summed over
  the group (its pods); KV-cache usage: the mean over the group's series of their
  latest values (a fraction of 1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from infertrace.errors import InvalidFilter
from infertrace.telemetry.analytics import POD_ATTRIBUTES, GroupBy
from infertrace.telemetry.analytics_ref import UNKNOWN
from infertrace.telemetry.filters import NO_LOWER, NO_UPPER, TimeBound, window
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
    Increase,
    Series,
    counter_increase,
    histogram_increase,
    histogram_quantile,
    latest,
    merge,
    model_of,
)
from infertrace.telemetry.protocols import MetricStore


@dataclass(frozen=True, slots=True)
class MetricGroupStats:
    """One group's analytics from its metrics; None where no metric says."""

    key: str
    requests: int | None
    errors: int | None
    error_rate: float | None
    latency_p50_ns: float | None
    latency_p90_ns: float | None
    latency_p95_ns: float | None
    latency_p99_ns: float | None
    queue_p50_ns: float | None
    queue_p95_ns: float | None
    ttft_p50_ns: float | None
    ttft_p95_ns: float | None
    tpot_p50_ns: float | None
    tpot_p95_ns: float | None
    input_tokens: int | None
    output_tokens: int | None
    output_tokens_per_second: float | None
    request_rate: float | None
    """Requests per second over the window."""
    output_token_rate: float | None
    """Output tokens per second over the window."""
    running_requests: float | None
    waiting_requests: float | None
    kv_cache_usage: float | None
    metric_names: tuple[str, ...]
    """The metrics the row was computed from, sorted."""


@dataclass(slots=True)
class _Part:
    """What one series gives one source."""

    name: str
    value: float
    increases: list[Increase]


def _no_operation(group_by: GroupBy) -> None:
    if group_by is GroupBy.OPERATION:
        raise InvalidFilter(
            f"group_by {group_by.value!r} is not known from metrics; use model, service or pod"
        )


def _key(s: Series, group_by: GroupBy) -> str | None:
    if group_by is GroupBy.MODEL:
        return model_of(s)
    if group_by is GroupBy.SERVICE:
        return s.service_name
    if group_by is GroupBy.POD:
        for label in POD_ATTRIBUTES:
            v = s.resource_attributes.get(label)
            if isinstance(v, str) and v:
                return v
        return UNKNOWN
    _no_operation(group_by)
    return None


def _parts(s: Series, since: int, sources: Iterable[Source]) -> list[tuple[Source, _Part]]:
    """This series' contribution to each source that accepts it."""
    out: list[tuple[Source, _Part]] = []
    increases: list[Increase] | None = None
    sources = list(sources)
    timing = any(
        src.stat is Stat.DISTRIBUTION or src.measure is Measure.DECODE_SECONDS for src in sources
    )
    for src in sources:
        if not src.accepts(s.attributes):
            continue
        if src.stat is Stat.INCREASE:
            part = _Part(s.name, counter_increase(s, since), [])
        elif src.stat is Stat.LATEST:
            v = latest(s)
            if v is None:
                continue
            part = _Part(s.name, v, [])
        else:
            if increases is None:
                increases = histogram_increase(s, since)
                if timing:  # bounds in nanoseconds, sums in seconds, whatever the unit
                    scale = UNIT_NANOS.get(s.unit, 1e9)
                    increases = [
                        dataclasses.replace(
                            i, bounds=tuple(b * scale for b in i.bounds), sum=i.sum * scale / 1e9
                        )
                        for i in increases
                    ]
            if src.stat is Stat.COUNT:
                part = _Part(s.name, float(sum(i.count for i in increases)), [])
            elif src.stat is Stat.SUM:
                part = _Part(s.name, sum(i.sum for i in increases), [])
            else:
                part = _Part(s.name, 0.0, increases)
        out.append((src, part))
    return out


class _Group:
    """The parts of one group, by source."""

    def __init__(self) -> None:
        self.parts: dict[Source, list[_Part]] = {}

    def first(self, measure: Measure) -> tuple[Source, list[_Part]] | None:
        for src in SOURCES[measure]:
            found = self.parts.get(src)
            if found:
                return src, found
        return None

    def total(self, measure: Measure) -> float | None:
        hit = self.first(measure)
        return None if hit is None else sum(p.value for p in hit[1])

    def distribution(self, measure: Measure) -> list[Increase]:
        hit = self.first(measure)
        return [] if hit is None else merge([i for p in hit[1] for i in p.increases])


def _quantiles(merged: list[Increase], qs: tuple[float, ...]) -> list[float | None]:
    if not merged:
        return [None] * len(qs)
    top = merged[0]
    return [histogram_quantile(q, top.bounds, top.buckets) for q in qs]


def _count(x: float | None) -> int | None:
    return None if x is None else round(x)


def _row(key: str, g: _Group, seconds: float | None) -> MetricGroupStats:
    latency = g.distribution(Measure.LATENCY)
    ttft = g.distribution(Measure.TTFT)
    p50, p90, p95, p99 = _quantiles(latency, (0.5, 0.9, 0.95, 0.99))
    q50, q95 = _quantiles(g.distribution(Measure.QUEUE), (0.5, 0.95))
    t50, t95 = _quantiles(ttft, (0.5, 0.95))
    o50, o95 = _quantiles(g.distribution(Measure.TPOT), (0.5, 0.95))
    requests = _count(g.total(Measure.REQUESTS))
    errors = _count(g.total(Measure.ERRORS))
    out_tokens = _count(g.total(Measure.OUTPUT_TOKENS))
    decode = g.total(Measure.DECODE_SECONDS)
    if decode is None and latency and ttft:
        decode = sum(i.sum for i in latency) - sum(i.sum for i in ttft)
    per_s = None if out_tokens is None or not decode or decode <= 0 else out_tokens / decode
    kv = g.first(Measure.KV_CACHE)
    running, waiting = g.total(Measure.RUNNING), g.total(Measure.WAITING)
    names = sorted({p.name for parts in g.parts.values() for p in parts})
    return MetricGroupStats(
        key=key,
        requests=requests,
        errors=errors,
        error_rate=None if errors is None or not requests else errors / requests,
        latency_p50_ns=p50,
        latency_p90_ns=p90,
        latency_p95_ns=p95,
        latency_p99_ns=p99,
        queue_p50_ns=q50,
        queue_p95_ns=q95,
        ttft_p50_ns=t50,
        ttft_p95_ns=t95,
        tpot_p50_ns=o50,
        tpot_p95_ns=o95,
        input_tokens=_count(g.total(Measure.INPUT_TOKENS)),
        output_tokens=out_tokens,
        output_tokens_per_second=per_s,
        request_rate=None if requests is None or not seconds else requests / seconds,
        output_token_rate=None if out_tokens is None or not seconds else out_tokens / seconds,
        running_requests=running,
        waiting_requests=waiting,
        kv_cache_usage=None if kv is None else sum(p.value for p in kv[1]) / len(kv[1]),
        metric_names=tuple(names),
    )


def analytics_of_series(
    series: list[Series], since: int, until: int, group_by: GroupBy = GroupBy.MODEL
) -> list[MetricGroupStats]:
    """One row per group over ``series`` (already cut to ``[since, until)``), sorted
    by key. O(points)."""
    _no_operation(group_by)
    groups: dict[str, _Group] = {}
    first, last = NO_UPPER, NO_LOWER  # the oldest and newest point read
    for s in series:
        if not len(s.times):
            continue
        sources = sources_of(s.name, s.type)
        if not sources:
            continue
        key = _key(s, group_by)
        if key is None:
            continue
        first, last = min(first, int(s.times[0])), max(last, int(s.times[-1]))
        g = groups.setdefault(key, _Group())
        for src, part in _parts(s, since, sources):
            g.parts.setdefault(src, []).append(part)
    lo = first if since == NO_LOWER else since  # an open end: the points read
    hi = last if until == NO_UPPER else until
    seconds = (hi - lo) / 1e9 if lo < hi else None
    return [_row(k, groups[k], seconds) for k in sorted(groups)]


def metric_analytics(
    store: MetricStore,
    since: TimeBound = None,
    until: TimeBound = None,
    group_by: GroupBy = GroupBy.MODEL,
    read: SeriesReader | None = None,
) -> list[MetricGroupStats]:
    """Analytics rows from ``store``'s metrics in ``[since, until)``: one per model
    (``group_by``: service, pod; operation is a 422-worthy InvalidFilter). ``read``
    defaults to the fastest reader the store allows. O(points in the window)."""
    group_by = GroupBy(group_by)
    _no_operation(group_by)
    lo, hi = window(since, until)
    names = stored_names(store.metric_names())
    if not names:
        return []
    series = (read or reader_for(store))(names, lo, hi)
    return analytics_of_series(series, lo, hi, group_by)


__all__ = ["MetricGroupStats", "analytics_of_series", "metric_analytics"]
