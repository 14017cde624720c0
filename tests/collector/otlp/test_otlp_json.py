from __future__ import annotations

import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from infertrace.collector.body import BodyError
from infertrace.collector.otlp.encode import encode_spans
from infertrace.collector.otlp.otlp_json import dumps, parse_request
from infertrace.workload import Workload

TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"


def doc(span: dict[str, object]) -> bytes:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


def parse(body: bytes) -> ExportTraceServiceRequest:
    message = ExportTraceServiceRequest()
    return ExportTraceServiceRequest.FromString(parse_request(body, message))


def test_spec_example_with_hex_ids_int64_strings_and_enum_ints() -> None:
    span = {
        "traceId": TRACE,
        "spanId": SPAN,
        "parentSpanId": "eee19b7ec3c1b173",
        "name": "I'm a server span",
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": 1544712661000000000,
        "kind": 2,
        "attributes": [{"key": "my.span.attr", "value": {"stringValue": "some value"}}],
        "links": [{"traceId": TRACE, "spanId": "eee19b7ec3c1b172"}],
        "unknownField": {"ignored": True},
    }
    (got,) = parse(doc(span)).resource_spans[0].scope_spans[0].spans
    assert got.trace_id.hex() == TRACE and got.span_id.hex() == SPAN
    assert got.parent_span_id.hex() == "eee19b7ec3c1b173"
    assert got.start_time_unix_nano == 1544712660000000000
    assert got.end_time_unix_nano == 1544712661000000000
    assert got.kind == 2 and got.links[0].span_id.hex() == "eee19b7ec3c1b172"


def test_snake_case_names_and_enum_names_are_accepted() -> None:
    span = {"trace_id": TRACE, "span_id": SPAN, "name": "x", "kind": "SPAN_KIND_CLIENT"}
    (got,) = parse(doc(span)).resource_spans[0].scope_spans[0].spans
    assert got.trace_id.hex() == TRACE and got.kind == 3


def test_attribute_keys_named_like_id_fields_are_not_rewritten() -> None:
    attr = {"key": "traceId", "value": {"stringValue": "not-hex"}}
    span = {"traceId": TRACE, "spanId": SPAN, "name": "x", "attributes": [attr]}
    (got,) = parse(doc(span)).resource_spans[0].scope_spans[0].spans
    assert got.attributes[0].value.string_value == "not-hex"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "must be an object, got list"),
        (doc({"traceId": "zz" * 16}), "traceId 'zzzz"),
        (doc({"name": 5}), "not an OTLP ExportTraceServiceRequest"),
        (b'{"resourceSpans": "nope"}', "not an OTLP ExportTraceServiceRequest"),
        (doc({"startTimeUnixNano": "soon"}), "not an OTLP"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_bad_json_says_what_was_wrong(body: bytes, message: str) -> None:
    with pytest.raises(BodyError, match=message):
        parse(body)


def test_empty_body_is_an_empty_request() -> None:
    assert parse(b"  ") == ExportTraceServiceRequest()


def test_dumps_writes_hex_ids_and_parses_back() -> None:
    request = encode_spans(Workload(seed=1).spans(12))
    text = dumps(request)
    span = json.loads(text)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert len(span["traceId"]) == 32 and int(span["traceId"], 16) >= 0
    assert isinstance(span["startTimeUnixNano"], str) and isinstance(span["kind"], int)
    assert parse(text) == request


def test_partial_success_response_json() -> None:
    response = ExportTraceServiceResponse()
    response.partial_success.rejected_spans = 2
    response.partial_success.error_message = "why"
    assert json.loads(dumps(response)) == {
        "partialSuccess": {"rejectedSpans": "2", "errorMessage": "why"}
    }
