"""REST routes for per-model analytics and store stats.

The numbers come from the store's own analytics (vectorised in memory, SQL in
PostgreSQL); see :mod:`infertrace.telemetry.analytics` for their definitions.
Every route counts requests unless asked for ``spans=all`` (:data:`SPANS_DOC`).
A time series is bounded to ``MAX_BUCKETS`` buckets.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request

from infertrace.api.analytics_source import (
    SOURCE_DOC,
    AnalyticsSource,
    merged_rows,
    metric_leaderboard,
    metric_rows,
)
from infertrace.api.params import BadParameter, now_ns, parse_amount_ns, parse_window
from infertrace.api.query import SINCE, UNTIL, duration_query
from infertrace.api.responses import ERROR_RESPONSES, ApiJSON
from infertrace.api.search import store_of
from infertrace.api.serialize import (
    leaderboard_json,
    series_point_json,
    store_stats_json,
)
from infertrace.telemetry.analytics import (
    AnalyticsStore,
    GroupBy,
    SeriesMetric,
    SeriesPoint,
    SpanScope,
)
from infertrace.telemetry.metric_timeseries import metric_timeseries

MAX_BUCKETS = 10_000
"""A time series never has more buckets than this; a finer step is a 422."""

DEFAULT_SERIES_WINDOW_NS = 3_600_000_000_000
"""A time series without ``since`` covers the last hour."""

SPANS_DOC = (
    "Which spans are counted. `requests` (the default): spans that carry a model and "
    "whose parent is not a span of the same service carrying the same model, so the "
    "child spans an instrumentation repeats the model on (OpenTelemetry GenAI puts "
    "`gen_ai.request.model` on them) are parts of their request, not requests; a child "
    "with another model, or in another service, is a request. The parent is looked up "
    "among all stored spans, whatever the window; a parent no longer stored (evicted, "
    "purged, never received) does not count, so its child is a request. `all`: every "
    "span that carries a model."
)
"""The ``spans`` parameter's description, shared by every analytics route."""

SPANS = Query(description=SPANS_DOC)
SOURCE = Query(description=SOURCE_DOC)
SERIES_SOURCE_DOC = (
    "What buckets are computed from: `spans` (requests), `metrics` (each scrape's increase "
    "since the one before goes to its bucket, so buckets add up to the window's increase; "
    "percentiles from the bucket's merged histogram buckets), or `auto` (default): spans "
    "when the series has requests from spans in the window, else metrics. The answer's "
    "`source` is the one used."
)
"""The time series' ``source`` parameter description."""

TIMINGS_DOC = (
    "Inference timings, per request: its time is its end-to-end time "
    "(`gen_ai.latency.e2e`, TGI's `total_time`) when reported, else the span's duration; "
    "its decode time is `decode_time_nanos` (`gen_ai.latency.time_in_model_decode`) when "
    "known, else its time less TTFT when TTFT is known (at least 0), else its whole time; "
    "its time per output token (TPOT), when it has more than one output token and its "
    "decode time or TTFT is known, is decode time / (output tokens - 1). Queue time, TTFT "
    "and TPOT percentiles are over the requests that have the value (null when none has). "
    "Output tokens per second is the sum of output tokens over the sum of decode time of "
    "the requests that report output tokens."
)
"""How the timing columns and measures are computed (see :mod:`telemetry.analytics`)."""

METRIC_DOC = (
    "What each bucket measures: requests, errors, output tokens (counts: 0 in an empty "
    "bucket); latency p50/p95/p99 (the span's duration); queue time, time to first token "
    "and time per output token p50/p95, and output tokens per second (null in a bucket "
    "without a value). " + TIMINGS_DOC
)
"""The ``metric`` and ``by`` parameters' description."""

MODELS_DOC = (
    "One row per model (or service, operation, pod) over the requests that start in the "
    "window: a request is a span that carries a model and whose parent is not a span of "
    "the same service carrying the same model (`spans=all`: every span with a model). "
    "`requests` in a row counts them; latencies are theirs (nanoseconds; `_ms` in "
    "milliseconds); `queue_p50/p95`, `ttft_p50/p95` and `tpot_p50/p95` are the queue "
    "time, time to first token and time per output token percentiles. "
    + TIMINGS_DOC
    + " `source` says whether rows come from spans or from metrics (`auto`: spans for a "
    "group with requests from spans, else its metrics); each row's `source` says which, "
    "and rows carry `running_requests`, `waiting_requests` and `kv_cache_usage` (a "
    "fraction of 1) from the group's gauges when it exports them."
)
"""The ``/analytics/models`` description in the OpenAPI document."""

router = APIRouter(prefix="/api", tags=["analytics"], responses=ERROR_RESPONSES)


def analytics_of(request: Request) -> AnalyticsStore:
    """The served store's analytics."""
    store = store_of(request)
    assert isinstance(store, AnalyticsStore), "every backend implements AnalyticsStore"
    return store


@router.get(
    "/analytics/models",
    summary="Latency, queue time, TTFT, TPOT, errors, tokens and GPU use per group",
    description=MODELS_DOC,
)
def model_analytics(
    request: Request,
    since: Annotated[str | None, SINCE] = None,
    until: Annotated[str | None, UNTIL] = None,
    group_by: Annotated[GroupBy, Query(description="What each row is keyed by")] = GroupBy.MODEL,
    spans: Annotated[SpanScope, SPANS] = SpanScope.REQUESTS,
    source: Annotated[AnalyticsSource, SOURCE] = AnalyticsSource.AUTO,
) -> ApiJSON:
    """One row per group over the window's requests or metrics (:data:`MODELS_DOC`)."""
    lo, hi = parse_window(since, until)
    metrics = metric_rows(store_of(request), lo, hi, group_by, source)
    groups = []
    if source is not AnalyticsSource.METRICS:
        groups = analytics_of(request).model_analytics(lo, hi, group_by, spans)
    return ApiJSON(
        {
            "since_unix_nano": lo,
            "until_unix_nano": hi,
            "group_by": group_by.value,
            "spans": spans.value,
            "source": source.value,
            "groups": merged_rows(groups, metrics, source),
        }
    )


@router.get("/analytics/timeseries", summary="One measure per time bucket, for charts")
def timeseries(
    request: Request,
    metric: Annotated[SeriesMetric, Query(description=METRIC_DOC)],
    step: Annotated[str, duration_query("Bucket width, e.g. 10s, 1m, 1h")] = "1m",
    model: Annotated[str | None, Query(description="Only this model's spans")] = None,
    since: Annotated[str | None, SINCE] = None,
    until: Annotated[str | None, UNTIL] = None,
    spans: Annotated[SpanScope, SPANS] = SpanScope.REQUESTS,
    source: Annotated[AnalyticsSource, Query(description=SERIES_SOURCE_DOC)] = (
        AnalyticsSource.AUTO
    ),
) -> ApiJSON:
    """Buckets ``[start, start + step)`` from ``since`` (default: an hour ago) to ``until``
    (default: now) over the requests (``spans=all``: every span with a model), each in
    the bucket it starts in, or over metrics (``source``); empty buckets are 0 for counts
    and null otherwise. ``source`` in the answer is the one used."""
    now = now_ns()
    lo, hi = parse_window(since, until, now)
    hi = now if hi is None else hi
    lo = hi - DEFAULT_SERIES_WINDOW_NS if lo is None else lo
    if lo >= hi:
        raise BadParameter("since", "must be earlier than until (default: now)")
    step_ns = parse_amount_ns(step, "step")
    if step_ns <= 0:
        raise BadParameter("step", f"{step!r} must be a positive duration")
    if (hi - lo) // step_ns > MAX_BUCKETS:
        raise BadParameter(
            "step", f"{step!r} makes more than {MAX_BUCKETS} buckets; use a wider step"
        )
    found: list[SeriesPoint] = []
    used = AnalyticsSource.SPANS
    if source is not AnalyticsSource.METRICS:
        found = analytics_of(request).timeseries(metric, step_ns, lo, hi, model or None, spans)
    if source is AnalyticsSource.METRICS or (source is AnalyticsSource.AUTO and not found):
        found = metric_timeseries(store_of(request), metric, step_ns, lo, hi, model or None)
        used = AnalyticsSource.METRICS
    points = filled(found, metric, step_ns, lo, hi)
    return ApiJSON(
        {
            "metric": metric.value,
            "step_nanos": step_ns,
            "model_name": model or None,
            "spans": spans.value,
            "source": used.value,
            "since_unix_nano": lo,
            "until_unix_nano": hi,
            "points": [series_point_json(p) for p in points],
        }
    )


_COUNTS = (SeriesMetric.REQUESTS, SeriesMetric.ERRORS, SeriesMetric.TOKENS_OUT)


def filled(
    found: list[SeriesPoint], metric: SeriesMetric, step: int, since: int, until: int
) -> list[SeriesPoint]:
    """Every bucket from the one holding ``since`` to the one before ``until``.

    Stores return only buckets with data; charts want a continuous axis, so an
    empty bucket is 0 for counts and null for latencies and rates. O(buckets).
    """
    empty = 0.0 if metric in _COUNTS else None
    have = {p.bucket_start_unix_nano: p.value for p in found}
    first = since - since % step
    return [SeriesPoint(b, have.get(b, empty)) for b in range(first, until, step)]


@router.get("/analytics/leaderboard", summary="Models ranked by one measure")
def leaderboard(
    request: Request,
    by: Annotated[SeriesMetric, Query(description="The measure to rank by. " + METRIC_DOC)] = (
        SeriesMetric.LATENCY_P95
    ),
    since: Annotated[str | None, SINCE] = None,
    until: Annotated[str | None, UNTIL] = None,
    limit: Annotated[int, Query(description="Places returned", ge=1, le=1000)] = 10,
    spans: Annotated[SpanScope, SPANS] = SpanScope.REQUESTS,
    source: Annotated[AnalyticsSource, SOURCE] = AnalyticsSource.AUTO,
) -> ApiJSON:
    """Models by ``by`` over their requests (``spans=all``: every span with a model) or
    their metrics (``source``), highest first; each entry says its ``source``."""
    lo, hi = parse_window(since, until)
    store = analytics_of(request)
    metrics = metric_rows(store_of(request), lo, hi, GroupBy.MODEL, source)
    entries, span_models = [], set()
    if source is not AnalyticsSource.METRICS:
        span_models = {g.key for g in store.model_analytics(lo, hi, GroupBy.MODEL, spans)}
        entries = store.leaderboard(by, lo, hi, limit, spans)
    ranked = metric_leaderboard(entries, span_models, metrics, by, limit)
    return ApiJSON(
        {
            "by": by.value,
            "spans": spans.value,
            "source": source.value,
            "entries": [leaderboard_json(e) | {"source": s.value} for e, s in ranked],
        }
    )


@router.get("/stats", summary="Stored records and bytes per signal")
def stats(request: Request) -> ApiJSON:
    """Per signal: ``capacity`` (records the store can hold; ``null`` when unbounded,
    as PostgreSQL is, bounded by retention instead), ``count``, ``evicted``,
    ``index_entries``, ``data_bytes``, ``index_bytes``, ``total_bytes``."""
    return ApiJSON(store_stats_json(store_of(request).stats()))
