"""A span's trace state, flags and dropped counts (and its links' state and flags)
survive every way in (OTLP protobuf, OTLP/JSON) and out (REST JSON, Jaeger v3's
OTLP/JSON, the OTLP encoder), exactly as sent: the OTLP spec asks readers to keep
a span's ``flags`` bits as they are, reserved bits included."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from infertrace.api.otlp_traces import span_json as otlp_span_json
from infertrace.api.serialize import span_json as rest_span_json
from infertrace.collector.otlp.decode_traces import TraceDecoder
from infertrace.collector.otlp.encode import encode_spans
from infertrace.collector.otlp.lean import LeanTraceRequest
from infertrace.collector.otlp.otlp_json import parse
from infertrace.model import Span, SpanLink

TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"
LINKED = "0af7651916cd43dd8448eb211c80319c"
STATE = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"  # the W3C Trace Context example

CASES: list[dict[str, Any]] = [
    {"flags": 0},
    {"flags": 0x100},  # has-is-remote, not remote: what SDKs put on local spans
    {"flags": 0x301},  # sampled, parent remote
    {"flags": 0xFFFFFFFF},  # reserved bits set: kept as sent
    {"traceState": STATE, "flags": 1},
    {"droppedAttributesCount": 4, "droppedEventsCount": 5, "droppedLinksCount": 6},
]


def json_doc(extra: dict[str, Any], link: dict[str, Any] | None = None) -> bytes:
    span: dict[str, Any] = {
        "traceId": TRACE,
        "spanId": SPAN,
        "name": "chat",
        "startTimeUnixNano": "1000",
        "endTimeUnixNano": "2000",
        **extra,
    }
    if link is not None:
        span["links"] = [{"traceId": LINKED, "spanId": SPAN, **link}]
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


def decoded(body: bytes) -> Span:
    result = TraceDecoder().decode_message(parse(body, LeanTraceRequest()))
    assert result.rejected == 0, result.message("spans")
    (span,) = result.records
    return span


@pytest.mark.parametrize("extra", CASES, ids=[json.dumps(c) for c in CASES])
def test_json_fields_reach_the_span_and_come_back_out(extra: dict[str, Any]) -> None:
    span = decoded(json_doc(extra))
    assert span.trace_state == extra.get("traceState", "")
    assert span.flags == extra.get("flags", 0)
    assert span.dropped_attributes_count == extra.get("droppedAttributesCount", 0)
    assert span.dropped_events_count == extra.get("droppedEventsCount", 0)
    assert span.dropped_links_count == extra.get("droppedLinksCount", 0)
    rest = rest_span_json(span)
    assert (rest["trace_state"], rest["flags"]) == (span.trace_state, span.flags)
    assert rest["dropped_links_count"] == span.dropped_links_count
    out = otlp_span_json(span)
    for key, value in extra.items():  # OTLP/JSON omits defaults, as the SDKs do
        if value:
            assert out[key] == value, key
        else:
            assert key not in out, key


def test_link_state_and_flags_round_trip() -> None:
    span = decoded(json_doc({}, {"traceState": "k=v", "flags": 0x301}))
    (link,) = span.links
    assert (link.trace_id.hex(), link.trace_state, link.flags) == (LINKED, "k=v", 0x301)
    (out,) = otlp_span_json(span)["links"]
    assert out == {"traceId": LINKED, "spanId": SPAN, "traceState": "k=v", "flags": 0x301}
    (rest,) = rest_span_json(span)["links"]
    assert (rest["trace_state"], rest["flags"]) == ("k=v", 0x301)


def test_protobuf_encode_then_decode_is_the_identity_for_these_fields() -> None:
    span = Span(
        bytes.fromhex(TRACE),
        bytes.fromhex(SPAN),
        "svc",
        "chat",
        1_000,
        1_000,
        links=(SpanLink(bytes.fromhex(LINKED), bytes.fromhex(SPAN), {}, "a=b", 0x201),),
        trace_state=STATE,
        flags=0x80000301,
        dropped_attributes_count=2**31 - 1,
        dropped_events_count=1,
        dropped_links_count=7,
    )
    request: ExportTraceServiceRequest = encode_spans([span])
    pb: PbSpan = request.resource_spans[0].scope_spans[0].spans[0]
    assert (pb.trace_state, pb.flags, pb.dropped_links_count) == (STATE, 0x80000301, 7)
    result = TraceDecoder().decode(request.SerializeToString())
    (back,) = result.records
    for name in (
        "trace_state",
        "flags",
        "dropped_attributes_count",
        "dropped_events_count",
        "dropped_links_count",
        "links",
    ):
        assert getattr(back, name) == getattr(span, name), name
