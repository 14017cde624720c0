"""Spans as OTLP/JSON ``TracesData``: the trace shape of Jaeger's v3 API.

Written from the record fields (the api layer does not import the collector's
encoder), in the OTLP/JSON encoding the collector's ``otlp_json.dumps`` gives
for the same spans (a test checks it): lowerCamelCase names, ids as lowercase
hex, enums as integers, 64-bit integers as decimal strings, bytes as base64,
non-finite doubles as ``"NaN"``, ``"Infinity"``, ``"-Infinity"``, default
values left out (no ``parentSpanId`` for a root, no ``status`` when unset).

Spans of one resource (same service and resource attributes) share one
``resourceSpans`` entry, whose resource carries ``service.name`` first; the
scope is not stored, so it is empty (``{}``), as in Jaeger's answers for spans
that had none. Attributes are the span's as sent plus the lifted inference
columns no attribute carries (:func:`infertrace.telemetry.semconv.shown_attributes`).
An integer outside int64 (Python ints are unbounded) is sent as its decimal text.

Pure functions; O(spans + attributes).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from infertrace.model import AttributeValue, Span, SpanLink
from infertrace.telemetry import semconv

JSONObject = dict[str, Any]
SERVICE_NAME = "service.name"
_INT64 = (-(2**63), 2**63 - 1)


def any_value(value: AttributeValue) -> JSONObject:
    """One OTLP ``AnyValue`` (bool before int: a bool is an int in Python)."""
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        if _INT64[0] <= value <= _INT64[1]:
            return {"intValue": str(value)}
        return {"stringValue": str(value)}
    if isinstance(value, float):
        if math.isnan(value):
            return {"doubleValue": "NaN"}
        if math.isinf(value):
            return {"doubleValue": "Infinity" if value > 0 else "-Infinity"}
        return {"doubleValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode("ascii")}
    items = [any_value(v) for v in value]
    return {"arrayValue": {"values": items} if items else {}}


def key_values(items: Iterable[tuple[str, AttributeValue]]) -> list[JSONObject]:
    """OTLP ``KeyValue`` list."""
    return [{"key": k, "value": any_value(v)} for k, v in items]


def span_json(span: Span) -> JSONObject:
    """One span in OTLP/JSON."""
    out: JSONObject = {
        "traceId": span.trace_id.hex(),
        "spanId": span.span_id.hex(),
    }
    if span.trace_state:
        out["traceState"] = span.trace_state
    if span.parent_span_id:
        out["parentSpanId"] = span.parent_span_id.hex()
    out["name"] = span.operation_name
    if span.flags:
        out["flags"] = span.flags
    if int(span.kind):
        out["kind"] = int(span.kind)
    out["startTimeUnixNano"] = str(span.start_time_unix_nano)
    out["endTimeUnixNano"] = str(span.start_time_unix_nano + span.duration_nanos)
    attributes = key_values(semconv.shown_attributes(span))
    if attributes:
        out["attributes"] = attributes
    if span.dropped_attributes_count:
        out["droppedAttributesCount"] = span.dropped_attributes_count
    if span.events:
        out["events"] = [_event(e.name, e.time_unix_nano, e.attributes) for e in span.events]
    if span.dropped_events_count:
        out["droppedEventsCount"] = span.dropped_events_count
    if span.links:
        out["links"] = [_link(link) for link in span.links]
    if span.dropped_links_count:
        out["droppedLinksCount"] = span.dropped_links_count
    status: JSONObject = {}
    if span.status_message:
        status["message"] = span.status_message
    if int(span.status_code):
        status["code"] = int(span.status_code)
    if status:
        out["status"] = status
    return out


def _link(link: SpanLink) -> JSONObject:
    out: JSONObject = {"traceId": link.trace_id.hex(), "spanId": link.span_id.hex()}
    if link.trace_state:
        out["traceState"] = link.trace_state
    if link.attributes:
        out["attributes"] = key_values(link.attributes.items())
    if link.flags:
        out["flags"] = link.flags
    return out


def _event(name: str, time_ns: int, attributes: Mapping[str, AttributeValue]) -> JSONObject:
    event: JSONObject = {"timeUnixNano": str(time_ns), "name": name}
    if attributes:
        event["attributes"] = key_values(attributes.items())
    return event


def resource_json(span: Span) -> JSONObject:
    """The span's resource: ``service.name`` (the span's service) first, then the rest."""
    items: list[tuple[str, AttributeValue]] = [(SERVICE_NAME, span.service_name)]
    items += [(k, v) for k, v in span.resource_attributes.items() if k != SERVICE_NAME]
    return {"attributes": key_values(items)}


def _resource_key(span: Span) -> tuple[Any, ...]:
    # The value's type is part of the key: True == 1 must not merge two resources.
    items = sorted(span.resource_attributes.items(), key=lambda kv: kv[0])
    return (span.service_name, *((k, type(v).__name__, v) for k, v in items))


def traces_data(spans: Sequence[Span]) -> JSONObject:
    """``{"resourceSpans": [...]}`` for ``spans`` (any traces), in their order within
    each resource; resources in order of first appearance."""
    by_identity: dict[tuple[str, int], list[JSONObject]] = {}
    by_value: dict[tuple[Any, ...], list[JSONObject]] = {}
    resources: list[JSONObject] = []
    for span in spans:
        ident = (span.service_name, id(span.resource_attributes))
        bucket = by_identity.get(ident)
        if bucket is None:
            key = _resource_key(span)
            bucket = by_value.get(key)
            if bucket is None:
                bucket = []
                by_value[key] = bucket
                resources.append(
                    {
                        "resource": resource_json(span),
                        "scopeSpans": [{"scope": {}, "spans": bucket}],
                    }
                )
            by_identity[ident] = bucket
        bucket.append(span_json(span))
    return {"resourceSpans": resources}
