"""OTLP trace export requests -> a column batch of spans, with the inference columns lifted.

This is the ingest hot path (DESIGN.md §9: per-span Python work, not parsing,
bounds ingest). The request is parsed with the lean classes of
:mod:`infertrace.collector.otlp.lean`, so attributes arrive as bytes: a span's whole
attribute list is usually one lookup in :mod:`infertrace.collector.otlp.listcache`
(frozen map and lifted columns at once), else one KeyValue cache lookup per
attribute, and a resource's bytes are one lookup too. The loop binds what it
calls to locals, does per-resource and per-scope work once, touches each
protobuf field once, and appends each span as one tuple of its fields; the
tuples are transposed once into a :class:`~infertrace.telemetry.batches.SpanBatch`
(no Span object is built on the way in).

Model resolution's first two rules are applied here
(:data:`~infertrace.telemetry.semconv.FROM_SPAN`): a span whose attributes name no
model but that carries inference data takes the model its resource names, looked up
once per resource; a span neither names is left to the pipeline's resolver, its
position noted in ``Decoded.unresolved``. Only those spans leave the fast path.

A span that breaks a rule every store enforces (``telemetry/validate.py``) is
rejected here with a reason, so the rest of the request can be stored in one
atomic write.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from infertrace.collector.otlp.build import new_event
from infertrace.collector.otlp.common import (
    TIME_LIMIT,
    ZERO_SPAN_ID,
    ZERO_TRACE_ID,
    Decoded,
    ResourceInfo,
    resource_info,
    scope_items,
    small_map,
)
from infertrace.collector.otlp.kvcache import KeyValueCache
from infertrace.collector.otlp.lean import LeanTraceRequest
from infertrace.collector.otlp.listcache import NO_COLUMNS, AttributeListCache
from infertrace.model import (
    EMPTY_ATTRIBUTES,
    Span,
    SpanEvent,
    SpanKind,
    SpanLink,
    StatusCode,
)
from infertrace.telemetry.batches import SpanBatch
from infertrace.telemetry.semconv import FROM_RESOURCE, model_of
from infertrace.telemetry.validate import (
    INT32_LIMIT,
    count_problem,
    id_problem,
    range_problem,
    text_problem,
    time_problem,
)

_KINDS = tuple(SpanKind)
_STATUSES = tuple(StatusCode)
_UNSET = (StatusCode.UNSET, "")


def _span_problem(span: Any, trace_id: bytes, span_id: bytes, parent: bytes) -> str:
    """Why a span failed the fast checks of the loop (called only for bad spans).

    The reasons are :mod:`infertrace.telemetry.validate`'s, for the record fields
    these wire fields become.
    """
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    return (
        id_problem(trace_id, 16, "trace_id")
        or id_problem(span_id, 8, "span_id")
        or id_problem(parent, 8, "parent_span_id", optional=True)
        or text_problem(span.name, "operation_name", True)
        or range_problem(span.kind, "kind", 5)
        or time_problem(end, "end_time_unix_nano")
        or f"end_time_unix_nano {end} is before start_time_unix_nano {start}"
    )


def _events(span: Any) -> tuple[tuple[SpanEvent, ...], str | None]:
    events = []
    for i, ev in enumerate(span.events):
        kvs = ev.attributes
        attrs, problem = small_map(kvs) if kvs else (EMPTY_ATTRIBUTES, None)
        if problem:
            return (), f"event {i} {problem}"
        time = ev.time_unix_nano
        if time >= TIME_LIMIT:
            return (), f"event {i} " + str(time_problem(time, "time_unix_nano"))
        events.append(new_event(ev.name, time, attrs))
    return tuple(events), None


def _links(span: Any) -> tuple[tuple[SpanLink, ...], str | None]:
    links = []
    for i, ln in enumerate(span.links):
        problem = id_problem(ln.trace_id, 16, f"link {i} trace_id") or id_problem(
            ln.span_id, 8, f"link {i} span_id"
        )
        attrs, attr_problem = small_map(ln.attributes)
        if problem or attr_problem:
            return (), problem or f"link {i} {attr_problem}"
        links.append(SpanLink(ln.trace_id, ln.span_id, attrs, ln.trace_state, ln.flags))
    return tuple(links), None


def _dropped_problem(span: Any) -> str | None:
    return (
        count_problem(span.dropped_attributes_count, "dropped_attributes_count")
        or count_problem(span.dropped_events_count, "dropped_events_count")
        or count_problem(span.dropped_links_count, "dropped_links_count")
    )


class TraceDecoder:
    """Turns trace export request bytes into a span batch; keeps a KeyValue and status cache.

    One decoder may be shared by threads (see :mod:`infertrace.collector.otlp.kvcache`).
    """

    def __init__(self, cache: KeyValueCache | None = None) -> None:
        self._cache = cache or KeyValueCache()
        self._lists = AttributeListCache(self._cache)
        self._statuses: dict[bytes, tuple[StatusCode, str] | str] = {b"": _UNSET}
        self._resources: dict[bytes, ResourceInfo] = {}

    def _resource(self, raw: bytes) -> ResourceInfo:
        """The :class:`ResourceInfo` of a Resource message's bytes, cached when short.

        Resources repeat from request to request (one per process), so their
        attribute map is decoded and frozen once and shared by every span of them.
        """
        info = resource_info(Resource.FromString(raw))
        if len(raw) <= 4096:
            if len(self._resources) >= 1024:
                self._resources.clear()
            self._resources[raw] = info
        return info

    def _status(self, raw: bytes) -> tuple[StatusCode, str] | str:
        """(code, message) of a Status message's bytes, or why it is invalid."""
        status = Status.FromString(raw)
        code = status.code
        problem = range_problem(code, "status_code", 2)
        result = (_STATUSES[code], status.message) if problem is None else problem
        if len(raw) <= 128:
            if len(self._statuses) > 4096:
                self._statuses.clear()
                self._statuses[b""] = _UNSET
            self._statuses[raw] = result
        return result

    def decode(self, body: bytes) -> Decoded[Span]:
        """The spans of a serialized request, and what was rejected and why.

        O(spans + attributes). Raises protobuf ``DecodeError`` for a malformed body.
        """
        return self.decode_message(LeanTraceRequest.FromString(body))

    def decode_message(self, request: Any) -> Decoded[Span]:
        """Like :meth:`decode`, for an already parsed lean request."""
        result: Decoded[Span] = Decoded(SpanBatch.empty())
        rows: list[tuple[Any, ...]] = []
        append = rows.append
        lists_table, list_decode = self._lists.table, self._lists.decode
        status_get, status_decode = self._statuses.get, self._status
        resource_get, resource_decode = self._resources.get, self._resource
        kinds = _KINDS
        zero_trace, zero_span = ZERO_TRACE_ID, ZERO_SPAN_ID
        no_columns, unresolved = NO_COLUMNS, result.unresolved
        for r, resource_spans in enumerate(request.resource_spans):
            raw_resource = resource_spans.resource
            res = resource_get(raw_resource) or resource_decode(raw_resource)
            service, resource = res.service_name, res.attributes
            resource_model = model_of(resource) if resource else None
            before = len(rows)
            for s, scope_spans in enumerate(resource_spans.scope_spans):
                spans = scope_spans.spans
                if res.problem:
                    result.reject(f"resource {r}", res.problem, len(spans))
                    continue
                scope = scope_items(scope_spans.scope)
                table = lists_table(scope)
                list_get = table.get
                for i, span in enumerate(spans):
                    trace_id = span.trace_id
                    span_id = span.span_id
                    parent = span.parent_span_id
                    if parent == zero_span:
                        parent = b""  # some bridges send a zero parent for a root span
                    name = span.name
                    kind = span.kind
                    start = span.start_time_unix_nano
                    end = span.end_time_unix_nano
                    if (
                        len(trace_id) != 16
                        or len(span_id) != 8
                        or trace_id == zero_trace
                        or span_id == zero_span
                        or (parent and len(parent) != 8)
                        or not name
                        or not 0 <= kind <= 5
                        or end < start
                        or end >= TIME_LIMIT
                    ):
                        where = f"resource {r} scope {s} span {i}"
                        result.reject(where, _span_problem(span, trace_id, span_id, parent))
                        continue
                    raws = tuple(span.attributes[:])  # slicing first is 2x faster than tuple()
                    attributes, columns, problem = list_get(raws) or list_decode(table, raws, scope)
                    raw_status = span.status
                    status = status_get(raw_status) or status_decode(raw_status)
                    if problem is None and status.__class__ is str:
                        problem = status
                    events: tuple[SpanEvent, ...] = ()
                    links: tuple[SpanLink, ...] = ()
                    if problem is None and span.events:
                        events, problem = _events(span)
                    if problem is None and span.links:
                        links, problem = _links(span)
                    dropped_attrs = span.dropped_attributes_count
                    dropped_events = span.dropped_events_count
                    dropped_links = span.dropped_links_count
                    if problem is None and (
                        dropped_attrs >= INT32_LIMIT
                        or dropped_events >= INT32_LIMIT
                        or dropped_links >= INT32_LIMIT
                    ):
                        problem = _dropped_problem(span)
                    if problem is not None:
                        result.reject(f"resource {r} scope {s} span {i}", problem)
                        continue
                    if columns is not no_columns and columns[0] is None:  # inference data, no model
                        if resource_model is None:
                            unresolved.append(len(rows))
                        else:
                            columns = (resource_model, *columns[1:-1], FROM_RESOURCE)
                    append(  # one span's fields in record order (schema.SPAN)
                        (
                            trace_id,
                            span_id,
                            service,
                            name,
                            start,
                            end - start,
                            parent,
                            kinds[kind],
                            status[0],
                            status[1],
                            *columns,  # the inference columns, then model_source
                            attributes,
                            resource,
                            events,
                            links,
                            span.trace_state,
                            span.flags,
                            dropped_attrs,
                            dropped_events,
                            dropped_links,
                        )
                    )
            if len(rows) > before:
                result.resources.append(resource)
        result.records = SpanBatch.from_rows(rows, checked=True)
        return result
