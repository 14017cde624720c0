"""The span, log and metric filters of the REST API, read from the query string.

One FastAPI dependency per filter, so ``/api/spans`` and ``/api/export/spans``
take exactly the same parameters and /openapi.json documents them once.
Parameter syntax is in :mod:`infertrace.api.params`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import Query
from starlette.requests import Request

from infertrace.api.params import (
    DURATION_PATTERN,
    STATUS_PATTERN,
    TIME_PATTERN,
    TRACE_ID_PATTERN,
    BadParameter,
    attribute_filters,
    parse_duration,
    parse_limit,
    parse_status,
    parse_window,
)
from infertrace.errors import InvalidFilter
from infertrace.telemetry.filters import DEFAULT_LIMIT, LogFilter, MetricFilter, SpanFilter

TIME_HELP = "RFC 3339 time, relative time before now (15m, 1h, 2d) or unix nanoseconds"
SINCE = Query(
    description=f"Start of the window, inclusive: {TIME_HELP}",
    json_schema_extra={"pattern": TIME_PATTERN},
)
UNTIL = Query(
    description=f"End of the window, exclusive: {TIME_HELP}",
    json_schema_extra={"pattern": TIME_PATTERN},
)
LIMIT = Query(description="Most records returned (newest first); capped at 10000", ge=1)


def duration_query(description: str) -> Any:
    """A duration parameter, documented with its syntax."""
    return Query(description=description, json_schema_extra={"pattern": DURATION_PATTERN})


def span_filter(
    request: Request,
    service: Annotated[str | None, Query(description="service.name")] = None,
    model: Annotated[str | None, Query(description="Model name (gen_ai.request.model)")] = None,
    operation: Annotated[str | None, Query(description="Span name")] = None,
    since: Annotated[str | None, SINCE] = None,
    until: Annotated[str | None, UNTIL] = None,
    min_duration: Annotated[
        str | None, duration_query("Shortest duration kept, e.g. 250ms, 2s")
    ] = None,
    max_duration: Annotated[
        str | None, duration_query("Longest duration kept, e.g. 250ms, 2s")
    ] = None,
    status: Annotated[
        str | None,
        Query(description="ok, error or unset", json_schema_extra={"pattern": STATUS_PATTERN}),
    ] = None,
    limit: Annotated[int | None, LIMIT] = None,
) -> SpanFilter:
    """Span filter parameters; ``attr.KEY=VALUE`` parameters filter on attributes."""
    lo, hi = parse_window(since, until)
    lo_d = parse_duration(min_duration, "min_duration")
    hi_d = parse_duration(max_duration, "max_duration")
    if lo_d is not None and hi_d is not None and lo_d > hi_d:
        raise BadParameter("max_duration", "must not be shorter than min_duration")
    flt = SpanFilter(
        service_name=service or None,
        model_name=model or None,
        operation_name=operation or None,
        since=lo,
        until=hi,
        min_duration_ns=lo_d,
        max_duration_ns=hi_d,
        status=parse_status(status),
        attributes=attribute_filters(request.query_params.multi_items()),
        limit=parse_limit(limit, DEFAULT_LIMIT),
    )
    flt.resolve()
    return flt


def log_filter(
    service: Annotated[str | None, Query(description="service.name")] = None,
    min_severity: Annotated[
        int | None, Query(description="Lowest OTLP severity number kept (1-24)", ge=0, le=24)
    ] = None,
    trace_id: Annotated[
        str | None,
        Query(description="32 hex characters", json_schema_extra={"pattern": TRACE_ID_PATTERN}),
    ] = None,
    contains: Annotated[str | None, Query(description="Text the body contains")] = None,
    since: Annotated[str | None, SINCE] = None,
    until: Annotated[str | None, UNTIL] = None,
    limit: Annotated[int | None, LIMIT] = None,
) -> LogFilter:
    """Log filter parameters."""
    lo, hi = parse_window(since, until)
    flt = LogFilter(
        service_name=service or None,
        min_severity=min_severity,
        trace_id=trace_id or None,
        body_contains=contains or None,
        since=lo,
        until=hi,
        limit=parse_limit(limit, DEFAULT_LIMIT),
    )
    try:
        flt.resolve()
    except InvalidFilter as exc:
        raise BadParameter("trace_id", str(exc)) from None
    return flt


def metric_filter(
    request: Request,
    name: Annotated[str | None, Query(description="Metric name")] = None,
    service: Annotated[str | None, Query(description="service.name")] = None,
    since: Annotated[str | None, SINCE] = None,
    until: Annotated[str | None, UNTIL] = None,
    limit: Annotated[int | None, LIMIT] = None,
) -> MetricFilter:
    """Metric filter parameters; ``attr.KEY=VALUE`` parameters filter on point attributes."""
    lo, hi = parse_window(since, until)
    flt = MetricFilter(
        name=name or None,
        service_name=service or None,
        since=lo,
        until=hi,
        attributes=attribute_filters(request.query_params.multi_items()),
        limit=parse_limit(limit, DEFAULT_LIMIT),
    )
    flt.resolve()
    return flt


def with_limit(flt: SpanFilter, limit: int) -> SpanFilter:
    """``flt`` asking for ``limit`` spans (used by paging)."""
    return replace(flt, limit=limit)
