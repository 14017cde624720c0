"""REST routes for per-model analytics and store stats.

The numbers come from the store's own analytics (vectorised in memory, SQL in
PostgreSQL); see :mod:`infertrace.telemetry.analytics` for their definitions.
A time series is bounded to ``MAX_BUCKETS`` buckets.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request

from infertrace.api.params import BadParameter, now_ns, parse_amount_ns, parse_window
from infertrace.api.query import SINCE, UNTIL, duration_query
from infertrace.api.responses import ERROR_RESPONSES, ApiJSON
from infertrace.api.search import store_of
from infertrace.api.serialize import (
    group_json,
    leaderboard_json,
    series_point_json,
    store_stats_json,
)
from infertrace.telemetry.analytics import AnalyticsStore, GroupBy, SeriesMetric, SeriesPoint

MAX_BUCKETS = 10_000
"""A time series never has more buckets than this; a finer step is a 422."""

DEFAULT_SERIES_WINDOW_NS = 3_600_000_000_000
"""A time series without ``since`` covers the last hour."""

router = APIRouter(prefix="/api", tags=["analytics"], responses=ERROR_RESPONSES)


def analytics_of(request: Request) -> AnalyticsStore:
    """The served store's analytics."""
    store = store_of(request)
    assert isinstance(store, AnalyticsStore), "every backend implements AnalyticsStore"
    return store


@router.get("/analytics/models", summary="Latency, errors, tokens and GPU use per group")
def model_analytics(
    request: Request,
    since: Annotated[str | None, SINCE] = None,
    until: Annotated[str | None, UNTIL] = None,
    group_by: Annotated[GroupBy, Query(description="What each row is keyed by")] = GroupBy.MODEL,
) -> ApiJSON:
    """One row per model (or service, operation, pod) over the model spans in the window."""
    lo, hi = parse_window(since, until)
    groups = analytics_of(request).model_analytics(lo, hi, group_by)
    return ApiJSON(
        {
            "since_unix_nano": lo,
            "until_unix_nano": hi,
            "group_by": group_by.value,
            "groups": [group_json(g) for g in groups],
        }
    )


@router.get("/analytics/timeseries", summary="One measure per time bucket, for charts")
def timeseries(
    request: Request,
    metric: Annotated[SeriesMetric, Query(description="What each bucket measures")],
    step: Annotated[str, duration_query("Bucket width, e.g. 10s, 1m, 1h")] = "1m",
    model: Annotated[str | None, Query(description="Only this model's spans")] = None,
    since: Annotated[str | None, SINCE] = None,
    until: Annotated[str | None, UNTIL] = None,
) -> ApiJSON:
    """Buckets ``[start, start + step)`` from ``since`` (default: an hour ago) to ``until``
    (default: now); empty buckets are 0 for counts and null otherwise."""
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
    found = analytics_of(request).timeseries(metric, step_ns, lo, hi, model or None)
    points = filled(found, metric, step_ns, lo, hi)
    return ApiJSON(
        {
            "metric": metric.value,
            "step_nanos": step_ns,
            "model_name": model or None,
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
    by: Annotated[SeriesMetric, Query(description="The measure to rank by")] = (
        SeriesMetric.LATENCY_P95
    ),
    since: Annotated[str | None, SINCE] = None,
    until: Annotated[str | None, UNTIL] = None,
    limit: Annotated[int, Query(description="Places returned", ge=1, le=1000)] = 10,
) -> ApiJSON:
    """Models by ``by``, highest first."""
    lo, hi = parse_window(since, until)
    entries = analytics_of(request).leaderboard(by, lo, hi, limit)
    return ApiJSON({"by": by.value, "entries": [leaderboard_json(e) for e in entries]})


@router.get("/stats", summary="Stored records and bytes per signal")
def stats(request: Request) -> ApiJSON:
    """Per signal: ``capacity`` (records the store can hold; ``null`` when unbounded,
    as PostgreSQL is, bounded by retention instead), ``count``, ``evicted``,
    ``index_entries``, ``data_bytes``, ``index_bytes``, ``total_bytes``."""
    return ApiJSON(store_stats_json(store_of(request).stats()))
