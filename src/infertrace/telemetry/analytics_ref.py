"""Analytics over a list of spans, in plain Python and NumPy.

The definition every backend must agree with (see :mod:`analytics`); the
reference store uses it directly and the tests use it as the oracle.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

import numpy as np

from infertrace.errors import InvalidFilter
from infertrace.model import Span, StatusCode
from infertrace.telemetry.analytics import (
    POD_ATTRIBUTES,
    QUANTILES,
    GroupBy,
    GroupStats,
    LeaderboardEntry,
    SeriesMetric,
    SeriesPoint,
    SpanScope,
)

UNKNOWN = "unknown"


def check_step(step: int) -> None:
    """Time series need a positive bucket width."""
    if isinstance(step, bool) or not isinstance(step, int) or step <= 0:
        raise InvalidFilter(f"step must be a positive number of nanoseconds, got {step!r}")


def pod_of(span: Span) -> str:
    """The pod a span came from, from its resource attributes."""
    res = span.resource_attributes
    for key in POD_ATTRIBUTES:
        v = res.get(key)
        if isinstance(v, str) and v:
            return v
    return UNKNOWN


_KEYS: dict[GroupBy, Callable[[Span], str]] = {
    GroupBy.MODEL: lambda s: s.model_name or UNKNOWN,
    GroupBy.SERVICE: lambda s: s.service_name,
    GroupBy.OPERATION: lambda s: s.operation_name,
    GroupBy.POD: pod_of,
}


def elapsed_nanos(span: Span) -> int:
    """The request's time: its end-to-end time when reported, else the span's duration."""
    return span.duration_nanos if span.e2e_time_nanos is None else span.e2e_time_nanos


def decode_nanos(span: Span) -> int:
    """Time spent producing output: the decode time when known, else the request's
    time less TTFT when TTFT is known (at least 0), else the request's whole time."""
    if span.decode_time_nanos is not None:
        return span.decode_time_nanos
    ttft = span.time_to_first_token_nanos
    return elapsed_nanos(span) if ttft is None else max(0, elapsed_nanos(span) - ttft)


def tpot_nanos(span: Span) -> float | None:
    """Time per output token after the first: decode time / (output tokens - 1), for
    a request with more than one output token whose decode time or TTFT is known."""
    n = span.output_tokens
    if n is None or n < 2:
        return None
    if span.decode_time_nanos is None and span.time_to_first_token_nanos is None:
        return None
    return decode_nanos(span) / (n - 1)


def tokens_per_second(spans: list[Span]) -> float | None:
    with_out = [s for s in spans if s.output_tokens is not None]
    decode = sum(decode_nanos(s) for s in with_out)
    if not with_out or decode == 0:
        return None
    return sum(s.output_tokens or 0 for s in with_out) / (decode / 1e9)


_MEASURES: dict[str, Callable[[Span], float | None]] = {
    "latency": lambda s: s.duration_nanos,
    "queue": lambda s: s.queue_time_nanos,
    "ttft": lambda s: s.time_to_first_token_nanos,
    "tpot": tpot_nanos,
}
"""What a percentile metric is a percentile of (see ``QUANTILES``), per request."""


def percentile(measure: str, spans: list[Span], q: float) -> float | None:
    """The ``q``-th percentile of ``measure`` over the spans that have it, or None."""
    values = [v for v in map(_MEASURES[measure], spans) if v is not None]
    if not values:
        return None
    return float(np.percentile(np.array(values, dtype=np.float64), q))


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def group_stats(key: str, spans: list[Span]) -> GroupStats:
    """Aggregates of one non-empty group of counted spans."""
    durations = np.array([s.duration_nanos for s in spans], dtype=np.float64)
    p50, p90, p95, p99 = np.percentile(durations, [50, 90, 95, 99])
    errors = sum(1 for s in spans if s.status_code == StatusCode.ERROR)
    return GroupStats(
        key=key,
        requests=len(spans),
        errors=errors,
        error_rate=errors / len(spans),
        latency_p50_ns=float(p50),
        latency_p90_ns=float(p90),
        latency_p95_ns=float(p95),
        latency_p99_ns=float(p99),
        latency_max_ns=max(s.duration_nanos for s in spans),
        queue_p50_ns=percentile("queue", spans, 50),
        queue_p95_ns=percentile("queue", spans, 95),
        ttft_p50_ns=percentile("ttft", spans, 50),
        ttft_p95_ns=percentile("ttft", spans, 95),
        tpot_p50_ns=percentile("tpot", spans, 50),
        tpot_p95_ns=percentile("tpot", spans, 95),
        input_tokens=sum(s.input_tokens or 0 for s in spans),
        output_tokens=sum(s.output_tokens or 0 for s in spans),
        output_tokens_per_second=tokens_per_second(spans),
        mean_batch_size=_mean([s.batch_size for s in spans if s.batch_size is not None]),
        mean_gpu_utilization=_mean(
            [s.gpu_utilization for s in spans if s.gpu_utilization is not None]
        ),
    )


def requests(spans: list[Span]) -> list[Span]:
    """The rule (see :mod:`analytics`): a request carries a model, and no stored span
    is its parent with the same service and model. ``spans`` is everything stored:
    the parent is looked up whatever its time. O(n)."""
    parents = {(p.trace_id, p.span_id, p.service_name, p.model_name) for p in spans}
    return [
        s
        for s in spans
        if s.model_name is not None
        and (s.trace_id, s.parent_span_id, s.service_name, s.model_name) not in parents
    ]


def model_spans(
    spans: Iterable[Span], since: int, until: int, scope: SpanScope = SpanScope.REQUESTS
) -> list[Span]:
    """The spans analytics count: requests (every span with a model when ``scope`` is
    ``ALL``) that start in ``[since, until)``."""
    stored = list(spans)
    counted = (
        requests(stored)
        if SpanScope(scope) is SpanScope.REQUESTS
        else [s for s in stored if s.model_name is not None]
    )
    return [s for s in counted if since <= s.start_time_unix_nano < until]


def model_analytics(
    spans: Iterable[Span],
    since: int,
    until: int,
    group_by: GroupBy,
    scope: SpanScope = SpanScope.REQUESTS,
) -> list[GroupStats]:
    """One row per group, sorted by key."""
    groups: dict[str, list[Span]] = defaultdict(list)
    key = _KEYS[GroupBy(group_by)]
    for s in model_spans(spans, since, until, scope):
        groups[key(s)].append(s)
    return [group_stats(k, groups[k]) for k in sorted(groups)]


def series_value(metric: SeriesMetric, spans: list[Span]) -> float | None:
    """The value of ``metric`` over a non-empty list of counted spans."""
    m = SeriesMetric(metric)
    if m is SeriesMetric.REQUESTS:
        return float(len(spans))
    if m is SeriesMetric.ERRORS:
        return float(sum(1 for s in spans if s.status_code == StatusCode.ERROR))
    if m is SeriesMetric.TOKENS_OUT:
        return float(sum(s.output_tokens or 0 for s in spans))
    if m is SeriesMetric.TOKENS_PER_SECOND:
        return tokens_per_second(spans)
    measure, q = QUANTILES[m]
    return percentile(measure, spans, q)


def timeseries(
    spans: Iterable[Span],
    metric: SeriesMetric,
    step: int,
    since: int,
    until: int,
    model: str | None,
    scope: SpanScope = SpanScope.REQUESTS,
) -> list[SeriesPoint]:
    """Buckets aligned to multiples of ``step`` that hold at least one counted span."""
    check_step(step)
    buckets: dict[int, list[Span]] = defaultdict(list)
    for s in model_spans(spans, since, until, scope):
        if model is None or s.model_name == model:
            t = s.start_time_unix_nano
            buckets[t - t % step].append(s)
    return [SeriesPoint(b, series_value(metric, buckets[b])) for b in sorted(buckets)]


def leaderboard(
    spans: Iterable[Span],
    by: SeriesMetric,
    since: int,
    until: int,
    limit: int,
    scope: SpanScope = SpanScope.REQUESTS,
) -> list[LeaderboardEntry]:
    """Models ranked by ``by``, highest first, ties by name; models without a value left out."""
    groups: dict[str, list[Span]] = defaultdict(list)
    for s in model_spans(spans, since, until, scope):
        groups[s.model_name or UNKNOWN].append(s)
    rows = []
    for name, group in groups.items():
        v = series_value(by, group)
        if v is not None:
            rows.append(LeaderboardEntry(name, v))
    rows.sort(key=lambda e: (-e.value, e.model_name))
    return rows[:limit]
