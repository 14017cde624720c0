"""Jaeger's v3 query API over HTTP/JSON, under ``/jaeger``, as its HTTP gateway serves it.

Routes (all GET), with Jaeger's parameter names (the snake_case ones the
current Jaeger UI and Grafana send, and the camelCase ones newer Jaeger
prefers; the camelCase name wins when both are given):

- ``/api/v3/services``: ``{"services": [...]}``.
- ``/api/v3/operations?service=&span_kind=``: ``{"operations": [{"name", "spanKind"}]}``;
  an operation whose spans have no kind is reported as ``internal``, as Jaeger does.
- ``/api/v3/traces?query.service_name=&query.operation_name=&query.attributes=
  &query.start_time_min=&query.start_time_max=&query.duration_min=&query.duration_max=
  &query.search_depth=``: the traces with a span matching every condition, up to
  ``search_depth`` (default 100, also ``query.num_traces``) traces, newest first.
  Times are RFC 3339 (both required, min before max, max inclusive), durations
  Go durations, attributes a JSON object of strings matched like the v1 API's
  ``tags`` (:class:`infertrace.api.jaeger_model.TagQuery`).
- ``/api/v3/traces/{trace_id}?start_time=&end_time=&raw_traces=``: one trace; the
  window is checked but narrows nothing (the stores find a trace by id alone).

Answers: ``{"result": {"resourceSpans": [...]}}`` (OTLP/JSON, see
:mod:`infertrace.api.otlp_traces`), the spans of all traces together. Errors are
the gateway's ``{"error": {"httpCode": N, "message": "..."}}``: 400 for a bad
parameter (``malformed parameter NAME: ...``), 404 ``No traces found`` when a
search or lookup finds nothing, 503 with Retry-After when the store is down.
Responses are bounded like the v1 API's (``MAX_TRACE_SPANS`` per trace,
``jaeger.MAX_RESPONSE_SPANS`` in all).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.requests import Request
from starlette.responses import JSONResponse

from infertrace.api import jaeger
from infertrace.api.jaeger_model import MAX_TRACE_SPANS, JSONObject, TagQuery, store_filters
from infertrace.api.jaeger_params import (
    MAX_TAGS,
    MAX_TRACES,
    SPAN_KIND_NAMES,
    ParamError,
    parse_go_duration,
    parse_trace_id,
)
from infertrace.api.otlp_traces import traces_data
from infertrace.api.responses import dumps
from infertrace.errormap import MAPPED, answer_for
from infertrace.errors import TraceNotFound
from infertrace.model import Span
from infertrace.telemetry.filters import NO_UPPER, SpanFilter
from infertrace.telemetry.protocols import TelemetryStore

DEFAULT_SEARCH_DEPTH = 100
NOT_FOUND = "No traces found"
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})"
)
_BOOLS = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}
_INT = re.compile(r"[+-]?[0-9]{1,10}")


class V3JSON(JSONResponse):
    """JSON that tolerates non-finite floats (as null), like the rest of the API."""

    def render(self, content: Any) -> bytes:
        return dumps(content)


def v3_error(status: int, message: str, headers: dict[str, str] | None = None) -> V3JSON:
    """The gateway's error body: ``{"error": {"httpCode": status, "message": message}}``."""
    return V3JSON({"error": {"httpCode": status, "message": message}}, status, headers=headers)


def _malformed(name: str, problem: str) -> ParamError:
    return ParamError(name, f"malformed parameter {name}: {problem}")


def _guarded(answer: Callable[[], V3JSON]) -> V3JSON:
    """``answer()``, or the error it raised in the gateway's shape (422 becomes 400)."""
    try:
        return answer()
    except MAPPED as exc:
        mapped = answer_for(exc)
        status = 400 if mapped.status == 422 else mapped.status
        return v3_error(status, mapped.message, mapped.headers or None)


def _param(request: Request, canonical: str, deprecated: str) -> tuple[str | None, str]:
    """A parameter's text (blank is absent) and the name it came under; camelCase first."""
    for name in (canonical, deprecated):
        value = request.query_params.get(name)
        if value is not None and value.strip():
            return value.strip(), name
    return None, deprecated


def parse_rfc3339(text: str, name: str) -> int:
    """Unix nanoseconds of an RFC 3339 time (``2024-05-01T12:00:00.5Z``), exact to the ns."""
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        raise _malformed(name, f"{text!r} is not an RFC 3339 time like 2024-05-01T12:00:00Z")
    year, month, day, hour, minute, second, frac, zone = match.groups()
    offset = "+00:00" if zone in ("Z", "z") else zone
    try:
        whole = datetime.fromisoformat(f"{year}-{month}-{day}T{hour}:{minute}:{second}{offset}")
    except ValueError as exc:
        raise _malformed(name, f"{text!r}: {exc}") from None
    return int(whole.timestamp()) * 1_000_000_000 + int((frac or "0").ljust(9, "0"))


def _duration(request: Request, canonical: str, deprecated: str) -> int | None:
    text, name = _param(request, canonical, deprecated)
    if text is None:
        return None
    try:
        return parse_go_duration(text, name)
    except ParamError:
        raise _malformed(name, f"{text!r} is not a duration like 1.2s, 100ms or 1m") from None


def _attributes(request: Request) -> dict[str, str]:
    text = request.query_params.get("query.attributes")
    if text is None or not text.strip():
        return {}
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in obj.items()
    ):
        raise _malformed(
            "query.attributes", f'{text!r} is not a JSON object of strings like {{"error":"true"}}'
        )
    if len(obj) > MAX_TAGS:
        raise _malformed("query.attributes", f"at most {MAX_TAGS} attributes, got {len(obj)}")
    return obj


def _search_depth(request: Request) -> int:
    text, name = _param(request, "query.searchDepth", "query.search_depth")
    if text is None:
        text, name = _param(request, "query.num_traces", "query.num_traces")
    if text is None:
        return DEFAULT_SEARCH_DEPTH
    if not _INT.fullmatch(text):
        raise _malformed(name, f"{text!r} is not an integer")
    depth = int(text)
    if not 0 < depth <= MAX_TRACES:
        raise _malformed(name, f"search depth must be between 1 and {MAX_TRACES}, got {depth}")
    return depth


def _bool(request: Request, canonical: str, deprecated: str) -> bool:
    text, name = _param(request, canonical, deprecated)
    if text is None:
        return False
    value = _BOOLS.get(text.lower())
    if value is None:
        raise _malformed(name, f"{text!r} is not a boolean")
    return value


def search_window(request: Request) -> tuple[int, int]:
    """The store's [since, until) from ``query.start_time_min/max`` (both required)."""
    lo_text, lo_name = _param(request, "query.startTimeMin", "query.start_time_min")
    hi_text, hi_name = _param(request, "query.startTimeMax", "query.start_time_max")
    if lo_text is None or hi_text is None:
        raise ParamError(
            "query.start_time_min",
            "query.start_time_min and query.start_time_max are required",
        )
    lo = parse_rfc3339(lo_text, lo_name)
    hi = parse_rfc3339(hi_text, hi_name)
    if lo >= hi:
        raise ParamError(lo_name, f"{lo_name} must be before {hi_name}")
    return max(lo, 0), min(hi + 1, NO_UPPER)


def load_spans(store: TelemetryStore, trace_ids: Sequence[bytes]) -> list[Span]:
    """The spans of the traces still stored, bounded as the v1 API bounds its answers."""
    out: list[Span] = []
    for spans, cap in jaeger.stored_traces(store, trace_ids):
        out.extend(spans[:cap])
    return out


def find_traces(request: Request, store: TelemetryStore) -> list[Span]:
    """The spans of the traces a v3 search finds (see the module doc)."""
    service, _ = _param(request, "query.serviceName", "query.service_name")
    operation, _ = _param(request, "query.operationName", "query.operation_name")
    since, until = search_window(request)
    low = _duration(request, "query.durationMin", "query.duration_min")
    high = _duration(request, "query.durationMax", "query.duration_max")
    depth = _search_depth(request)
    query = TagQuery(_attributes(request))
    _bool(request, "query.rawTraces", "query.raw_traces")
    base = SpanFilter(
        service_name=service,
        operation_name=operation,
        since=since,
        until=until,
        min_duration_ns=low,
        max_duration_ns=high,
    )
    ids = jaeger.find_trace_ids(store, store_filters(base, query), query, depth)
    return load_spans(store, ids)


def operations(store: TelemetryStore, service: str, kind: str) -> list[JSONObject]:
    """A service's operations with their kinds; unspecified kind shows as ``internal``."""
    shown: dict[tuple[str, str], None] = {}
    for op, k in jaeger.operation_kinds(store, service):
        if not kind or k == kind:
            shown[(op, k or "internal")] = None
    return [{"name": op, "spanKind": k} for op, k in shown]


def _store(request: Request) -> TelemetryStore:
    store: TelemetryStore = request.app.state.store
    return store


def _result(spans: list[Span]) -> V3JSON:
    if not spans:
        return v3_error(404, NOT_FOUND)
    return V3JSON({"result": traces_data(spans)})


def _query_doc(name: str, description: str, **schema: Any) -> JSONObject:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }


_SEARCH_DOC = {
    "parameters": [
        _query_doc("query.service_name", "Service name (also query.serviceName)."),
        _query_doc("query.operation_name", "Operation (span) name (also query.operationName)."),
        _query_doc(
            "query.attributes",
            'Attributes a span must have, as a JSON object: {"http.status_code":"500"}.',
        ),
        {**_query_doc("query.start_time_min", "Earliest span start, RFC 3339 (required)."),
         "required": True},
        {**_query_doc("query.start_time_max", "Latest span start, RFC 3339 (required)."),
         "required": True},
        _query_doc("query.duration_min", "Go duration: 100ms, 1.2s."),
        _query_doc("query.duration_max", "Go duration."),
        _query_doc(
            "query.search_depth",
            f"Traces to return, 1 to {MAX_TRACES} (default {DEFAULT_SEARCH_DEPTH}).",
            pattern="^[0-9]{1,10}$",
        ),
    ]
}  # fmt: skip
_TRACE_DOC = {
    "parameters": [
        _query_doc("start_time", "RFC 3339 (also startTime); checked, narrows nothing."),
        _query_doc("end_time", "RFC 3339 (also endTime); checked, narrows nothing."),
    ]
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A parameter has a bad value: `error.message` names it"},
    404: {"description": "No traces found"},
}


def v3_router() -> APIRouter:
    """The v3 routes, for inclusion in the ``/jaeger`` router."""
    router = APIRouter(responses=_ERRORS)

    @router.get("/api/v3/services", summary="Service names (Jaeger v3)", name="jaeger_v3_services")
    def services(request: Request) -> V3JSON:
        return _guarded(lambda: V3JSON({"services": _store(request).services()}))

    @router.get(
        "/api/v3/operations",
        summary="Operations of a service with their span kinds (Jaeger v3)",
        name="jaeger_v3_operations",
    )
    def get_operations(
        request: Request,
        service: Annotated[str | None, Query(description="Service name (required).")] = None,
        span_kind: Annotated[
            str | None, Query(description="Only this kind (also spanKind).")
        ] = None,
    ) -> V3JSON:
        def answer() -> V3JSON:
            if not service or not service.strip():
                raise ParamError("service", "parameter 'service' is required")
            text, name = _param(request, "spanKind", "span_kind")
            kind = (text or "").lower()
            if kind not in SPAN_KIND_NAMES:
                raise _malformed(
                    name,
                    f"{text!r} is not one of server, client, producer, consumer, internal",
                )
            data = operations(_store(request), service, kind)
            return V3JSON({"operations": data})

        return _guarded(answer)

    @router.get(
        "/api/v3/traces",
        summary="Search traces (Jaeger v3, OTLP/JSON)",
        name="jaeger_v3_traces",
        openapi_extra=_SEARCH_DOC,
    )
    def search(request: Request) -> V3JSON:
        return _guarded(lambda: _result(find_traces(request, _store(request))))

    @router.get(
        "/api/v3/traces/{trace_id}",
        summary="One trace by id (Jaeger v3, OTLP/JSON)",
        name="jaeger_v3_trace",
        openapi_extra=_TRACE_DOC,
    )
    def get_trace(
        request: Request,
        trace_id: Annotated[str, Path(description="Up to 32 hex digits")],
    ) -> V3JSON:
        def answer() -> V3JSON:
            try:
                tid = parse_trace_id(trace_id, "trace_id")
            except ParamError:
                raise _malformed("trace_id", f"{trace_id!r} is not 1 to 32 hex digits") from None
            for canonical, deprecated in (("startTime", "start_time"), ("endTime", "end_time")):
                text, name = _param(request, canonical, deprecated)
                if text is not None:
                    parse_rfc3339(text, name)
            _bool(request, "rawTraces", "raw_traces")
            try:
                spans = _store(request).get_trace(tid)
            except TraceNotFound:
                return v3_error(404, NOT_FOUND)
            return _result(spans[:MAX_TRACE_SPANS])

        return _guarded(answer)

    return router
