"""REST routes that find records: traces, spans, logs, metrics and their names.

Handlers are plain ``def``: store calls block, so FastAPI runs them on its
thread pool, and the stores are safe to read from many threads. Every answer
is bounded: searches by their capped ``limit``, a trace by ``MAX_TRACE_SPANS``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from starlette.requests import Request

from infertrace.api.params import TRACE_ID_PATTERN
from infertrace.api.query import log_filter, metric_filter, span_filter
from infertrace.api.responses import ERROR_RESPONSES, TRACE_RESPONSES, ApiJSON, error
from infertrace.api.serialize import iso_time, log_json, metric_json, span_json
from infertrace.model import parse_id
from infertrace.telemetry.filters import LogFilter, MetricFilter, SpanFilter
from infertrace.telemetry.protocols import TelemetryStore

MAX_TRACE_SPANS = 50_000
"""A trace answer holds at most this many spans (the earliest); ``truncated`` says so."""

router = APIRouter(prefix="/api", tags=["search"], responses=ERROR_RESPONSES)


def store_of(request: Request) -> TelemetryStore:
    """The store the app serves."""
    store: TelemetryStore = request.app.state.store
    return store


def _page(key: str, rows: list[dict[str, Any]], limit: int) -> ApiJSON:
    return ApiJSON({key: rows, "count": len(rows), "limit": limit, "truncated": len(rows) >= limit})


@router.get(
    "/traces/{trace_id}",
    summary="One trace's spans, by start time",
    responses=TRACE_RESPONSES,
)
def get_trace(
    request: Request,
    trace_id: Annotated[
        str,
        Path(description="32 hex characters", json_schema_extra={"pattern": TRACE_ID_PATTERN}),
    ],
) -> ApiJSON:
    """The spans of a trace; 400 for an id that is not 32 hex chars, 404 when unknown."""
    try:
        tid = parse_id(trace_id, 16, "trace id")
    except ValueError as exc:
        return error(400, str(exc))
    spans = store_of(request).get_trace(tid)
    shown = spans[:MAX_TRACE_SPANS]
    start = min(s.start_time_unix_nano for s in spans)
    end = max(s.end_time_unix_nano for s in spans)
    return ApiJSON(
        {
            "trace_id": tid.hex(),
            "span_count": len(spans),
            "truncated": len(spans) > len(shown),
            "services": sorted({s.service_name for s in spans}),
            "start_time_unix_nano": start,
            "start_time": iso_time(start),
            "duration_nanos": end - start,
            "spans": [span_json(s) for s in shown],
        }
    )


@router.get("/spans", summary="Search spans, newest first")
def list_spans(request: Request, flt: Annotated[SpanFilter, Depends(span_filter)]) -> ApiJSON:
    """Spans matching every given filter; ``attr.KEY=VALUE`` filters on attributes."""
    spans = store_of(request).list_spans(flt)
    return _page("spans", [span_json(s) for s in spans], flt.limit)


@router.get("/logs", summary="Search log records, newest first")
def list_logs(request: Request, flt: Annotated[LogFilter, Depends(log_filter)]) -> ApiJSON:
    """Log records matching every given filter."""
    records = store_of(request).list_logs(flt)
    return _page("logs", [log_json(r) for r in records], flt.limit)


@router.get("/metrics", summary="Search metric points, newest first")
def list_metrics(request: Request, flt: Annotated[MetricFilter, Depends(metric_filter)]) -> ApiJSON:
    """Metric points matching every given filter; ``attr.KEY=VALUE`` on point attributes."""
    points = store_of(request).list_metric_points(flt)
    return _page("points", [metric_json(p) for p in points], flt.limit)


@router.get("/metrics/names", summary="Names of the stored metrics")
def metric_names(request: Request) -> ApiJSON:
    return ApiJSON({"names": store_of(request).metric_names()})


@router.get("/services", summary="Services that sent spans")
def services(request: Request) -> ApiJSON:
    return ApiJSON({"services": store_of(request).services()})


@router.get("/services/{service}/operations", summary="Span names of one service")
def operations(request: Request, service: str) -> ApiJSON:
    return ApiJSON({"service": service, "operations": store_of(request).operations(service)})


@router.get("/models", summary="Models seen on spans or named by metric labels")
def models(request: Request) -> ApiJSON:
    return ApiJSON({"models": store_of(request).models()})
