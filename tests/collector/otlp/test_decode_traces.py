from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from infertrace.collector.otlp.decode_traces import TraceDecoder
from infertrace.collector.otlp.encode import encode_spans
from infertrace.model import SpanKind, StatusCode
from infertrace.telemetry import semconv
from infertrace.workload import Workload
from tests.collector.helpers import without_scope

TRACE_ID = bytes(range(1, 17))


def request_of(*spans: PbSpan, service: str | None = "svc") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    if service is not None:
        rs.resource.attributes.add(key="service.name", value=AnyValue(string_value=service))
    ss = rs.scope_spans.add()
    ss.scope.name = "test-scope"
    ss.scope.version = "1.2"
    ss.spans.extend(spans)
    return request


def good(i: int = 1, **fields: Any) -> PbSpan:
    span = PbSpan(
        trace_id=TRACE_ID,
        span_id=bytes([0, 0, 0, 0, 0, 0, 0, i]),
        name=f"op{i}",
        kind=PbSpan.SPAN_KIND_SERVER,
        start_time_unix_nano=1_000,
        end_time_unix_nano=3_500,
    )
    for key, value in fields.items():
        if key == "attributes":
            span.attributes.extend(value)
        elif key == "status":
            span.status.CopyFrom(value)
        else:
            setattr(span, key, value)
    return span


def decode(request: ExportTraceServiceRequest) -> Any:
    return TraceDecoder().decode(request.SerializeToString())


def test_workload_spans_round_trip_through_otlp() -> None:
    spans = Workload(seed=5).spans(600)
    result = decode(encode_spans(spans))
    assert result.rejected == 0
    # encoding groups spans by resource, so compare by span id
    got = {s.span_id: without_scope(s) for s in result.records}
    # columns come back as they were; the attributes as the encoder sent them: the
    # span's own plus each column under its first attribute name
    sent = [dataclasses.replace(s, attributes=dict(semconv.shown_attributes(s))) for s in spans]
    assert got == {s.span_id: without_scope(s) for s in sent}
    assert all(s.attributes["otel.scope.name"] == "infertrace" for s in result.records)


def test_fields_enums_and_scope() -> None:
    span = good(status=Status(code=2, message="boom"))
    span.events.add(name="first_token", time_unix_nano=2_000).attributes.add(
        key="n", value=AnyValue(int_value=1)
    )
    link = span.links.add(trace_id=bytes(range(16, 32)), span_id=b"\x01" * 8)
    link.attributes.add(key="why", value=AnyValue(string_value="retry"))
    (got,) = decode(request_of(span)).records
    assert got.trace_id == TRACE_ID and got.span_id_hex == "0000000000000001"
    assert got.parent_span_id == b"" and got.service_name == "svc"
    assert (got.start_time_unix_nano, got.duration_nanos) == (1_000, 2_500)
    assert got.kind is SpanKind.SERVER and got.status_code is StatusCode.ERROR
    assert got.status_message == "boom"
    assert dict(got.attributes) == {"otel.scope.name": "test-scope", "otel.scope.version": "1.2"}
    assert [(e.name, e.time_unix_nano, dict(e.attributes)) for e in got.events] == [
        ("first_token", 2_000, {"n": 1})
    ]
    assert [(ln.trace_id, ln.span_id, dict(ln.attributes)) for ln in got.links] == [
        (bytes(range(16, 32)), b"\x01" * 8, {"why": "retry"})
    ]


def test_resource_map_is_shared_and_service_defaults_to_unknown_service() -> None:
    request = request_of(good(1), good(2), service=None)
    request.resource_spans[0].resource.attributes.add(
        key="host.name", value=AnyValue(string_value="h")
    )
    first, second = decode(request).records
    assert first.service_name == "unknown_service"
    assert first.resource_attributes is second.resource_attributes
    assert dict(first.resource_attributes) == {"host.name": "h"}
    with pytest.raises(TypeError):
        first.attributes["x"] = 1  # type: ignore[index]


def test_zero_parent_means_root() -> None:
    (got,) = decode(request_of(good(parent_span_id=bytes(8)))).records
    assert got.parent_span_id == b""


def kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


BAD_SPANS: list[tuple[str, Callable[[PbSpan], None], str]] = [
    (
        "short trace id",
        lambda s: setattr(s, "trace_id", b"\x01" * 5),
        "trace_id must be 16 bytes, got 5",
    ),
    (
        "zero trace id",
        lambda s: setattr(s, "trace_id", bytes(16)),
        "trace_id must not be all zeros",
    ),
    ("empty span id", lambda s: setattr(s, "span_id", b""), "span_id must be 8 bytes, got 0"),
    ("zero span id", lambda s: setattr(s, "span_id", bytes(8)), "span_id must not be all zeros"),
    (
        "long parent",
        lambda s: setattr(s, "parent_span_id", b"\x01" * 9),
        "parent_span_id must be 8 bytes",
    ),
    ("empty name", lambda s: setattr(s, "name", ""), "name must not be empty"),
    ("unknown kind", lambda s: setattr(s, "kind", 9), "kind must be 0..5, got 9"),
    ("end before start", lambda s: setattr(s, "end_time_unix_nano", 10), "is before start_time"),
    ("end too late", lambda s: setattr(s, "end_time_unix_nano", 2**63), "beyond 2**63-1"),
    ("status code", lambda s: setattr(s.status, "code", 7), "status_code must be 0..2, got 7"),
    (
        "empty key",
        lambda s: s.attributes.append(kv("", AnyValue(int_value=1))),
        "empty attribute key",
    ),
    (
        "bad link",
        lambda s: s.links.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 3),
        "link 0 span_id must be 8 bytes, got 3",
    ),
    (
        "event key",
        lambda s: s.events.add(name="e").attributes.append(kv("", AnyValue())),
        "event 0 has an attribute with an empty key",
    ),
    (
        "dropped count",
        lambda s: setattr(s, "dropped_links_count", 2**31),
        "dropped_links_count must be an integer from 0 to 2147483647, got 2147483648",
    ),
]


@pytest.mark.parametrize(
    ("spoil", "reason"), [b[1:] for b in BAD_SPANS], ids=[b[0] for b in BAD_SPANS]
)
def test_a_bad_span_is_rejected_with_its_reason_and_the_rest_kept(
    spoil: Callable[[PbSpan], None], reason: str
) -> None:
    bad = good(2)
    spoil(bad)
    result = decode(request_of(good(1), bad, good(3)))
    assert [s.operation_name for s in result.records] == ["op1", "op3"]
    assert result.rejected == 1
    message = result.message("spans")
    assert message.startswith("rejected 1 of 3 spans: resource 0 scope 0 span 1: ")
    assert reason in message


def test_an_empty_resource_key_rejects_the_whole_resource() -> None:
    request = request_of(good(1), good(2))
    request.resource_spans[0].resource.attributes.append(kv("", AnyValue(string_value="x")))
    result = decode(request)
    assert result.records == [] and result.rejected == 2
    assert "resource has an attribute with an empty key" in result.message("spans")


def test_lifted_columns_come_out_of_span_attributes() -> None:
    span = good(
        attributes=[
            kv("gen_ai.request.model", AnyValue(string_value="m")),
            kv("gen_ai.usage.prompt_tokens", AnyValue(int_value=9)),
            kv("gen_ai.system", AnyValue(string_value="vllm")),
        ]
    )
    (got,) = decode(request_of(span)).records
    assert (got.model_name, got.input_tokens) == ("m", 9)
    # lifting copies: the attributes stay under the names and with the values sent
    assert got.attributes["gen_ai.request.model"] == "m"
    assert got.attributes["gen_ai.usage.prompt_tokens"] == 9
    assert got.attributes["gen_ai.system"] == "vllm"


def test_a_malformed_attribute_inside_raises_decode_error() -> None:
    # field 9 (attributes), length 3, holding bytes that are not a KeyValue
    span_bytes = good(1).SerializeToString() + b"\x4a\x03\xff\xff\xff"
    scope = b"\x12" + bytes([len(span_bytes)]) + span_bytes
    resource = b"\x12" + bytes([len(scope)]) + scope
    body = b"\x0a" + bytes([len(resource)]) + resource
    with pytest.raises(DecodeError):
        TraceDecoder().decode(body)
