"""Spans in Jaeger's UI JSON model, and the tags a Jaeger search sees on a span.

The shape is Jaeger's ``model/json/model.go`` as its query service writes it
(``model/converter/json/from_domain.go``); the OTLP-to-Jaeger mapping follows
the OpenTelemetry Jaeger translator:

- a trace is ``{traceID, spans, processes, warnings}``; a span is ``{traceID,
  spanID, flags, operationName, references, startTime, duration, tags, logs,
  processID, warnings}``; times and durations are integer microseconds.
- the parent is a ``CHILD_OF`` reference, each OTLP link a ``FOLLOWS_FROM`` one.
- span kind is the tag ``span.kind``; a status is ``otel.status_code`` (``OK`` or
  ``ERROR``) and ``otel.status_description``; an error status adds ``error=true``.
  These win over span attributes of the same name.
- attributes are tags under the names and with the values the client sent; an
  inference column no attribute carries (a span written through the store API)
  is a tag under its first attribute name (:func:`semconv.shown_attributes`,
  as the OTLP encoder sends it; time to first token in seconds).
- events are logs: the name as field ``event``, then the event attributes.
- one process per distinct (service, resource attributes) in a trace, ids
  ``p1``, ``p2``, ... in order of first use; resource attributes other than
  ``service.name`` are its tags.

Values keep their types: ``bool``, ``int64``, ``float64``, ``string``, ``binary``
(base64). As in Jaeger, an int64 beyond JavaScript's safe range is sent as a
decimal string, so are NaN and infinities; arrays become JSON text of type string.

Searching by tag: :func:`tag_values` says which values a span offers a tag key,
:class:`TagQuery` matches a span against Jaeger's text tag values, and
:func:`store_filters` turns tags into the store queries that narrow a search.

All functions are pure and thread-safe.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from infertrace.model import AttributeValue, Primitive, Span, SpanKind, StatusCode
from infertrace.telemetry import semconv
from infertrace.telemetry.filters import SpanFilter, attribute_equal

JSONObject = dict[str, Any]

KIND_TAG = "span.kind"
STATUS_CODE_TAG = "otel.status_code"
STATUS_DESCRIPTION_TAG = "otel.status_description"
ERROR_TAG = "error"
EVENT_FIELD = "event"
SERVICE_NAME = "service.name"

MAX_TRACE_SPANS = 10_000
"""A trace with more spans is cut to its first this many, with a trace warning."""

JS_MAX_SAFE_INTEGER = 2**53 - 1

MAX_QUERIES = 8
"""Store queries one tag search runs at most (tags that may match in several ways)."""

KIND_NAMES: dict[SpanKind, str] = {
    SpanKind.UNSPECIFIED: "",
    SpanKind.INTERNAL: "internal",
    SpanKind.SERVER: "server",
    SpanKind.CLIENT: "client",
    SpanKind.PRODUCER: "producer",
    SpanKind.CONSUMER: "consumer",
}
"""Span kind -> Jaeger's name ('' for unspecified, which gets no ``span.kind`` tag)."""

_STATUS_NAMES = {StatusCode.OK: "OK", StatusCode.ERROR: "ERROR"}
_INT = re.compile(r"[+-]?[0-9]{1,19}")
_FLOAT = re.compile(r"[+-]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][+-]?[0-9]{1,3})?")


def _go_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


def _plain(value: Primitive) -> Any:
    """One array element as JSON: bytes as base64, non-finite floats as text."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and not math.isfinite(value):
        return _go_float(value)
    return value


def key_value(key: str, value: AttributeValue) -> JSONObject:
    """One Jaeger KeyValue ``{key, type, value}`` for an attribute value."""
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        shown: Any = value if -JS_MAX_SAFE_INTEGER <= value <= JS_MAX_SAFE_INTEGER else str(value)
        return {"key": key, "type": "int64", "value": shown}
    if isinstance(value, float):
        shown = value if math.isfinite(value) else _go_float(value)
        return {"key": key, "type": "float64", "value": shown}
    if isinstance(value, str):
        return {"key": key, "type": "string", "value": value}
    if isinstance(value, bytes):
        return {"key": key, "type": "binary", "value": base64.b64encode(value).decode("ascii")}
    text = json.dumps([_plain(v) for v in value], ensure_ascii=False, separators=(",", ":"))
    return {"key": key, "type": "string", "value": text}


def _status_tags(span: Span) -> list[JSONObject]:
    tags: list[JSONObject] = []
    kind = KIND_NAMES.get(span.kind, "")
    if kind:
        tags.append({"key": KIND_TAG, "type": "string", "value": kind})
    status = _STATUS_NAMES.get(span.status_code)
    if status is not None:
        tags.append({"key": STATUS_CODE_TAG, "type": "string", "value": status})
    if span.status_message:
        tags.append({"key": STATUS_DESCRIPTION_TAG, "type": "string", "value": span.status_message})
    if span.status_code == StatusCode.ERROR:
        tags.append({"key": ERROR_TAG, "type": "bool", "value": True})
    return tags


def span_tags(span: Span) -> list[JSONObject]:
    """The span's tags: attributes, lifted columns, then kind and status. O(attributes)."""
    status = _status_tags(span)
    shadowed = {tag["key"] for tag in status}
    tags = [key_value(k, v) for k, v in semconv.shown_attributes(span) if k not in shadowed]
    tags.extend(status)
    return tags


def process_tags(resource_attributes: Mapping[str, AttributeValue]) -> list[JSONObject]:
    """A process's tags: the resource attributes except ``service.name``."""
    return [key_value(k, v) for k, v in resource_attributes.items() if k != SERVICE_NAME]


def tag_values(span: Span, key: str) -> list[AttributeValue]:
    """The values a Jaeger tag search on ``key`` compares with, for one span.

    Mirrors :func:`span_tags`: kind and status tags win over attributes; a
    lifted attribute name also yields its column; otherwise the span attribute,
    or the resource attribute when the span has no such key (the store's
    attribute-filter rule). O(1).
    """
    if key == KIND_TAG and KIND_NAMES.get(span.kind):
        return [KIND_NAMES[span.kind]]
    if key == STATUS_CODE_TAG and span.status_code in _STATUS_NAMES:
        return [_STATUS_NAMES[span.status_code]]
    if key == STATUS_DESCRIPTION_TAG and span.status_message:
        return [span.status_message]
    if key == ERROR_TAG and span.status_code == StatusCode.ERROR:
        return [True]
    found: list[AttributeValue] = []
    column = semconv.COLUMN_OF.get(key)
    if column is not None:
        value = getattr(span, column)
        if value is not None:
            found.append(semconv.shown_value(column, value))
    if key in span.attributes:
        found.append(span.attributes[key])
    elif key in span.resource_attributes:
        found.append(span.resource_attributes[key])
    return found


def _references(span: Span, trace_hex: str) -> list[JSONObject]:
    refs: list[JSONObject] = []
    if span.parent_span_id:
        refs.append(
            {"refType": "CHILD_OF", "traceID": trace_hex, "spanID": span.parent_span_id.hex()}
        )
    for link in span.links:
        refs.append(
            {
                "refType": "FOLLOWS_FROM",
                "traceID": link.trace_id.hex(),
                "spanID": link.span_id.hex(),
            }
        )
    return refs


def _logs(span: Span) -> list[JSONObject]:
    return [
        {
            "timestamp": event.time_unix_nano // 1000,
            "fields": [
                {"key": EVENT_FIELD, "type": "string", "value": event.name},
                *(key_value(k, v) for k, v in event.attributes.items()),
            ],
        }
        for event in span.events
    ]


def span_json(span: Span, process_id: str) -> JSONObject:
    """One span in Jaeger's model, pointing at process ``process_id``."""
    trace_hex = span.trace_id.hex()
    return {
        "traceID": trace_hex,
        "spanID": span.span_id.hex(),
        "flags": 1,
        "operationName": span.operation_name,
        "references": _references(span, trace_hex),
        "startTime": span.start_time_unix_nano // 1000,
        "duration": span.duration_nanos // 1000,
        "tags": span_tags(span),
        "logs": _logs(span),
        "processID": process_id,
        "warnings": None,
    }


def _resource_key(span: Span) -> tuple[Any, ...]:
    # The value's type is part of the key: True == 1 must not merge two processes.
    items = sorted(span.resource_attributes.items(), key=lambda kv: kv[0])
    return (span.service_name, *((k, type(v).__name__, v) for k, v in items))


def trace_json(spans: Sequence[Span], max_spans: int = MAX_TRACE_SPANS) -> JSONObject:
    """One trace (all ``spans`` share its id, at least one) in Jaeger's model.

    Keeps the first ``max_spans`` spans and says so in ``warnings``. Resource
    maps are usually shared objects, so processes are found by identity first.
    O(spans + attributes).
    """
    kept = spans[:max_spans]
    by_identity: dict[tuple[str, int], str] = {}
    by_value: dict[tuple[Any, ...], str] = {}
    processes: dict[str, JSONObject] = {}
    out: list[JSONObject] = []
    for span in kept:
        ident = (span.service_name, id(span.resource_attributes))
        pid = by_identity.get(ident)
        if pid is None:
            key = _resource_key(span)
            pid = by_value.get(key)
            if pid is None:
                pid = f"p{len(processes) + 1}"
                by_value[key] = pid
                processes[pid] = {
                    "serviceName": span.service_name,
                    "tags": process_tags(span.resource_attributes),
                }
            by_identity[ident] = pid
        out.append(span_json(span, pid))
    warnings = None
    if len(spans) > len(kept):
        warnings = [f"trace truncated: showing the first {len(kept)} of {len(spans)} spans"]
    return {
        "traceID": spans[0].trace_id.hex(),
        "spans": out,
        "processes": processes,
        "warnings": warnings,
    }


def typed_values(text: str) -> tuple[AttributeValue, ...]:
    """What a tag value may mean: the text, and the bool or number it spells."""
    out: list[AttributeValue] = [text]
    s = text.strip()
    if s.lower() in ("true", "false"):
        out.append(s.lower() == "true")
    elif _INT.fullmatch(s):
        out.append(int(s))
    elif len(s) <= 40 and _FLOAT.fullmatch(s):
        number = float(s)
        if math.isfinite(number):
            out.append(number)
    return tuple(out)


class TagQuery:
    """The tag conditions of a search, checked on one span at a time."""

    def __init__(self, tags: dict[str, str]) -> None:
        self.tags = tags
        self.items = [(key, typed_values(value)) for key, value in tags.items()]

    def matches(self, span: Span) -> bool:
        """True when every tag has a value on ``span`` equal to one of its meanings."""
        for key, wanted in self.items:
            values = tag_values(span, key)
            if not any(attribute_equal(v, w) for v in values for w in wanted):
                return False
        return True


_Way = tuple[str, Any]
"""One store condition a tag may match by: ("attr", (k, v)), ("status", s) or ("model", m)."""


def _ways(key: str, text: str, wanted: tuple[AttributeValue, ...]) -> list[_Way] | None:
    """The store conditions one of which every span matching the tag meets; None if unknown."""
    attrs: list[_Way] = [("attr", (key, w)) for w in wanted]
    if key in (KIND_TAG, STATUS_DESCRIPTION_TAG):
        return None
    if key == ERROR_TAG:
        return [("status", StatusCode.ERROR), *attrs] if any(w is True for w in wanted) else attrs
    if key == STATUS_CODE_TAG and text in ("OK", "ERROR"):
        return [("status", StatusCode[text]), *attrs]
    column = semconv.COLUMN_OF.get(key)
    if column == "model_name":
        return [("model", text), *attrs]
    return None if column is not None else attrs


def store_filters(base: SpanFilter, query: TagQuery) -> list[SpanFilter]:
    """The store queries whose union holds every span ``query`` can match under ``base``.

    Each tag the store can filter on contributes its ways of matching (an
    attribute per meaning of the value, the status for ``error=true``, the
    model column for a model name); the queries are their combinations, at most
    ``MAX_QUERIES``, tags with fewer ways first. Tags left out are checked by
    :meth:`TagQuery.matches` only. An empty list means nothing can match.
    """
    options = [(key, _ways(key, query.tags[key], wanted)) for key, wanted in query.items]
    chosen: list[list[_Way]] = []
    product = 1
    for _, ways in sorted(options, key=lambda o: len(o[1] or ())):
        if ways is not None and product * len(ways) <= MAX_QUERIES:
            chosen.append(ways)
            product *= len(ways)
    filters: dict[tuple[Any, ...], SpanFilter] = {}
    for combo in itertools.product(*chosen):
        attrs: dict[str, AttributeValue] = dict(base.attributes)
        status = base.status
        model = base.model_name
        possible = True
        for kind, value in combo:
            if kind == "attr":
                key, wanted = value
                possible = possible and (key not in attrs or attribute_equal(attrs[key], wanted))
                attrs[key] = wanted
            elif kind == "status":
                possible = possible and status in (None, value)
                status = value
            else:
                possible = possible and model in (None, value)
                model = value
        if possible:
            ident = (tuple((k, type(v), v) for k, v in attrs.items()), status, model)
            filters[ident] = replace(base, attributes=attrs, status=status, model_name=model)
    return list(filters.values())


def error_body(status: int, message: str) -> JSONObject:
    """Jaeger's error envelope: ``data`` null and one error (v1 API and Monitor tab)."""
    return {
        "data": None,
        "total": 0,
        "limit": 0,
        "offset": 0,
        "errors": [{"code": status, "msg": message}],
    }
