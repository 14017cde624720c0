"""The Jaeger-compatible query API under ``/jaeger``, for Grafana and the Jaeger UI.

Point a Jaeger data source at ``http://HOST:PORT/jaeger``. Routes (all GET):

- ``/api/services``: service names.
- ``/api/services/{service}/operations``: a service's operation names.
- ``/api/operations?service=&spanKind=``: ``[{name, spanKind}]``, optionally of one kind.
- ``/api/traces?service=&operation=&tags=&tag=&start=&end=&lookback=&minDuration=
  &maxDuration=&limit=`` (or ``?traceID=...`` repeated): traces in Jaeger's model.
- ``/api/traces/{traceID}``: one trace; 404 when unknown, 400 when not hex.

The router also carries the v3 API (:mod:`infertrace.api.jaeger_v3`), the
dependencies and Monitor-tab metrics routes (:mod:`infertrace.api.jaeger_monitor`);
:mod:`infertrace.api.jaeger_errors` answers routing errors under ``/jaeger``.

Answers are Jaeger's envelope ``{data, total, limit, offset, errors}``; a bad
parameter is a 400 whose ``errors[0].msg`` names the parameter and the value.

Search semantics are Jaeger's: one span must match every condition, and the
result is up to ``limit`` (default 20, at most 1,000) whole traces, newest
matching span first. ``start``/``end`` are unix microseconds, both inclusive;
without ``start``, ``lookback`` (``1h``, ``2d``) before ``end`` (or now) is
used. Durations are Go durations (``1.2s``, ``100ms``, ``500us``, ``1m30s``).
A blank parameter is an absent one; as in Jaeger, a start after the end is no
error and matches nothing, and so (unlike Jaeger, which answers 400) does a
``maxDuration`` below ``minDuration``.
Tags come as a JSON object (``tags={"error":"true"}``) or repeated ``tag=k:v``.
A tag value is text; it matches an attribute holding that text, or the bool,
integer or float it spells (``500`` matches 500 and "500", ``true`` matches
True and "true"); see :func:`infertrace.api.jaeger_model.tag_values` for which
values a span offers a key (``error=true`` is the error status, lifted names
like ``gen_ai.request.model`` match the model column). Array-valued attributes
and event fields are not searched.

The store does the narrowing: every tag it can filter on is passed down (a tag
that may match in several ways runs one store query per way, at most
``jaeger_model.MAX_QUERIES``), the rest is checked here, and pages move back in time until
``limit`` traces are found or ``SCAN_BUDGET`` spans were read. Responses are
bounded: at most ``MAX_TRACE_SPANS`` spans per trace and ``MAX_RESPONSE_SPANS``
in all (the trace that crosses it is cut, with a warning; later ones are left
out). Endpoints are plain ``def``: FastAPI runs them on its thread pool, as
store calls block. /openapi.json states every parameter's syntax, so every
schema-valid request gets a 2xx (or 404 for an unknown trace id).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse

from infertrace.api.jaeger_model import (
    KIND_NAMES,
    MAX_TRACE_SPANS,
    JSONObject,
    TagQuery,
    error_body,
    store_filters,
    trace_json,
)
from infertrace.api.jaeger_params import (
    MAX_TAGS,
    MAX_TRACES,
    SPAN_KIND_NAMES,
    ParamError,
    parse_durations,
    parse_limit,
    parse_tags,
    parse_trace_id,
    parse_window,
)
from infertrace.errormap import MAPPED, answer_for
from infertrace.errors import TraceNotFound
from infertrace.model import Span
from infertrace.telemetry.filters import MAX_LIMIT, SpanFilter
from infertrace.telemetry.protocols import TelemetryStore

SCAN_BUDGET = 100_000
"""Spans one search reads from the store at most."""
MAX_RESPONSE_SPANS = 100_000
KIND_SAMPLE = 5_000
"""Newest spans of a service read to learn its operations' kinds."""
KIND_SAMPLE_PER_OPERATION = 100
MAX_TRACE_IDS = MAX_TRACES


def find_trace_ids(
    store: TelemetryStore, filters: Sequence[SpanFilter], query: TagQuery, limit: int
) -> list[bytes]:
    """Up to ``limit`` trace ids with a span matching, newest matching span first.

    Pages back in time: each page runs every filter; below the newest "oldest
    span" of a full answer the page may be incomplete, so the next page starts
    there. Reads at most about ``SCAN_BUDGET`` spans.
    """
    found: dict[bytes, None] = {}
    if not filters:
        return []
    page = min(MAX_LIMIT, max(500, limit * 20))
    until = filters[0].until
    last_cut: int | None = None
    scanned = 0
    while True:
        batch: list[Span] = []
        cut: int | None = None
        for flt in filters:
            spans = store.list_spans(replace(flt, until=until, limit=page))
            scanned += len(spans)
            if len(spans) >= page:
                oldest = min(s.start_time_unix_nano for s in spans)
                cut = oldest if cut is None else max(cut, oldest)
            batch.extend(spans)
        if cut is not None:
            batch = [s for s in batch if s.start_time_unix_nano >= cut]
        batch.sort(key=lambda s: s.start_time_unix_nano, reverse=True)
        for span in batch:
            tid = span.trace_id
            if tid not in found and query.matches(span):
                found[tid] = None
                if len(found) >= limit:
                    return list(found)
        if cut is None or scanned >= SCAN_BUDGET:
            return list(found)
        # Spans starting exactly at the cut may be missing: look again unless stuck there.
        until = cut if cut == last_cut else cut + 1
        last_cut = cut


def stored_traces(
    store: TelemetryStore, trace_ids: Sequence[bytes]
) -> Iterator[tuple[list[Span], int]]:
    """(spans, how many of them to show) of each trace still stored, in order.

    Traces gone since are skipped; at most MAX_TRACE_SPANS a trace and
    MAX_RESPONSE_SPANS in all are shown (the v1 and v3 APIs bound answers alike).
    """
    budget = MAX_RESPONSE_SPANS
    for tid in trace_ids:
        if budget <= 0:
            return
        try:
            spans = store.get_trace(tid)
        except TraceNotFound:
            continue
        cap = min(MAX_TRACE_SPANS, budget)
        yield spans, cap
        budget -= min(len(spans), cap)


def load_traces(store: TelemetryStore, trace_ids: Sequence[bytes]) -> list[JSONObject]:
    """The traces in Jaeger's model, skipping ones gone since; bounded in spans."""
    return [trace_json(spans, cap) for spans, cap in stored_traces(store, trace_ids)]


def operation_kinds(store: TelemetryStore, service: str) -> list[tuple[str, str]]:
    """Sorted (operation, kind name) pairs of a service, from its newest spans.

    One sample of the newest ``KIND_SAMPLE`` spans, then one small query per
    operation the sample missed; an operation with no span left gets kind ''.
    """
    pairs: dict[tuple[str, str], None] = {}
    for span in store.list_spans(SpanFilter(service_name=service, limit=KIND_SAMPLE)):
        pairs[(span.operation_name, KIND_NAMES.get(span.kind, ""))] = None
    seen = {op for op, _ in pairs}
    for op in store.operations(service):
        if op in seen:
            continue
        flt = SpanFilter(service_name=service, operation_name=op, limit=KIND_SAMPLE_PER_OPERATION)
        kinds = {KIND_NAMES.get(s.kind, "") for s in store.list_spans(flt)} or {""}
        pairs.update(((op, kind), None) for kind in kinds)
    return sorted(pairs)


def envelope(data: Any, errors: list[JSONObject] | None = None, status: int = 200) -> JSONResponse:
    """Jaeger's response envelope."""
    total = len(data) if isinstance(data, list) else 0
    body = {"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors}
    return JSONResponse(body, status)


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Jaeger's error envelope: ``data`` null and one error."""
    return JSONResponse(error_body(status, message), status, headers=headers)


def _guarded(answer: Callable[[], JSONResponse]) -> JSONResponse:
    """``answer()``, or the error it raised in Jaeger's envelope (see :mod:`infertrace.errormap`).

    Jaeger answers a bad parameter with 400 where the REST API says 422.
    """
    try:
        return answer()
    except MAPPED as exc:
        mapped = answer_for(exc)
        status = 400 if mapped.status == 422 else mapped.status
        return error_response(status, mapped.message, mapped.headers or None)


def _store(request: Request) -> TelemetryStore:
    store: TelemetryStore = request.app.state.store
    return store


def search_traces(
    store: TelemetryStore,
    service: str | None,
    operation: str | None,
    tags: dict[str, str],
    window: tuple[int | None, int | None],
    durations: tuple[int | None, int | None],
    limit: int,
) -> list[JSONObject]:
    """A Jaeger trace search over ``store`` (see the module docstring)."""
    if not service:
        raise ParamError("service", "parameter 'service' is required")
    base = SpanFilter(
        service_name=service,
        operation_name=operation or None,
        since=window[0],
        until=window[1],
        min_duration_ns=durations[0],
        max_duration_ns=durations[1],
    )
    query = TagQuery(tags)
    ids = find_trace_ids(store, store_filters(base, query), query, limit)
    return load_traces(store, ids)


def _by_ids(store: TelemetryStore, raw_ids: Sequence[str]) -> JSONResponse:
    if len(raw_ids) > MAX_TRACE_IDS:
        raise ParamError("traceID", f"at most {MAX_TRACE_IDS} traceID values, got {len(raw_ids)}")
    ids = list(dict.fromkeys(parse_trace_id(t) for t in raw_ids))
    traces = load_traces(store, ids)
    found = {t["traceID"] for t in traces}
    missing = [
        {"code": 404, "msg": "trace not found", "traceID": tid.hex()}
        for tid in ids
        if tid.hex() not in found
    ]
    return envelope(traces, missing or None)


_GO_DURATION = r"(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)"
_LOOKBACK = rf"(custom|{_GO_DURATION}|[0-9]+[dw])"


class _AnyText(Convertor[str]):
    """A path segment of any text, '/' and line breaks included: service names are free."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("jaeger_service", _AnyText())

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A parameter has a bad value: `errors[0].msg` names it"},
    401: {"description": "Missing or wrong bearer token (when the server has an API token)"},
    503: {"description": "The store is unavailable; retry after `Retry-After` seconds"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such trace"}}


def _text(description: str, pattern: str, alias: str | None = None) -> Any:
    """A documented text parameter whose syntax /openapi.json states."""
    extra = {"pattern": f"^\\s*({pattern})?\\s*$", "maxLength": 64}
    return Query(alias=alias, description=description, json_schema_extra=extra)


def _documented(*params: JSONObject) -> dict[str, Any]:
    """OpenAPI for parameters FastAPI cannot describe (required-but-checked-here, JSON)."""
    return {"parameters": list(params)}


_SERVICE = {
    "name": "service",
    "in": "query",
    "required": True,
    "description": "Service name (for /api/traces: unless traceID is given).",
    "schema": {"type": "string", "minLength": 1},
}
_TAGS = {
    "name": "tags",
    "in": "query",
    "required": False,
    "description": 'Tags a span must have, as a JSON object: {"http.status_code":"500"}. '
    "A value matches the text or the bool or number it spells; error=true is the error "
    "status.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "propertyNames": {"minLength": 1},
                "maxProperties": MAX_TAGS // 2,
            }
        }
    },
}


def jaeger_router() -> APIRouter:
    """The Jaeger query API as a router with prefix ``/jaeger``."""
    router = APIRouter(prefix="/jaeger", tags=["jaeger"], responses=_ERRORS)

    @router.get("/api/services", summary="Service names (Jaeger)", name="jaeger_services")
    def services(request: Request) -> JSONResponse:
        return _guarded(lambda: envelope(_store(request).services()))

    @router.get(
        "/api/services/{service:jaeger_service}/operations",
        summary="Operation names of a service (Jaeger)",
        name="jaeger_service_operations",
    )
    def service_operations(request: Request, service: str) -> JSONResponse:
        return _guarded(lambda: envelope(_store(request).operations(service)))

    @router.get(
        "/api/operations",
        summary="Operations of a service with their span kinds (Jaeger)",
        name="jaeger_operations",
        openapi_extra=_documented(_SERVICE),
    )
    def operations(
        request: Request,
        service: Annotated[str | None, Query(include_in_schema=False)] = None,
        span_kind: Annotated[
            str | None,
            _text(
                "Only operations of this kind; empty for all.",
                "(server|client|producer|consumer|internal)",
                alias="spanKind",
            ),
        ] = None,
    ) -> JSONResponse:
        def answer() -> JSONResponse:
            if not service:
                raise ParamError("service", "parameter 'service' is required")
            kind = (span_kind or "").strip().lower()
            if kind not in SPAN_KIND_NAMES:
                raise ParamError(
                    "spanKind",
                    f"'spanKind' {span_kind!r} is not one of server, client, producer, "
                    "consumer, internal",
                )
            pairs = operation_kinds(_store(request), service)
            data = [{"name": op, "spanKind": k} for op, k in pairs if not kind or k == kind]
            return envelope(data)

        return _guarded(answer)

    @router.get(
        "/api/traces",
        summary="Search traces (Jaeger)",
        name="jaeger_traces",
        openapi_extra=_documented(_SERVICE, _TAGS),
    )
    def traces(
        request: Request,
        service: Annotated[str | None, Query(include_in_schema=False)] = None,
        tags: Annotated[list[str] | None, Query(include_in_schema=False)] = None,
        operation: Annotated[str | None, Query(description="Operation (span) name.")] = None,
        tag: Annotated[
            list[str] | None,
            Query(
                description="A tag as key:value; repeat for more.",
                json_schema_extra={"maxItems": MAX_TAGS // 2, "items": {"pattern": "^[^:]+:"}},
            ),
        ] = None,
        start: Annotated[str | None, _text("Earliest span start, unix µs.", "[0-9]{1,19}")] = None,
        end: Annotated[str | None, _text("Latest span start, unix µs.", "[0-9]{1,19}")] = None,
        lookback: Annotated[
            str | None,
            _text(
                "Without start: how long before end (1h, 2d).",
                f"(custom|{_GO_DURATION}|[0-9]+[dw])",
            ),
        ] = None,
        min_duration: Annotated[
            str | None, _text("Go duration: 100ms, 1.2s.", _GO_DURATION, alias="minDuration")
        ] = None,
        max_duration: Annotated[
            str | None,
            _text("Go duration, not below minDuration.", _GO_DURATION, alias="maxDuration"),
        ] = None,
        limit: Annotated[
            str | None, _text("Traces to return (default 20, at most 1000).", "[0-9]{1,18}")
        ] = None,
        trace_id: Annotated[
            list[str] | None,
            Query(
                alias="traceID",
                description="Return these traces (up to 32 hex digits each) instead of searching.",
                json_schema_extra={
                    "maxItems": MAX_TRACE_IDS,
                    "items": {"pattern": "^\\s*[0-9a-fA-F]{1,32}\\s*$"},
                },
            ),
        ] = None,
    ) -> JSONResponse:
        def answer() -> JSONResponse:
            store = _store(request)
            if trace_id:
                return _by_ids(store, trace_id)
            return envelope(
                search_traces(
                    store,
                    service,
                    operation,
                    parse_tags(tag or [], tags or []),
                    parse_window(start, end, lookback, time.time_ns()),
                    parse_durations(min_duration, max_duration),
                    parse_limit(limit),
                )
            )

        return _guarded(answer)

    @router.get(
        "/api/traces/{trace_id}",
        summary="One trace by id (Jaeger)",
        name="jaeger_trace",
        responses=_NOT_FOUND,
    )
    def get_trace(
        request: Request,
        trace_id: Annotated[
            str,
            Path(
                description="Up to 32 hex digits",
                json_schema_extra={"pattern": "^\\s*[0-9a-fA-F]{1,32}\\s*$"},
            ),
        ],
    ) -> JSONResponse:
        def answer() -> JSONResponse:
            tid = parse_trace_id(trace_id)
            try:
                spans = _store(request).get_trace(tid)
            except TraceNotFound:
                return error_response(404, "trace not found")
            return envelope([trace_json(spans)])

        return _guarded(answer)

    from infertrace.api.jaeger_monitor import monitor_router  # they use this module
    from infertrace.api.jaeger_v3 import v3_router

    router.include_router(v3_router())
    router.include_router(monitor_router())
    return router
