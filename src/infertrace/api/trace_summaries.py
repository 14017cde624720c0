"""``/api/trace-summaries``: the traces with a span matching a span search, one row each.

The UI's search lists these by default. The same parameters as ``/api/spans``
(:func:`infertrace.api.query.span_filter`), but ``limit`` counts traces (at most
``MAX_TRACES``). The newest matching spans are read (at most ``limit *
SPANS_PER_TRACE``), their distinct trace ids kept in order, and each trace read
whole to summarise it; a trace gone since is skipped.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import Request

from infertrace.api.params import BadParameter
from infertrace.api.query import span_filter
from infertrace.api.responses import ERROR_RESPONSES, ApiJSON
from infertrace.api.serialize import iso_time
from infertrace.errors import TraceNotFound
from infertrace.model import Span
from infertrace.telemetry.filters import MAX_LIMIT, SpanFilter
from infertrace.telemetry.protocols import SpanReader

MAX_TRACES = 1000
"""Most traces one answer summarises; a larger ``limit`` is a 422."""

SPANS_PER_TRACE = 20
"""Matching spans read per trace asked for, to find distinct trace ids."""

router = APIRouter(prefix="/api", tags=["search"], responses=ERROR_RESPONSES)


def summarise(spans: list[Span]) -> dict[str, Any]:
    """One trace's summary row; ``spans`` share a trace id, at least one. O(spans)."""
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if s.parent_span_id not in ids] or spans
    root = min(roots, key=lambda s: (s.start_time_unix_nano, s.span_id))
    start = min(s.start_time_unix_nano for s in spans)
    end = max(s.end_time_unix_nano for s in spans)
    return {
        "trace_id": root.trace_id.hex(),
        "root_service_name": root.service_name,
        "root_operation_name": root.operation_name,
        "services": sorted({s.service_name for s in spans}),
        "span_count": len(spans),
        "error_count": sum(1 for s in spans if s.is_error),
        "start_time_unix_nano": start,
        "start_time": iso_time(start),
        "duration_nanos": end - start,
    }


def trace_summaries(store: SpanReader, flt: SpanFilter) -> list[dict[str, Any]]:
    """Up to ``flt.limit`` summaries of traces with a matching span, newest trace first.

    Reads at most ``flt.limit * SPANS_PER_TRACE`` spans (capped at ``MAX_LIMIT``)
    plus the traces found.
    """
    wanted = flt.limit
    spans = store.list_spans(replace(flt, limit=min(MAX_LIMIT, wanted * SPANS_PER_TRACE)))
    order: dict[bytes, None] = {}
    for span in spans:
        order.setdefault(span.trace_id, None)
        if len(order) >= wanted:
            break
    rows = []
    for tid in order:
        try:
            rows.append(summarise(store.get_trace(tid)))
        except TraceNotFound:
            continue
    rows.sort(key=lambda r: (r["start_time_unix_nano"], r["trace_id"]), reverse=True)
    return rows


@router.get("/trace-summaries", summary="Search traces: one summary per trace, newest first")
def list_trace_summaries(
    request: Request, flt: Annotated[SpanFilter, Depends(span_filter)]
) -> ApiJSON:
    """Traces with a span matching every filter; ``limit`` counts traces (at most 1000)."""
    if flt.limit > MAX_TRACES:
        raise BadParameter("limit", f"at most {MAX_TRACES} traces, got {flt.limit}")
    store: SpanReader = request.app.state.store
    rows = trace_summaries(store, flt)
    return ApiJSON(
        {
            "traces": rows,
            "count": len(rows),
            "limit": flt.limit,
            "truncated": len(rows) >= flt.limit,
        }
    )
